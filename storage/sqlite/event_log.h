// SqliteEventLog: the EventLog on the SQLite write connection.
//
// Durability: Append returns only after COMMIT returned with synchronous=FULL in WAL mode, so a
// returned AppendResult names an event that survives a process crash and power loss. If any
// statement or the COMMIT fails, the transaction is rolled back and no record of the batch is
// stored.
#ifndef HOOKVAULT_STORAGE_SQLITE_EVENT_LOG_H_
#define HOOKVAULT_STORAGE_SQLITE_EVENT_LOG_H_

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storage/clock.h"
#include "storage/event_log.h"
#include "storage/id_generator.h"
#include "storage/sqlite/write_connection.h"

namespace hookvault::storage {

// Thread-safety: not thread-safe; called by the writer thread only, like its connection.
class SqliteEventLog final : public EventLog {
 public:
  // Prepares the event log's statements on `connection`, which must outlive the log (as must
  // `clock`). Returns kUnavailable if they cannot be prepared.
  static StatusOr<std::unique_ptr<SqliteEventLog>> Create(SqliteWriteConnection& connection,
                                                          const Clock& clock);
  ~SqliteEventLog() override;

  StatusOr<std::vector<std::optional<AppendResult>>> Append(
      std::span<const IngestRecord> records) override;
  Status Probe() override;

 private:
  struct Statements;
  SqliteEventLog(SqliteWriteConnection& connection, const Clock& clock);

  // Stores one event (or finds its original) inside the open transaction.
  AppendResult AppendEvent(const NewEvent& event, int64_t now);
  // Writes a request-log row inside the open transaction.
  void AppendLog(const RequestLogEntry& log, const std::optional<std::string>& event_id,
                 const std::string& reason);

  SQLite::Database& db_;  // the connection's
  const Clock& clock_;
  IdGenerator ids_;
  std::unique_ptr<Statements> stmts_;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_EVENT_LOG_H_
