// SqliteWriteConnection: the one read-write connection to the database, shared by the SQLite
// adapters of the write ports (SqliteEventLog, SqliteDeliveryStore, SqliteOperatorStore,
// SqliteRetentionStore; stores.h opens them together). SQLite writes one transaction at a time
// anyway; with every write on one connection of the writer thread, the ports' transactions
// follow one another and never wait on each other for the write lock.
#ifndef HOOKVAULT_STORAGE_SQLITE_WRITE_CONNECTION_H_
#define HOOKVAULT_STORAGE_SQLITE_WRITE_CONNECTION_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "storage/sqlite/database.h"
#include "storage/status.h"

namespace hookvault::storage {

// Thread-safety: not thread-safe; used by one thread at a time, the writer: every use (by this
// class or by the stores over it) is an ingest batch or a WriteSerializer task.
// set_wal_listener is the exception: it is called before the writer thread starts.
class SqliteWriteConnection {
 public:
  // Opens the database at options.path read-write (OpenDatabase; migrations must have been
  // applied). Returns kUnavailable if it cannot be opened.
  static StatusOr<std::unique_ptr<SqliteWriteConnection>> Open(const DatabaseOptions& options);

  SqliteWriteConnection(const SqliteWriteConnection&) = delete;
  SqliteWriteConnection& operator=(const SqliteWriteConnection&) = delete;
  // The stores over this connection must be destroyed first: their prepared statements belong
  // to it.
  ~SqliteWriteConnection();

  // Returns the connection, for the stores to prepare their statements and run transactions on.
  SQLite::Database& database() { return *db_; }

  // Sets what to call after each commit on this connection, with the number of frames the WAL
  // then holds. This replaces SQLite's automatic checkpoint: no checkpoint runs inside a commit
  // any more, so a SqliteWalCheckpointer must keep the WAL small (wal_checkpointer.h).
  // Call before the writer thread starts; `listener` runs on it and must be quick.
  void set_wal_listener(std::function<void(int64_t wal_frames)> listener);

  // Copies the WAL frames not yet in the database file into it on this connection (a PASSIVE
  // checkpoint: it waits for no reader and no other checkpointer), so that the next
  // transaction writes the WAL from its beginning. Returns kUnavailable when SQLite is busy
  // (another checkpoint runs) or cannot write.
  Status CheckpointWal();

 private:
  explicit SqliteWriteConnection(std::unique_ptr<SQLite::Database> db);

  std::unique_ptr<SQLite::Database> db_;
  std::function<void(int64_t)> wal_listener_;  // set before the writer thread starts
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_WRITE_CONNECTION_H_
