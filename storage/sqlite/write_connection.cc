#include "storage/sqlite/write_connection.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <string>
#include <utility>

#include "storage/sqlite/wal_write_batching_vfs.h"

namespace hookvault::storage {

StatusOr<std::unique_ptr<SqliteWriteConnection>> SqliteWriteConnection::Open(
    const DatabaseOptions& options) {
  // The writer's WAL writes go down one per commit (storage/sqlite/wal_write_batching_vfs.h),
  // over whatever VFS the options name (tests put a fault-injecting or power-cut one there).
  StatusOr<std::string> vfs = WalWriteBatchingVfs(options.vfs);
  if (!vfs.ok()) return vfs.status();
  DatabaseOptions batched = options;
  batched.vfs = *vfs;
  auto db = OpenDatabase(batched);
  if (!db.ok()) return db.status();
  try {
    // The batching VFS relies on every commit syncing the WAL (see its header).
    if ((*db)->execAndGet("PRAGMA synchronous").getInt() != 2) {
      return Status::Internal("the writer connection is not synchronous = FULL");
    }
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "read PRAGMA synchronous");
  }
  return std::unique_ptr<SqliteWriteConnection>(new SqliteWriteConnection(std::move(db).value()));
}

SqliteWriteConnection::SqliteWriteConnection(std::unique_ptr<SQLite::Database> db)
    : db_(std::move(db)) {}

SqliteWriteConnection::~SqliteWriteConnection() = default;

void SqliteWriteConnection::set_wal_listener(std::function<void(int64_t)> listener) {
  wal_listener_ = std::move(listener);
  // Called by SQLite after each commit, before the COMMIT statement returns.
  auto hook = [](void* self, sqlite3*, const char*, int frames) -> int {
    auto& listener = static_cast<SqliteWriteConnection*>(self)->wal_listener_;
    if (listener) listener(frames);
    return SQLITE_OK;
  };
  sqlite3_wal_hook(db_->getHandle(), hook, this);
}

Status SqliteWriteConnection::CheckpointWal() {
  int rc = sqlite3_wal_checkpoint_v2(db_->getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                     nullptr);
  if (rc == SQLITE_OK) return Status::Ok();
  return StatusFromSqliteCode(rc, std::string("checkpoint: ") + sqlite3_errstr(rc));
}

}  // namespace hookvault::storage
