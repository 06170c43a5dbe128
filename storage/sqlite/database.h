// Opening SQLite connections the way hookvault needs them, and the migration runner.
#ifndef HOOKVAULT_STORAGE_SQLITE_DATABASE_H_
#define HOOKVAULT_STORAGE_SQLITE_DATABASE_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "storage/sqlite/migrations.h"
#include "storage/status.h"

namespace SQLite {
class Database;
class Exception;
class Statement;
}  // namespace SQLite

namespace hookvault::storage {

struct DatabaseOptions {
  std::string path;
  bool read_only = false;
  int busy_timeout_ms = 5000;
  // Largest size the database file may grow to; 0 means unlimited. When reached, writes fail
  // with SQLITE_FULL exactly as on a full disk (and ingest answers 503).
  int64_t max_db_bytes = 0;
  // Size the -wal file is truncated back to when the WAL starts over after a complete
  // checkpoint (PRAGMA journal_size_limit; read-write connections only). Without it the file
  // keeps the largest size it ever reached. -1: no limit.
  int64_t journal_size_limit = 32 << 20;
  // SQLite VFS to open the file with; empty: the default. Tests use one that injects I/O errors.
  std::string vfs = "";
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
// A migration whose SQL begins with the line "-- hookvault: no-transaction" runs outside a
// transaction (for VACUUM) and is recorded after its last statement; its statements must be
// idempotent, since a failure or crash part-way leaves the earlier ones applied.
StatusOr<std::vector<std::string>> ApplyMigrations(SQLite::Database& db,
                                                   const std::vector<Migration>& migrations);

// Opens the database at `path` (creating it), applies SqliteMigrations() not yet applied and
// returns their names. The errors of OpenDatabase and ApplyMigrations.
StatusOr<std::vector<std::string>> MigrateDatabase(const std::string& path);

// Makes each statement ready for its next use, also after a failed step: resets it (its
// pending error is not raised again) and clears its bindings.
void ResetStatements(std::initializer_list<SQLite::Statement*> statements);

// Returns the Status for an exception thrown by SQLiteCpp: kUnavailable for conditions that may
// pass (full, I/O error, busy, locked, read-only, cannot open, out of memory, lock protocol),
// kInternal otherwise. Extended result codes (SQLITE_IOERR_FSYNC, ...) map like their primary.
Status StatusFromSqlite(const SQLite::Exception& e, const char* what);

// The same for a result code of SQLite's C API (`code` is not SQLITE_OK).
Status StatusFromSqliteCode(int code, std::string message);

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_DATABASE_H_
