// The HTTP edge of the real binary (issue 14): API reads run off the reactor threads, a stop
// under load answers every stored event, X-Forwarded-For lines added by a proxy count, 501 for
// unknown methods and 405 for known ones a route does not take, and no trailing-slash aliases.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/raw_socket.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "edge-source-token-0123456789";
constexpr char kAdmin[] = "edge-admin-token-0123456789";

using Clock = std::chrono::steady_clock;

int StatusOf(const std::string& response) {
  return response.rfind("HTTP/1.", 0) == 0 && response.size() >= 12
             ? std::atoi(response.substr(9, 3).c_str())
             : 0;
}

// Returns the value of the response header `name` (as Pistache writes it), or "".
std::string HeaderOf(const std::string& response, const std::string& name) {
  size_t at = response.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  at += name.size() + 4;
  return response.substr(at, response.find("\r\n", at) - at);
}

// Sends `request` on a new connection and returns the response ("" when none came).
std::string Exchange(int port, const std::string& request, int timeout_ms = 10000) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  std::string response = SendAll(fd, request) ? ReadResponse(fd, timeout_ms) : "";
  close(fd);
  return response;
}

std::string IngestRequest(const std::string& source, const std::string& key,
                          const std::string& extra_headers = "") {
  std::string body = R"({"key":")" + key + R"("})";
  return "POST /webhooks/" + source + " HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n" +
         "x-auth-token: " + kToken + "\r\nContent-Type: application/json\r\nIdempotency-Key: " +
         key + "\r\n" + extra_headers + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

class EdgeTest : public ::testing::Test {
 protected:
  // Each start logs to its own file: the port is read from the log.
  void Start(int threads = 1, const std::string& log = "server.log") {
    std::string config = dir_.Write("config.json", R"({
      "listen": "127.0.0.1:0", "threads": )" + std::to_string(threads) + R"(,
      "query_threads": 1,
      "data_dir": ")" + dir_.path() + R"(",
      "log": {"level": "warn"},
      "trusted_proxies": ["127.0.0.1/32"],
      "sources": [
        {"name": "edge", "tokens": [")" + std::string(kToken) + R"("]},
        {"name": "fenced", "tokens": [")" + std::string(kToken) + R"("],
         "allow_ips": ["203.0.113.0/24"]}
      ],
      "api_tokens": [{"name": "admin", "token": ")" + std::string(kAdmin) + R"(",
                      "role": "admin"}]
    })");
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{"serve", "--config", config},
                                              dir_.File(log));
    ASSERT_TRUE(server_->started()) << server_->Log();
  }
  int port() const { return server_->port(); }
  std::string Db() const { return dir_.File("hookvault.db"); }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

// Finding 12: an unknown method got Pistache's 400; HTTP says 501. A known method that the path
// does not take stays 405 with Allow.
TEST_F(EdgeTest, UnknownMethodIs501AndAKnownOneNotTakenIs405) {
  Start();
  std::string brew = Exchange(port(), "BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(StatusOf(brew), 501) << brew;
  EXPECT_EQ(HeaderOf(brew, "Content-Type"), "application/problem+json") << brew;
  EXPECT_NE(brew.find("not-implemented"), std::string::npos) << brew;
  std::string put =
      Exchange(port(), "PUT /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(StatusOf(put), 405) << put;
  EXPECT_EQ(HeaderOf(put, "Allow"), "GET") << put;
  std::string del = Exchange(port(), "DELETE /webhooks/edge HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(StatusOf(del), 405) << del;
  EXPECT_EQ(HeaderOf(del, "Allow"), "POST") << del;
  EXPECT_EQ(StatusOf(Exchange(port(), "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")), 200);
}

// Finding 13: "/api/v1/events/" and "/healthz/" answered 200, as if the slash were not there.
TEST_F(EdgeTest, TrailingSlashIsNotFound) {
  Start();
  HttpClient client;
  const std::vector<std::pair<std::string, std::string>> admin = {
      {"Authorization", std::string("Bearer ") + kAdmin}};
  EXPECT_EQ(client.Request("GET", server_->Url("/healthz/")).status, 404);
  EXPECT_EQ(client.Request("GET", server_->Url("/api/v1/events/"), admin).status, 404);
  EXPECT_EQ(client.Request("GET", server_->Url("//api/v1/events"), admin).status, 404);
  EXPECT_EQ(client.Request("POST", server_->Url("/webhooks/edge/"),
                           {{"x-auth-token", kToken}, {"Content-Type", "application/json"}}, "{}")
                .status,
            404);
  EXPECT_EQ(client.Request("GET", server_->Url("/healthz")).status, 200);
  EXPECT_EQ(client.Request("GET", server_->Url("/api/v1/events"), admin).status, 200);
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM events"), 0);
}

// Finding 8: behind a proxy that adds its own X-Forwarded-For line after the client's (HAProxy),
// Pistache kept only the first line, the one the client wrote: a client could name an allowed
// address. The lines are joined in order, so the rightmost untrusted entry is the proxy's view
// of the client, for allow_ips and for the request log. Here the test is the trusted proxy
// (127.0.0.1).
TEST_F(EdgeTest, ForwardedForLineAddedByTheProxyIsTheOneThatCounts) {
  Start();
  // The client claims an allowed address; the proxy's line says where it really came from.
  std::string spoofed = Exchange(
      port(), IngestRequest("fenced", "spoofed",
                            "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.1\r\n"));
  EXPECT_EQ(StatusOf(spoofed), 403) << spoofed;
  // An allowed client behind the proxy, whose own header said something else.
  std::string allowed = Exchange(
      port(), IngestRequest("fenced", "allowed",
                            "X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 203.0.113.9\r\n"));
  EXPECT_EQ(StatusOf(allowed), 200) << allowed;
  EXPECT_EQ(QueryInt(Db(), "SELECT count(*) FROM events WHERE idempotency_key = 'spoofed'"), 0);
  // The request log (written through the writer, maybe after the answer) names the same address.
  std::string refused_addr, allowed_addr;
  for (int i = 0; i < 500; ++i) {
    refused_addr = QueryText(
        Db(), "SELECT remote_addr FROM request_log WHERE source = 'fenced' AND status = 403");
    allowed_addr = QueryText(
        Db(), "SELECT remote_addr FROM request_log WHERE source = 'fenced' AND status = 200");
    if (refused_addr != "<no row>" && allowed_addr != "<no row>") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(refused_addr, "198.51.100.1");
  EXPECT_EQ(allowed_addr, "203.0.113.9");
}

// Finding 4: REST queries ran on the reactor threads. With one reactor ("threads": 1), a slow
// read — /audit/verify over a chain of 3,000,000 rows, which hashes every row — must not hold
// up a webhook or /healthz: both are answered while the read is still running.
TEST_F(EdgeTest, SlowQueryDoesNotDelayIngestOnTheSameReactor) {
  Start();
  server_->Signal(SIGTERM);  // the database now exists, migrated
  {
    SQLite::Database db(Db(), SQLite::OPEN_READWRITE, 5000);
    // A chain that does not verify is scanned to its end all the same (first_bad is kept).
    db.exec(R"sql(
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)
      INSERT INTO audit_log (at, actor, role, action, target, matched, requeued, reason,
                             prev_hash, hash)
      SELECT i, 'test', 'admin', 'reprocess', '{}', 0, 0, '', 'x', 'y' FROM n)sql");
  }
  Start(1, "server2.log");
  int slow = ConnectLoopback(port());
  ASSERT_GE(slow, 0) << server_->Log();
  auto t0 = Clock::now();
  ASSERT_TRUE(SendAll(slow, std::string("GET /api/v1/audit/verify HTTP/1.1\r\nHost: t\r\n") +
                                "Authorization: Bearer " + kAdmin + "\r\n\r\n"));
  // Let the reactor hand the read over (or, without the pool, start running it itself).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  HttpClient client;
  HttpResult ingest = client.Request(
      "POST", server_->Url("/webhooks/edge"),
      {{"x-auth-token", kToken}, {"Content-Type", "application/json"}, {"Idempotency-Key", "k"}},
      "{}", 60000);
  HttpResult health = client.Request("GET", server_->Url("/healthz"), {}, "", 60000);
  // The read has not been answered yet: both answers above came while it ran.
  pollfd p{slow, POLLIN, 0};
  bool slow_answered_first = poll(&p, 1, 0) > 0;
  std::string verified = ReadResponse(slow, 120000);
  double verify_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  close(slow);
  std::cout << "[edge] /audit/verify over 3,000,000 rows took " << verify_seconds << " s"
            << std::endl;
  EXPECT_EQ(ingest.status, 200) << ingest.error;
  EXPECT_EQ(health.status, 200) << health.error;
  EXPECT_FALSE(slow_answered_first)
      << "the slow read was answered before the ingest and /healthz it should not delay";
  EXPECT_EQ(StatusOf(verified), 200) << verified;
  EXPECT_NE(verified.find("\"rows\":3000000"), std::string::npos) << verified.substr(0, 400);
}

// Finding 11: a stop waited a fixed 200 ms for answers to reach the reactors; under load an
// answer queued later was dropped: the event stored, the provider seeing a connection error (and
// retrying: a duplicate at best). Under load from many keep-alive clients, SIGTERM; afterwards no
// request whose event is stored may have ended without an answer. (On this machine the old
// fixed wait did not lose an answer in this test; HttpEndpointTest.ShutdownWritesEveryAnswerOwed
// shows the loss deterministically, with an answer sent 500 ms into the stop.)
TEST_F(EdgeTest, StopUnderLoadAnswersEveryStoredEvent) {
  Start(/*threads=*/2);
  constexpr int kClients = 32;
  std::mutex mu;
  std::map<std::string, int> outcome;  // key → status; 0: sent whole, no answer (guarded by mu)
  std::atomic<bool> stopped{false};
  std::vector<std::thread> clients;
  const int server_port = port();
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      int fd = -1;
      for (int i = 0;; ++i) {
        if (fd < 0) fd = ConnectLoopback(server_port);
        if (fd < 0) return;  // the server is gone
        std::string key = "load-" + std::to_string(c) + "-" + std::to_string(i);
        if (!SendAll(fd, IngestRequest("edge", key))) {
          close(fd);
          return;
        }
        std::string response = ReadResponse(fd, 30000);
        int status = StatusOf(response);
        {
          std::lock_guard<std::mutex> lock(mu);
          outcome[key] = status;
        }
        if (status == 0 || HeaderOf(response, "Connection") == "Close" || stopped.load()) {
          close(fd);
          fd = -1;
          if (status == 0 || stopped.load()) return;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(server_->Signal(SIGTERM), 0) << server_->Log();
  stopped = true;
  for (std::thread& t : clients) t.join();

  std::set<std::string> stored;
  {
    SQLite::Database db(Db(), SQLite::OPEN_READONLY, 5000);
    SQLite::Statement s(db, "SELECT idempotency_key FROM events");
    while (s.executeStep()) stored.insert(s.getColumn(0).getString());
  }
  int ok = 0, refused = 0, unanswered = 0, stored_unanswered = 0, acked_missing = 0;
  std::string example;
  for (const auto& [key, status] : outcome) {
    if (status == 200) ++ok;
    if (status == 503) ++refused;
    if (status == 0) ++unanswered;
    if (status == 0 && stored.count(key)) {
      ++stored_unanswered;
      if (example.empty()) example = key;
    }
    if (status == 200 && !stored.count(key)) ++acked_missing;
  }
  std::cout << "[edge] stop under load: " << outcome.size() << " requests, " << ok << " 200, "
            << refused << " 503, " << unanswered << " unanswered (" << stored_unanswered
            << " of them stored), " << stored.size() << " events stored" << std::endl;
  EXPECT_GT(ok, 0);
  EXPECT_EQ(stored_unanswered, 0) << "e.g. " << example << " was stored but never answered";
  EXPECT_EQ(acked_missing, 0);
}

}  // namespace
}  // namespace hookvault::testing
