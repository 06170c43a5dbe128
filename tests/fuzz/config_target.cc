// The config fuzz target: the whole input is a config file, read by server::ParseConfig with a
// fixed environment (HV_TOKEN, HV_SECRET, HV_SHORT, HV_EMPTY, HV_LISTEN set; anything else
// unset).
//
// Invariants: ParseConfig returns a Config or kInvalidArgument with a message ("path: why"),
// never anything else and never throws. A Config it returns satisfies every rule the config
// documents (server/config.h, the contract), so the server can use it without checking again
// (main.cc dereferences ParseRole of each API token, for one). Every string list holds the
// strings as written, after ${NAME} substitution. Written back as JSON, it parses again to the
// same Config.
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/auth.h"
#include "api/cidr.h"
#include "api/json.h"
#include "server/config.h"
#include "server/delivery/webhook_signature.h"
#include "storage/base/strings.h"
#include "tests/fuzz/fuzz_targets.h"

namespace hookvault::fuzz {
namespace {

// No value holds '$' or '{', so a substituted string never holds a new "${" (the round trip
// below writes values back as they are).
const std::map<std::string, std::string>& Env() {
  static const auto* env = new std::map<std::string, std::string>{
      {"HV_TOKEN", "env-token-0123456789"},
      {"HV_SECRET", "whsec_c2VjcmV0LWtleS1ieXRlcw=="},
      {"HV_SHORT", "short"},
      {"HV_EMPTY", ""},
      {"HV_LISTEN", "127.0.0.1:9090"},
  };
  return *env;
}

std::optional<std::string> LookUp(const std::string& name) {
  auto it = Env().find(name);
  if (it == Env().end()) return std::nullopt;
  return it->second;
}

// ${NAME} substitution, written independently of config.cc; nullopt when a name is unset or a
// reference is malformed (the parse then failed anyway).
std::optional<std::string> Substituted(std::string_view value) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t start = value.find("${", pos);
    if (start == std::string_view::npos) break;
    size_t end = value.find('}', start + 2);
    if (end == std::string_view::npos) return std::nullopt;
    auto v = LookUp(std::string(value.substr(start + 2, end - start - 2)));
    if (!v) return std::nullopt;
    out.append(value.substr(pos, start - pos));
    out += *v;
    pos = end + 1;
  }
  out.append(value.substr(pos));
  return out;
}

// The strings of the array at `key` of `object` as written (length included: JSON strings may
// hold NUL), substituted; nullopt when the array is absent.
std::optional<std::vector<std::string>> WrittenStrings(const rapidjson::Value& object,
                                                       const char* key) {
  if (!object.IsObject()) return std::nullopt;
  auto it = object.FindMember(key);
  if (it == object.MemberEnd() || !it->value.IsArray()) return std::nullopt;
  std::vector<std::string> out;
  for (const rapidjson::Value& v : it->value.GetArray()) {
    if (!v.IsString()) return std::nullopt;
    auto s = Substituted(std::string_view(v.GetString(), v.GetStringLength()));
    if (!s) return std::nullopt;
    out.push_back(*s);
  }
  return out;
}

std::string PointerText(const rapidjson::Pointer& p) {
  rapidjson::StringBuffer buf;
  p.Stringify(buf);
  return std::string(buf.GetString(), buf.GetSize());
}

std::vector<std::string> CidrTexts(const std::vector<api::Cidr>& blocks) {
  std::vector<std::string> out;
  for (const api::Cidr& c : blocks) out.push_back(c.text());
  return out;
}

// Checks every rule a loaded config must satisfy.
void CheckValid(const server::Config& c) {
  HOOKVAULT_FUZZ_CHECK(server::SplitHostPort(c.listen).ok(), c.listen);
  HOOKVAULT_FUZZ_CHECK(c.threads >= 1 && c.threads <= 64, std::to_string(c.threads));
  HOOKVAULT_FUZZ_CHECK(!c.data_dir.empty(), "data_dir");
  HOOKVAULT_FUZZ_CHECK(c.max_body_bytes >= 1 && c.max_body_bytes <= (64 << 20), "max_body_bytes");
  HOOKVAULT_FUZZ_CHECK(c.max_db_bytes >= 0, "max_db_bytes");
  static const std::set<std::string> kLevels = {"trace", "debug",    "info", "warn",
                                                "error", "critical", "off"};
  HOOKVAULT_FUZZ_CHECK(kLevels.count(c.log.level) == 1, c.log.level);
  HOOKVAULT_FUZZ_CHECK(c.log.format == "text" || c.log.format == "json", c.log.format);
  HOOKVAULT_FUZZ_CHECK(c.writer_max_batch >= 1 && c.writer_max_queue >= 1, "writer");
  if (c.tls) {
    HOOKVAULT_FUZZ_CHECK(!c.tls->cert_file.empty() && !c.tls->key_file.empty(), "tls");
  }
  const server::RetentionConfig& r = c.retention;
  HOOKVAULT_FUZZ_CHECK(r.delivered_days >= 1 && r.failed_days >= 1 && r.attempts_days >= 1 &&
                           r.request_log_days >= 1,
                       "retention");
  HOOKVAULT_FUZZ_CHECK(r.idempotency_days >= r.delivered_days, "keys outlive their events");
  HOOKVAULT_FUZZ_CHECK(c.request_log.kept_body_bytes >= 1, "kept_body_bytes");

  HOOKVAULT_FUZZ_CHECK(!c.sources.empty(), "no source");
  std::set<std::string> names;
  for (const api::SourcePolicy& s : c.sources) {
    HOOKVAULT_FUZZ_CHECK(!s.name.empty() && names.insert(s.name).second, s.name);
    for (char ch : s.name) {
      HOOKVAULT_FUZZ_CHECK(
          std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.',
          s.name);
    }
    HOOKVAULT_FUZZ_CHECK(!s.tokens.empty(), s.name);
    for (const std::string& t : s.tokens) HOOKVAULT_FUZZ_CHECK(t.size() >= 16, s.name);
    HOOKVAULT_FUZZ_CHECK(s.required.size() == s.required_pointers.size(), s.name);
    for (size_t i = 0; i < s.required.size(); ++i) {
      const rapidjson::Pointer& p = s.required_pointers[i];
      HOOKVAULT_FUZZ_CHECK(p.IsValid(), s.required[i]);
      HOOKVAULT_FUZZ_CHECK(p == rapidjson::Pointer(s.required[i].data(), s.required[i].size()),
                           "required pointer differs from its text " + s.required[i]);
    }
    if (s.event_type) HOOKVAULT_FUZZ_CHECK(s.event_type->IsValid(), s.name);
    if (s.idempotency_pointer) HOOKVAULT_FUZZ_CHECK(s.idempotency_pointer->IsValid(), s.name);
    HOOKVAULT_FUZZ_CHECK(base::AsciiLower(s.idempotency_header) == s.idempotency_header,
                         s.idempotency_header);
  }
  names.clear();
  for (const server::DestinationConfig& d : c.destinations) {
    HOOKVAULT_FUZZ_CHECK(!d.filter.name.empty() && names.insert(d.filter.name).second,
                         d.filter.name);
    HOOKVAULT_FUZZ_CHECK(d.url.starts_with("http://") || d.url.starts_with("https://"), d.url);
    HOOKVAULT_FUZZ_CHECK(d.timeout_ms >= 1 && d.max_attempts >= 1 && d.concurrency >= 1,
                         d.filter.name);
    HOOKVAULT_FUZZ_CHECK(d.backoff.initial_ms >= 1 && d.backoff.max_ms >= d.backoff.initial_ms &&
                             std::isfinite(d.backoff.multiplier) && d.backoff.multiplier >= 1.0,
                         d.filter.name);
    if (!d.signing_secret.empty()) {
      auto key = server::DecodeSigningSecret(d.signing_secret);
      HOOKVAULT_FUZZ_CHECK(key.ok() && !key->empty(), d.filter.name);
    }
    for (const std::string& pattern : d.filter.sources) {
      bool matches = false;
      for (const api::SourcePolicy& s : c.sources) matches |= api::GlobMatches(pattern, s.name);
      HOOKVAULT_FUZZ_CHECK(matches, "destination source pattern matches nothing: " + pattern);
    }
  }
  for (const server::ApiTokenConfig& t : c.api_tokens) {
    HOOKVAULT_FUZZ_CHECK(!t.name.empty() && t.token.size() >= 16, t.name);
    HOOKVAULT_FUZZ_CHECK(api::ParseRole(t.role).has_value(), t.role);  // main.cc dereferences it
  }
  for (const api::Cidr& block : c.trusted_proxies) {
    HOOKVAULT_FUZZ_CHECK(api::Cidr::Parse(block.text()).ok(), block.text());
  }
}

// Checks that every string list of the config holds the strings of the document as written.
void CheckAsWritten(const server::Config& c, const rapidjson::Document& doc) {
  auto same = [](const std::optional<std::vector<std::string>>& written,
                 const std::vector<std::string>& loaded, const std::string& what) {
    HOOKVAULT_FUZZ_CHECK(written.value_or(std::vector<std::string>{}) == loaded,
                         what + " differ from the strings written in the file");
  };
  same(WrittenStrings(doc, "trusted_proxies"), CidrTexts(c.trusted_proxies), "trusted_proxies");
  const rapidjson::Value& sources = doc["sources"];
  for (rapidjson::SizeType i = 0; i < sources.Size(); ++i) {
    const api::SourcePolicy& s = c.sources[i];
    std::string at = "sources[" + std::to_string(i) + "].";
    same(WrittenStrings(sources[i], "tokens"), s.tokens, at + "tokens");
    same(WrittenStrings(sources[i], "allow_ips"), CidrTexts(s.allow_ips), at + "allow_ips");
    same(WrittenStrings(sources[i], "required"), s.required, at + "required");
  }
  if (doc.HasMember("destinations")) {
    const rapidjson::Value& destinations = doc["destinations"];
    for (rapidjson::SizeType i = 0; i < destinations.Size(); ++i) {
      const server::DestinationConfig& d = c.destinations[i];
      std::string at = "destinations[" + std::to_string(i) + "].";
      same(WrittenStrings(destinations[i], "sources"), d.filter.sources, at + "sources");
      same(WrittenStrings(destinations[i], "events"), d.filter.events, at + "events");
    }
  }
}

// --- Writing a Config back as JSON ------------------------------------------------------------

std::string Q(std::string_view s) { return api::JsonQuote(s); }

std::string List(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + Q(items[i]);
  return out + "]";
}

std::string Num(double d) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.Double(d);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string ToJson(const server::Config& c) {
  std::string j = "{\"listen\":" + Q(c.listen) + ",\"threads\":" + std::to_string(c.threads) +
                  ",\"data_dir\":" + Q(c.data_dir) +
                  ",\"max_body_bytes\":" + std::to_string(c.max_body_bytes) +
                  ",\"max_db_bytes\":" + std::to_string(c.max_db_bytes) +
                  ",\"log\":{\"level\":" + Q(c.log.level) + ",\"format\":" + Q(c.log.format) + "}" +
                  ",\"writer\":{\"max_batch\":" + std::to_string(c.writer_max_batch) +
                  ",\"max_queue\":" + std::to_string(c.writer_max_queue) + "}" +
                  ",\"trusted_proxies\":" + List(CidrTexts(c.trusted_proxies));
  if (c.tls) {
    j += ",\"tls\":{\"cert_file\":" + Q(c.tls->cert_file) + ",\"key_file\":" + Q(c.tls->key_file) +
         "}";
  }
  const server::RetentionConfig& r = c.retention;
  j += ",\"retention\":{\"delivered_days\":" + std::to_string(r.delivered_days) +
       ",\"failed_days\":" + std::to_string(r.failed_days) +
       ",\"attempts_days\":" + std::to_string(r.attempts_days) +
       ",\"request_log_days\":" + std::to_string(r.request_log_days) +
       ",\"idempotency_days\":" + std::to_string(r.idempotency_days) + "}";
  j += std::string(",\"request_log\":{\"keep_rejected_bodies\":") +
       (c.request_log.keep_rejected_bodies ? "true" : "false") +
       ",\"kept_body_bytes\":" + std::to_string(c.request_log.kept_body_bytes) + "}";
  j += ",\"sources\":[";
  for (size_t i = 0; i < c.sources.size(); ++i) {
    const api::SourcePolicy& s = c.sources[i];
    j += std::string(i ? "," : "") + "{\"name\":" + Q(s.name) + ",\"tokens\":" + List(s.tokens) +
         ",\"allow_ips\":" + List(CidrTexts(s.allow_ips)) + ",\"required\":" + List(s.required);
    if (s.event_type) j += ",\"event_type\":" + Q(PointerText(*s.event_type));
    j += ",\"idempotency\":{\"header\":" + Q(s.idempotency_header);
    if (s.idempotency_pointer) j += ",\"pointer\":" + Q(PointerText(*s.idempotency_pointer));
    j += "}}";
  }
  j += "],\"destinations\":[";
  for (size_t i = 0; i < c.destinations.size(); ++i) {
    const server::DestinationConfig& d = c.destinations[i];
    j += std::string(i ? "," : "") + "{\"name\":" + Q(d.filter.name) + ",\"url\":" + Q(d.url) +
         ",\"sources\":" + List(d.filter.sources) + ",\"events\":" + List(d.filter.events) +
         ",\"timeout_ms\":" + std::to_string(d.timeout_ms) +
         ",\"max_attempts\":" + std::to_string(d.max_attempts) +
         ",\"backoff\":{\"initial_ms\":" + std::to_string(d.backoff.initial_ms) +
         ",\"max_ms\":" + std::to_string(d.backoff.max_ms) +
         ",\"multiplier\":" + Num(d.backoff.multiplier) + "}" +
         ",\"concurrency\":" + std::to_string(d.concurrency) +
         ",\"signing_secret\":" + Q(d.signing_secret) + "}";
  }
  j += "],\"api_tokens\":[";
  for (size_t i = 0; i < c.api_tokens.size(); ++i) {
    const server::ApiTokenConfig& t = c.api_tokens[i];
    j += std::string(i ? "," : "") + "{\"name\":" + Q(t.name) + ",\"token\":" + Q(t.token) +
         ",\"role\":" + Q(t.role) + "}";
  }
  return j + "]}";
}

// Checks that two configs are the same, field by field.
void CheckSame(const server::Config& a, const server::Config& b, const std::string& json) {
  auto check = [&json](bool unchanged, const char* what) {
    HOOKVAULT_FUZZ_CHECK(unchanged,
                         std::string(what) + " changed in the round trip through " + json);
  };
  check(a.listen == b.listen && a.threads == b.threads && a.data_dir == b.data_dir, "server");
  check(a.max_body_bytes == b.max_body_bytes && a.max_db_bytes == b.max_db_bytes, "limits");
  check(a.log.level == b.log.level && a.log.format == b.log.format, "log");
  check(a.writer_max_batch == b.writer_max_batch && a.writer_max_queue == b.writer_max_queue,
        "writer");
  check(CidrTexts(a.trusted_proxies) == CidrTexts(b.trusted_proxies), "trusted_proxies");
  check(
      a.tls.has_value() == b.tls.has_value() &&
          (!a.tls || (a.tls->cert_file == b.tls->cert_file && a.tls->key_file == b.tls->key_file)),
      "tls");
  const server::RetentionConfig &ra = a.retention, &rb = b.retention;
  check(ra.delivered_days == rb.delivered_days && ra.failed_days == rb.failed_days &&
            ra.attempts_days == rb.attempts_days && ra.request_log_days == rb.request_log_days &&
            ra.idempotency_days == rb.idempotency_days,
        "retention");
  check(a.request_log.keep_rejected_bodies == b.request_log.keep_rejected_bodies &&
            a.request_log.kept_body_bytes == b.request_log.kept_body_bytes,
        "request_log");
  check(a.sources.size() == b.sources.size(), "sources");
  for (size_t i = 0; i < a.sources.size(); ++i) {
    const api::SourcePolicy &sa = a.sources[i], &sb = b.sources[i];
    check(sa.name == sb.name && sa.tokens == sb.tokens && sa.required == sb.required &&
              sa.idempotency_header == sb.idempotency_header &&
              CidrTexts(sa.allow_ips) == CidrTexts(sb.allow_ips),
          "a source");
    check(sa.event_type.has_value() == sb.event_type.has_value() &&
              (!sa.event_type || *sa.event_type == *sb.event_type),
          "event_type");
    check(sa.idempotency_pointer.has_value() == sb.idempotency_pointer.has_value() &&
              (!sa.idempotency_pointer || *sa.idempotency_pointer == *sb.idempotency_pointer),
          "idempotency.pointer");
  }
  check(a.destinations.size() == b.destinations.size(), "destinations");
  for (size_t i = 0; i < a.destinations.size(); ++i) {
    const server::DestinationConfig &da = a.destinations[i], &db = b.destinations[i];
    check(da.filter.name == db.filter.name && da.filter.sources == db.filter.sources &&
              da.filter.events == db.filter.events && da.url == db.url &&
              da.timeout_ms == db.timeout_ms && da.max_attempts == db.max_attempts &&
              da.concurrency == db.concurrency && da.signing_secret == db.signing_secret,
          "a destination");
    // RapidJSON reads a double to within 3 ulp unless asked for full precision (slower), so the
    // multiplier written back may read a hair different.
    check(da.backoff.initial_ms == db.backoff.initial_ms &&
              da.backoff.max_ms == db.backoff.max_ms &&
              std::abs(da.backoff.multiplier - db.backoff.multiplier) <=
                  1e-14 * da.backoff.multiplier,
          "backoff");
  }
  check(a.api_tokens.size() == b.api_tokens.size(), "api_tokens");
  for (size_t i = 0; i < a.api_tokens.size(); ++i) {
    check(a.api_tokens[i].name == b.api_tokens[i].name &&
              a.api_tokens[i].token == b.api_tokens[i].token &&
              a.api_tokens[i].role == b.api_tokens[i].role,
          "an API token");
  }
}

}  // namespace

int FuzzConfig(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  storage::StatusOr<server::Config> config = server::ParseConfig(text, LookUp);
  if (!config.ok()) {
    const storage::Status& s = config.status();
    HOOKVAULT_FUZZ_CHECK(s.code() == storage::StatusCode::kInvalidArgument, s.ToString());
    HOOKVAULT_FUZZ_CHECK(s.message().find(": ") != std::string::npos, s.message());
    return 0;
  }
  CheckValid(*config);
  rapidjson::Document doc;
  HOOKVAULT_FUZZ_CHECK(api::ParseJson(text, doc).ok(), "loaded from invalid JSON");
  CheckAsWritten(*config, doc);

  std::string json = ToJson(*config);
  // Substitution is one pass: "$${HV_EMPTY}{X}" loads as the text "${X}", which written back
  // would be substituted again. Such a config cannot be written back as it is.
  if (json.find("${") != std::string::npos) return 0;
  storage::StatusOr<server::Config> again = server::ParseConfig(json, LookUp);
  HOOKVAULT_FUZZ_CHECK(again.ok(), again.status().ToString() + " for " + json);
  CheckSame(*config, *again, json);
  return 0;
}

}  // namespace hookvault::fuzz
