#include "api/verify/signature.h"

#include <initializer_list>
#include <utility>

#include "storage/base/encoding.h"
#include "storage/base/strings.h"

namespace hookvault::api {
namespace {

// The header names as the providers document them, for details; requests carry them in lower
// case (ApiRequest::headers).
constexpr std::string_view kGithubHeader = "X-Hub-Signature-256";
constexpr std::string_view kStripeHeader = "Stripe-Signature";
constexpr std::string_view kShopifyHeader = "X-Shopify-Hmac-Sha256";
constexpr std::string_view kWebhookId = "webhook-id";
constexpr std::string_view kWebhookTimestamp = "webhook-timestamp";
constexpr std::string_view kWebhookSignature = "webhook-signature";

constexpr size_t kSha256Bytes = 32;

// Eighteen decimal digits stay far inside int64_t, so `now - timestamp` cannot overflow; a
// Unix time in seconds has ten digits until the year 2286.
constexpr size_t kMaxTimestampDigits = 18;

size_t DigestBytes(base::HmacDigest digest) {
  switch (digest) {
    case base::HmacDigest::kSha1:
      return 20;
    case base::HmacDigest::kSha256:
      return 32;
    case base::HmacDigest::kSha512:
      return 64;
  }
  return 0;
}

std::string_view DigestName(base::HmacDigest digest) {
  switch (digest) {
    case base::HmacDigest::kSha1:
      return "SHA-1";
    case base::HmacDigest::kSha256:
      return "SHA-256";
    case base::HmacDigest::kSha512:
      return "SHA-512";
  }
  return "";
}

SignatureResult Fail(SignatureCheck check, std::string detail) {
  return SignatureResult{check, std::move(detail)};
}

// Returns the header's value without HTTP's optional whitespace around it, or nullopt if the
// request has no such header. An empty value counts as absent: the providers' libraries treat
// "" like a missing header, and there is nothing in it to check.
std::optional<std::string_view> HeaderValue(const ApiRequest& request,
                                            std::string_view lower_name) {
  const std::string* value = request.Header(lower_name);
  if (value == nullptr) return std::nullopt;
  std::string_view trimmed = base::TrimOptionalWhitespace(*value);
  if (trimmed.empty()) return std::nullopt;
  return trimmed;
}

// A decimal Unix time: digits only (no sign, no space, no fraction), at most
// kMaxTimestampDigits. The providers' libraries read it with parseInt, which also takes
// "12abc"; no sender of theirs writes that, and refusing it keeps the signed text unambiguous.
std::optional<int64_t> ParseTimestamp(std::string_view text) {
  if (text.empty() || text.size() > kMaxTimestampDigits) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

int HexValue(char c, bool allow_upper) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (allow_upper && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Returns the bytes of `text`, which must be exactly `bytes` bytes of hex. Upper-case digits
// only if `allow_upper`: GitHub's and Stripe's own verifiers compare the hex text with the
// lower-case hex they compute, so an upper-case signature fails there and fails here.
std::optional<std::string> DecodeHex(std::string_view text, size_t bytes, bool allow_upper) {
  if (text.size() != 2 * bytes) return std::nullopt;
  std::string out(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) {
    int hi = HexValue(text[2 * i], allow_upper);
    int lo = HexValue(text[2 * i + 1], allow_upper);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

// Returns true if the `digest` HMAC of `parts` under any key equals any of `received`.
// Computes one HMAC per key whatever the number of signatures, and compares every pair in
// constant time without stopping early, so the time taken says nothing about which pair (if
// any) matched. The digest is the scheme's: policy.algorithm belongs to the generic scheme
// alone, and must not change what a GitHub or Stripe signature is.
bool AnyKeyMatches(const SignaturePolicy& policy, base::HmacDigest digest,
                   std::initializer_list<std::string_view> parts,
                   const std::vector<std::string>& received) {
  const size_t expected_bytes = DigestBytes(digest);
  bool matched = false;
  for (const std::string& key : policy.keys) {
    std::string mac = base::Hmac(digest, key, parts);
    // An OpenSSL failure yields "": it must never equal an empty received signature.
    if (mac.size() != expected_bytes) continue;
    for (const std::string& signature : received) {
      matched |= base::BytesEqual(mac, signature);
    }
  }
  return matched;
}

SignatureResult CheckTimestamp(std::string_view what, int64_t timestamp, int64_t now_s,
                               int64_t tolerance_s) {
  int64_t age = now_s - timestamp;
  if (age <= tolerance_s && -age <= tolerance_s) return SignatureResult{};
  std::string detail = std::string(what) + " is outside the " + std::to_string(tolerance_s) +
                       " s tolerance (" + (age > 0 ? "too old" : "in the future") + ")";
  return Fail(SignatureCheck::kTimestampOutsideTolerance, std::move(detail));
}

std::string MismatchDetail(std::string_view header, std::string_view what) {
  return std::string(header) + " does not match " + std::string(what) +
         " under any configured secret";
}

// Stripe's header parsed, with the reason when it cannot be used.
struct StripeParse {
  bool has_timestamp = false;
  bool has_v1 = false;  // at least one v1= entry, well-formed or not
  StripeSignatureHeader header;
};

StripeParse ParseStripe(std::string_view value) {
  StripeParse out;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view item = base::TrimOptionalWhitespace(value.substr(pos, comma - pos));
    pos = comma + 1;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = item.substr(0, eq);
    std::string_view val = item.substr(eq + 1);
    if (key == "t") {
      // As stripe-node's parseHeader: the last t= wins, and one that is not a number spoils
      // the header.
      std::optional<int64_t> t = ParseTimestamp(val);
      out.has_timestamp = t.has_value();
      out.header.timestamp = t.value_or(0);
    } else if (key == "v1") {
      out.has_v1 = true;
      if (out.header.v1.size() >= kMaxSignaturesPerHeader) continue;
      if (std::optional<std::string> bytes = DecodeHex(val, kSha256Bytes, false)) {
        out.header.v1.push_back(std::move(*bytes));
      }
    }
  }
  return out;
}

SignatureResult VerifyGithub(const SignaturePolicy& policy, const ApiRequest& request) {
  std::optional<std::string_view> value = HeaderValue(request, "x-hub-signature-256");
  if (!value) {
    return Fail(SignatureCheck::kMissingHeader, std::string(kGithubHeader) + " header is missing");
  }
  constexpr std::string_view kPrefix = "sha256=";
  std::optional<std::string> mac;
  if (value->substr(0, kPrefix.size()) == kPrefix) {
    mac = DecodeHex(value->substr(kPrefix.size()), kSha256Bytes, false);
  }
  if (!mac) {
    return Fail(
        SignatureCheck::kMalformedHeader,
        std::string(kGithubHeader) + " is not \"sha256=\" followed by 64 lower-case hex digits");
  }
  if (!AnyKeyMatches(policy, base::HmacDigest::kSha256, {request.body}, {std::move(*mac)})) {
    return Fail(SignatureCheck::kMismatch, MismatchDetail(kGithubHeader, "the body"));
  }
  return SignatureResult{};
}

SignatureResult VerifyStripe(const SignaturePolicy& policy, const ApiRequest& request,
                             int64_t now_s) {
  std::optional<std::string_view> value = HeaderValue(request, "stripe-signature");
  if (!value) {
    return Fail(SignatureCheck::kMissingHeader, std::string(kStripeHeader) + " header is missing");
  }
  StripeParse parsed = ParseStripe(*value);
  if (!parsed.has_timestamp) {
    return Fail(SignatureCheck::kMalformedHeader,
                std::string(kStripeHeader) + " has no t= with a decimal Unix time");
  }
  if (parsed.header.v1.empty()) {
    return Fail(SignatureCheck::kMalformedHeader,
                std::string(kStripeHeader) + (parsed.has_v1 ? " has no v1= of 64 lower-case hex "
                                                              "digits"
                                                            : " has no v1= signature"));
  }
  // Signed as stripe-node signs and verifies: the timestamp re-printed from its number.
  std::string timestamp = std::to_string(parsed.header.timestamp);
  if (!AnyKeyMatches(policy, base::HmacDigest::kSha256, {timestamp, ".", request.body},
                     parsed.header.v1)) {
    return Fail(SignatureCheck::kMismatch, MismatchDetail(kStripeHeader, "the timestamp and body"));
  }
  // After the signature, as Stripe's libraries order it: "timestamp" then means an authentic
  // request that is stale (a replay, or a clock off), never a forgery.
  return CheckTimestamp(std::string(kStripeHeader) + " timestamp", parsed.header.timestamp, now_s,
                        policy.tolerance_s);
}

SignatureResult VerifyShopify(const SignaturePolicy& policy, const ApiRequest& request) {
  std::optional<std::string_view> value = HeaderValue(request, "x-shopify-hmac-sha256");
  if (!value) {
    return Fail(SignatureCheck::kMissingHeader, std::string(kShopifyHeader) + " header is missing");
  }
  std::optional<std::string> mac = base::Base64Decode(*value);
  if (!mac || mac->size() != kSha256Bytes) {
    return Fail(SignatureCheck::kMalformedHeader,
                std::string(kShopifyHeader) + " is not the base64 of a SHA-256 HMAC");
  }
  if (!AnyKeyMatches(policy, base::HmacDigest::kSha256, {request.body}, {std::move(*mac)})) {
    return Fail(SignatureCheck::kMismatch, MismatchDetail(kShopifyHeader, "the body"));
  }
  return SignatureResult{};
}

SignatureResult VerifyStandardWebhooks(const SignaturePolicy& policy, const ApiRequest& request,
                                       int64_t now_s) {
  std::optional<std::string_view> id = HeaderValue(request, kWebhookId);
  std::optional<std::string_view> timestamp_text = HeaderValue(request, kWebhookTimestamp);
  std::optional<std::string_view> signatures_text = HeaderValue(request, kWebhookSignature);
  for (auto [present, name] : {std::pair{id.has_value(), kWebhookId},
                               std::pair{timestamp_text.has_value(), kWebhookTimestamp},
                               std::pair{signatures_text.has_value(), kWebhookSignature}}) {
    if (!present) {
      return Fail(SignatureCheck::kMissingHeader, std::string(name) + " header is missing");
    }
  }
  std::optional<int64_t> timestamp = ParseTimestamp(*timestamp_text);
  if (!timestamp) {
    return Fail(SignatureCheck::kMalformedHeader,
                std::string(kWebhookTimestamp) + " is not a decimal Unix time");
  }
  std::vector<std::string> signatures = ParseStandardWebhooksSignatures(*signatures_text);
  if (signatures.empty()) {
    return Fail(SignatureCheck::kMalformedHeader,
                std::string(kWebhookSignature) + " has no \"v1,<base64>\" signature");
  }
  // Signed as the reference libraries sign: "<id>.<timestamp re-printed>.<body>".
  std::string timestamp_signed = std::to_string(*timestamp);
  if (!AnyKeyMatches(policy, base::HmacDigest::kSha256,
                     {*id, ".", timestamp_signed, ".", request.body}, signatures)) {
    return Fail(SignatureCheck::kMismatch,
                MismatchDetail(kWebhookSignature, "the id, timestamp and body"));
  }
  return CheckTimestamp(kWebhookTimestamp, *timestamp, now_s, policy.tolerance_s);
}

SignatureResult VerifyHmac(const SignaturePolicy& policy, const ApiRequest& request) {
  std::optional<std::string_view> value = HeaderValue(request, policy.header);
  if (!value) {
    return Fail(SignatureCheck::kMissingHeader, policy.header + " header is missing");
  }
  if (value->substr(0, policy.prefix.size()) != policy.prefix) {
    return Fail(SignatureCheck::kMalformedHeader,
                policy.header + " does not start with \"" + policy.prefix + "\"");
  }
  std::string_view encoded = value->substr(policy.prefix.size());
  const size_t bytes = DigestBytes(policy.algorithm);
  std::optional<std::string> mac;
  if (policy.encoding == SignatureEncoding::kHex) {
    // No provider library to match here; senders differ (.NET's Convert.ToHexString writes
    // upper case), and the case of a hex digit carries no information.
    mac = DecodeHex(encoded, bytes, true);
  } else {
    mac = base::Base64Decode(encoded);
    if (mac && mac->size() != bytes) mac.reset();
  }
  if (!mac) {
    return Fail(SignatureCheck::kMalformedHeader,
                policy.header + " is not the " +
                    (policy.encoding == SignatureEncoding::kHex ? "hex" : "base64") + " of a " +
                    std::string(DigestName(policy.algorithm)) + " HMAC");
  }
  if (!AnyKeyMatches(policy, policy.algorithm, {request.body}, {std::move(*mac)})) {
    return Fail(SignatureCheck::kMismatch, MismatchDetail(policy.header, "the body"));
  }
  return SignatureResult{};
}

}  // namespace

std::string_view SignatureSchemeName(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kGithub:
      return "github";
    case SignatureScheme::kStripe:
      return "stripe";
    case SignatureScheme::kShopify:
      return "shopify";
    case SignatureScheme::kStandardWebhooks:
      return "standard-webhooks";
    case SignatureScheme::kHmac:
      return "hmac";
  }
  return "";
}

std::optional<SignatureScheme> ParseSignatureScheme(std::string_view name) {
  for (SignatureScheme scheme :
       {SignatureScheme::kGithub, SignatureScheme::kStripe, SignatureScheme::kShopify,
        SignatureScheme::kStandardWebhooks, SignatureScheme::kHmac}) {
    if (SignatureSchemeName(scheme) == name) return scheme;
  }
  return std::nullopt;
}

std::vector<std::string> SignatureHeaderNames(const SignaturePolicy& policy) {
  switch (policy.scheme) {
    case SignatureScheme::kGithub:
      return {"x-hub-signature-256", "x-hub-signature"};
    case SignatureScheme::kStripe:
      return {"stripe-signature"};
    case SignatureScheme::kShopify:
      return {"x-shopify-hmac-sha256"};
    case SignatureScheme::kStandardWebhooks:
      return {std::string(kWebhookSignature)};
    case SignatureScheme::kHmac:
      return {policy.header};
  }
  return {};
}

std::string_view SignatureCheckReason(SignatureCheck check) {
  switch (check) {
    case SignatureCheck::kOk:
      return "";
    case SignatureCheck::kMissingHeader:
      return "signature-missing";
    case SignatureCheck::kMalformedHeader:
      return "signature-malformed";
    case SignatureCheck::kTimestampOutsideTolerance:
      return "signature-timestamp";
    case SignatureCheck::kMismatch:
      return "signature-mismatch";
  }
  return "";
}

SignatureResult VerifySignature(const SignaturePolicy& policy, const ApiRequest& request,
                                int64_t now_s) {
  switch (policy.scheme) {
    case SignatureScheme::kGithub:
      return VerifyGithub(policy, request);
    case SignatureScheme::kStripe:
      return VerifyStripe(policy, request, now_s);
    case SignatureScheme::kShopify:
      return VerifyShopify(policy, request);
    case SignatureScheme::kStandardWebhooks:
      return VerifyStandardWebhooks(policy, request, now_s);
    case SignatureScheme::kHmac:
      return VerifyHmac(policy, request);
  }
  return Fail(SignatureCheck::kMismatch, "unknown signature scheme");
}

std::optional<StripeSignatureHeader> ParseStripeSignatureHeader(std::string_view value) {
  StripeParse parsed = ParseStripe(value);
  if (!parsed.has_timestamp || !parsed.has_v1) return std::nullopt;
  return std::move(parsed.header);
}

std::vector<std::string> ParseStandardWebhooksSignatures(std::string_view value) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < value.size() && out.size() < kMaxSignaturesPerHeader) {
    size_t space = value.find(' ', pos);
    if (space == std::string_view::npos) space = value.size();
    std::string_view entry = value.substr(pos, space - pos);
    pos = space + 1;
    constexpr std::string_view kVersion = "v1,";
    if (entry.substr(0, kVersion.size()) != kVersion) continue;
    std::optional<std::string> bytes = base::Base64Decode(entry.substr(kVersion.size()));
    // "v1," alone decodes to nothing: not a signature.
    if (bytes && !bytes->empty()) out.push_back(std::move(*bytes));
  }
  return out;
}

}  // namespace hookvault::api
