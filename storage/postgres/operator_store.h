// PostgresOperatorStore: the OperatorStore on a node's PostgreSQL write connection. Each
// reprocess chunk and the audit rows it owes (storage/audit_chain.h) commit in one transaction,
// so no change goes unaudited and no audit row names a change that did not happen.
//
// Several nodes write the same database: audit appends take turns under a transaction-scoped
// advisory lock (kAuditAppendLock), so the rows of all nodes form one chain, and every append
// checks that the chain's last row is one this node's key may continue; consumer acks keep the
// higher cursor whichever node's ack commits last.
#ifndef HOOKVAULT_STORAGE_POSTGRES_OPERATOR_STORE_H_
#define HOOKVAULT_STORAGE_POSTGRES_OPERATOR_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/operator_store.h"
#include "storage/postgres/connection.h"
#include "storage/query_store.h"

namespace hookvault::storage {

// The key of the advisory lock under which audit rows are appended ("hv-audit" in ASCII). Held
// to the end of the appending transaction. Anything else that writes audit_log takes it too:
// scripts/sqlite-to-postgres does (SqliteToPostgresTest checks that it names this value).
inline constexpr int64_t kAuditAppendLock = 0x68762d6175646974;

// Thread-safety: not thread-safe; called by the writer thread only (WriteSerializer tasks), like
// its connection. Any number of nodes may run one each on the same database.
class PostgresOperatorStore final : public OperatorStore {
 public:
  // Prepares the operator store's statements on `conn`, which must outlive the store. Returns
  // kUnavailable if they cannot be prepared.
  static StatusOr<std::unique_ptr<PostgresOperatorStore>> Create(pg::Connection& conn);
  ~PostgresOperatorStore() override;

  StatusOr<ReprocessProgress> ReprocessChunk(const ReprocessSpec& spec, const AuditActor& who,
                                             const ReprocessProgress& progress, size_t max_rows,
                                             int64_t now) override;
  StatusOr<int64_t> AuditDryRun(const ReprocessSpec& spec, const AuditActor& who, int64_t matched,
                                int64_t now) override;
  StatusOr<int64_t> AuditAction(const AuditActor& who, const std::string& action,
                                const std::string& target_json, int64_t now) override;
  StatusOr<SkipResult> Skip(int64_t delivery_id, const AuditActor& who,
                            const std::string& target_json, int64_t now) override;
  StatusOr<int64_t> AckConsumer(const std::string& name, int64_t seq, int64_t now) override;

  // Sets the key of the audit chain (config `audit.key`; empty: unkeyed) before the writer
  // starts, and makes the chain ready for it (storage/audit_chain.h): a keyed chain must be
  // continued with its own key (kUnavailable naming the reason otherwise); over an unkeyed
  // chain a key appends a keyed "audit_key_added" row at `now` (once, however many nodes start
  // with the key at the same moment). Returns that row's id, or 0 when none was appended.
  StatusOr<int64_t> StartAuditChain(std::string key, int64_t now);

 private:
  // A delivery the walk looked at.
  struct Walked {
    int64_t id = 0;
    bool matches = false;
  };
  explicit PostgresOperatorStore(pg::Connection& conn);

  // Appends the newest `limit` deliveries of `filter` below `cursor` to `out`; returns how
  // many, or the statement's error.
  StatusOr<size_t> Walk(const DeliveryFilter& filter, int64_t cursor, size_t limit,
                        std::vector<Walked>& out);
  // Appends an audit row inside the caller's transaction and returns its id: takes
  // kAuditAppendLock, reads the last row, refuses (kUnavailable) when this node's key may not
  // continue it, hashes and inserts the next.
  StatusOr<int64_t> AppendAudit(const AuditActor& who, const std::string& action,
                                const std::string& target_json, int64_t matched, int64_t requeued,
                                int64_t now);
  // Appends an audit row (counts `matched`, 0) in a transaction of its own.
  StatusOr<int64_t> AppendAuditAlone(const AuditActor& who, const std::string& action,
                                     const std::string& target_json, int64_t matched, int64_t now);
  // Inside the caller's transaction, with kAuditAppendLock held: the chain's last row, or
  // nullopt for an empty chain.
  StatusOr<std::optional<AuditRow>> LastAuditRow();
  // Hashes `row` (keyed when audit_key_ is set) and inserts it; the caller's transaction holds
  // kAuditAppendLock.
  Status InsertAudit(AuditRow& row);

  pg::Connection& conn_;
  std::string audit_key_;  // set before the writer starts
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_POSTGRES_OPERATOR_STORE_H_
