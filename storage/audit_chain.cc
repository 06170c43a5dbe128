// The audit chain's canonical encoding and hash. Changing either invalidates every stored
// chain: VerifyAudit would report the first row as bad.
#include "storage/audit_chain.h"

#include <string>
#include <string_view>

#include "storage/base/crypto.h"

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
  // Empty if OpenSSL fails, which never matches a stored hash: verification fails loudly.
  return base::Sha256Hex({prev_hash, AuditCanonical(row)});
}

}  // namespace hookvault::storage
