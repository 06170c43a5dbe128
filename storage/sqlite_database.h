// Opening SQLite connections the way hookvault needs them, and the migration runner.
#ifndef HOOKVAULT_STORAGE_SQLITE_DATABASE_H_
#define HOOKVAULT_STORAGE_SQLITE_DATABASE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/migrations.h"
#include "storage/status.h"

namespace SQLite {
class Database;
class Exception;
}  // namespace SQLite

namespace hookvault::storage {

struct DatabaseOptions {
  std::string path;
  bool read_only = false;
  int busy_timeout_ms = 5000;
  // Largest size the database file may grow to; 0 means unlimited. When reached, writes fail
  // with SQLITE_FULL exactly as on a full disk (and ingest answers 503).
  int64_t max_db_bytes = 0;
};

// Returns the database file inside a data directory.
std::string DatabasePath(const std::string& data_dir);

// Opens a connection: WAL journal, synchronous=FULL (NORMAL may lose committed transactions on
// power loss), foreign keys on, busy timeout. Creates the file unless read_only. Returns
// kUnavailable if the file cannot be opened.
StatusOr<std::unique_ptr<SQLite::Database>> OpenDatabase(const DatabaseOptions& options);

// Applies the migrations not yet recorded in schema_migrations, in order, each in its own
// transaction, and returns the names applied. Returns kInternal if one fails (that migration
// is rolled back; the earlier ones stay) or kUnavailable if the database cannot be written.
StatusOr<std::vector<std::string>> ApplyMigrations(SQLite::Database& db,
                                                   const std::vector<Migration>& migrations);

// Returns the Status for an exception thrown by SQLiteCpp: kUnavailable for conditions that may
// pass (full, I/O error, busy, locked, read-only), kInternal otherwise.
Status StatusFromSqlite(const SQLite::Exception& e, const char* what);

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_DATABASE_H_
