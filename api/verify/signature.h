// Signature verification for sources whose providers sign each request with an HMAC instead
// of (or as well as) sending a shared token: GitHub, Stripe, Shopify, Standard Webhooks and a
// generic HMAC scheme (README: Receiving from GitHub, Stripe, Shopify, Standard Webhooks).
//
// Every comparison of a computed MAC with a received one is constant-time; a failure says which
// check failed (missing header, malformed header, timestamp outside tolerance, no signature
// matches), never the expected value.
//
// Thread-safety: free functions and plain values; safe to call from any thread at once.
#ifndef HOOKVAULT_API_VERIFY_SIGNATURE_H_
#define HOOKVAULT_API_VERIFY_SIGNATURE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "storage/base/crypto.h"

namespace hookvault::api {

enum class SignatureScheme { kGithub, kStripe, kShopify, kStandardWebhooks, kHmac };

// Returns "github", "stripe", "shopify", "standard-webhooks" or "hmac"; ParseSignatureScheme
// is its inverse (nullopt for any other text).
std::string_view SignatureSchemeName(SignatureScheme scheme);
std::optional<SignatureScheme> ParseSignatureScheme(std::string_view name);

enum class SignatureEncoding { kHex, kBase64 };

// A source's "verify" config, validated (server/config.cc builds it).
struct SignaturePolicy {
  SignatureScheme scheme = SignatureScheme::kGithub;
  // HMAC keys, any one of which verifies (rotation), as bytes: for standard-webhooks the
  // base64 after an optional "whsec_" has been decoded (as the reference libraries do); for
  // every other scheme the secret's own bytes (Stripe's "whsec_..." is used as written).
  std::vector<std::string> keys;
  // Largest difference, either way, between the request's timestamp and the receive time,
  // for the schemes that send one (stripe, standard-webhooks).
  int64_t tolerance_s = 300;
  // Scheme hmac only: the header (lower case), digest, encoding of the MAC, and a prefix the
  // header value starts with ("sha256="), removed before decoding.
  std::string header;
  base::HmacDigest algorithm = base::HmacDigest::kSha256;
  SignatureEncoding encoding = SignatureEncoding::kHex;
  std::string prefix;
};

// Which check a request failed.
enum class SignatureCheck {
  kOk,
  kMissingHeader,       // a header the scheme needs is absent
  kMalformedHeader,     // present but not in the scheme's form (no v1=, not hex/base64, ...)
  kTimestampOutsideTolerance,
  kMismatch,            // well-formed, but no signature matches any key
};

// Returns the request-log reason for a failed check: "signature-missing",
// "signature-malformed", "signature-timestamp" or "signature-mismatch" ("" for kOk).
std::string_view SignatureCheckReason(SignatureCheck check);

struct SignatureResult {
  SignatureCheck check = SignatureCheck::kOk;
  // For the 401's detail: names the header and the check ("Stripe-Signature timestamp is
  // outside the 300 s tolerance"), never a computed value. Empty when ok.
  std::string detail;

  bool ok() const { return check == SignatureCheck::kOk; }
};

// Verifies `request` (its headers and raw body) under `policy`; `now_s` is the receive time in
// seconds since the epoch. Computes one HMAC per key, whatever the number of signatures sent.
SignatureResult VerifySignature(const SignaturePolicy& policy, const ApiRequest& request,
                                int64_t now_s);

// Returns the lower-case names of the headers that carry `policy`'s signature (GitHub's older
// SHA-1 X-Hub-Signature too). Ingest does not store them with the event: whoever reads the
// event could otherwise post it again with a signature that verifies (GitHub's, Shopify's and
// a generic HMAC carry no timestamp).
std::vector<std::string> SignatureHeaderNames(const SignaturePolicy& policy);

// Most signatures read from one header (Stripe's v1 entries, Standard Webhooks' list); the
// rest are ignored, so a huge header costs no more than this many comparisons.
inline constexpr size_t kMaxSignaturesPerHeader = 16;

// Stripe's header, "t=<unix>,v1=<hex>,v1=<hex>,v0=...": the timestamp and the v1 signatures as
// bytes (hex decoded; entries that are not 64 hex digits are dropped). Other keys are ignored.
// Returns nullopt if there is no t= with a decimal timestamp, or no v1= entry at all.
struct StripeSignatureHeader {
  int64_t timestamp = 0;
  std::vector<std::string> v1;
};
std::optional<StripeSignatureHeader> ParseStripeSignatureHeader(std::string_view value);

// Standard Webhooks' header, space-separated "v1,<base64>" entries: the v1 signatures as bytes
// (base64 decoded; other versions and undecodable entries are dropped). At most
// kMaxSignaturesPerHeader are returned.
std::vector<std::string> ParseStandardWebhooksSignatures(std::string_view value);

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_VERIFY_SIGNATURE_H_
