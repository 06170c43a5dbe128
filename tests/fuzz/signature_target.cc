// The signature fuzz target: Stripe's header parser, Standard Webhooks' signature list parser,
// and api::VerifySignature over fuzzed headers and bodies under every scheme.
//
// Input (lines end with '\n'; a '\r' before it is dropped; missing lines are empty):
//   <stripe-signature>    a Stripe-Signature value
//   <signature>           a webhook-signature value; also sent as X-Hub-Signature-256,
//                         X-Shopify-Hmac-Sha256 and the generic scheme's X-Signature
//   <policy>              byte 0 - '0': the scheme (mod 5: github, stripe, shopify,
//                         standard-webhooks, hmac), byte 1 - '0': the generic scheme's digest
//                         (mod 3: sha1, sha256, sha512), byte 2 - '0': its encoding (mod 2:
//                         hex, base64); the rest is its prefix
//   <webhook-id>
//   <webhook-timestamp>   also the receive time when it is a number
//   <body>                every remaining byte
//
// Invariants:
// - Stripe's parse, written back as "t=<t>,v1=<hex>...", parses to the same thing; at most
//   kMaxSignaturesPerHeader signatures of 32 bytes each. Standard Webhooks' list, written
//   back, parses to the same list; at most kMaxSignaturesPerHeader, none empty.
// - VerifySignature with the fuzzed headers: ok exactly when the detail is empty; the reason
//   is non-empty exactly when it fails; the detail never holds a MAC that would have passed
//   (hex, either case, or base64) beyond the configured prefix it may quote. It accepts only
//   if the header it reads holds the MAC of one of the keys (so no input forges a signature).
// - The same request signed properly (as the provider's library signs it, with the second
//   key) verifies; with a byte appended to the body it is a mismatch; sent tolerance + 1
//   seconds late it is a timestamp failure for the schemes that carry one.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "api/verify/signature.h"
#include "storage/base/crypto.h"
#include "storage/base/encoding.h"
#include "storage/base/strings.h"
#include "tests/fuzz/fuzz_targets.h"

namespace hookvault::fuzz {
namespace {

using api::SignatureCheck;
using api::SignatureScheme;

constexpr int64_t kDefaultNow = 1700000000;
const std::vector<std::string>& Keys() {
  static const auto* keys = new std::vector<std::string>{"first-key", std::string("\0\x01k", 3)};
  return *keys;
}

// --- the parsers ----------------------------------------------------------------------------

void CheckStripeParser(std::string_view value) {
  auto parsed = api::ParseStripeSignatureHeader(value);
  if (!parsed) return;
  HOOKVAULT_FUZZ_CHECK(parsed->v1.size() <= api::kMaxSignaturesPerHeader,
                       std::to_string(parsed->v1.size()) + " signatures");
  HOOKVAULT_FUZZ_CHECK(parsed->timestamp >= 0, std::to_string(parsed->timestamp));
  std::string written = "t=" + std::to_string(parsed->timestamp);
  for (const std::string& v1 : parsed->v1) {
    HOOKVAULT_FUZZ_CHECK(v1.size() == 32, std::to_string(v1.size()) + "-byte signature");
    written += ",v1=" + base::HexEncode(v1);
  }
  if (parsed->v1.empty()) written += ",v1=";
  auto again = api::ParseStripeSignatureHeader(written);
  HOOKVAULT_FUZZ_CHECK(again && again->timestamp == parsed->timestamp && again->v1 == parsed->v1,
                       "does not round-trip: " + written);
}

void CheckStandardWebhooksParser(std::string_view value) {
  std::vector<std::string> parsed = api::ParseStandardWebhooksSignatures(value);
  HOOKVAULT_FUZZ_CHECK(parsed.size() <= api::kMaxSignaturesPerHeader,
                       std::to_string(parsed.size()) + " signatures");
  std::string written;
  for (const std::string& s : parsed) {
    HOOKVAULT_FUZZ_CHECK(!s.empty(), "an empty signature");
    written += (written.empty() ? "v1," : " v1,") + base::Base64Encode(s);
  }
  HOOKVAULT_FUZZ_CHECK(api::ParseStandardWebhooksSignatures(written) == parsed,
                       "does not round-trip: " + written);
}

// --- VerifySignature ------------------------------------------------------------------------

struct Case {
  api::SignaturePolicy policy;
  std::string stripe_header;
  std::string signature_header;
  std::string id;
  std::string timestamp;
  std::string body;
};

api::ApiRequest Build(const Case& c, const std::string& body) {
  api::ApiRequest r;
  r.method = "POST";
  r.path = "/webhooks/fuzz";
  r.headers = {
      {"stripe-signature", c.stripe_header},       {"webhook-signature", c.signature_header},
      {"x-hub-signature-256", c.signature_header}, {"x-shopify-hmac-sha256", c.signature_header},
      {"x-signature", c.signature_header},         {"webhook-id", c.id},
      {"webhook-timestamp", c.timestamp}};
  r.body = body;
  return r;
}

std::optional<int64_t> Number(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + (ch - '0');
  }
  return v;
}

// The MAC a request must carry under `key`, given the timestamp text the scheme signs.
std::string Mac(const api::SignaturePolicy& p, const std::string& key, std::string_view id,
                std::string_view timestamp, std::string_view body) {
  switch (p.scheme) {
    case SignatureScheme::kStripe:
      return base::Hmac(base::HmacDigest::kSha256, key, {timestamp, ".", body});
    case SignatureScheme::kStandardWebhooks:
      return base::Hmac(base::HmacDigest::kSha256, key, {id, ".", timestamp, ".", body});
    case SignatureScheme::kHmac:
      return base::Hmac(p.algorithm, key, {body});
    default:
      return base::Hmac(base::HmacDigest::kSha256, key, {body});
  }
}

// Returns true if `text` holds `mac` in hex (either case) or in base64 (its first whole
// sextets: the last character's unused bits may be anything, and the decoders accept that).
bool Holds(std::string_view text, const std::string& mac) {
  std::string lower = base::AsciiLower(text);
  if (lower.find(base::HexEncode(mac)) != std::string::npos) return true;
  return text.find(base::Base64Encode(mac).substr(0, mac.size() * 8 / 6)) != std::string_view::npos;
}

// `config` is configuration text a detail may quote (the generic scheme's prefix): the
// operator's own words, not a computed value, so it is left out before looking for MACs (the
// fuzzer once wrote a MAC into the prefix itself).
void CheckDetail(const api::SignatureResult& r, const std::vector<std::string>& macs,
                 std::string_view config) {
  HOOKVAULT_FUZZ_CHECK(r.ok() == r.detail.empty(), "detail \"" + r.detail + "\"");
  HOOKVAULT_FUZZ_CHECK(r.ok() == api::SignatureCheckReason(r.check).empty(), r.detail);
  std::string detail = r.detail;
  if (!config.empty()) {
    for (size_t at = detail.find(config); at != std::string::npos; at = detail.find(config, at)) {
      detail.erase(at, config.size());
    }
  }
  for (const std::string& mac : macs) {
    HOOKVAULT_FUZZ_CHECK(mac.empty() || !Holds(detail, mac), "detail shows a MAC: " + r.detail);
  }
}

// The header value that signs the request properly, as the provider's library writes it.
std::string Signed(const api::SignaturePolicy& p, const std::string& mac, int64_t t) {
  switch (p.scheme) {
    case SignatureScheme::kGithub:
      return "sha256=" + base::HexEncode(mac);
    case SignatureScheme::kStripe:
      return "t=" + std::to_string(t) + ",v1=" + base::HexEncode(mac);
    case SignatureScheme::kShopify:
      return base::Base64Encode(mac);
    case SignatureScheme::kStandardWebhooks:
      return "v1," + base::Base64Encode(mac);
    case SignatureScheme::kHmac:
      return p.prefix + (p.encoding == api::SignatureEncoding::kHex ? base::HexEncode(mac)
                                                                    : base::Base64Encode(mac));
  }
  return "";
}

void CheckVerify(Case c) {
  std::optional<int64_t> t = Number(c.timestamp);
  const int64_t now = t.value_or(kDefaultNow);
  const std::string stamp = std::to_string(now);
  // HTTP's optional whitespace around a value is not part of it (VerifySignature trims it).
  const std::string id(base::TrimOptionalWhitespace(c.id));

  // 1. As sent.
  std::string fuzz_stamp = t ? std::to_string(*t) : std::string();
  std::string stripe_stamp;
  if (auto h = api::ParseStripeSignatureHeader(c.stripe_header)) {
    stripe_stamp = std::to_string(h->timestamp);
  }
  std::vector<std::string> macs;
  for (const std::string& key : Keys()) {
    macs.push_back(Mac(c.policy, key, id,
                       c.policy.scheme == SignatureScheme::kStripe ? stripe_stamp : fuzz_stamp,
                       c.body));
  }
  api::SignatureResult sent = api::VerifySignature(c.policy, Build(c, c.body), now);
  CheckDetail(sent, macs, c.policy.prefix);
  if (sent.ok()) {
    const std::string& header =
        c.policy.scheme == SignatureScheme::kStripe ? c.stripe_header : c.signature_header;
    bool holds = false;
    for (const std::string& mac : macs) holds = holds || Holds(header, mac);
    HOOKVAULT_FUZZ_CHECK(holds, "accepted without any key's MAC in \"" + header + "\"");
  }

  // 2. Signed properly with the second key, at the receive time.
  bool has_time = c.policy.scheme == SignatureScheme::kStripe ||
                  c.policy.scheme == SignatureScheme::kStandardWebhooks;
  Case good = c;
  good.timestamp = stamp;
  good.id = id;
  std::string mac = Mac(c.policy, Keys()[1], id, stamp, c.body);
  std::string value = Signed(c.policy, mac, now);
  (c.policy.scheme == SignatureScheme::kStripe ? good.stripe_header : good.signature_header) =
      value;
  bool id_missing = c.policy.scheme == SignatureScheme::kStandardWebhooks && id.empty();
  // A generic prefix that starts or ends with spaces or tabs loses them with the header's
  // optional whitespace: such a header cannot carry the prefix, so it cannot verify.
  bool value_trimmed = base::TrimOptionalWhitespace(value) != value;
  api::SignatureResult ok = api::VerifySignature(c.policy, Build(good, c.body), now);
  CheckDetail(ok, {mac}, c.policy.prefix);
  if (!id_missing && !value_trimmed) {
    HOOKVAULT_FUZZ_CHECK(ok.ok(), "a properly signed request failed: " + ok.detail);

    api::SignatureResult tampered = api::VerifySignature(c.policy, Build(good, c.body + "!"), now);
    CheckDetail(tampered, {mac, Mac(c.policy, Keys()[1], id, stamp, c.body + "!")},
                c.policy.prefix);
    HOOKVAULT_FUZZ_CHECK(tampered.check == SignatureCheck::kMismatch,
                         "a tampered body: " + tampered.detail);

    if (has_time) {
      api::SignatureResult late =
          api::VerifySignature(c.policy, Build(good, c.body), now + c.policy.tolerance_s + 1);
      HOOKVAULT_FUZZ_CHECK(late.check == SignatureCheck::kTimestampOutsideTolerance,
                           "a late request: " + late.detail);
    }
  }
}

}  // namespace

int FuzzSignature(const uint8_t* data, size_t size) {
  std::vector<std::string_view> lines =
      SplitLines(std::string_view(reinterpret_cast<const char*>(data), size), 6);
  auto line = [&lines](size_t i) { return i < lines.size() ? lines[i] : std::string_view(); };
  CheckStripeParser(line(0));
  CheckStandardWebhooksParser(line(1));
  CheckStandardWebhooksParser(line(0));

  std::string_view policy = line(2);
  // Counted from '0', so that a seed's digits read as they look.
  auto byte = [&policy](size_t i) {
    return i < policy.size() ? static_cast<unsigned char>(policy[i] - '0') : 0u;
  };
  Case c;
  c.policy.scheme = static_cast<SignatureScheme>(byte(0) % 5);
  c.policy.keys = Keys();
  c.policy.tolerance_s = 300;
  c.policy.header = "x-signature";
  c.policy.algorithm = static_cast<base::HmacDigest>(byte(1) % 3);
  c.policy.encoding = static_cast<api::SignatureEncoding>(byte(2) % 2);
  c.policy.prefix = std::string(policy.size() > 3 ? policy.substr(3) : std::string_view());
  c.stripe_header = std::string(line(0));
  c.signature_header = std::string(line(1));
  c.id = std::string(line(3));
  c.timestamp = std::string(line(4));
  c.body = std::string(line(5));
  CheckVerify(std::move(c));
  return 0;
}

}  // namespace hookvault::fuzz
