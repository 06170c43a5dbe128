// The PostgreSQL migrations and their runner, on a real PostgreSQL (tests/testing/postgres_server.h).
#include "storage/postgres/migrations.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/postgres/connection.h"
#include "storage/sqlite/migrations.h"
#include "tests/testing/postgres_server.h"

namespace hookvault::storage {
namespace {

using testing::PostgresServer;

std::vector<std::string> Versions(const std::vector<Migration>& migrations) {
  std::vector<std::string> versions;
  for (const Migration& m : migrations) versions.emplace_back(m.name.substr(0, 4));
  return versions;
}

std::unique_ptr<pg::Connection> Connect(const std::string& url) {
  auto conn = pg::Connection::Open({.url = url});
  EXPECT_TRUE(conn.ok()) << conn.status().ToString();
  return conn.ok() ? std::move(conn).value() : nullptr;
}

int64_t QueryInt(pg::Connection& conn, const std::string& sql) {
  auto r = conn.Exec(sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
  if (!r.ok() || r->rows() == 0) return -1;
  return r->GetInt64(0, 0);
}

// Advisory locks held in this connection's database (pg_locks covers the whole server, which
// other test processes share).
int64_t AdvisoryLocks(pg::Connection& conn) {
  return QueryInt(conn,
                  "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                  "(SELECT oid FROM pg_database WHERE datname = current_database())");
}

// Both dialects have the same migrations, by version: a schema change made for one backend and
// forgotten for the other fails here.
TEST(PostgresMigrationsTest, SameVersionsAsSqliteInOrder) {
  std::vector<std::string> sqlite = Versions(SqliteMigrations());
  std::vector<std::string> postgres = Versions(PostgresMigrations());
  EXPECT_FALSE(postgres.empty());
  EXPECT_EQ(postgres, sqlite);
  EXPECT_TRUE(std::is_sorted(postgres.begin(), postgres.end()));
  EXPECT_EQ(std::set<std::string>(postgres.begin(), postgres.end()).size(), postgres.size())
      << "two migrations with one version";
  for (const Migration& m : PostgresMigrations()) {
    std::string name(m.name);
    EXPECT_TRUE(name.size() > 9 && std::all_of(name.begin(), name.begin() + 4, ::isdigit) &&
                name[4] == '_' && name.ends_with(".sql"))
        << name << " is not NNNN_verb_noun.sql";
  }
  std::vector<std::string> names;
  for (const Migration& m : PostgresMigrations()) names.emplace_back(m.name);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(PostgresMigrationsTest, AppliesAllOnceThenNone) {
  PostgresServer* server = PostgresServer::Shared();
  ASSERT_NE(server, nullptr);
  const std::string url = server->CreateEmptyDatabase();
  ASSERT_FALSE(url.empty());

  auto first = MigratePostgres(url);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::vector<std::string> all;
  for (const Migration& m : PostgresMigrations()) all.emplace_back(m.name);
  EXPECT_EQ(*first, all);

  auto second = MigratePostgres(url);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->empty());

  auto conn = Connect(url);
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(all.size()));
  for (const char* table : {"events", "idempotency_keys", "deliveries", "attempts", "request_log",
                            "audit_log", "event_seq_counter"}) {
    EXPECT_EQ(QueryInt(*conn, std::string("SELECT count(*) FROM pg_tables WHERE schemaname = "
                                          "'public' AND tablename = '") +
                                  table + "'"),
              1)
        << table;
  }
  // The seq counter starts at its one row, 0.
  EXPECT_EQ(QueryInt(*conn, "SELECT last_seq FROM event_seq_counter WHERE id = 1"), 0);
}

// The template every other PostgreSQL test clones is migrated the same way.
TEST(PostgresMigrationsTest, CreatedDatabasesAreMigratedAndSeparate) {
  PostgresServer* server = PostgresServer::Shared();
  ASSERT_NE(server, nullptr);
  const std::string a = server->CreateDatabase();
  const std::string b = server->CreateDatabase();
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  EXPECT_NE(a, b);
  auto again = MigratePostgres(a);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->empty()) << "the template lacked " << (*again)[0];
  auto ca = Connect(a);
  auto cb = Connect(b);
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(cb, nullptr);
  ASSERT_TRUE(ca->Exec("UPDATE event_seq_counter SET last_seq = 7").ok());
  EXPECT_EQ(QueryInt(*cb, "SELECT last_seq FROM event_seq_counter"), 0);
}

// Three nodes starting at once on an empty database: one migrates, the others wait on the
// advisory lock and then find nothing to do. Without the lock, two of them run 0001 at once and
// one fails (duplicate table or key), or a migration is recorded twice.
TEST(PostgresMigrationsTest, ThreeNodesAtOnceMigrateOnce) {
  PostgresServer* server = PostgresServer::Shared();
  ASSERT_NE(server, nullptr);
  for (int round = 0; round < 3; ++round) {
    const std::string url = server->CreateEmptyDatabase();
    ASSERT_FALSE(url.empty());
    std::vector<StatusOr<std::vector<std::string>>> results(3, Status::Internal("not run"));
    std::vector<std::thread> nodes;
    for (int i = 0; i < 3; ++i) {
      nodes.emplace_back([&results, &url, i] { results[i] = MigratePostgres(url); });
    }
    for (std::thread& t : nodes) t.join();
    size_t applied = 0;
    for (const auto& r : results) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      applied += r->size();
      EXPECT_TRUE(r->empty() || r->size() == PostgresMigrations().size())
          << "a node applied part of the migrations: " << r->size();
    }
    EXPECT_EQ(applied, PostgresMigrations().size()) << "round " << round;
    auto conn = Connect(url);
    ASSERT_NE(conn, nullptr);
    EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM schema_migrations"),
              static_cast<int64_t>(PostgresMigrations().size()));
    EXPECT_EQ(QueryInt(*conn, "SELECT count(DISTINCT name) FROM schema_migrations"),
              static_cast<int64_t>(PostgresMigrations().size()));
    // The lock is given back: nobody holds it any more.
    EXPECT_EQ(AdvisoryLocks(*conn), 0);
  }
}

// A statement_timeout the server sets for everyone (here the database's) must not cut a
// migration short, nor a node's wait for another's migration.
TEST(PostgresMigrationsTest, ServerStatementTimeoutDoesNotApply) {
  PostgresServer* server = PostgresServer::Shared();
  ASSERT_NE(server, nullptr);
  const std::string url = server->CreateEmptyDatabase();
  ASSERT_FALSE(url.empty());
  auto conn = Connect(url);
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Exec("ALTER DATABASE " + url.substr(url.rfind('/') + 1) +
                         " SET statement_timeout = 1")
                  .ok());
  auto r = MigratePostgres(url);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), PostgresMigrations().size());
}

TEST(PostgresMigrationsTest, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: privileged, never a PostgreSQL here, refused at once.
  auto r = MigratePostgres("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

// A migration that fails is rolled back whole and named, with the server's message; those
// before it stay applied.
TEST(PostgresMigrationsTest, FailingMigrationIsInternalNamedAndRolledBack) {
  PostgresServer* server = PostgresServer::Shared();
  ASSERT_NE(server, nullptr);
  const std::string url = server->CreateEmptyDatabase();
  ASSERT_FALSE(url.empty());
  auto conn = Connect(url);
  ASSERT_NE(conn, nullptr);
  // 0001 creates `events`; a table of that name already there makes it fail part-way through
  // (after event_seq_counter was created).
  ASSERT_TRUE(conn->Exec("CREATE TABLE events (x int)").ok());
  auto r = MigratePostgres(url);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal) << r.status().ToString();
  EXPECT_NE(r.status().message().find("0001_create_core_tables.sql"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("already exists"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM schema_migrations"), 0);
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM pg_tables WHERE tablename = "
                            "'event_seq_counter'"),
            0)
      << "the failed migration's earlier statements were not rolled back";
  // The lock went with the failure too.
  EXPECT_EQ(AdvisoryLocks(*conn), 0);
  // Once the obstacle is gone, everything applies.
  ASSERT_TRUE(conn->Exec("DROP TABLE events").ok());
  auto retried = MigratePostgres(url);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->size(), PostgresMigrations().size());
}

}  // namespace
}  // namespace hookvault::storage
