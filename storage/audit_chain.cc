// The audit chain's canonical encoding and hash. Changing either invalidates every stored
// chain: VerifyAudit would report the first row as bad.
#include <openssl/evp.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "storage/audit_chain.h"

namespace hookvault::storage {
namespace {

void AppendField(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

void AppendField(std::string& out, int64_t value) { AppendField(out, std::to_string(value)); }

}  // namespace

std::string AuditCanonical(const AuditRow& row) {
  std::string out;
  AppendField(out, row.id);
  AppendField(out, row.at);
  AppendField(out, row.actor);
  AppendField(out, row.role);
  AppendField(out, row.action);
  AppendField(out, row.target_json);
  AppendField(out, row.matched);
  AppendField(out, row.requeued);
  AppendField(out, row.reason);
  return out;
}

std::string AuditHash(const std::string& prev_hash, const AuditRow& row) {
  std::string canonical = AuditCanonical(row);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, prev_hash.data(), prev_hash.size()) == 1 &&
            EVP_DigestUpdate(ctx, canonical.data(), canonical.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, &length) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return std::string();  // never matches a stored hash: verification fails loudly
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

}  // namespace hookvault::storage
