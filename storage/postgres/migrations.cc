#include "storage/postgres/migrations.h"

#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

#include "storage/postgres/connection.h"

namespace hookvault::storage {
namespace {

// The key of the session advisory lock every node takes before it looks at schema_migrations:
// nodes starting at once migrate one after another, and all but the first find nothing to do.
// A fixed value of our own ("hookvaul" in ASCII), so that no other user of advisory locks on a
// shared server is likely to pick it. Session-level (not transaction-level) because it spans
// one transaction per migration; the server drops it if the connection dies part-way.
constexpr int64_t kMigrationLock = 0x686f6f6b7661756c;

constexpr std::string_view kNoStatementTimeout = "SET statement_timeout = 0";
constexpr std::string_view kLockMigrations = "SELECT pg_advisory_lock($1)";
constexpr std::string_view kUnlockMigrations = "SELECT pg_advisory_unlock($1)";
// IF NOT EXISTS: every start runs this; the lock above makes it race-free (two concurrent
// CREATE TABLE IF NOT EXISTS may both try to create the table and one fail on pg_type).
constexpr std::string_view kCreateSchemaMigrations = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  name       text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";
constexpr std::string_view kSelectMigration = "SELECT 1 FROM schema_migrations WHERE name = $1";
constexpr std::string_view kInsertMigration = "INSERT INTO schema_migrations (name) VALUES ($1)";

// Applies one migration and records it, in one transaction: DDL is transactional in
// PostgreSQL, so a failing migration leaves nothing of itself behind.
Status ApplyOne(pg::Connection& conn, const Migration& m) {
  const std::string name(m.name);
  return pg::InTransaction(conn, [&]() -> Status {
    // No parameters: the simple query protocol, which runs a file of several statements.
    if (auto ran = conn.Exec(m.sql); !ran.ok()) {
      if (ran.status().code() == StatusCode::kUnavailable) return ran.status();
      return Status::Internal("migration " + name + " failed: " + ran.status().message());
    }
    auto recorded = conn.Exec(kInsertMigration, pg::Params().Add(m.name));
    return recorded.ok() ? Status::Ok() : recorded.status();
  });
}

StatusOr<std::vector<std::string>> MigrateLocked(pg::Connection& conn) {
  std::vector<std::string> applied;
  if (auto created = conn.Exec(kCreateSchemaMigrations); !created.ok()) return created.status();
  for (const Migration& m : PostgresMigrations()) {
    auto seen = conn.Exec(kSelectMigration, pg::Params().Add(m.name));
    if (!seen.ok()) return seen.status();
    if (seen->rows() > 0) continue;
    if (Status s = ApplyOne(conn, m); !s.ok()) return s;
    applied.emplace_back(m.name);
  }
  return applied;
}

}  // namespace

StatusOr<std::vector<std::string>> MigratePostgres(const std::string& url) {
  auto conn = pg::Connection::Open({.url = url, .application_name = "hookvault migrate"});
  if (!conn.ok()) return conn.status();
  pg::Connection& c = **conn;
  // Neither the wait for another node's migration nor a long CREATE INDEX may be cut short by
  // a statement_timeout the server's configuration sets for everyone.
  if (auto unbounded = c.Exec(kNoStatementTimeout); !unbounded.ok()) return unbounded.status();
  if (auto locked = c.Exec(kLockMigrations, pg::Params().Add(kMigrationLock)); !locked.ok()) {
    return locked.status();
  }
  auto applied = MigrateLocked(c);
  // On success the lock is given back at once; on failure too, when the connection still
  // works (a broken one has lost its session, and with it the lock). The connection closes
  // right after, which would release it anyway.
  if (!c.broken()) {
    auto unlocked = c.Exec(kUnlockMigrations, pg::Params().Add(kMigrationLock));
    if (applied.ok() && !unlocked.ok()) return unlocked.status();
  }
  return applied;
}

}  // namespace hookvault::storage
