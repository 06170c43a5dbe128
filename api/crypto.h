// Small cryptographic helpers on OpenSSL.
#ifndef HOOKVAULT_API_CRYPTO_H_
#define HOOKVAULT_API_CRYPTO_H_

#include <string>
#include <string_view>

namespace hookvault::api {

// Returns the lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Compares two secrets in time that depends on neither content nor length: both are hashed
// and the digests compared with CRYPTO_memcmp.
bool SecretsEqual(std::string_view a, std::string_view b);

// Returns `bytes` bytes from OpenSSL's CSPRNG as lower-case hex. Throws std::runtime_error if
// the generator fails (it does not on a working system).
std::string RandomHex(size_t bytes);

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_CRYPTO_H_
