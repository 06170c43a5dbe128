// The libpq wrapper (storage/postgres/connection.h) on a real PostgreSQL: parameters and bytes,
// the SQLSTATE mapping, a backend killed under it, pipeline mode, LISTEN/NOTIFY, transactions.
#include "storage/postgres/connection.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <future>
#include <limits>
#include <string>
#include <thread>

#include "tests/testing/postgres_server.h"

namespace hookvault::storage::pg {
namespace {

using namespace std::chrono_literals;
using testing::PostgresServer;

class PgConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PostgresServer* server = PostgresServer::Shared();
    ASSERT_NE(server, nullptr);
    url_ = server->CreateDatabase();
    ASSERT_FALSE(url_.empty());
    conn_ = Open();
    ASSERT_NE(conn_, nullptr);
    other_ = Open();
    ASSERT_NE(other_, nullptr);
    ASSERT_TRUE(conn_->Exec("CREATE TABLE t (k text PRIMARY KEY, n bigint, b bytea)").ok());
  }

  std::unique_ptr<Connection> Open(ConnectionOptions options = {}) {
    options.url = url_;
    auto conn = Connection::Open(options);
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    return conn.ok() ? std::move(conn).value() : nullptr;
  }

  int64_t Count(Connection& conn, const std::string& sql) {
    auto r = conn.Exec(sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    return r.ok() && r->rows() > 0 ? r->GetInt64(0, 0) : -1;
  }

  int64_t BackendPid(Connection& conn) { return Count(conn, "SELECT pg_backend_pid()"); }

  void Terminate(int64_t pid) {
    auto r = other_->Exec("SELECT pg_terminate_backend($1, 10000)", Params().Add(pid));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->GetString(0, 0), "t");
  }

  // Runs `body` (reads on conn_ that must not wait for ever) with a deadline: past it, conn_'s
  // backend is terminated so that the blocked read returns, and the test fails.
  void WithDeadline(const std::function<void()>& body) { WithDeadline(BackendPid(*conn_), body); }
  // The same for a connection whose backend (pid) may already be gone.
  void WithDeadline(int64_t pid, const std::function<void()>& body) {
    auto done = std::async(std::launch::async, body);
    if (done.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << "a read on the connection waited for ever";
      Terminate(pid);
    }
    done.get();
  }

  std::string url_;
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<Connection> other_;
};

// Returns the value of `keyword` in the options `c` connected with.
std::string ConnectedWith(Connection& c, const std::string& keyword) {
  std::string value;
  PQconninfoOption* options = PQconninfo(c.raw());
  for (PQconninfoOption* o = options; o != nullptr && o->keyword != nullptr; ++o) {
    if (keyword == o->keyword && o->val != nullptr) value = o->val;
  }
  PQconninfoFree(options);
  return value;
}

// Every connection (writer, readers, listener) has TCP keepalives and a bound on unacknowledged
// sends, so that a server gone without closing the socket fails a call instead of hanging it;
// the URL's own settings win.
TEST_F(PgConnectionTest, EveryConnectionHasKeepalivesUnlessTheUrlSetsThem) {
  EXPECT_EQ(ConnectedWith(*conn_, "keepalives"), "1");
  EXPECT_EQ(ConnectedWith(*conn_, "keepalives_idle"), "10");
  EXPECT_EQ(ConnectedWith(*conn_, "keepalives_interval"), "5");
  EXPECT_EQ(ConnectedWith(*conn_, "keepalives_count"), "3");
  EXPECT_EQ(ConnectedWith(*conn_, "tcp_user_timeout"), "30000");
  auto own = Connection::Open({.url = url_ + "?keepalives_idle=30"});
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(ConnectedWith(**own, "keepalives_idle"), "30");
  EXPECT_EQ(ConnectedWith(**own, "keepalives_count"), "3");
  auto kv = Connection::Open(
      {.url = "host=127.0.0.1 port=" + std::to_string(PostgresServer::Shared()->port()) +
              " user=postgres dbname=postgres keepalives_idle=30"});
  ASSERT_TRUE(kv.ok()) << kv.status().ToString();
  EXPECT_EQ(ConnectedWith(**kv, "keepalives_idle"), "30");
  EXPECT_EQ(ConnectedWith(**kv, "keepalives_interval"), "5");
}

// The server's side of every session probes and bounds the socket too (keepalives and
// tcp_user_timeout set per session): a backend whose node vanished mid-batch, holding the seq
// counter, notices in about 30 s instead of the kernel's hours.
TEST_F(PgConnectionTest, EverySessionSetsTheServersTcpKeepalivesAndUserTimeout) {
  for (Connection* c : {conn_.get(), other_.get()}) {
    auto shown = c->Exec(
        "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'),"
        " current_setting('tcp_keepalives_count'), current_setting('tcp_user_timeout')");
    ASSERT_TRUE(shown.ok()) << shown.status().ToString();
    EXPECT_EQ(shown->GetString(0, 0), "10");
    EXPECT_EQ(shown->GetString(0, 1), "5");
    EXPECT_EQ(shown->GetString(0, 2), "3");
    EXPECT_EQ(shown->GetString(0, 3), "30000");  // milliseconds
  }
  // Set again after a reconnect.
  ASSERT_TRUE(conn_->Reset().ok());
  auto shown = conn_->Exec("SHOW tcp_user_timeout");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->GetString(0, 0), "30000");
}

// lock_timeout (the writer's bound on waiting for the seq counter) ends a wait for a lock held
// by another session: 55P03, kUnavailable, the connection stays usable.
TEST_F(PgConnectionTest, LockTimeoutIsUnavailable) {
  ASSERT_TRUE(other_->Exec("BEGIN").ok());
  ASSERT_TRUE(other_->Exec("LOCK TABLE t IN ACCESS EXCLUSIVE MODE").ok());
  ConnectionOptions options;
  options.lock_timeout_ms = 200;
  auto conn = Open(options);
  ASSERT_NE(conn, nullptr);
  auto r = conn->Exec("INSERT INTO t (k) VALUES ('x')");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("55P03"), std::string::npos) << r.status().message();
  EXPECT_FALSE(conn->broken());
  ASSERT_TRUE(other_->Exec("ROLLBACK").ok());
  EXPECT_TRUE(conn->Exec("INSERT INTO t (k) VALUES ('x')").ok());
}

// A server that takes no writes (a standby after a failover, read-only mode when the disk is
// nearly full: 25006) is unavailable, not a bad statement, and the connection is reset (it may
// reach the new primary). I/O errors and corruption are storage trouble too: kUnavailable, so
// the writer answers 503 and /readyz says not ready instead of failing record by record.
TEST_F(PgConnectionTest, ReadOnlyIoErrorAndCorruptionAreUnavailable) {
  ASSERT_TRUE(conn_->Exec("SET default_transaction_read_only = on").ok());
  auto r = conn_->Exec("INSERT INTO t (k) VALUES ('x')");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("25006"), std::string::npos) << r.status().message();
  EXPECT_TRUE(conn_->broken());
  ASSERT_TRUE(conn_->Reset().ok());
  EXPECT_TRUE(conn_->Exec("INSERT INTO t (k) VALUES ('x')").ok());  // the session's SET is gone

  for (const char* state : {"58030", "58P01", "XX001", "XX002"}) {
    auto raised =
        other_->Exec(std::string("DO $$ BEGIN RAISE EXCEPTION 'storage' USING ERRCODE = '") +
                     state + "'; END $$");
    ASSERT_FALSE(raised.ok()) << state;
    EXPECT_EQ(raised.status().code(), StatusCode::kUnavailable) << raised.status().ToString();
    EXPECT_NE(raised.status().message().find(state), std::string::npos) << state;
  }
  // The rest stays kInternal.
  auto other = other_->Exec("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = 'XX000'; END $$");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kInternal) << other.status().ToString();
}

// Every node sends keys as UTF-8 (the same key, the same bytes), whatever the URL or the
// environment ask for.
TEST_F(PgConnectionTest, ClientEncodingIsUtf8WhateverTheUrlOrEnvironmentAsk) {
  auto latin = Connection::Open({.url = url_ + "?client_encoding=LATIN1"});
  ASSERT_TRUE(latin.ok()) << latin.status().ToString();
  auto shown = (*latin)->Exec("SHOW client_encoding");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->GetString(0, 0), "UTF8");
  ::setenv("PGCLIENTENCODING", "LATIN1", 1);
  auto env = Connection::Open({.url = url_});
  ::unsetenv("PGCLIENTENCODING");
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  shown = (*env)->Exec("SHOW client_encoding");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->GetString(0, 0), "UTF8");
}

TEST_F(PgConnectionTest, BytesRoundTripByteForByte) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  bytes += std::string("\0\0\xff\xfe\\x00'\"", 10);
  ASSERT_TRUE(conn_->Exec("INSERT INTO t (k, b) VALUES ($1, $2)",
                          Params().Add("all").AddBytes(bytes))
                  .ok());
  ASSERT_TRUE(conn_->Exec("INSERT INTO t (k, b) VALUES ($1, $2)",
                          Params().Add("empty").AddBytes(""))
                  .ok());
  ASSERT_TRUE(conn_->Exec("INSERT INTO t (k, b) VALUES ($1, $2)",
                          Params().Add("null").AddNull())
                  .ok());
  ASSERT_TRUE(conn_->Prepare("get_b", "SELECT b, octet_length(b) FROM t WHERE k = $1").ok());

  auto all = conn_->ExecPrepared("get_b", Params().Add("all"));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->rows(), 1);
  EXPECT_EQ(all->GetInt64(0, 1), static_cast<int64_t>(bytes.size())) << "stored length";
  EXPECT_EQ(all->GetBytes(0, 0), bytes);

  auto empty = conn_->ExecPrepared("get_b", Params().Add("empty"));
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->IsNull(0, 0));
  EXPECT_EQ(empty->GetBytes(0, 0), "");

  auto null = conn_->ExecPrepared("get_b", Params().Add("null"));
  ASSERT_TRUE(null.ok());
  EXPECT_TRUE(null->IsNull(0, 0));

  // The same bytes in a prepared statement's binary parameter.
  ASSERT_TRUE(conn_->Prepare("put_b", "INSERT INTO t (k, b) VALUES ($1, $2)").ok());
  ASSERT_TRUE(conn_->ExecPrepared("put_b", Params().Add("prepared").AddBytes(bytes)).ok());
  auto prepared = conn_->ExecPrepared("get_b", Params().Add("prepared"));
  ASSERT_TRUE(prepared.ok());
  EXPECT_EQ(prepared->GetBytes(0, 0), bytes);
}

// libpq reads a text-format value up to its first NUL: a key "a\0b" would be stored as "a"
// without an error. Params sends such a value in binary format, so the server sees every byte
// and refuses the NUL.
TEST_F(PgConnectionTest, TextWithANulByteIsRefusedNotCutShort) {
  const std::string with_nul("a\0b", 3);
  auto r = conn_->Exec("INSERT INTO t (k) VALUES ($1)", Params().Add(with_nul));
  ASSERT_FALSE(r.ok()) << "stored: " << Count(*conn_, "SELECT count(*) FROM t WHERE k = 'a'");
  EXPECT_EQ(r.status().code(), StatusCode::kInternal) << r.status().ToString();
  EXPECT_EQ(Count(*conn_, "SELECT count(*) FROM t"), 0);
  // A bytea parameter given with Add keeps every byte.
  auto bytes = conn_->Exec("SELECT octet_length($1::bytea)", Params().Add(with_nul));
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(bytes->GetInt64(0, 0), 3);
}

TEST_F(PgConnectionTest, TextIntegerAndNullParameters) {
  const std::string text = "caf\xc3\xa9 'quoted' \"double\" \\ back; -- not a comment";
  Params params;
  params.Add(text)
      .Add(std::numeric_limits<int64_t>::max())
      .Add(std::numeric_limits<int64_t>::min())
      .AddNull()
      .AddOptional(std::optional<std::string>("opt"))
      .AddOptional(std::optional<std::string>())
      .AddOptional(std::optional<int64_t>(-7))
      .AddOptional(std::optional<int64_t>())
      .Add(std::string_view(""));
  EXPECT_EQ(params.size(), 9);
  auto r = conn_->Exec(
      "SELECT $1::text, $2::bigint, $3::bigint, $4::text IS NULL, $5::text, $6::text IS NULL, "
      "$7::bigint, $8::bigint IS NULL, $9::text IS NULL, octet_length($9::text)",
      params);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows(), 1);
  EXPECT_EQ(r->GetString(0, 0), text);
  EXPECT_EQ(r->GetInt64(0, 1), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(r->GetInt64(0, 2), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(r->GetString(0, 3), "t");
  EXPECT_EQ(r->GetOptionalString(0, 4), std::optional<std::string>("opt"));
  EXPECT_EQ(r->GetString(0, 5), "t");
  EXPECT_EQ(r->GetOptionalInt64(0, 6), std::optional<int64_t>(-7));
  EXPECT_EQ(r->GetString(0, 7), "t");
  EXPECT_EQ(r->GetString(0, 8), "f") << "an empty string is not NULL";
  EXPECT_EQ(r->GetInt64(0, 9), 0);

  // The same Params object used twice (its pointers are rebuilt, not stale).
  auto again = conn_->Exec("SELECT $1::text, $2::bigint, $3::bigint, $4::text, $5::text, "
                           "$6::text, $7::bigint, $8::bigint, $9::text",
                           params);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->GetString(0, 0), text);
  EXPECT_TRUE(again->IsNull(0, 3));
  EXPECT_EQ(again->GetOptionalInt64(0, 7), std::nullopt);

  // Rows and affected counts.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(conn_->Exec("INSERT INTO t (k, n) VALUES ($1, $2)",
                            Params().Add("k" + std::to_string(i)).Add(int64_t{i}))
                    .ok());
  }
  auto updated = conn_->Exec("UPDATE t SET n = n + 1 WHERE n >= $1", Params().Add(int64_t{1}));
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->affected_rows(), 2);
  auto rows = conn_->Exec("SELECT k, n FROM t ORDER BY k");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->rows(), 3);
  EXPECT_EQ(rows->columns(), 2);
  EXPECT_EQ(rows->GetInt64(2, 1), 3);
}

TEST_F(PgConnectionTest, UniqueViolationIsAlreadyExistsAndLeavesTheConnectionUsable) {
  ASSERT_TRUE(conn_->Exec("INSERT INTO t (k) VALUES ($1)", Params().Add("a")).ok());
  auto dup = conn_->Exec("INSERT INTO t (k) VALUES ($1)", Params().Add("a"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists) << dup.status().ToString();
  EXPECT_NE(dup.status().message().find("23505"), std::string::npos) << dup.status().message();
  EXPECT_FALSE(conn_->broken());
  ASSERT_TRUE(conn_->Prepare("ins", "INSERT INTO t (k) VALUES ($1)").ok());
  auto dup_prepared = conn_->ExecPrepared("ins", Params().Add("a"));
  ASSERT_FALSE(dup_prepared.ok());
  EXPECT_EQ(dup_prepared.status().code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(conn_->broken());
  EXPECT_EQ(Count(*conn_, "SELECT count(*) FROM t"), 1);
}

TEST_F(PgConnectionTest, SyntaxErrorIsInternalWithSqlstate) {
  auto bad = conn_->Exec("SELEC 1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("SQLSTATE 42601"), std::string::npos)
      << bad.status().message();
  EXPECT_FALSE(conn_->broken());
  auto bad_prepare = conn_->Prepare("bad", "SELEC $1");
  ASSERT_FALSE(bad_prepare.ok());
  EXPECT_EQ(bad_prepare.code(), StatusCode::kInternal);
  EXPECT_NE(bad_prepare.message().find("42601"), std::string::npos) << bad_prepare.message();
  // A multi-statement string stops at its failing statement.
  auto multi = conn_->Exec("INSERT INTO t (k) VALUES ('x'); SELECT 1/0; INSERT INTO t (k) VALUES ('y')");
  ASSERT_FALSE(multi.ok());
  EXPECT_NE(multi.status().message().find("22012"), std::string::npos) << multi.status().message();
  EXPECT_EQ(Count(*conn_, "SELECT count(*) FROM t"), 0) << "one implicit transaction";
}

TEST_F(PgConnectionTest, UnreachableServerIsUnavailable) {
  auto conn = Connection::Open({.url = "postgresql://postgres@127.0.0.1:1/x", .connect_timeout_s = 2});
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), StatusCode::kUnavailable) << conn.status().ToString();
}

// A backend that dies under the connection (the server restarting, a failover, an operator's
// pg_terminate_backend): the next statement is kUnavailable (503, never 500), broken() says so,
// and Reset() brings back the connection with its prepared statements.
TEST_F(PgConnectionTest, TerminatedBackendIsUnavailableAndResetRestoresPreparedStatements) {
  ASSERT_TRUE(conn_->Prepare("count_t", "SELECT count(*) FROM t WHERE k <> $1").ok());
  ASSERT_TRUE(conn_->Prepare("ins", "INSERT INTO t (k) VALUES ($1)").ok());
  ASSERT_TRUE(conn_->ExecPrepared("ins", Params().Add("before")).ok());

  // Through Exec.
  Terminate(BackendPid(*conn_));
  auto lost = conn_->Exec("SELECT 1");
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), StatusCode::kUnavailable) << lost.status().ToString();
  EXPECT_TRUE(conn_->broken());
  ASSERT_TRUE(conn_->Reset().ok());
  EXPECT_FALSE(conn_->broken());
  auto count = conn_->ExecPrepared("count_t", Params().Add("none"));
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_EQ(count->GetInt64(0, 0), 1);

  // Through ExecPrepared.
  Terminate(BackendPid(*conn_));
  auto lost_prepared = conn_->ExecPrepared("ins", Params().Add("during"));
  ASSERT_FALSE(lost_prepared.ok());
  EXPECT_EQ(lost_prepared.status().code(), StatusCode::kUnavailable)
      << lost_prepared.status().ToString();
  EXPECT_TRUE(conn_->broken());
  ASSERT_TRUE(conn_->Reset().ok());
  ASSERT_TRUE(conn_->ExecPrepared("ins", Params().Add("after")).ok());
  // The session settings come back with the reconnect.
  auto sync = conn_->Exec("SHOW synchronous_commit");
  ASSERT_TRUE(sync.ok());
  EXPECT_EQ(sync->GetString(0, 0), "on");

  // Inside a transaction: the statement is lost with the transaction.
  const int64_t pid = BackendPid(*conn_);
  ASSERT_TRUE(conn_->Exec("BEGIN").ok());
  ASSERT_TRUE(conn_->ExecPrepared("ins", Params().Add("in-txn")).ok());
  Terminate(pid);
  auto commit = conn_->Exec("COMMIT");
  ASSERT_FALSE(commit.ok());
  EXPECT_EQ(commit.status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(conn_->Reset().ok());
  auto rows = conn_->Exec("SELECT k FROM t ORDER BY k");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->rows(), 2);
  EXPECT_EQ(rows->GetString(0, 0), "after");
  EXPECT_EQ(rows->GetString(1, 0), "before");
}

// A Reset() whose re-preparing fails part-way (the server going away again, or here a statement
// whose table is gone) keeps every statement for the next Reset(), not just those before it.
TEST_F(PgConnectionTest, ResetThatFailsPartWayKeepsEveryPreparedStatement) {
  ASSERT_TRUE(conn_->Exec("CREATE TABLE gone (x int)").ok());
  ASSERT_TRUE(conn_->Prepare("a_first", "SELECT count(*) FROM t WHERE k <> $1").ok());
  ASSERT_TRUE(conn_->Prepare("b_gone", "SELECT count(*) FROM gone").ok());
  ASSERT_TRUE(conn_->Prepare("c_last", "SELECT count(*) FROM t WHERE k = $1").ok());
  ASSERT_TRUE(other_->Exec("DROP TABLE gone").ok());
  Terminate(BackendPid(*conn_));
  EXPECT_FALSE(conn_->Exec("SELECT 1").ok());
  EXPECT_FALSE(conn_->Reset().ok()) << "b_gone cannot be prepared";
  ASSERT_TRUE(other_->Exec("CREATE TABLE gone (x int)").ok());
  ASSERT_TRUE(conn_->Reset().ok());
  for (const char* name : {"a_first", "c_last"}) {
    auto r = conn_->ExecPrepared(name, Params().Add("k"));
    EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
  }
  EXPECT_TRUE(conn_->ExecPrepared("b_gone", Params()).ok());
}

// A session that sits idle in a transaction past idle_in_transaction_timeout_ms is ended by the
// server (FATAL 25P03): storage trouble for the caller (kUnavailable), and broken().
TEST_F(PgConnectionTest, IdleInTransactionTimeoutIsUnavailableAndBroken) {
  ConnectionOptions options;
  options.idle_in_transaction_timeout_ms = 100;
  auto conn = Open(options);
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Exec("BEGIN").ok());
  std::this_thread::sleep_for(500ms);
  auto r = conn->Exec("SELECT 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_TRUE(conn->broken());
  ASSERT_TRUE(conn->Reset().ok());
  EXPECT_TRUE(conn->Exec("SELECT 1").ok());
}

// statement_timeout (the readers' bound) cancels a slow statement: storage trouble, so a 503
// with Retry-After, not a 500; the connection stays usable.
TEST_F(PgConnectionTest, StatementTimeoutIsUnavailable) {
  ConnectionOptions options;
  options.statement_timeout_ms = 100;
  auto conn = Open(options);
  ASSERT_NE(conn, nullptr);
  auto r = conn->Exec("SELECT pg_sleep(2)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("57014"), std::string::npos) << r.status().message();
  EXPECT_FALSE(conn->broken());
  EXPECT_TRUE(conn->Exec("SELECT 1").ok());
}

// Three statements in one sync unit, the second failing: the first's result is OK, the second
// is its error, the third is aborted without running; the unit is one implicit transaction, so
// the first's row is rolled back too; afterwards the connection works.
TEST_F(PgConnectionTest, PipelineSecondFailsThirdAbortedConnectionUsable) {
  ASSERT_TRUE(conn_->Exec("INSERT INTO t (k) VALUES ('dup')").ok());
  ASSERT_TRUE(conn_->Prepare("ins", "INSERT INTO t (k, n) VALUES ($1, $2) RETURNING n").ok());
  WithDeadline([&] {
    ASSERT_TRUE(conn_->BeginPipeline().ok());
    ASSERT_TRUE(conn_->QueuePrepared("ins", Params().Add("one").Add(int64_t{1})).ok());
    ASSERT_TRUE(conn_->QueuePrepared("ins", Params().Add("dup").Add(int64_t{2})).ok());
    ASSERT_TRUE(conn_->Queue("INSERT INTO t (k, n) VALUES ($1, $2)",
                             Params().Add("three").Add(int64_t{3}))
                    .ok());
    ASSERT_TRUE(conn_->Sync().ok());
    auto first = conn_->NextResult();
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(first->GetInt64(0, 0), 1);
    auto second = conn_->NextResult();
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists) << second.status().ToString();
    auto third = conn_->NextResult();
    ASSERT_FALSE(third.ok());
    EXPECT_NE(third.status().message().find("aborted"), std::string::npos)
        << third.status().ToString();
    EXPECT_TRUE(conn_->EndPipeline().ok());
  });
  EXPECT_FALSE(conn_->broken());
  EXPECT_EQ(Count(*conn_, "SELECT count(*) FROM t"), 1) << "only the row from before";
  // Usable: plain, prepared, and another pipeline.
  ASSERT_TRUE(conn_->ExecPrepared("ins", Params().Add("later").Add(int64_t{4})).ok());
  WithDeadline([&] {
    ASSERT_TRUE(conn_->BeginPipeline().ok());
    ASSERT_TRUE(conn_->QueuePrepared("ins", Params().Add("p1").Add(int64_t{5})).ok());
    ASSERT_TRUE(conn_->QueuePrepared("ins", Params().Add("p2").Add(int64_t{6})).ok());
    ASSERT_TRUE(conn_->Sync().ok());
    EXPECT_TRUE(conn_->NextResult().ok());
    EXPECT_TRUE(conn_->NextResult().ok());
    EXPECT_TRUE(conn_->EndPipeline().ok());
  });
  EXPECT_EQ(Count(*conn_, "SELECT count(*) FROM t"), 4);
}

// The group-commit shape: BEGIN, statements, COMMIT in one round trip; a failure inside an
// explicit block leaves it rolled back and the connection out of the failed transaction.
TEST_F(PgConnectionTest, PipelineExplicitTransactionCommitsOrRollsBack) {
  WithDeadline([&] {
    ASSERT_TRUE(conn_->BeginPipeline().ok());
    ASSERT_TRUE(conn_->Queue("BEGIN").ok());
    ASSERT_TRUE(conn_->Queue("INSERT INTO t (k) VALUES ('a')").ok());
    ASSERT_TRUE(conn_->Queue("INSERT INTO t (k) VALUES ('b')").ok());
    ASSERT_TRUE(conn_->Queue("COMMIT").ok());
    ASSERT_TRUE(conn_->Sync().ok());
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(conn_->NextResult().ok()) << i;
    EXPECT_TRUE(conn_->EndPipeline().ok());
  });
  EXPECT_EQ(Count(*other_, "SELECT count(*) FROM t"), 2);
  WithDeadline([&] {
    ASSERT_TRUE(conn_->BeginPipeline().ok());
    ASSERT_TRUE(conn_->Queue("BEGIN").ok());
    ASSERT_TRUE(conn_->Queue("INSERT INTO t (k) VALUES ('c')").ok());
    ASSERT_TRUE(conn_->Queue("INSERT INTO t (k) VALUES ('a')").ok());  // fails
    ASSERT_TRUE(conn_->Queue("COMMIT").ok());
    ASSERT_TRUE(conn_->Sync().ok());
    // Reads only the first result: EndPipeline reads the rest.
    EXPECT_TRUE(conn_->NextResult().ok());
    EXPECT_FALSE(conn_->EndPipeline().ok()) << "the failure it read itself";
  });
  EXPECT_FALSE(conn_->broken());
  auto n = conn_->Exec("SELECT count(*) FROM t");
  ASSERT_TRUE(n.ok()) << "the connection is still in the failed block: " << n.status().ToString();
  EXPECT_EQ(n->GetInt64(0, 0), 2);
}

// Reading a result before any Sync: the server holds answers back until a Sync or a flush
// request, so without one the read would wait for ever.
TEST_F(PgConnectionTest, PipelineResultReadableBeforeSync) {
  WithDeadline([&] {
    ASSERT_TRUE(conn_->BeginPipeline().ok());
    ASSERT_TRUE(conn_->Queue("SELECT 41 + 1").ok());
    auto r = conn_->NextResult();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->GetInt64(0, 0), 42);
    ASSERT_TRUE(conn_->Sync().ok());
    EXPECT_TRUE(conn_->EndPipeline().ok());
  });
  EXPECT_TRUE(conn_->Exec("SELECT 1").ok());
}

// A statement queued after a Sync whose own Sync is not sent yet: reading it must not wait for
// ever either (the earlier Sync's answer does not flush the later statement's).
TEST_F(PgConnectionTest, PipelineResultAfterAnEarlierSyncReadableBeforeItsSync) {
  WithDeadline([&] {
    ASSERT_TRUE(conn_->BeginPipeline().ok());
    ASSERT_TRUE(conn_->Queue("SELECT 1").ok());
    ASSERT_TRUE(conn_->Sync().ok());
    ASSERT_TRUE(conn_->Queue("SELECT 2").ok());
    auto one = conn_->NextResult();
    ASSERT_TRUE(one.ok()) << one.status().ToString();
    EXPECT_EQ(one->GetInt64(0, 0), 1);
    auto two = conn_->NextResult();
    ASSERT_TRUE(two.ok()) << two.status().ToString();
    EXPECT_EQ(two->GetInt64(0, 0), 2);
    ASSERT_TRUE(conn_->Sync().ok());
    EXPECT_TRUE(conn_->EndPipeline().ok());
  });
}

// Statements queued without their Sync when the pipeline ends (a writer that gave up part-way
// through a batch) must not commit: not at EndPipeline, and not with the connection's next,
// unrelated statement.
TEST_F(PgConnectionTest, PipelineEndedWithoutSyncCommitsNothing) {
  WithDeadline([&] {
    ASSERT_TRUE(conn_->BeginPipeline().ok());
    ASSERT_TRUE(conn_->Queue("INSERT INTO t (k) VALUES ('unsynced')").ok());
    EXPECT_TRUE(conn_->NextResult().ok());
    (void)conn_->EndPipeline();
  });
  if (!conn_->broken()) {
    EXPECT_TRUE(conn_->Exec("SELECT 1").ok());
  }
  EXPECT_EQ(Count(*other_, "SELECT count(*) FROM t"), 0);
  // Same with an explicit BEGIN and the pipeline ended before its COMMIT was even queued.
  WithDeadline([&] {
    ASSERT_TRUE(conn_->BeginPipeline().ok());
    ASSERT_TRUE(conn_->Queue("BEGIN").ok());
    ASSERT_TRUE(conn_->Queue("INSERT INTO t (k) VALUES ('half')").ok());
    (void)conn_->EndPipeline();
  });
  if (conn_->broken()) {
    ASSERT_TRUE(conn_->Reset().ok());
  }
  ASSERT_TRUE(conn_->Exec("BEGIN").ok()) << "a transaction left open";
  ASSERT_TRUE(conn_->Exec("COMMIT").ok());
  EXPECT_EQ(Count(*other_, "SELECT count(*) FROM t"), 0);
}

// The backend dies between the pipeline's send and its results: kUnavailable, broken(), and
// Reset() leaves pipeline mode behind.
TEST_F(PgConnectionTest, PipelineOnATerminatedBackendIsUnavailable) {
  const int64_t pid = BackendPid(*conn_);
  Terminate(pid);
  WithDeadline(pid, [&] {
    ASSERT_TRUE(conn_->BeginPipeline().ok());
    Status queued = conn_->Queue("INSERT INTO t (k) VALUES ('lost')");
    Status synced = queued.ok() ? conn_->Sync() : queued;
    if (synced.ok()) {
      auto r = conn_->NextResult();
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
    } else {
      EXPECT_EQ(synced.code(), StatusCode::kUnavailable) << synced.ToString();
    }
    EXPECT_EQ(conn_->EndPipeline().code(), StatusCode::kUnavailable);
  });
  EXPECT_TRUE(conn_->broken());
  ASSERT_TRUE(conn_->Reset().ok());
  EXPECT_TRUE(conn_->Exec("INSERT INTO t (k) VALUES ('after')").ok());
  EXPECT_EQ(Count(*other_, "SELECT count(*) FROM t"), 1);
}

TEST_F(PgConnectionTest, ListenSeesNotifyFromAnotherConnection) {
  ASSERT_TRUE(conn_->Exec("LISTEN hookvault_events").ok());
  EXPECT_TRUE(conn_->ConsumeNotifications().empty());
  ASSERT_TRUE(other_->Exec("SELECT pg_notify('hookvault_events', '17')").ok());
  // A NOTIFY inside a transaction arrives only at its commit.
  ASSERT_TRUE(other_->Exec("BEGIN").ok());
  ASSERT_TRUE(other_->Exec("NOTIFY hookvault_events, '18'").ok());
  ASSERT_TRUE(other_->Exec("NOTIFY some_other_channel").ok());
  ASSERT_TRUE(other_->Exec("COMMIT").ok());

  std::vector<std::string> seen;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (seen.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{.fd = conn_->socket(), .events = POLLIN, .revents = 0};
    poll(&p, 1, 1000);
    for (std::string& channel : conn_->ConsumeNotifications()) seen.push_back(std::move(channel));
  }
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "hookvault_events");
  EXPECT_EQ(seen[1], "hookvault_events");
  EXPECT_FALSE(conn_->broken());
  EXPECT_TRUE(conn_->Exec("SELECT 1").ok());
}

TEST_F(PgConnectionTest, InTransactionCommitsOrRollsBack) {
  Status ok = InTransaction(*conn_, [&]() -> Status {
    auto r = conn_->Exec("INSERT INTO t (k) VALUES ('kept')");
    return r.ok() ? Status::Ok() : r.status();
  });
  ASSERT_TRUE(ok.ok()) << ok.ToString();
  Status failed = InTransaction(*conn_, [&]() -> Status {
    EXPECT_TRUE(conn_->Exec("INSERT INTO t (k) VALUES ('dropped')").ok());
    return Status::Unavailable("the body gave up");
  });
  EXPECT_EQ(failed.code(), StatusCode::kUnavailable);
  EXPECT_EQ(Count(*other_, "SELECT count(*) FROM t"), 1);
  EXPECT_TRUE(conn_->Exec("SELECT 1").ok()) << "left in a transaction";
}

// A body that meets a failed statement but returns OK anyway (say it took a unique violation
// for "duplicate, fine"): PostgreSQL has aborted the transaction, and its COMMIT answers
// "ROLLBACK" with no error. InTransaction must not report that as committed.
TEST_F(PgConnectionTest, InTransactionNeverCallsAnAbortedTransactionCommitted) {
  ASSERT_TRUE(conn_->Exec("INSERT INTO t (k) VALUES ('a')").ok());
  Status s = InTransaction(*conn_, [&]() -> Status {
    EXPECT_TRUE(conn_->Exec("INSERT INTO t (k) VALUES ('b')").ok());
    auto dup = conn_->Exec("INSERT INTO t (k) VALUES ('a')");
    EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
    return Status::Ok();
  });
  EXPECT_FALSE(s.ok()) << "b was rolled back, yet the transaction was reported committed";
  EXPECT_EQ(Count(*other_, "SELECT count(*) FROM t"), 1);
  EXPECT_TRUE(conn_->Exec("SELECT 1").ok());
}

}  // namespace
}  // namespace hookvault::storage::pg
