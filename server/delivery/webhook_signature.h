// Standard Webhooks signing (https://www.standardwebhooks.com/, "Symmetric signatures"):
// what a receiver's Standard Webhooks or Svix library verifies on every forwarded request.
//
// Thread-safety: free functions with no shared state; safe to call from any thread.
#ifndef HOOKVAULT_SERVER_DELIVERY_WEBHOOK_SIGNATURE_H_
#define HOOKVAULT_SERVER_DELIVERY_WEBHOOK_SIGNATURE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/status.h"

namespace hookvault::server {

// The prefix the spec gives secrets that are base64 text ("whsec_<base64>").
inline constexpr std::string_view kSigningSecretPrefix = "whsec_";

// Returns the HMAC key bytes for a configured `signing_secret`.
//
// A `whsec_`-prefixed secret is decoded from standard, padded base64 after the prefix, as the
// spec and Svix do. A secret without the prefix is used as its raw bytes, unchanged: operators
// who invent a secret by hand ("correct-horse-battery") then get exactly the key they typed.
// Note that the reference libraries base64-decode an unprefixed secret too, so a receiver
// that configures its verifier with the same unprefixed text will not match; give such a
// receiver the `whsec_` form.
//
// Returns kInvalidArgument if the part after `whsec_` is not valid padded base64, or if the
// key would be empty (an empty key signs nothing a receiver could trust).
storage::StatusOr<std::string> DecodeSigningSecret(std::string_view secret);

// Returns the `webhook-signature` header value for one request: "v1,<base64 HMAC-SHA256>"
// of "<msg_id>.<timestamp_seconds>.<body>", every byte of `body` included (NUL too).
// `key_bytes` is what DecodeSigningSecret returned. The signature covers the timestamp, so
// compute it per attempt with the `webhook-timestamp` that attempt sends.
// Returns kInternal if OpenSSL cannot compute the MAC (no memory, no SHA-256 provider); the
// caller then must not send the request (an empty or partial signature header would only make
// the receiver reject it, or worse, teach it to accept unsigned requests).
storage::StatusOr<std::string> SignWebhook(std::string_view key_bytes, std::string_view msg_id,
                                           int64_t timestamp_seconds, std::string_view body);

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_WEBHOOK_SIGNATURE_H_
