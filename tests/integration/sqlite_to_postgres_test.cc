// scripts/sqlite-to-postgres end to end: the real binary on SQLite ingests, forwards (one
// delivery fails and is reprocessed, so the audit log has rows), keeps a rejected request's
// body and a consumer's cursor; it is stopped, the script copies its data directory into a
// migrated PostgreSQL database, and every row is read back from both sides and compared —
// ids, seq, bodies byte for byte, statuses — the audit chain verifies under its key, and the
// next seq and ids continue after SQLite's highest.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "storage/audit_chain.h"
#include "storage/postgres/connection.h"
#include "storage/postgres/operator_store.h"
#include "tests/testing/http_client.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "migrate-source-token-0123456789";
constexpr char kOperator[] = "migrate-operator-token-0123456789";
constexpr char kConsumer[] = "migrate-consumer-token-0123456789";
constexpr char kAuditKey[] = "migrate-audit-key-0123456789abcdef0123";

std::string Script() { return std::string(HOOKVAULT_SOURCE_DIR) + "/scripts/sqlite-to-postgres"; }

bool WaitFor(const std::function<bool()>& condition, int seconds = 30) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// Each row of `sql` on the SQLite file, its columns joined with '|' (NULL as "<null>").
std::vector<std::string> SqliteRows(const std::string& path, const std::string& sql) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  SQLite::Statement s(db, sql);
  std::vector<std::string> rows;
  while (s.executeStep()) {
    std::string row;
    for (int i = 0; i < s.getColumnCount(); ++i) {
      if (i > 0) row += '|';
      row += s.getColumn(i).isNull() ? "<null>" : s.getColumn(i).getString();
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::string> PgRows(storage::pg::Connection& conn, const std::string& sql) {
  auto r = conn.Exec(sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
  std::vector<std::string> rows;
  if (!r.ok()) return rows;
  for (int i = 0; i < r->rows(); ++i) {
    std::string row;
    for (int c = 0; c < r->columns(); ++c) {
      if (c > 0) row += '|';
      row += r->IsNull(i, c) ? "<null>" : r->GetString(i, c);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// A blob column as lower-case hex, NULL kept (SQLite's hex(NULL) is '').
std::string SqliteHex(const std::string& column) {
  return "CASE WHEN " + column + " IS NULL THEN NULL ELSE lower(hex(" + column + ")) END";
}

int64_t PgInt(storage::pg::Connection& conn, const std::string& sql) {
  auto r = conn.Exec(sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
  return r.ok() && r->rows() > 0 && !r->IsNull(0, 0) ? r->GetInt64(0, 0) : -1;
}

class SqliteToPostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Bodies containing "fail" are refused until the test lets them through.
    sink_.SetHandler([this](const SinkRequest& request) {
      SinkReply reply;
      reply.body = "ok";
      if (refuse_failing_ && request.body.find("fail") != std::string::npos) {
        reply.status = 500;
        reply.body = std::string("refused \0\xff\n", 11);  // kept as an excerpt, exactly
      }
      return reply;
    });
    config_ = dir_.Write("config.json", Config(R"("data_dir": ")" + dir_.path() + "\""));
  }

  // The deployment's config, on the store `store_json` names (data_dir or postgres).
  std::string Config(const std::string& store_json) {
    // clang-format off
    return R"({"listen": "127.0.0.1:0", )" + store_json + R"(,
      "audit": {"key": ")" + kAuditKey + R"("},
      "request_log": {"keep_rejected_bodies": true},
      "sources": [{"name": "pms", "tokens": [")" + kToken + R"("], "event_type": "/event"}],
      "destinations": [{"name": "sink", "url": ")" + sink_.Url("/hook") + R"(",
                        "max_attempts": 1, "backoff": {"initial_ms": 10, "max_ms": 10}}],
      "api_tokens": [{"name": "ops", "token": ")" + kOperator + R"(", "role": "operator"},
                     {"name": "warehouse", "token": ")" + kConsumer + R"(",
                      "role": "consumer"}]})";
    // clang-format on
  }

  HttpResult Get(const ServerProcess& server, const std::string& path) {
    return client_.Request("GET", server.Url(path),
                           {{"Authorization", std::string("Bearer ") + kOperator}});
  }

  HttpResult Post(const ServerProcess& server, const std::string& path, const std::string& token,
                  const std::string& body, const std::string& auth_header = "Authorization") {
    std::string value = auth_header == "Authorization" ? "Bearer " + token : token;
    return client_.Request("POST", server.Url(path),
                           {{auth_header, value}, {"Content-Type", "application/json"}}, body);
  }

  std::string Db() const { return dir_.File("hookvault.db"); }

  // Runs the script; returns its exit code and output.
  CommandResult Copy(const std::string& url) {
    return RunCommand("'" + Script() + "' '" + dir_.path() + "' '" + url + "' 2>&1");
  }

  TempDir dir_;
  std::atomic<bool> refuse_failing_{true};  // read by the sink's threads: declared before it
  SinkServer sink_;
  std::string config_;
  HttpClient client_;
};

TEST_F(SqliteToPostgresTest, CopiesEveryRowExactlyAndTheChainAndSeqGoOn) {
  std::vector<std::string> ids;
  // Bodies with what CSV and hex must carry exactly: quotes, commas, newlines, backslashes,
  // "\x" text, multi-byte UTF-8, an empty-looking string.
  const std::vector<std::string> bodies = {
      R"({"event":"booking.created","n":1})",
      "{\"event\":\"booking.created\",\"note\":\"a \\\"quoted\\\", comma\\nnewline\"}",
      "{\"event\":\"booking.created\",\"path\":\"C:\\\\x41\\\\\",\"text\":\"\\\\x00\"}",
      "{\"event\":\"booking.created\",\"utf8\":\"gr\xc3\xbc\xc3\x9f \xf0\x9f\x91\x8b\"}",
      "{\"event\":\"booking.created\",\"empty\":\"\",\"ws\":\"  \\t \"}\n",
      R"({"event":"booking.fail","n":6})",
      R"({"event":"booking.created","n":7})",
  };
  {
    ServerProcess server({"serve", "--config", config_}, dir_.File("server.log"));
    ASSERT_TRUE(server.started()) << server.Log();
    for (size_t i = 0; i < bodies.size(); ++i) {
      HttpResult r = client_.Request("POST", server.Url("/webhooks/pms"),
                                     {{"x-auth-token", kToken},
                                      {"Content-Type", "application/json"},
                                      {"Idempotency-Key", "key-" + std::to_string(i)}},
                                     bodies[i]);
      ASSERT_EQ(r.status, 200) << r.body;
      rapidjson::Document d;
      d.Parse(r.body.c_str());
      ids.push_back(d["id"].GetString());
    }
    // A rejected request, its body kept.
    HttpResult refused =
        client_.Request("POST", server.Url("/webhooks/pms"),
                        {{"x-auth-token", "wrong"}, {"Content-Type", "application/json"}},
                        "{\"bad\":\"\xc3\xa9\"}");
    ASSERT_EQ(refused.status, 401);
    ASSERT_TRUE(WaitFor([&] {
      return SqliteRows(Db(), "SELECT 1 FROM deliveries WHERE status = 'pending'").empty() &&
             SqliteRows(Db(), "SELECT 1 FROM deliveries").size() == bodies.size();
    })) << server.Log();
    ASSERT_EQ(SqliteRows(Db(), "SELECT id FROM deliveries WHERE status = 'failed'").size(), 1u);

    // The failed one is reprocessed (audited) and now succeeds; a dry run is audited too.
    refuse_failing_ = false;
    HttpResult again = Post(server, "/api/v1/events/" + ids[5] + "/reprocess", kOperator,
                            R"({"reason": "sink fixed"})");
    ASSERT_EQ(again.status, 202) << again.body;
    HttpResult dry = Post(server, "/api/v1/reprocess", kOperator,
                          R"({"status": "succeeded", "dry_run": true, "reason": "count"})");
    ASSERT_EQ(dry.status, 200) << dry.body;
    ASSERT_TRUE(WaitFor([&] {
      return SqliteRows(Db(), "SELECT 1 FROM deliveries WHERE status <> 'succeeded'").empty();
    })) << server.Log();
    HttpResult ack = Post(server, "/api/v1/consumers/warehouse/ack", kConsumer, R"({"seq": 4})");
    ASSERT_EQ(ack.status, 200) << ack.body;
    EXPECT_EQ(server.Signal(SIGTERM), 0) << server.Log();
  }
  // The newest event pruned, as retention would: its seq must still never come back.
  {
    SQLite::Database db(Db(), SQLite::OPEN_READWRITE);
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)");
  }
  const int64_t highest_seq =
      std::stoll(SqliteRows(Db(), "SELECT seq FROM sqlite_sequence WHERE name = 'events'").at(0));
  ASSERT_EQ(highest_seq, 7);
  ASSERT_EQ(SqliteRows(Db(), "SELECT max(seq) FROM events").at(0), "6");

  auto* pg_server = PostgresServer::Shared();
  ASSERT_NE(pg_server, nullptr);
  // The target as the README says: an empty database that `hookvault migrate --config`
  // migrates with the nodes' config.
  const std::string url = pg_server->CreateEmptyDatabase();
  ASSERT_FALSE(url.empty());
  const std::string pg_config =
      dir_.Write("postgres.json", Config(R"("postgres": {"url": ")" + url + R"("})"));
  CommandResult migrated = RunHookvault("migrate --config '" + pg_config + "'");
  ASSERT_EQ(migrated.exit_code, 0) << migrated.output;
  CommandResult copied = Copy(url);
  ASSERT_EQ(copied.exit_code, 0) << copied.output;
  EXPECT_NE(copied.output.find("copied 6 events (last seq 7)"), std::string::npos) << copied.output;

  auto conn = storage::pg::Connection::Open({.url = url});
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  storage::pg::Connection& pg = **conn;
  // Every table, row by row, blobs as lower-case hex on both sides.
  const std::vector<std::pair<std::string, std::string>> tables = {
      {"SELECT seq, id, source, event_type, idempotency_key, received_at, remote_addr, headers, " +
           SqliteHex("body") + ", status FROM events ORDER BY seq",
       "SELECT seq, id, source, event_type, idempotency_key, received_at, remote_addr, headers, "
       "encode(body, 'hex'), status FROM events ORDER BY seq"},
      {"SELECT source, key, event_id, event_seq, created_at FROM idempotency_keys "
       "ORDER BY event_seq",
       "SELECT source, key, event_id, event_seq, created_at FROM idempotency_keys "
       "ORDER BY event_seq"},
      {"SELECT id, event_seq, destination, status, attempts, next_attempt_at, last_error, "
       "created_at, updated_at, lease_token, requeued_at FROM deliveries ORDER BY id",
       "SELECT id, event_seq, destination, status, attempts, next_attempt_at, last_error, "
       "created_at, updated_at, lease_token, requeued_at FROM deliveries ORDER BY id"},
      {"SELECT id, delivery_id, number, started_at, duration_us, http_status, error, " +
           SqliteHex("response_excerpt") +
           ", outcome, destination, event_seq FROM attempts ORDER BY id",
       "SELECT id, delivery_id, number, started_at, duration_us, http_status, error, "
       "encode(response_excerpt, 'hex'), outcome, destination, event_seq FROM attempts "
       "ORDER BY id"},
      {"SELECT id, received_at, source, remote_addr, status, reason, event_id, body_bytes, " +
           SqliteHex("body") + " FROM request_log ORDER BY id",
       "SELECT id, received_at, source, remote_addr, status, reason, event_id, body_bytes, "
       "encode(body, 'hex') FROM request_log ORDER BY id"},
      {"SELECT id, at, actor, role, action, target, matched, requeued, reason, prev_hash, hash "
       "FROM audit_log ORDER BY id",
       "SELECT id, at, actor, role, action, target, matched, requeued, reason, prev_hash, hash "
       "FROM audit_log ORDER BY id"},
      {"SELECT name, cursor, updated_at FROM consumers ORDER BY name",
       "SELECT name, cursor, updated_at FROM consumers ORDER BY name"},
  };
  for (const auto& [sqlite_sql, pg_sql] : tables) {
    std::vector<std::string> want = SqliteRows(Db(), sqlite_sql);
    EXPECT_FALSE(want.empty()) << sqlite_sql;
    EXPECT_EQ(PgRows(pg, pg_sql), want) << pg_sql;
  }
  // What the fixture promised is there: the kept rejected body, a failed-then-reprocessed
  // delivery (two attempts), the consumer's cursor, and the audit rows of both actions.
  EXPECT_EQ(PgInt(pg, "SELECT count(*) FROM request_log WHERE status = 401 AND body IS NOT NULL"),
            1);
  EXPECT_EQ(PgInt(pg, "SELECT count(*) FROM attempts WHERE outcome = 'failure'"), 1);
  EXPECT_EQ(PgInt(pg,
                  "SELECT count(*) FROM attempts WHERE outcome = 'failure' AND "
                  "response_excerpt = '\\x726566757365642000ff0a'::bytea"),
            1);
  EXPECT_EQ(PgInt(pg, "SELECT cursor FROM consumers WHERE name = 'warehouse'"), 4);
  EXPECT_GE(PgInt(pg, "SELECT count(*) FROM audit_log"), 2);
  EXPECT_EQ(PgInt(pg, "SELECT count(*) FROM events WHERE status <> 'delivered'"), 0);

  // The chain verifies under its key, row for row as copied.
  auto audit = pg.Exec(
      "SELECT id, at, actor, role, action, target, matched, requeued, reason, prev_hash, hash "
      "FROM audit_log ORDER BY id");
  ASSERT_TRUE(audit.ok());
  storage::AuditChainWalk walk(kAuditKey);
  for (int i = 0; i < audit->rows(); ++i) {
    storage::AuditRow row{audit->GetInt64(i, 0),  audit->GetInt64(i, 1),  audit->GetString(i, 2),
                          audit->GetString(i, 3), audit->GetString(i, 4), audit->GetString(i, 5),
                          audit->GetInt64(i, 6),  audit->GetInt64(i, 7),  audit->GetString(i, 8),
                          audit->GetString(i, 9), audit->GetString(i, 10)};
    walk.Add(row);
  }
  storage::AuditVerification v = walk.Finish();
  EXPECT_TRUE(v.ok) << "first bad " << v.first_bad.value_or(0);
  EXPECT_EQ(v.keyed_from, 1);

  // The next seq is SQLite's highest ever + 1 (not its highest stored + 1), and the identity
  // columns continue after the copied ids.
  EXPECT_EQ(PgInt(pg, "SELECT last_seq FROM event_seq_counter"), highest_seq);
  ASSERT_TRUE(pg.Exec("BEGIN").ok());
  EXPECT_EQ(PgInt(pg,
                  "INSERT INTO request_log (received_at, source, remote_addr, status, "
                  "reason, body_bytes) VALUES (0, 's', '', 200, 'x', 0) RETURNING id"),
            std::stoll(SqliteRows(Db(), "SELECT max(id) FROM request_log").at(0)) + 1);
  EXPECT_EQ(PgInt(pg,
                  "INSERT INTO deliveries (event_seq, destination, next_attempt_at, "
                  "created_at, updated_at) VALUES (1, 'new', 0, 0, 0) RETURNING id"),
            std::stoll(SqliteRows(Db(), "SELECT max(id) FROM deliveries").at(0)) + 1);
  EXPECT_EQ(PgInt(pg,
                  "INSERT INTO attempts (delivery_id, number, started_at, duration_us, "
                  "outcome) VALUES (1, 9, 0, 0, 'failure') RETURNING id"),
            std::stoll(SqliteRows(Db(), "SELECT max(id) FROM attempts").at(0)) + 1);
  ASSERT_TRUE(pg.Exec("ROLLBACK").ok());

  // A second copy into the now non-empty target is refused and changes nothing.
  CommandResult twice = Copy(url);
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_NE(twice.output.find("not empty"), std::string::npos) << twice.output;
  EXPECT_EQ(PgInt(pg, "SELECT count(*) FROM events"), 6);

  // A node on the copy answers as the SQLite server did: the bodies as received, the chain
  // verified under its key, the consumer's cursor, a retried key as the original's duplicate,
  // and the next event after SQLite's highest seq, forwarded.
  ServerProcess node({"serve", "--config", pg_config}, dir_.File("node.log"));
  ASSERT_TRUE(node.started()) << node.Log();
  for (size_t i = 0; i + 1 < bodies.size(); ++i) {  // the last one was pruned
    HttpResult payload = Get(node, "/api/v1/events/" + ids[i] + "/payload");
    EXPECT_EQ(payload.status, 200) << payload.body;
    EXPECT_EQ(payload.body, bodies[i]) << "event " << i;
  }
  HttpResult verify = Get(node, "/api/v1/audit/verify");
  ASSERT_EQ(verify.status, 200) << verify.body;
  rapidjson::Document verdict;
  verdict.Parse(verify.body.c_str());
  EXPECT_TRUE(verdict["ok"].GetBool()) << verify.body;
  EXPECT_EQ(verdict["rows"].GetInt64(), v.rows) << verify.body;
  HttpResult consumers = client_.Request("GET", node.Url("/api/v1/consumers"),
                                         {{"Authorization", std::string("Bearer ") + kConsumer}});
  ASSERT_EQ(consumers.status, 200) << consumers.body;
  EXPECT_NE(consumers.body.find("\"cursor\":4"), std::string::npos) << consumers.body;
  const size_t forwarded = sink_.Count();
  auto ingest = [&](const std::string& key, const std::string& body) {
    return client_.Request(
        "POST", node.Url("/webhooks/pms"),
        {{"x-auth-token", kToken}, {"Content-Type", "application/json"}, {"Idempotency-Key", key}},
        body);
  };
  HttpResult retried = ingest("key-0", bodies[0]);
  ASSERT_EQ(retried.status, 200) << retried.body;
  rapidjson::Document duplicate;
  duplicate.Parse(retried.body.c_str());
  EXPECT_TRUE(duplicate["duplicate"].GetBool()) << retried.body;
  EXPECT_EQ(std::string(duplicate["id"].GetString()), ids[0]);
  HttpResult next = ingest("key-new", R"({"event":"booking.created","n":8})");
  ASSERT_EQ(next.status, 200) << next.body;
  rapidjson::Document fresh;
  fresh.Parse(next.body.c_str());
  EXPECT_FALSE(fresh["duplicate"].GetBool());
  EXPECT_EQ(fresh["seq"].GetInt64(), highest_seq + 1) << next.body;
  EXPECT_TRUE(sink_.WaitForCount(forwarded + 1, std::chrono::seconds(30))) << node.Log();
  EXPECT_EQ(node.Signal(SIGTERM), 0) << node.Log();
}

TEST_F(SqliteToPostgresTest, RefusesARunningServerAnUnmigratedTargetAndAnOlderSchema) {
  auto* pg_server = PostgresServer::Shared();
  ASSERT_NE(pg_server, nullptr);
  const std::string url = pg_server->CreateDatabase();
  ASSERT_FALSE(url.empty());
  {
    ServerProcess server({"serve", "--config", config_}, dir_.File("server.log"));
    ASSERT_TRUE(server.started()) << server.Log();
    CommandResult running = Copy(url);
    EXPECT_NE(running.exit_code, 0);
    EXPECT_NE(running.output.find("server is running"), std::string::npos) << running.output;
    EXPECT_EQ(server.Signal(SIGTERM), 0);
  }
  CommandResult unmigrated = Copy(pg_server->CreateEmptyDatabase());
  EXPECT_NE(unmigrated.exit_code, 0);
  EXPECT_NE(unmigrated.output.find("not migrated"), std::string::npos) << unmigrated.output;

  {
    SQLite::Database db(Db(), SQLite::OPEN_READWRITE);
    db.exec(
        "DELETE FROM schema_migrations WHERE name = (SELECT max(name) FROM "
        "schema_migrations)");
  }
  CommandResult older = Copy(url);
  EXPECT_NE(older.exit_code, 0);
  EXPECT_NE(older.output.find("schema versions differ"), std::string::npos) << older.output;
  auto conn = storage::pg::Connection::Open({.url = url});
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(PgInt(**conn, "SELECT count(*) FROM request_log"), 0);
}

// The script holds the audit append lock while it copies: the same key as the nodes'.
TEST_F(SqliteToPostgresTest, TheScriptTakesTheNodesAuditAppendLock) {
  std::ifstream in(Script());
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(
      text.str().find("pg_advisory_xact_lock(" + std::to_string(storage::kAuditAppendLock) + ")"),
      std::string::npos);
}

}  // namespace
}  // namespace hookvault::testing
