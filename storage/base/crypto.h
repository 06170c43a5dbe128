// Cryptographic helpers on OpenSSL: SHA-256, HMAC, comparison of secrets, random tokens.
//
// Includes nothing of ours (the core's storage/status.h at most, by the rule for
// storage/base/). Thread-safety: free functions with no shared state, safe from any thread
// (OpenSSL 3's digests and CSPRNG are).
#ifndef HOOKVAULT_STORAGE_BASE_CRYPTO_H_
#define HOOKVAULT_STORAGE_BASE_CRYPTO_H_

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace hookvault::base {

// Returns the 32-byte SHA-256 digest of `parts` concatenated, or an empty string if OpenSSL
// fails (out of memory, no SHA-256 provider). Hashing parts in turn spares callers the copy
// that joining them would take.
std::string Sha256(std::initializer_list<std::string_view> parts);

// Returns the lower-case hex SHA-256 (64 digits) of `parts` concatenated, or an empty string
// if OpenSSL fails; an empty string never equals a stored hash.
std::string Sha256Hex(std::initializer_list<std::string_view> parts);
std::string Sha256Hex(std::string_view data);

// Compares two secrets in time that depends on neither content nor length: both are hashed
// and the digests compared with CRYPTO_memcmp. Returns false if hashing fails.
bool SecretsEqual(std::string_view a, std::string_view b);

// The digests an HMAC may use.
enum class HmacDigest { kSha1, kSha256, kSha512 };

// Returns the raw HMAC (20, 32 or 64 bytes) of `parts` concatenated under `key`, or an empty
// string if OpenSSL fails. Hashing parts in turn spares the copy of a body that joining them
// would take ("t.body" for Stripe, "id.t.body" for Standard Webhooks). An empty key is allowed.
std::string Hmac(HmacDigest digest, std::string_view key,
                 std::initializer_list<std::string_view> parts);

// Compares two byte strings in time that depends only on their length (CRYPTO_memcmp): for a
// received MAC against a computed one, whose length is public. False if the lengths differ.
bool BytesEqual(std::string_view a, std::string_view b);

// Returns `bytes` bytes from OpenSSL's CSPRNG as lower-case hex. Throws std::runtime_error if
// the generator fails (it does not on a working system).
std::string RandomHex(size_t bytes);

}  // namespace hookvault::base

#endif  // HOOKVAULT_STORAGE_BASE_CRYPTO_H_
