#include "storage/base/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "storage/base/encoding.h"

namespace hookvault::base {

std::string Sha256(std::initializer_list<std::string_view> parts) {
  std::string digest(EVP_MAX_MD_SIZE, '\0');
  unsigned int length = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
  for (std::string_view part : parts) {
    ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(digest.data()), &length) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return std::string();
  digest.resize(length);
  return digest;
}

std::string Sha256Hex(std::initializer_list<std::string_view> parts) {
  return HexEncode(Sha256(parts));
}

std::string Sha256Hex(std::string_view data) { return Sha256Hex({data}); }

bool SecretsEqual(std::string_view a, std::string_view b) {
  std::string da = Sha256({a});
  std::string db = Sha256({b});
  return !da.empty() && da.size() == db.size() &&
         CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

std::string RandomHex(size_t bytes) {
  std::string buf(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(buf.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return HexEncode(buf);
}

}  // namespace hookvault::base
