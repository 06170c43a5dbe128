#include "storage/sqlite_database.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <string_view>

namespace hookvault::storage {
namespace {

constexpr std::string_view kCreateSchemaMigrations = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  name       TEXT PRIMARY KEY,
  applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
))sql";
constexpr std::string_view kSelectMigration = "SELECT 1 FROM schema_migrations WHERE name = ?";
constexpr std::string_view kInsertMigration = "INSERT INTO schema_migrations (name) VALUES (?)";

}  // namespace

std::string DatabasePath(const std::string& data_dir) { return data_dir + "/hookvault.db"; }

Status StatusFromSqlite(const SQLite::Exception& e, const char* what) {
  std::string message = std::string(what) + ": " + e.what();
  switch (e.getErrorCode()) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
      return Status::Unavailable(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

StatusOr<std::unique_ptr<SQLite::Database>> OpenDatabase(const DatabaseOptions& options) {
  try {
    int flags =
        options.read_only ? SQLite::OPEN_READONLY : (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX;  // each connection is used by one thread at a time
    auto db = std::make_unique<SQLite::Database>(options.path, flags, options.busy_timeout_ms);
    if (!options.read_only) db->exec("PRAGMA journal_mode = WAL");
    db->exec("PRAGMA synchronous = FULL");
    db->exec("PRAGMA foreign_keys = ON");
    if (options.max_db_bytes > 0) {
      int64_t page_size = db->execAndGet("PRAGMA page_size").getInt64();
      int64_t pages = options.max_db_bytes / page_size;
      db->exec("PRAGMA max_page_count = " + std::to_string(pages < 1 ? 1 : pages));
    }
    return db;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, ("open " + options.path).c_str());
  }
}

StatusOr<std::vector<std::string>> ApplyMigrations(SQLite::Database& db,
                                                   const std::vector<Migration>& migrations) {
  std::vector<std::string> applied;
  try {
    db.exec(std::string(kCreateSchemaMigrations));
    for (const Migration& m : migrations) {
      SQLite::Statement seen(db, std::string(kSelectMigration));
      seen.bind(1, std::string(m.name));
      if (seen.executeStep()) continue;
      SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
      try {
        db.exec(std::string(m.sql));
      } catch (const SQLite::Exception& e) {
        return Status::Internal("migration " + std::string(m.name) + " failed: " + e.what());
      }
      SQLite::Statement record(db, std::string(kInsertMigration));
      record.bind(1, std::string(m.name));
      record.exec();
      txn.commit();
      applied.emplace_back(m.name);
    }
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "migrate");
  }
  return applied;
}

}  // namespace hookvault::storage
