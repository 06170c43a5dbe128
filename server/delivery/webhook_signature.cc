#include "server/delivery/webhook_signature.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>

namespace hookvault::server {
namespace {

bool IsBase64AlphabetChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// EVP_DecodeBlock is too forgiving to validate with: it trims surrounding whitespace and
// decodes '=' anywhere as if it were 'A' ("A=A=" and "====" decode), so a mistyped secret
// would silently become a different key. Checked here first: length a multiple of 4, only
// alphabet characters, and at most two '=' only at the very end.
bool IsStrictPaddedBase64(std::string_view text) {
  if (text.size() % 4 != 0) return false;
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  return std::all_of(text.begin(), text.end() - static_cast<std::ptrdiff_t>(padding),
                     IsBase64AlphabetChar);
}

storage::StatusOr<std::string> Base64Decode(std::string_view text) {
  if (!IsStrictPaddedBase64(text)) {
    return storage::Status::InvalidArgument("not valid padded base64");
  }
  if (text.empty()) return std::string();
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return storage::Status::InvalidArgument("not valid padded base64");
  // EVP_DecodeBlock counts the zero bytes that padding stands for ("Zg==" gives 3, not 1).
  size_t padding = static_cast<size_t>(std::count(text.end() - 2, text.end(), '='));
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

}  // namespace

storage::StatusOr<std::string> DecodeSigningSecret(std::string_view secret) {
  std::string key;
  if (secret.starts_with(kSigningSecretPrefix)) {
    storage::StatusOr<std::string> decoded =
        Base64Decode(secret.substr(kSigningSecretPrefix.size()));
    if (!decoded.ok()) {
      // The secret itself stays out of the message: it ends up in logs.
      return storage::Status::InvalidArgument("signing_secret: the part after whsec_ is " +
                                              decoded.status().message());
    }
    key = std::move(decoded).value();
  } else {
    key = std::string(secret);
  }
  if (key.empty()) return storage::Status::InvalidArgument("signing_secret: empty key");
  return key;
}

std::string SignWebhook(std::string_view key_bytes, std::string_view msg_id,
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
           &mac_len) == nullptr) {
    return std::string();
  }
  return "v1," + Base64Encode(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

std::string Base64Encode(std::string_view bytes) {
  // EVP_EncodeBlock takes an int length; whole 3-byte groups per call keep the chunks
  // independent, so concatenating their outputs is the encoding of the whole.
  constexpr size_t kChunk = 3 * (size_t{1} << 20);
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t pos = 0; pos < bytes.size(); pos += kChunk) {
    std::string_view chunk = bytes.substr(pos, kChunk);
    size_t start = out.size();
    // +1: EVP_EncodeBlock writes a terminating NUL after the text.
    out.resize(start + (chunk.size() + 2) / 3 * 4 + 1);
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + start),
                            reinterpret_cast<const unsigned char*>(chunk.data()),
                            static_cast<int>(chunk.size()));
    out.resize(start + static_cast<size_t>(n));
  }
  return out;
}

}  // namespace hookvault::server
