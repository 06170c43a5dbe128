// SqliteOperatorStore: the OperatorStore on the SQLite write connection. Each reprocess chunk and
// the audit rows it owes (storage/audit_chain.h) commit in one transaction, so no change goes
// unaudited and no audit row names a change that did not happen.
#ifndef HOOKVAULT_STORAGE_SQLITE_OPERATOR_STORE_H_
#define HOOKVAULT_STORAGE_SQLITE_OPERATOR_STORE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "storage/operator_store.h"
#include "storage/sqlite/write_connection.h"

namespace hookvault::storage {

// Thread-safety: not thread-safe; called by the writer thread only (WriteSerializer tasks), like
// its connection.
class SqliteOperatorStore final : public OperatorStore {
 public:
  // Prepares the operator store's statements on `connection`, which must outlive the store.
  // Returns kUnavailable if they cannot be prepared.
  static StatusOr<std::unique_ptr<SqliteOperatorStore>> Create(SqliteWriteConnection& connection);
  ~SqliteOperatorStore() override;

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
  // chain a key appends a keyed "audit_key_added" row at `now`. Returns that row's id, or 0
  // when none was appended.
  StatusOr<int64_t> StartAuditChain(std::string key, int64_t now);

 private:
  struct Statements;
  // A delivery the walk looked at.
  struct Walked {
    int64_t id = 0;
    int64_t event_seq = 0;
    bool matches = false;
  };
  explicit SqliteOperatorStore(SqliteWriteConnection& connection);

  // Appends the newest `limit` deliveries of `filter` below `cursor` to `out`; returns how many.
  size_t Walk(const DeliveryFilter& filter, int64_t cursor, size_t limit, std::vector<Walked>& out);
  // Appends an audit row inside the caller's transaction and returns its id.
  // Hashes `row` (keyed when audit_key_ is set) and inserts it; the caller's transaction holds.
  void InsertAudit(AuditRow& row);
  int64_t AppendAudit(const AuditActor& who, const std::string& action,
                      const std::string& target_json, int64_t matched, int64_t requeued,
                      int64_t now);

  SQLite::Database& db_;  // the connection's
  std::unique_ptr<Statements> stmts_;
  std::string audit_key_;  // set before the writer starts
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_OPERATOR_STORE_H_
