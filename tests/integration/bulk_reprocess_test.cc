// A bulk reprocess of many deliveries through the real binary: the answer comes when every
// chunk is written, a second bulk run meanwhile is refused with 409, dry runs and ingest are
// answered meanwhile, and the audit log holds the run's start and its totals.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "storage/sqlite/database.h"
#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/seed_deliveries.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kSourceToken[] = "bulk-source-token-0123456789";
constexpr char kOperator[] = "bulk-operator-token-0123456789";
constexpr int64_t kSeeded = 50'000;

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

class BulkReprocessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The deliveries belong to a destination no longer configured, so that once requeued they
    // wait without the scheduler sending 50,000 requests.
    auto migrated = storage::MigrateDatabase(Db());
    ASSERT_TRUE(migrated.ok()) << migrated.status().ToString();
    ASSERT_EQ(SeedFailedDeliveries(Db(), kSeeded, "seed", "retired", 1'790'000'000'000'000),
              kSeeded);
    // clang-format off
    std::string config = std::string(R"({"listen": "127.0.0.1:0", "data_dir": ")") +
                         dir_.path() + R"(",
      "sources": [{"name": "pms", "tokens": [")" + kSourceToken + R"("]}],
      "destinations": [{"name": "good", "url": "http://127.0.0.1:9/unused",
                        "events": ["never.*"]}],
      "api_tokens": [{"name": "ops", "token": ")" + kOperator + R"(", "role": "operator"}]})";
    // clang-format on
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"serve", "--config", dir_.Write("config.json", config)},
        dir_.File("server.log"));
    ASSERT_TRUE(server_->started()) << server_->Log();
  }

  HttpResult Reprocess(HttpClient& client, const std::string& body) {
    return client.Request("POST", server_->Url("/api/v1/reprocess"),
                          {{"Authorization", std::string("Bearer ") + kOperator},
                           {"Content-Type", "application/json"}},
                          body, /*timeout_ms=*/120'000);
  }

  std::string Db() const { return dir_.File("hookvault.db"); }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  HttpClient client_;
};

TEST_F(BulkReprocessTest, OneBulkRunAtATimeAnsweredWhenEveryChunkIsWritten) {
  const std::string body = R"({"destination": "retired", "reason": "retired for good"})";
  std::future<HttpResult> first = std::async(std::launch::async, [&] {
    HttpClient client;
    return Reprocess(client, body);
  });
  // Under way once its first chunk committed with the "_started" audit row.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (QueryInt(Db(), "SELECT count(*) FROM audit_log WHERE action = 'reprocess_bulk_started'") ==
             0 &&
         first.wait_for(std::chrono::milliseconds(2)) != std::future_status::ready &&
         std::chrono::steady_clock::now() < deadline) {
  }
  ASSERT_EQ(first.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the run answered before its start was audited (or before this test saw it)";

  HttpResult second = Reprocess(client_, body);
  EXPECT_EQ(second.status, 409) << second.body;
  EXPECT_EQ(second.headers["content-type"], "application/problem+json");
  EXPECT_NE(second.body.find("already running"), std::string::npos) << second.body;
  // Meanwhile a dry run (a read) and ingest are answered.
  HttpResult dry = Reprocess(client_, R"({"destination": "retired", "dry_run": true})");
  EXPECT_EQ(dry.status, 200) << dry.body;
  HttpResult ingest = client_.Request(
      "POST", server_->Url("/webhooks/pms"),
      {{"x-auth-token", kSourceToken}, {"Content-Type", "application/json"}}, R"({"n": 1})");
  EXPECT_EQ(ingest.status, 200) << ingest.body;

  HttpResult done = first.get();
  ASSERT_EQ(done.status, 200) << done.body << server_->Log();
  rapidjson::Document d = Json(done.body);
  EXPECT_EQ(d["matched"].GetInt64(), kSeeded);
  EXPECT_EQ(d["requeued"].GetInt64(), kSeeded);
  EXPECT_FALSE(d["dry_run"].GetBool());
  EXPECT_EQ(QueryInt(Db(),
                     "SELECT count(*) FROM deliveries WHERE destination = 'retired' AND "
                     "status = 'pending'"),
            kSeeded);
  EXPECT_EQ(QueryText(Db(),
                      "SELECT group_concat(action || ' ' || requeued, ', ') FROM "
                      "(SELECT * FROM audit_log WHERE target NOT LIKE '%dry_run\":true%' "
                      "ORDER BY id)"),
            "reprocess_bulk_started 0, reprocess_bulk 50000");
  HttpResult verify = client_.Request("GET", server_->Url("/api/v1/audit/verify"),
                                      {{"Authorization", std::string("Bearer ") + kOperator}});
  EXPECT_EQ(Json(verify.body)["ok"].GetBool(), true) << verify.body;

  // Once answered, the next bulk run is accepted; nothing is failed any more.
  HttpResult again = Reprocess(client_, body);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Json(again.body)["matched"].GetInt64(), 0);
}

}  // namespace
}  // namespace hookvault::testing
