#include "tests/testing/backend.h"

#include <signal.h>
#include <strings.h>

#include <thread>

#include "tests/testing/postgres_server.h"

namespace hookvault::testing {

const char* BackendName(Backend backend) {
  return backend == Backend::kSqlite ? "sqlite" : "postgres";
}

const std::vector<Backend>& AllBackends() {
  static const std::vector<Backend> kAll = {Backend::kSqlite, Backend::kPostgres};
  return kAll;
}

std::string BackendTestName(const ::testing::TestParamInfo<Backend>& info) {
  return BackendName(info.param);
}

void PrintTo(Backend backend, std::ostream* os) { *os << BackendName(backend); }

BackendStore::BackendStore(Backend backend) : backend_(backend) {
  if (backend_ != Backend::kPostgres) return;
  // Shared() and CreateDatabase() record the failure themselves when they cannot.
  if (PostgresServer* server = PostgresServer::Shared()) url_ = server->CreateDatabase();
}

std::string BackendStore::ConfigMembers() const {
  if (backend_ == Backend::kSqlite) return "";
  // A URL never needs JSON escaping here: PostgresServer builds it from host, port and a
  // generated database name.
  return R"("postgres": {"url": ")" + url_ + R"("},)";
}

void BackendServerTest::SetUp() {
  store_ = std::make_unique<BackendStore>(GetParam());
  ASSERT_TRUE(store_->ok()) << "no " << BackendName(GetParam()) << " store for this test";
}

void BackendServerTest::TearDown() {
  if (server_ && server_->pid() > 0) Stop();
}

void BackendServerTest::Start(const std::string& members) {
  ASSERT_TRUE(store_ && store_->ok());
  std::string config = R"({"listen": "127.0.0.1:0", "threads": 2, "data_dir": ")" + dir_.path() +
                       R"(", "log": {"level": "info"}, )" + store_->ConfigMembers() + members +
                       "}";
  ++starts_;
  std::string suffix = starts_ == 1 ? "" : "-" + std::to_string(starts_);
  // A log per start: ServerProcess learns the port from the first "listening" line in it.
  server_ = std::make_unique<ServerProcess>(
      std::vector<std::string>{"serve", "--config",
                               dir_.Write("config" + suffix + ".json", config)},
      dir_.File("server" + suffix + ".log"));
  ASSERT_TRUE(server_->started()) << BackendName(GetParam()) << " server did not start:\n"
                                  << server_->Log();
}

void BackendServerTest::Stop() {
  ASSERT_TRUE(server_);
  EXPECT_EQ(server_->Signal(SIGTERM), 0)
      << BackendName(GetParam()) << " server did not stop cleanly:\n"
      << server_->Log();
}

HttpResult BackendServerTest::Get(const std::string& path, const std::string& token,
                                  long timeout_ms) {
  Headers headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  return client_.Request("GET", Url(path), headers, "", timeout_ms);
}

HttpResult BackendServerTest::PostJson(const std::string& path, const std::string& token,
                                       const std::string& body) {
  Headers headers = {{"Content-Type", "application/json"}};
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  return client_.Request("POST", Url(path), headers, body);
}

HttpResult BackendServerTest::Ingest(const std::string& source, const std::string& token,
                                     const std::string& body, const Headers& extra) {
  Headers headers;
  bool typed = false;  // `extra` names its own Content-Type
  for (const auto& [name, value] : extra) typed |= strcasecmp(name.c_str(), "content-type") == 0;
  if (!typed) headers.emplace_back("Content-Type", "application/json");
  if (!token.empty()) headers.emplace_back("x-auth-token", token);
  headers.insert(headers.end(), extra.begin(), extra.end());
  return client_.Request("POST", Url("/webhooks/" + source), headers, body);
}

rapidjson::Document BackendServerTest::Json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

bool BackendServerTest::WaitFor(const std::function<bool()>& condition, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace hookvault::testing
