// The audit chain: each operator action's row is hashed together with the previous row's hash,
// so a row edited or deleted afterwards breaks every hash after it (QueryStore::VerifyAudit).
//
// Keyed chains: with an audit key (config `audit.key`) a row's hash is an HMAC-SHA256 under the
// key, stored as "hmac-sha256:<hex>"; without one it is the plain hex SHA-256. Someone who can
// write the database file but does not know the key can drop the triggers and edit rows, but
// cannot recompute keyed hashes. A chain that started unkeyed continues keyed once a key is
// configured: the first keyed row covers the unkeyed rows before it through its prev_hash, and
// with a key every row after the first keyed one must be keyed. So that a rewrite of a keyed
// chain into an unkeyed one is found too, a server started with a key over a chain whose last
// row is unkeyed first appends a keyed "audit_key_added" row (AuditKeyAddedRow); with a key, a
// non-empty chain without a keyed row does not verify.
#ifndef HOOKVAULT_STORAGE_AUDIT_CHAIN_H_
#define HOOKVAULT_STORAGE_AUDIT_CHAIN_H_

#include <optional>
#include <string>
#include <string_view>

#include "storage/query_store.h"

namespace hookvault::storage {

// The prefix of a keyed row's hash.
inline constexpr std::string_view kKeyedAuditHashPrefix = "hmac-sha256:";

// Returns the canonical content of an audit row that its hash covers: every field but the
// hashes, each length-prefixed so that no two rows share an encoding.
std::string AuditCanonical(const AuditRow& row);

// Returns the hash of `row` after `prev_hash`: with an empty `key` the hex SHA-256 of prev_hash
// followed by AuditCanonical(row); else kKeyedAuditHashPrefix and the hex HMAC-SHA256 under
// `key` of the same bytes. Empty if OpenSSL fails (never equal to a stored hash).
std::string AuditHash(const std::string& prev_hash, const AuditRow& row,
                      std::string_view key = {});

// Returns whether a stored hash is a keyed one.
bool IsKeyedAuditHash(std::string_view hash);

// Returns whether a server with `key` may continue the chain whose last row is `last`:
// kUnavailable naming the reason when the chain is keyed and `key` is empty or is not the key
// it was written with (new rows would never verify). Checks that one row only.
Status CheckAuditKeyFor(const AuditRow& last, std::string_view key);

// Returns the row a server started with a key appends when the chain's last row is unkeyed,
// without its hashes. `last` is that row.
AuditRow AuditKeyAddedRow(const AuditRow& last, int64_t now);

// Checks a chain row by row, in id order (VerifyAudit). Without a key, keyed rows cannot be
// checked and count as bad.
//
// Thread-safety: not thread-safe; one walk per object.
class AuditChainWalk {
 public:
  explicit AuditChainWalk(std::string_view key) : key_(key) {}

  void Add(const AuditRow& row);
  // Returns the verdict over the rows added.
  AuditVerification Finish() const;

 private:
  std::string key_;
  AuditVerification v_;
  std::string prev_hash_;  // the first row's prev_hash is ""
  int64_t first_id_ = 0;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_AUDIT_CHAIN_H_
