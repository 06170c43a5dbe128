// The JSON pointer and CIDR fuzz target.
//
// Input (lines end with '\n'; a '\r' before it is dropped; missing lines are empty):
//   <pointer>           a JSON pointer as the config holds one (event_type, idempotency.pointer,
//                       required)
//   <block>             a CIDR block as allow_ips and trusted_proxies hold one
//   <address>           an IP address (also the socket peer)
//   <x-forwarded-for>   the header's value; absent when the input has fewer lines
//   <body>              a webhook body: every remaining byte
//
// Pointers go the way they go in production: written into a config that server::ParseConfig
// reads, then used by api::IngestHandler (with a FakeEventWriter) to derive the event type and
// the idempotency key of the body, and to refuse a body that lacks a required field.
// Invariants: the config loads exactly when the text is a valid pointer (RFC 6901; "" is the
// whole document); a pointer written back (Stringify) reads as the same pointer; the key is the
// string or integer at the pointer, else the body's SHA-256, and refused (400) beyond 512
// bytes; the type is the string at the pointer, else ""; a missing required field is a 422
// naming the pointer as written.
// Addresses and blocks: only a literal address parses, and it prints as text that parses to
// the same address; a block contains its own network and last address and nothing across its
// prefix, no address of the other family, and agrees bit by bit with its prefix; written as
// network/prefix it parses to an equal block; a block refused only for host bits parses once
// they are cleared; and api::ClientAddress walks X-Forwarded-For from the right exactly as
// cidr.h documents.
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>

#include <cctype>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/cidr.h"
#include "api/http.h"
#include "api/ingest.h"
#include "api/json.h"
#include "server/config.h"
#include "storage/base/crypto.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/testing/fake_event_writer.h"

namespace hookvault::fuzz {
namespace {

constexpr char kToken[] = "pointer-token-000001";

std::string Str(const rapidjson::Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

// --- JSON pointers --------------------------------------------------------------------------

// Sends `body` to `source` with the right token and a JSON content type; returns the one
// answer and the event handed to the writer, if any.
std::pair<api::ApiResponse, std::optional<storage::NewEvent>> Send(const api::IngestOptions& o,
                                                                   std::string_view source,
                                                                   const std::string& body) {
  testing::FakeEventWriter writer;
  api::IngestHandler handler(o, writer);
  api::ApiRequest r;
  r.method = "POST";
  r.path = "/webhooks/" + std::string(source);
  r.headers = {{"content-type", "application/json"}, {"x-auth-token", kToken}};
  r.body = body;
  r.peer_addr = "127.0.0.1";
  std::vector<api::ApiResponse> answers;
  handler.Handle(r, source, [&answers](api::ApiResponse a) { answers.push_back(std::move(a)); });
  std::optional<storage::NewEvent> event;
  if (!writer.events().empty()) {
    HOOKVAULT_FUZZ_CHECK(answers.empty() && writer.events().size() == 1, "answered early");
    event = writer.events()[0].record.event;
    writer.Commit(0, {.id = "id", .seq = 1, .duplicate = false});
  }
  HOOKVAULT_FUZZ_CHECK(answers.size() == 1, std::to_string(answers.size()) + " answers");
  return {std::move(answers[0]), std::move(event)};
}

void CheckPointer(const std::string& pointer, const std::string& body) {
  // Two sources: one derives its type and key through the pointer, one requires it.
  std::string q = api::JsonQuote(pointer);
  std::string config = R"({"sources":[{"name":"keyed","tokens":[")" + std::string(kToken) +
                       R"("],"event_type":)" + q + R"(,"idempotency":{"header":"","pointer":)" + q +
                       R"(}},{"name":"required","tokens":[")" + std::string(kToken) +
                       R"("],"required":[)" + q + R"(]}]})";
  auto loaded = server::ParseConfig(config, [](const std::string&) { return std::nullopt; });
  rapidjson::Pointer parsed(pointer.data(), pointer.size());
  bool valid = parsed.IsValid() && (pointer.empty() || pointer[0] == '/') &&
               pointer.find("${") == std::string::npos;
  HOOKVAULT_FUZZ_CHECK(
      loaded.ok() == valid,
      "pointer \"" + pointer + "\": " + (loaded.ok() ? "loaded" : loaded.status().message()));
  if (!loaded.ok()) return;

  rapidjson::StringBuffer text;
  parsed.Stringify(text);
  rapidjson::Pointer again(text.GetString(), text.GetSize());
  HOOKVAULT_FUZZ_CHECK(again.IsValid() && again == parsed,
                       "Stringify does not round-trip: " + std::string(text.GetString()));

  api::IngestOptions options;
  options.sources = loaded->sources;
  rapidjson::Document doc;
  bool json = api::ParseJson(body, doc).ok();
  const rapidjson::Value* at = json ? parsed.Get(doc) : nullptr;

  auto [keyed, event] = Send(options, "keyed", body);
  if (!json) {
    HOOKVAULT_FUZZ_CHECK(keyed.status == 400 && !event, keyed.body);
  } else {
    std::string key, type;
    if (at && at->IsString()) key = type = Str(*at);
    if (at && at->IsInt64()) key = std::to_string(at->GetInt64());
    if (at && !at->IsInt64() && at->IsUint64()) key = std::to_string(at->GetUint64());
    if (key.empty()) key = base::Sha256Hex(body);
    if (key.size() > api::kMaxIdempotencyKeyBytes) {
      HOOKVAULT_FUZZ_CHECK(keyed.status == 400 && !event, keyed.body);
    } else {
      HOOKVAULT_FUZZ_CHECK(keyed.status == 200 && event, keyed.body);
      HOOKVAULT_FUZZ_CHECK(event->idempotency_key == key, "key " + event->idempotency_key);
      HOOKVAULT_FUZZ_CHECK(event->event_type == type, "type " + event->event_type);
    }
  }

  auto [required, stored] = Send(options, "required", body);
  if (!json) {
    HOOKVAULT_FUZZ_CHECK(required.status == 400 && !stored, required.body);
  } else if (!at) {
    HOOKVAULT_FUZZ_CHECK(required.status == 422 && !stored, required.body);
    rapidjson::Document problem;
    HOOKVAULT_FUZZ_CHECK(api::ParseJson(required.body, problem).ok() && problem.IsObject() &&
                             problem.HasMember("detail") && problem["detail"].IsString() &&
                             Str(problem["detail"]) == "required field " + pointer + " is missing",
                         required.body);
  } else {
    // The key is the body's hash (64 bytes): never too long.
    HOOKVAULT_FUZZ_CHECK(required.status == 200 && stored, required.body);
  }
}

// --- Addresses and blocks -------------------------------------------------------------------

bool Bit(const api::IpAddress& a, int i) { return a.bytes[i / 8] & (0x80 >> (i % 8)); }

void SetBit(api::IpAddress& a, int i, bool on) {
  uint8_t mask = static_cast<uint8_t>(0x80 >> (i % 8));
  a.bytes[i / 8] = static_cast<uint8_t>(on ? a.bytes[i / 8] | mask : a.bytes[i / 8] & ~mask);
}

bool SameAddress(const api::IpAddress& a, const api::IpAddress& b) {
  return a.v4 == b.v4 && a.bytes == b.bytes;
}

// Contains, bit by bit, written independently of cidr.cc.
bool InBlock(const api::IpAddress& network, int bits, const api::IpAddress& a) {
  if (a.v4 != network.v4) return false;
  for (int i = 0; i < bits; ++i) {
    if (Bit(a, i) != Bit(network, i)) return false;
  }
  return true;
}

void CheckAddress(std::string_view text) {
  auto ip = api::IpAddress::Parse(text);
  if (!ip) return;
  // A literal address (cidr.h): hex digits, dots and colons only; no port, zone or anything
  // after it.
  for (char c : text) {
    HOOKVAULT_FUZZ_CHECK(std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':',
                         "parsed as an address: \"" + std::string(text) + "\"");
  }
  for (size_t i = ip->v4 ? 4 : 16; i < 16; ++i) {
    HOOKVAULT_FUZZ_CHECK(ip->bytes[i] == 0, "an IPv4 address with bytes past the fourth");
  }
  std::string printed = ip->ToString();
  auto again = api::IpAddress::Parse(printed);
  HOOKVAULT_FUZZ_CHECK(again && SameAddress(*ip, *again),
                       std::string(text) + " prints as " + printed + ", which parses otherwise");
}

void CheckBlock(std::string_view text, const std::optional<api::IpAddress>& probe) {
  storage::StatusOr<api::Cidr> block = api::Cidr::Parse(text);
  // The parts as cidr.h describes them.
  size_t slash = text.find('/');
  std::string_view network_text = text.substr(0, slash);
  auto network = api::IpAddress::Parse(network_text);
  std::optional<int> prefix;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    int value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (!digits.empty() && ec == std::errc() && end == digits.data() + digits.size()) {
      prefix = value;
    }
  }
  if (!block.ok()) {
    HOOKVAULT_FUZZ_CHECK(block.status().code() == storage::StatusCode::kInvalidArgument &&
                             block.status().message().starts_with("invalid CIDR"),
                         block.status().ToString());
    // Refused only because host bits are set: clearing them makes it a block.
    bool mapped_with_prefix = network && network->v4 &&
                              network_text.find(':') != std::string_view::npos &&
                              slash != std::string_view::npos;
    int max = network && network->v4 ? 32 : 128;
    if (network && (slash == std::string_view::npos || prefix) && !mapped_with_prefix &&
        prefix.value_or(max) >= 0 && prefix.value_or(max) <= max) {
      api::IpAddress cleared = *network;
      for (int i = prefix.value_or(max); i < max; ++i) SetBit(cleared, i, false);
      HOOKVAULT_FUZZ_CHECK(!SameAddress(cleared, *network), block.status().message());
      std::string fixed = cleared.ToString() + "/" + std::to_string(prefix.value_or(max));
      HOOKVAULT_FUZZ_CHECK(api::Cidr::Parse(fixed).ok(), fixed + " refused too");
    }
    return;
  }
  const api::Cidr& c = *block;
  HOOKVAULT_FUZZ_CHECK(c.text() == text, c.text());
  HOOKVAULT_FUZZ_CHECK(network.has_value(), "a block whose network is not an address");
  HOOKVAULT_FUZZ_CHECK(slash == std::string_view::npos || prefix, "a block with a bad prefix");
  int max = network->v4 ? 32 : 128;
  int bits = prefix.value_or(max);
  HOOKVAULT_FUZZ_CHECK(bits >= 0 && bits <= max, "prefix out of range");
  HOOKVAULT_FUZZ_CHECK(c.Contains(*network), std::string(text) + " lacks its network");
  api::IpAddress last = *network;
  for (int i = bits; i < max; ++i) SetBit(last, i, true);
  HOOKVAULT_FUZZ_CHECK(c.Contains(last), std::string(text) + " lacks " + last.ToString());
  for (int i = 0; i < bits; ++i) {
    api::IpAddress outside = *network;
    SetBit(outside, i, !Bit(outside, i));
    HOOKVAULT_FUZZ_CHECK(!c.Contains(outside), std::string(text) + " holds " + outside.ToString());
  }
  api::IpAddress other_family;
  other_family.v4 = !network->v4;
  HOOKVAULT_FUZZ_CHECK(!c.Contains(other_family), "a block holds the other family");
  std::string canonical = network->ToString() + "/" + std::to_string(bits);
  auto again = api::Cidr::Parse(canonical);
  HOOKVAULT_FUZZ_CHECK(again.ok(), canonical + " refused: " + again.status().message());
  HOOKVAULT_FUZZ_CHECK(again->Contains(*network) && again->Contains(last), canonical);
  if (probe) {
    bool in = InBlock(*network, bits, *probe);
    HOOKVAULT_FUZZ_CHECK(c.Contains(*probe) == in && again->Contains(*probe) == in,
                         std::string(text) + " and " + probe->ToString());
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// ClientAddress as cidr.h documents it, written independently: entries split at ',' from the
// left, then walked from the right.
std::string ExpectedClient(std::string_view peer, const std::string* forwarded_for,
                           const std::vector<api::Cidr>& trusted) {
  auto peer_ip = api::IpAddress::Parse(peer);
  if (!forwarded_for || !peer_ip || !api::AnyContains(trusted, *peer_ip)) {
    return std::string(peer);
  }
  std::vector<std::string_view> entries;
  std::string_view rest = *forwarded_for;
  while (true) {
    size_t comma = rest.find(',');
    entries.push_back(Trim(rest.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  std::string client(peer);
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->empty()) continue;
    auto ip = api::IpAddress::Parse(*it);
    if (!ip) return std::string(*it);
    client = ip->ToString();
    if (!api::AnyContains(trusted, *ip)) return client;
  }
  return client;
}

void CheckClientAddress(std::string_view block, std::string_view peer,
                        const std::optional<std::string>& forwarded_for) {
  std::vector<api::Cidr> trusted = {*api::Cidr::Parse("10.0.0.0/8")};
  if (auto c = api::Cidr::Parse(block); c.ok()) trusted.push_back(*c);
  const std::string* header = forwarded_for ? &*forwarded_for : nullptr;
  std::string got = api::ClientAddress(peer, header, trusted);
  std::string want = ExpectedClient(peer, header, trusted);
  HOOKVAULT_FUZZ_CHECK(got == want, "ClientAddress gave " + got + ", expected " + want);
}

}  // namespace

int FuzzJsonPointerCidr(const uint8_t* data, size_t size) {
  std::vector<std::string_view> lines =
      SplitLines(std::string_view(reinterpret_cast<const char*>(data), size), 5);
  auto line = [&lines](size_t i) { return i < lines.size() ? lines[i] : std::string_view(); };
  // A config file is UTF-8 text (ParseConfig refuses anything else).
  CheckPointer(api::ValidUtf8(line(0)), std::string(line(4)));
  CheckAddress(line(2));
  CheckAddress(line(1));
  CheckBlock(line(1), api::IpAddress::Parse(line(2)));
  std::optional<std::string> forwarded_for;
  if (lines.size() > 3) forwarded_for = std::string(line(3));
  CheckClientAddress(line(1), line(2), forwarded_for);
  return 0;
}

}  // namespace hookvault::fuzz
