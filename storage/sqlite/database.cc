#include "storage/sqlite/database.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "storage/sqlite/migrations.h"

namespace hookvault::storage {
namespace {

constexpr std::string_view kCreateSchemaMigrations = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  name       TEXT PRIMARY KEY,
  applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
))sql";
constexpr std::string_view kSelectMigration = "SELECT 1 FROM schema_migrations WHERE name = ?";
constexpr std::string_view kInsertMigration = "INSERT INTO schema_migrations (name) VALUES (?)";
// A migration whose SQL starts with this line runs outside a transaction, statement by statement
// (VACUUM cannot run inside one). Its statements must be idempotent: a crash before it is
// recorded runs it again.
constexpr std::string_view kNoTransactionMarker = "-- hookvault: no-transaction\n";
// A migration whose SQL starts with this line runs in its transaction with foreign keys off
// (PRAGMA foreign_keys is a no-op inside a transaction, so it is switched around it), as
// SQLite's procedure for rebuilding a table requires: dropping the old table must neither
// cascade into the rows that reference it nor fail. PRAGMA foreign_key_check runs before
// COMMIT; any violation fails the migration.
constexpr std::string_view kForeignKeysOffMarker = "-- hookvault: foreign-keys-off\n";
// A migration whose SQL starts with this line edits the text of sqlite_schema (SQLite's
// "simpler procedure" for changing a CHECK constraint in place): the runner reads
// schema_version before it, sets it one higher after it (so that every connection parses the
// schema again), makes this connection parse the edited schema, and checks that each table the
// script names in `WHERE type = 'table' AND name = '...'` no longer holds " IN (" in a CHECK,
// all inside the migration's transaction.
constexpr std::string_view kSchemaEditMarker = "-- hookvault: schema-edit\n";

// Turns foreign keys off for its lifetime (back on however the scope is left).
class ForeignKeysOff {
 public:
  explicit ForeignKeysOff(SQLite::Database& db) : db_(db) { db_.exec("PRAGMA foreign_keys = OFF"); }
  ~ForeignKeysOff() {
    try {
      db_.exec("PRAGMA foreign_keys = ON");
    } catch (const SQLite::Exception&) {
      // The connection is unusable then, and every later statement reports it.
    }
  }
  ForeignKeysOff(const ForeignKeysOff&) = delete;
  ForeignKeysOff& operator=(const ForeignKeysOff&) = delete;

 private:
  SQLite::Database& db_;
};

}  // namespace

std::string DatabasePath(const std::string& data_dir) { return data_dir + "/hookvault.db"; }

Status StatusFromSqliteCode(int code, std::string message) {
  switch (code & 0xff) {  // an extended code's low byte is its primary code
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    // A damaged file is storage trouble too: 503 and Retry-After, and never a reason to retry a
    // batch record by record (the writer splits only kInternal failures).
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Unavailable(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

Status StatusFromSqlite(const SQLite::Exception& e, const char* what) {
  // getErrorCode() is the primary code unless extended codes are switched on; either maps.
  return StatusFromSqliteCode(e.getErrorCode(), std::string(what) + ": " + e.what());
}

StatusOr<std::unique_ptr<SQLite::Database>> OpenDatabase(const DatabaseOptions& options) {
  try {
    int flags =
        options.read_only ? SQLite::OPEN_READONLY : (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX;  // each connection is used by one thread at a time
    // An empty vfs selects the default one.
    auto db = std::make_unique<SQLite::Database>(options.path, flags, options.busy_timeout_ms,
                                                 options.vfs);
    if (!options.read_only) {
      db->exec("PRAGMA journal_mode = WAL");
      db->exec("PRAGMA journal_size_limit = " + std::to_string(options.journal_size_limit));
    }
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

namespace {

// Runs a schema-edit migration (kSchemaEditMarker) inside the caller's transaction. Throws
// SQLite::Exception when SQLite refuses a step, the parse of the edited schema included.
Status EditSchema(SQLite::Database& db, const Migration& m) {
  constexpr std::string_view kTables = "SELECT name, sql FROM sqlite_schema WHERE type = 'table'";
  auto named_tables = [&] {
    std::map<std::string, std::string> out;  // name -> CREATE TABLE text, of the tables m names
    SQLite::Statement tables(db, std::string(kTables));
    while (tables.executeStep()) {
      std::string name = tables.getColumn(0).getString();
      if (m.sql.find("name = '" + name + "'") == std::string_view::npos) continue;
      out[name] = tables.getColumn(1).getString();
    }
    return out;
  };
  std::map<std::string, std::string> before = named_tables();
  int64_t version = db.execAndGet("PRAGMA schema_version").getInt64();
  db.exec(std::string(m.sql));
  db.exec("PRAGMA schema_version = " + std::to_string(version + 1));
  // The next statement parses the edited schema: a malformed CREATE TABLE throws here, inside
  // the transaction.
  std::map<std::string, std::string> after = named_tables();
  for (const auto& [name, sql] : before) {
    if (after[name] == sql) {
      return Status::Internal("migration " + std::string(m.name) + " failed: table " + name +
                              " was not changed (its CREATE TABLE text is not what it expects)");
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<std::string>> ApplyMigrations(SQLite::Database& db,
                                                   const std::vector<Migration>& migrations) {
  std::vector<std::string> applied;
  try {
    db.exec(std::string(kCreateSchemaMigrations));
    for (const Migration& m : migrations) {
      SQLite::Statement seen(db, std::string(kSelectMigration));
      seen.bind(1, std::string(m.name));
      if (seen.executeStep()) continue;
      seen.reset();  // VACUUM refuses to run while a statement is active
      if (m.sql.starts_with(kNoTransactionMarker)) {
        try {
          db.exec(std::string(m.sql));
        } catch (const SQLite::Exception& e) {
          return StatusFromSqlite(e, ("migration " + std::string(m.name) + " failed").c_str());
        }
        SQLite::Statement record(db, std::string(kInsertMigration));
        record.bind(1, std::string(m.name));
        record.exec();
        applied.emplace_back(m.name);
        continue;
      }
      std::optional<ForeignKeysOff> foreign_keys_off;
      if (m.sql.starts_with(kForeignKeysOffMarker)) {
        foreign_keys_off.emplace(db);
        // SQLite ignores the PRAGMA inside an open transaction: read it back, or a DROP TABLE
        // of the rebuild would cascade into every row that references the table.
        SQLite::Statement on(db, "PRAGMA foreign_keys");
        if (!on.executeStep() || on.getColumn(0).getInt() != 0) {
          return Status::Internal("migration " + std::string(m.name) +
                                  " failed: foreign keys could not be turned off");
        }
      }
      SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
      try {
        if (m.sql.starts_with(kSchemaEditMarker)) {
          if (Status s = EditSchema(db, m); !s.ok()) return s;
        } else {
          db.exec(std::string(m.sql));
        }
        if (foreign_keys_off) {
          SQLite::Statement check(db, "PRAGMA foreign_key_check");
          if (check.executeStep()) {
            return Status::Internal("migration " + std::string(m.name) +
                                    " failed: a foreign key of table " +
                                    check.getColumn(0).getString() + " is violated");
          }
        }
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

StatusOr<std::vector<std::string>> MigrateDatabase(const std::string& path) {
  auto db = OpenDatabase({.path = path});
  if (!db.ok()) return db.status();
  return ApplyMigrations(**db, SqliteMigrations());
}

void ResetStatements(std::initializer_list<SQLite::Statement*> statements) {
  for (SQLite::Statement* s : statements) {
    s->tryReset();
    s->clearBindings();
  }
}

}  // namespace hookvault::storage
