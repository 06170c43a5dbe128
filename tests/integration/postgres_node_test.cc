// The real binary on PostgreSQL (tests/testing/postgres_server.h): ingest, duplicates and a
// SIGKILL on one node; the commands (migrate, check-config, backup) with a PostgreSQL config;
// and two nodes on one database: a long-poll on one wakes on the other's commit, a duplicate on
// one answers the other's original, and a delivery of a killed node is taken over by the other
// once its lease has run out.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "storage/postgres/connection.h"
#include "storage/postgres/migrations.h"
#include "tests/testing/http_client.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "postgres-node-token-0123";
constexpr char kAdmin[] = "postgres-node-admin-0123";
// Put into every URL the nodes get: trust authentication ignores it, and no log or message
// may show it.
constexpr char kPassword[] = "sekrit-pg-password";

// Returns `url` (postgresql://user@host…) with kPassword as the user's password.
std::string WithPassword(const std::string& url) {
  const size_t at = url.find('@');
  return at == std::string::npos ? url : url.substr(0, at) + ":" + kPassword + url.substr(at);
}

std::string NewDatabase() {
  PostgresServer* server = PostgresServer::Shared();
  return server == nullptr ? "" : server->CreateDatabase();
}

// A node's config: `url` the database, `extra` more members of the "postgres" object,
// `destinations` the JSON array.
std::string NodeConfig(const TempDir& dir, const std::string& url, const std::string& extra = "",
                       const std::string& destinations = "[]") {
  return R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir.File("data") +
         R"(", "postgres": {"url": ")" + url + "\"" + extra + R"(},
    "sources": [{"name": "pms", "tokens": [")" +
         kToken + R"("], "event_type": "/event", "idempotency": {"pointer": "/id"}}],
    "destinations": )" +
         destinations + R"(,
    "api_tokens": [{"name": "admin", "token": ")" +
         kAdmin + R"(", "role": "admin"}]})";
}

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  return d;
}

// An ingest answer: status, and id, seq, duplicate when it is a 200.
struct Ingested {
  int status = 0;
  std::string id;
  int64_t seq = 0;
  bool duplicate = false;
  std::string body;
};

Ingested Post(HttpClient& client, const ServerProcess& node, const std::string& key) {
  HttpResult r = client.Request("POST", node.Url("/webhooks/pms"),
                                {{"x-auth-token", kToken}, {"Content-Type", "application/json"}},
                                R"({"id":")" + key + R"(","event":"booking.created"})");
  Ingested out;
  out.status = r.status;
  out.body = r.body;
  if (r.status != 200) return out;
  rapidjson::Document d = Json(r.body);
  if (!d.IsObject() || !d.HasMember("id") || !d.HasMember("seq")) return out;
  out.id = d["id"].GetString();
  out.seq = d["seq"].GetInt64();
  out.duplicate = d.HasMember("duplicate") && d["duplicate"].GetBool();
  return out;
}

HttpResult Get(HttpClient& client, const ServerProcess& node, const std::string& path,
               long timeout_ms = 10000) {
  return client.Request("GET", node.Url(path), {{"Authorization", std::string("Bearer ") + kAdmin}},
                        "", timeout_ms);
}

// Runs one query on `url` and returns the first column of the first row ("" if none or on error,
// with a test failure for the error).
std::string QueryPg(const std::string& url, const std::string& sql) {
  auto c = storage::pg::Connection::Open({.url = url, .application_name = "postgres node test"});
  if (!c.ok()) {
    ADD_FAILURE() << c.status().ToString();
    return "";
  }
  auto r = (*c)->Exec(sql);
  if (!r.ok()) {
    ADD_FAILURE() << sql << ": " << r.status().ToString();
    return "";
  }
  return r->rows() > 0 && !r->IsNull(0, 0) ? r->GetString(0, 0) : "";
}

// A loopback port nothing listens on (bound, read and closed again).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool WaitFor(const std::function<bool()>& condition, seconds timeout = seconds(15)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return condition();
}

TEST(PostgresNodeTest, IngestsAnswersDuplicatesAndKeepsEverythingThroughASigkill) {
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  TempDir dir;
  const std::string config = dir.Write("config.json", NodeConfig(dir, WithPassword(url)));
  HttpClient client;
  Ingested first;
  {
    ServerProcess node({"serve", "--config", config}, dir.File("node.log"));
    ASSERT_TRUE(node.started()) << node.Log();
    first = Post(client, node, "bk-1");
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_GE(first.seq, 1);
    EXPECT_FALSE(first.duplicate);
    Ingested again = Post(client, node, "bk-1");
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(again.id, first.id);
    EXPECT_EQ(again.seq, first.seq);

    EXPECT_EQ(Get(client, node, "/readyz").status, 200);
    HttpResult metrics = Get(client, node, "/metrics");
    EXPECT_NE(metrics.body.find("hookvault_storage_backend{backend=\"postgres\"} 1"),
              std::string::npos)
        << metrics.body;
    // The node says where its data is, without the password.
    EXPECT_NE(node.Log().find(":***@127.0.0.1"), std::string::npos) << node.Log();
    node.Signal(SIGKILL);
    EXPECT_EQ(node.Log().find(kPassword), std::string::npos) << node.Log();
  }
  // Nothing was written locally: no SQLite database, no data dir at all.
  EXPECT_FALSE(std::filesystem::exists(dir.File("data"))) << "a PostgreSQL node made its data dir";
  EXPECT_EQ(QueryPg(url, "SELECT count(*) FROM events"), "1");

  ServerProcess restarted({"serve", "--config", config}, dir.File("restarted.log"));
  ASSERT_TRUE(restarted.started()) << restarted.Log();
  HttpResult event = Get(client, restarted, "/api/v1/events/" + first.id);
  ASSERT_EQ(event.status, 200) << event.body;
  EXPECT_EQ(Json(event.body)["seq"].GetInt64(), first.seq) << event.body;
  Ingested after_restart = Post(client, restarted, "bk-1");
  EXPECT_TRUE(after_restart.duplicate) << after_restart.body;
  EXPECT_EQ(after_restart.id, first.id);
  Ingested second = Post(client, restarted, "bk-2");
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.seq, first.seq + 1);  // dense across the kill
}

TEST(PostgresNodeTest, MigrateCheckConfigAndBackupWithAPostgresConfig) {
  PostgresServer* server = PostgresServer::Shared();
  ASSERT_NE(server, nullptr);
  const std::string url = server->CreateEmptyDatabase();
  ASSERT_FALSE(url.empty());
  TempDir dir;
  const std::string config = dir.Write("config.json", NodeConfig(dir, WithPassword(url)));

  CommandResult pending = RunHookvault("check-config --config " + config);
  EXPECT_EQ(pending.exit_code, 0) << pending.output;
  EXPECT_NE(pending.output.find("reachable"), std::string::npos) << pending.output;
  EXPECT_NE(pending.output.find(std::to_string(storage::PostgresMigrations().size()) +
                                " migrations pending"),
            std::string::npos)
      << pending.output;

  CommandResult migrate = RunHookvault("migrate --config " + config);
  ASSERT_EQ(migrate.exit_code, 0) << migrate.output;
  EXPECT_EQ(QueryPg(url, "SELECT count(*) FROM schema_migrations"),
            std::to_string(storage::PostgresMigrations().size()));
  EXPECT_EQ(QueryPg(url, "SELECT to_regclass('events') IS NOT NULL"), "t");
  CommandResult again = RunHookvault("migrate --config " + config);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  CommandResult current = RunHookvault("check-config --config " + config);
  EXPECT_EQ(current.exit_code, 0) << current.output;
  EXPECT_NE(current.output.find("schema up to date"), std::string::npos) << current.output;
  // A PostgreSQL config has no data dir to migrate or serve from.
  EXPECT_EQ(RunHookvault("migrate --config " + config + " --data-dir " + dir.File("d")).exit_code,
            2);
  CommandResult serve_dir = RunHookvault("serve --config " + config + " --data-dir " +
                                         dir.File("d") + " --listen 127.0.0.1:0");
  EXPECT_EQ(serve_dir.exit_code, 2) << serve_dir.output;
  EXPECT_NE(serve_dir.output.find("--data-dir does not apply"), std::string::npos)
      << serve_dir.output;
  EXPECT_FALSE(std::filesystem::exists(dir.File("d")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("data")));

  // Nothing listens there: a clear failure naming the key, never the password.
  const std::string unreachable =
      "postgresql://postgres:" + std::string(kPassword) + "@127.0.0.1:" +
      std::to_string(FreePort()) + "/hookvault";
  const std::string bad = dir.Write("bad.json", NodeConfig(dir, unreachable));
  CommandResult refused = RunHookvault("check-config --config " + bad);
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("postgres.url (postgresql://postgres:***@127.0.0.1:"),
            std::string::npos)
      << refused.output;
  EXPECT_EQ(refused.output.find(kPassword), std::string::npos) << refused.output;
  CommandResult migrate_refused = RunHookvault("migrate --config " + bad);
  EXPECT_NE(migrate_refused.exit_code, 0) << migrate_refused.output;
  EXPECT_NE(migrate_refused.output.find("postgres.url"), std::string::npos)
      << migrate_refused.output;
  EXPECT_EQ(migrate_refused.output.find(kPassword), std::string::npos) << migrate_refused.output;
  // So does a node started on it: it exits instead of serving.
  CommandResult serve_refused = RunHookvault("serve --config " + bad);
  EXPECT_EQ(serve_refused.exit_code, 1) << serve_refused.output;
  EXPECT_NE(serve_refused.output.find("postgres.url"), std::string::npos) << serve_refused.output;
  EXPECT_EQ(serve_refused.output.find(kPassword), std::string::npos) << serve_refused.output;

  // backup copies SQLite only; PostgreSQL has its own tools.
  CommandResult backup = RunHookvault("backup --config " + config + " --out " + dir.File("b.db"));
  EXPECT_NE(backup.exit_code, 0) << backup.output;
  EXPECT_NE(backup.output.find("pg_dump"), std::string::npos) << backup.output;
  EXPECT_NE(backup.output.find("pg_basebackup"), std::string::npos) << backup.output;
  EXPECT_FALSE(std::filesystem::exists(dir.File("b.db")));
}

TEST(PostgresNodeTest, TwoNodesShareOneDatabase) {
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  TempDir dir_a, dir_b;
  // A backstop poll far longer than the long-poll: B can learn of A's commit only through the
  // notification.
  const std::string extra = R"(, "listen_poll_ms": 60000)";
  ServerProcess a({"serve", "--config", dir_a.Write("config.json", NodeConfig(dir_a, url, extra))},
                  dir_a.File("node.log"));
  ASSERT_TRUE(a.started()) << a.Log();
  ServerProcess b({"serve", "--config", dir_b.Write("config.json", NodeConfig(dir_b, url, extra))},
                  dir_b.File("node.log"));
  ASSERT_TRUE(b.started()) << b.Log();
  HttpClient client;
  EXPECT_EQ(Get(client, a, "/readyz").status, 200);
  EXPECT_EQ(Get(client, b, "/readyz").status, 200);

  Ingested first = Post(client, a, "two-1");
  ASSERT_EQ(first.status, 200) << first.body;

  // A long-poll on B, parked before A commits the next event.
  HttpResult polled;
  std::chrono::steady_clock::duration waited{};
  std::thread poller([&] {
    HttpClient own;
    auto start = std::chrono::steady_clock::now();
    polled = Get(own, b, "/api/v1/feed?after=" + std::to_string(first.seq) + "&wait=20", 30000);
    waited = std::chrono::steady_clock::now() - start;
  });
  std::this_thread::sleep_for(seconds(1));
  Ingested second = Post(client, a, "two-2");
  poller.join();
  ASSERT_EQ(second.status, 200) << second.body;
  ASSERT_EQ(polled.status, 200) << polled.body;
  rapidjson::Document page = Json(polled.body);
  ASSERT_TRUE(page.IsObject() && page.HasMember("data")) << polled.body;
  ASSERT_EQ(page["data"].Size(), 1u) << polled.body;
  EXPECT_EQ(std::string(page["data"][0]["id"].GetString()), second.id);
  EXPECT_EQ(page["data"][0]["seq"].GetInt64(), second.seq);
  // Woken by A's commit, not by the end of its 20 s.
  EXPECT_LT(waited, seconds(10));

  // The key stored through A is a duplicate on B, answered with A's id and seq.
  Ingested duplicate = Post(client, b, "two-1");
  ASSERT_EQ(duplicate.status, 200) << duplicate.body;
  EXPECT_TRUE(duplicate.duplicate);
  EXPECT_EQ(duplicate.id, first.id);
  EXPECT_EQ(duplicate.seq, first.seq);
  // And the other way round.
  Ingested on_b = Post(client, b, "two-3");
  ASSERT_EQ(on_b.status, 200) << on_b.body;
  EXPECT_EQ(on_b.seq, second.seq + 1);
  Ingested on_a = Post(client, a, "two-3");
  EXPECT_TRUE(on_a.duplicate);
  EXPECT_EQ(on_a.id, on_b.id);
  EXPECT_EQ(QueryPg(url, "SELECT count(*) FROM events"), "3");
}

// A's attempt hangs at the sink when A is SIGKILLed; B, running beside it, sends the delivery
// again only once A's lease (timeout_ms + lease_margin_ms) has run out, and it is delivered.
TEST(PostgresNodeTest, ADeadNodesDeliveryIsTakenOverOnceItsLeaseRunsOut) {
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  SinkServer sink;
  std::atomic<int> requests{0};
  sink.SetHandler([&](const SinkRequest&) {
    SinkReply reply;
    reply.never_answer = ++requests == 1;  // the first attempt, A's, hangs
    return reply;
  });
  ASSERT_GT(sink.port(), 0);
  const std::string destinations =
      R"([{"name": "sink", "url": ")" + sink.Url("/hooks") + R"(", "timeout_ms": 1000}])";
  constexpr int64_t kLeaseMs = 1000 + 1000;  // timeout_ms + lease_margin_ms
  const std::string extra = R"(, "lease_margin_ms": 1000)";
  TempDir dir_a, dir_b;
  ServerProcess a(
      {"serve", "--config", dir_a.Write("config.json", NodeConfig(dir_a, url, extra, destinations))},
      dir_a.File("node.log"));
  ASSERT_TRUE(a.started()) << a.Log();
  HttpClient client;
  Ingested event = Post(client, a, "lease-1");
  ASSERT_EQ(event.status, 200) << event.body;
  // A claimed it (B is not running yet) and its attempt is in flight.
  ASSERT_TRUE(sink.WaitForCount(1, seconds(10))) << a.Log();
  ServerProcess b(
      {"serve", "--config", dir_b.Write("config.json", NodeConfig(dir_b, url, extra, destinations))},
      dir_b.File("node.log"));
  ASSERT_TRUE(b.started()) << b.Log();
  a.Signal(SIGKILL);

  ASSERT_TRUE(sink.WaitForCount(2, seconds(20))) << b.Log();
  ASSERT_TRUE(WaitFor([&] {
    return QueryPg(url, "SELECT status FROM deliveries") == "succeeded";
  })) << b.Log();
  std::vector<SinkRequest> received = sink.Requests();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].headers.at("webhook-id"), event.id);
  EXPECT_EQ(received[1].headers.at("webhook-id"), event.id);
  // Not before A's lease ran out (minus the time from A's claim to its request).
  EXPECT_GE(received[1].received_at_us - received[0].received_at_us, (kLeaseMs - 500) * 1000);
  EXPECT_EQ(QueryPg(url, "SELECT status FROM events"), "delivered");
  // A died before recording its attempt: only B's is there, and it succeeded.
  EXPECT_EQ(QueryPg(url, "SELECT count(*) FROM attempts"), "1");
  EXPECT_EQ(QueryPg(url, "SELECT outcome FROM attempts"), "success");
  // Delivered once: nothing more is sent.
  std::this_thread::sleep_for(milliseconds(kLeaseMs + 500));
  EXPECT_EQ(sink.Count(), 2u);
}

}  // namespace
}  // namespace hookvault::testing
