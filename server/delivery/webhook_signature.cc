#include "server/delivery/webhook_signature.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <optional>
#include <string>
#include <utility>

#include "storage/base/encoding.h"

namespace hookvault::server {

storage::StatusOr<std::string> DecodeSigningSecret(std::string_view secret) {
  std::string key;
  if (secret.starts_with(kSigningSecretPrefix)) {
    std::optional<std::string> decoded =
        base::Base64Decode(secret.substr(kSigningSecretPrefix.size()));
    if (!decoded) {
      // The secret itself stays out of the message: it ends up in logs.
      return storage::Status::InvalidArgument(
          "signing_secret: the part after whsec_ is not valid padded base64");
    }
    key = std::move(*decoded);
  } else {
    key = std::string(secret);
  }
  if (key.empty()) return storage::Status::InvalidArgument("signing_secret: empty key");
  return key;
}

storage::StatusOr<std::string> SignWebhook(std::string_view key_bytes, std::string_view msg_id,
                                           int64_t timestamp_seconds, std::string_view body) {
  // One contiguous copy keeps to the one-shot HMAC(); bodies are bounded by max_body_bytes.
  std::string content;
  std::string timestamp = std::to_string(timestamp_seconds);
  content.reserve(msg_id.size() + timestamp.size() + body.size() + 2);
  content.append(msg_id).append(".").append(timestamp).append(".").append(body);

  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // An empty string_view may hold a null data(); pass a real pointer rather than rely on how
  // HMAC() treats a null key (HMAC_Init_ex reads it as "keep the previous key").
  static constexpr char kNoKey = 0;
  const char* key = key_bytes.empty() ? &kNoKey : key_bytes.data();
  if (HMAC(EVP_sha256(), key, static_cast<int>(key_bytes.size()),
           reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac,
           &mac_len) == nullptr ||
      mac_len == 0) {
    return storage::Status::Internal("signing the request failed: OpenSSL could not compute "
                                     "HMAC-SHA256");
  }
  return std::string("v1,") +
         base::Base64Encode(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

}  // namespace hookvault::server
