// SqliteRetentionStore: the RetentionStore on the SQLite write connection: pruning by age, a
// batch per transaction, and handing freed pages back with incremental_vacuum (auto_vacuum =
// INCREMENTAL since migration 0003).
#ifndef HOOKVAULT_STORAGE_SQLITE_RETENTION_STORE_H_
#define HOOKVAULT_STORAGE_SQLITE_RETENTION_STORE_H_

#include <memory>

#include "storage/retention_store.h"
#include "storage/sqlite/write_connection.h"

namespace hookvault::storage {

// Thread-safety: not thread-safe; called by the writer thread only (WriteSerializer tasks), like
// its connection.
class SqliteRetentionStore final : public RetentionStore {
 public:
  // `connection` must outlive the store. The statements are prepared on the first call, whose
  // Status reports a failure to prepare them.
  explicit SqliteRetentionStore(SqliteWriteConnection& connection);
  ~SqliteRetentionStore() override;

  StatusOr<PruneBatch> Prune(PruneTarget target, int64_t before, int64_t max_event_seq,
                             const PruneCursor& after, int limit) override;
  StatusOr<std::vector<ConsumerCursor>> ConsumerCursors(const std::vector<std::string>& names,
                                                        int64_t now) override;
  StatusOr<ReclaimResult> ReclaimSpace(int64_t max_bytes) override;

 private:
  struct Statements;

  SQLite::Database& db_;               // the connection's
  std::unique_ptr<Statements> stmts_;  // prepared on first use
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_RETENTION_STORE_H_
