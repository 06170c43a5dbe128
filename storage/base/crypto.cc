#include "storage/base/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "storage/base/encoding.h"

namespace hookvault::base {

namespace {

constexpr size_t kSha256Bytes = 32;

// Writes the SHA-256 of `parts` concatenated to `out`. Returns false if OpenSSL fails. On the
// stack, so that checking an ingest token (two digests per configured token) allocates nothing.
bool Digest(std::initializer_list<std::string_view> parts, unsigned char (&out)[kSha256Bytes]) {
  // Fetched once: EVP_sha256() makes every EVP_DigestInit_ex look the implementation up in
  // OpenSSL 3's provider tables, which cost more than hashing a token. An EVP_MD may be shared
  // by threads.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned int length = 0;
  EVP_MD_CTX* ctx = sha256 ? EVP_MD_CTX_new() : nullptr;
  bool ok = ctx != nullptr && EVP_DigestInit_ex2(ctx, sha256, nullptr) == 1;
  for (std::string_view part : parts) {
    ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx, out, &length) == 1 && length == kSha256Bytes;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::string_view View(const unsigned char (&digest)[kSha256Bytes]) {
  return std::string_view(reinterpret_cast<const char*>(digest), kSha256Bytes);
}

}  // namespace

std::string Sha256(std::initializer_list<std::string_view> parts) {
  unsigned char digest[kSha256Bytes];
  if (!Digest(parts, digest)) return std::string();
  return std::string(View(digest));
}

std::string Sha256Hex(std::initializer_list<std::string_view> parts) {
  unsigned char digest[kSha256Bytes];
  if (!Digest(parts, digest)) return std::string();
  return HexEncode(View(digest));
}

std::string Sha256Hex(std::string_view data) { return Sha256Hex({data}); }

bool SecretsEqual(std::string_view a, std::string_view b) {
  unsigned char da[kSha256Bytes];
  unsigned char db[kSha256Bytes];
  return Digest({a}, da) && Digest({b}, db) && CRYPTO_memcmp(da, db, kSha256Bytes) == 0;
}

std::string Hmac(HmacDigest digest, std::string_view key,
                 std::initializer_list<std::string_view> parts) {
  // The HMAC implementation is fetched once; an EVP_MAC may be shared by threads, a context not.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  char* name = const_cast<char*>(digest == HmacDigest::kSha1     ? "SHA1"
                                 : digest == HmacDigest::kSha256 ? "SHA256"
                                                                 : "SHA512");
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name, 0),
                         OSSL_PARAM_construct_end()};
  // EVP_MAC_init reads a null key as "keep the previous key": an empty key needs a pointer.
  static const unsigned char kEmpty = 0;
  const unsigned char* key_data =
      key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  bool ok = ctx != nullptr && EVP_MAC_init(ctx, key_data, key.size(), params) == 1;
  for (std::string_view part : parts) {
    ok = ok && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(part.data()),
                              part.size()) == 1;
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t length = 0;
  ok = ok && EVP_MAC_final(ctx, out, &length, sizeof(out)) == 1;
  EVP_MAC_CTX_free(ctx);
  if (!ok) return std::string();
  return std::string(reinterpret_cast<const char*>(out), length);
}

bool BytesEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RandomHex(size_t bytes) {
  std::string buf(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(buf.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return HexEncode(buf);
}

}  // namespace hookvault::base
