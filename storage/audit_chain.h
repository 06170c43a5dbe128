// The audit chain: each operator action's row is hashed together with the previous row's hash,
// so a row edited or deleted afterwards breaks every hash after it (QueryStore::VerifyAudit).
#ifndef HOOKVAULT_STORAGE_AUDIT_CHAIN_H_
#define HOOKVAULT_STORAGE_AUDIT_CHAIN_H_

#include <string>

#include "storage/query_store.h"

namespace hookvault::storage {

// Returns the canonical content of an audit row that its hash covers: every field but the
// hashes, each length-prefixed so that no two rows share an encoding.
std::string AuditCanonical(const AuditRow& row);

// Returns the hex SHA-256 of prev_hash followed by AuditCanonical(row).
std::string AuditHash(const std::string& prev_hash, const AuditRow& row);

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_AUDIT_CHAIN_H_
