#include "api/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace hookvault::api {
namespace {

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

void Sha256(std::string_view data, unsigned char out[32]) {
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[32];
  Sha256(data, digest);
  return Hex(digest, sizeof(digest));
}

bool SecretsEqual(std::string_view a, std::string_view b) {
  unsigned char da[32];
  unsigned char db[32];
  Sha256(a, da);
  Sha256(b, db);
  return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return Hex(buf.data(), buf.size());
}

}  // namespace hookvault::api
