// SqliteStore: the EventLog, the DeliveryStore and the OperatorStore on one SQLite write
// connection.
//
// Durability: Append returns only after COMMIT returned with synchronous=FULL in WAL mode, so a
// returned AppendResult names an event that survives a process crash and power loss. If any
// statement or the COMMIT fails, the transaction is rolled back and no record of the batch is
// stored.
#ifndef HOOKVAULT_STORAGE_SQLITE_STORE_H_
#define HOOKVAULT_STORAGE_SQLITE_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "storage/clock.h"
#include "storage/delivery_store.h"
#include "storage/event_log.h"
#include "storage/id_generator.h"
#include "storage/operator_store.h"
#include "storage/query_store.h"
#include "storage/retention_store.h"
#include "storage/sqlite/database.h"

namespace SQLite {
class Statement;
}

namespace hookvault::storage {

// Thread-safety: not thread-safe; owned and called by the writer thread.
class SqliteStore final : public EventLog,
                          public DeliveryStore,
                          public OperatorStore,
                          public RetentionStore {
 public:
  // Opens the database at options.path (migrations must have been applied). Returns
  // kUnavailable if it cannot be opened or its statements cannot be prepared.
  static StatusOr<std::unique_ptr<SqliteStore>> Open(const DatabaseOptions& options,
                                                     const Clock& clock);
  ~SqliteStore() override;

  StatusOr<std::vector<std::optional<AppendResult>>> Append(
      std::span<const IngestRecord> records) override;
  Status Probe() override;

  StatusOr<std::vector<DueDelivery>> ClaimDue(const std::string& destination, int limit,
                                              int64_t now, int64_t lease_until) override;
  StatusOr<std::optional<int64_t>> NextDue(const std::string& destination) override;
  Status RecordAttempts(std::span<const AttemptRecord> attempts) override;
  StatusOr<PendingSummary> Pending() override;
  StatusOr<int> ReleaseAllLeases() override;

  StatusOr<ReprocessResult> Reprocess(const ReprocessSpec& spec, const AuditActor& who,
                                      int64_t now) override;
  StatusOr<int64_t> AckConsumer(const std::string& name, int64_t seq, int64_t now) override;

  // Defined in sqlite_retention.cc.
  StatusOr<PruneBatch> Prune(PruneTarget target, int64_t before, const PruneCursor& after,
                             int limit) override;
  StatusOr<ReclaimResult> ReclaimSpace(int64_t max_bytes) override;

  // Sets what to call after each commit on this connection, with the number of frames the WAL
  // then holds. This replaces SQLite's automatic checkpoint: no checkpoint runs inside a commit
  // any more, so a SqliteWalCheckpointer must keep the WAL small (sqlite_wal_checkpointer.h).
  // Call before the writer thread starts; `listener` runs on it and must be quick.
  void set_wal_listener(std::function<void(int64_t wal_frames)> listener);

  // Copies the WAL frames not yet in the database file into it on this connection (a PASSIVE
  // checkpoint: it waits for no reader and no other checkpointer), so that the next
  // transaction writes the WAL from its beginning. Returns kUnavailable when SQLite is busy
  // (another checkpoint runs) or cannot write.
  Status CheckpointWal();

 private:
  struct Statements;
  SqliteStore(std::unique_ptr<SQLite::Database> db, const Clock& clock);

  // Stores one event (or finds its original) inside the open transaction.
  AppendResult AppendEvent(const NewEvent& event, int64_t now);
  // Writes a request-log row inside the open transaction.
  void AppendLog(const RequestLogEntry& log, const std::optional<std::string>& event_id,
                 const std::string& reason);

  // Selects the deliveries Reprocess would requeue; appends (id, event_seq) pairs.
  void SelectForReprocess(const DeliveryFilter& filter,
                          std::vector<std::pair<int64_t, int64_t>>& out);

  std::unique_ptr<SQLite::Database> db_;
  const Clock& clock_;
  IdGenerator ids_;
  std::unique_ptr<Statements> stmts_;
  // The RetentionStore's statements, prepared on first use (sqlite_retention.cc).
  struct RetentionStatements;
  struct RetentionStatementsDeleter {
    void operator()(RetentionStatements* s) const;
  };
  std::unique_ptr<RetentionStatements, RetentionStatementsDeleter> retention_stmts_;
  std::function<void(int64_t)> wal_listener_;  // set before the writer thread starts
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_STORE_H_
