// Backends for integration tests that must hold on either store: the shared suite
// (tests/integration/backend_*_test.cc) runs each TEST_P once on SQLite (the server's data_dir,
// nothing extra) and once on PostgreSQL (a fresh migrated database from PostgresServer, named
// in the config's "postgres" key). It checks everything through HTTP only, so it is the same
// test on both.
//
//   class IngestSuite : public BackendServerTest {};
//   TEST_P(IngestSuite, X) { Start(R"("sources": [...])"); ... }
//   INSTANTIATE_TEST_SUITE_P(Backends, IngestSuite, ::testing::ValuesIn(AllBackends()),
//                            BackendTestName);   // Backends/IngestSuite.X/sqlite, …/postgres
#ifndef HOOKVAULT_TESTS_TESTING_BACKEND_H_
#define HOOKVAULT_TESTS_TESTING_BACKEND_H_

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {

enum class Backend { kSqlite, kPostgres };

// Returns "sqlite" or "postgres".
const char* BackendName(Backend backend);
// Returns every backend, SQLite first.
const std::vector<Backend>& AllBackends();
// Names a parameterised test after its backend (the name generator of INSTANTIATE_TEST_SUITE_P).
std::string BackendTestName(const ::testing::TestParamInfo<Backend>& info);
// Prints the backend's name in gtest's messages ("GetParam() = postgres").
void PrintTo(Backend backend, std::ostream* os);

// The store one test's server runs on. For SQLite there is nothing to prepare (the server
// creates its file in data_dir); for PostgreSQL it is a fresh database with every migration
// applied, on the test process's PostgresServer.
//
// Thread-safety: const methods may be called from any thread.
class BackendStore {
 public:
  // Prepares the store. If PostgreSQL cannot be had, ok() is false and a test failure is
  // recorded: a test on PostgreSQL fails, it never skips.
  explicit BackendStore(Backend backend);
  BackendStore(const BackendStore&) = delete;
  BackendStore& operator=(const BackendStore&) = delete;

  Backend backend() const { return backend_; }
  bool ok() const { return backend_ == Backend::kSqlite || !url_.empty(); }
  // The PostgreSQL database's URL; empty for SQLite.
  const std::string& url() const { return url_; }
  // Returns the JSON members that select this store, for the root of a server config, each
  // followed by a comma: "" for SQLite, `"postgres": {"url": "…"},` for PostgreSQL.
  std::string ConfigMembers() const;

 private:
  Backend backend_;
  std::string url_;
};

// A fixture for the shared suite: one server (the real binary, port 0) on the test's backend,
// an HTTP client, and helpers that speak to it. TearDown stops the server with SIGTERM and
// expects exit 0, so a clean stop is checked on both backends (and a sanitizer report in the
// binary fails the test that started it).
//
// Thread-safety: the fixture's methods run on the test's thread, except Url(), server() and
// the static helpers, which any thread may call while the server runs.
class BackendServerTest : public ::testing::TestWithParam<Backend> {
 protected:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  void SetUp() override;
  void TearDown() override;

  // Starts the server with a config of listen, data_dir, log, the backend's members and
  // `members` (the rest of the config's root: sources, destinations, api_tokens, …; no
  // trailing comma). Asserts that it started (use ASSERT_NO_FATAL_FAILURE(Start(...))).
  void Start(const std::string& members);
  // Stops the running server with SIGTERM and expects exit 0.
  void Stop();

  Backend backend() const { return GetParam(); }
  const ServerProcess& server() const { return *server_; }
  std::string Url(const std::string& path) const { return server_->Url(path); }

  // Requests on the fixture's client (the test's thread only). `token` "" sends no
  // Authorization header.
  HttpResult Get(const std::string& path, const std::string& token, long timeout_ms = 10000);
  HttpResult PostJson(const std::string& path, const std::string& token, const std::string& body);
  // Posts `body` to /webhooks/{source} with x-auth-token `token` (none if empty), `extra`
  // headers and Content-Type application/json unless `extra` names one.
  HttpResult Ingest(const std::string& source, const std::string& token, const std::string& body,
                    const Headers& extra = {});

  // Parses JSON text (a document that is not an object or array when it does not parse).
  static rapidjson::Document Json(const std::string& text);
  // Polls `condition` every 20 ms until it holds or `seconds` pass; returns the last result.
  static bool WaitFor(const std::function<bool()>& condition, int seconds = 20);

  // Where the test keeps its files (config, server log).
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::unique_ptr<BackendStore> store_;
  std::unique_ptr<ServerProcess> server_;
  int starts_ = 0;
  HttpClient client_;
};

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_BACKEND_H_
