// Every page is bounded in bytes as well as in rows: the real handlers (request log, feed,
// consumer events) over the real SqliteQueryStore on a real SQLite file. 20 rows of 1 MiB with
// limit=1000 come in pages of about storage::kMaxPageBytes, and following the next cursor (or
// next_after) returns every row once.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <future>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/feed.h"
#include "api/feed_waiters.h"
#include "api/requests.h"
#include "storage/group_commit_writer.h"
#include "storage/operator_port.h"
#include "storage/sqlite/query_store.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::api {
namespace {

constexpr size_t kMiB = 1 << 20;
constexpr int kRows = 20;
// A page may pass the budget by the row that reached it (and JSON's own bytes).
constexpr size_t kMostPageBytes = storage::kMaxPageBytes + 6 * kMiB + 64 * 1024;

class PageBudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = testing::OpenMigratedStore(dir_.File("hookvault.db"), clock_);
    ASSERT_NE(stores_, nullptr);
  }

  void OpenReaders() {
    auto queries = storage::SqliteQueryStore::Open({.path = dir_.File("hookvault.db")}, 2);
    ASSERT_TRUE(queries.ok()) << queries.status().ToString();
    queries_ = std::move(queries).value();
  }

  // Stores one rejected request whose kept body is `body`.
  void Reject(std::string body) {
    storage::IngestRecord record;
    storage::RequestLogEntry log;
    log.received_at = clock_.NowMicros();
    log.source = "pms";
    log.remote_addr = "192.0.2.1";
    log.status = 401;
    log.reason = "unauthenticated";
    log.body_bytes = static_cast<int64_t>(body.size());
    log.body = std::move(body);
    record.log = std::move(log);
    ASSERT_TRUE(stores_->events->Append(std::span<const storage::IngestRecord>(&record, 1)).ok());
  }

  // Stores one event whose JSON payload is about `bytes` long.
  void AddEvent(size_t bytes) {
    storage::IngestRecord record;
    storage::NewEvent event;
    event.source = "pms";
    event.event_type = "x";
    event.idempotency_key = "k" + std::to_string(++keys_);
    event.received_at = clock_.NowMicros();
    event.remote_addr = "192.0.2.1";
    event.headers_json = "{}";
    event.body = "{\"pad\":\"" + std::string(bytes, 'p') + "\"}";
    record.event = std::move(event);
    ASSERT_TRUE(stores_->events->Append(std::span<const storage::IngestRecord>(&record, 1)).ok());
  }

  static ApiRequest Get(const std::string& path, HeaderList query) {
    ApiRequest req;
    req.method = "GET";
    req.path = path;
    req.query = std::move(query);
    return req;
  }

  // Pages through the request log with limit=1000; returns the ids seen, checking each page.
  std::vector<int64_t> AllRequests(int* pages) {
    RequestsHandler handler(*queries_);
    std::vector<int64_t> ids;
    std::string cursor;
    for (*pages = 0; *pages <= kRows; ++*pages) {
      HeaderList q = {{"limit", "1000"}};
      if (!cursor.empty()) q.emplace_back("cursor", cursor);
      ApiResponse r;
      handler.ListRequests(Get("/api/v1/requests", q), [&r](ApiResponse a) { r = std::move(a); });
      EXPECT_EQ(r.status, 200) << r.body.substr(0, 300);
      EXPECT_LE(r.body.size(), kMostPageBytes);
      rapidjson::Document d;
      d.Parse(r.body.c_str(), r.body.size());
      if (!d.IsObject()) {
        ADD_FAILURE() << "not JSON";
        break;
      }
      for (const auto& row : d["data"].GetArray()) ids.push_back(row["id"].GetInt64());
      if (d["next_cursor"].IsNull()) break;
      EXPECT_GT(d["data"].Size(), 0u);
      cursor = d["next_cursor"].GetString();
    }
    return ids;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<storage::SqliteStores> stores_;
  std::unique_ptr<storage::SqliteQueryStore> queries_;
  int keys_ = 0;
};

TEST_F(PageBudgetTest, RequestLogPagesOfMegabyteBodiesStayUnderTheBudgetAndPageThroughAll) {
  for (int i = 0; i < kRows; ++i) Reject(std::string(kMiB, 'b'));
  OpenReaders();
  int pages = 0;
  std::vector<int64_t> ids = AllRequests(&pages);
  EXPECT_GT(pages, 3);  // not one 20 MiB page
  ASSERT_EQ(ids.size(), static_cast<size_t>(kRows));
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), ids.size());
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i], ids[i - 1]);  // newest first
}

// Rendered JSON can be much larger than what is stored (a control byte is six: \u0001): the
// page also stops when the rendered body reaches the budget, though the store read more.
TEST_F(PageBudgetTest, ARenderedPageStopsAtTheBudgetToo) {
  for (int i = 0; i < kRows; ++i) Reject(std::string(200 * 1024, '\x01'));
  OpenReaders();
  int pages = 0;
  std::vector<int64_t> ids = AllRequests(&pages);
  EXPECT_GT(pages, 1);
  ASSERT_EQ(ids.size(), static_cast<size_t>(kRows));
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), ids.size());
}

TEST_F(PageBudgetTest, FeedAndConsumerPagesOfMegabytePayloadsStayUnderTheBudgetAndPageThroughAll) {
  for (int i = 0; i < kRows; ++i) AddEvent(kMiB);
  OpenReaders();
  storage::GroupCommitWriter writer(*stores_->events, storage::WriterOptions{});
  storage::SerializedOperatorPort operations(writer, *stores_->operations, *queries_, clock_,
                                             nullptr);
  FeedWaiters waiters(*queries_, 4);
  FeedHandler feed(*queries_, waiters, operations, {"warehouse"});
  Principal warehouse{"warehouse", Role::kConsumer, {"warehouse"}};

  // The feed, by next_after.
  std::vector<int64_t> seqs;
  int64_t after = 0;
  int pages = 0;
  for (; pages <= kRows; ++pages) {
    ApiResponse r;
    feed.Feed(Get("/api/v1/feed", {{"after", std::to_string(after)}, {"limit", "1000"}}),
              [&r](ApiResponse a) { r = std::move(a); });
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
    EXPECT_LE(r.body.size(), kMostPageBytes);
    rapidjson::Document d;
    d.Parse(r.body.c_str(), r.body.size());
    ASSERT_TRUE(d.IsObject());
    if (d["data"].Size() == 0) break;
    for (const auto& e : d["data"].GetArray()) seqs.push_back(e["seq"].GetInt64());
    after = d["next_after"].GetInt64();
  }
  EXPECT_GT(pages, 3);
  ASSERT_EQ(seqs.size(), static_cast<size_t>(kRows));
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], static_cast<int64_t>(i + 1));

  // A consumer's events, by its cursor.
  seqs.clear();
  for (pages = 0; pages <= kRows; ++pages) {
    ApiResponse r;
    feed.ConsumerEvents(Get("/api/v1/consumers/warehouse/events", {{"limit", "1000"}}), warehouse,
                        "warehouse", [&r](ApiResponse a) { r = std::move(a); });
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
    EXPECT_LE(r.body.size(), kMostPageBytes);
    rapidjson::Document d;
    d.Parse(r.body.c_str(), r.body.size());
    ASSERT_TRUE(d.IsObject());
    if (d["data"].Size() == 0) break;
    for (const auto& e : d["data"].GetArray()) seqs.push_back(e["seq"].GetInt64());
    ApiRequest ack = Get("/api/v1/consumers/warehouse/ack", {});
    ack.method = "POST";
    ack.headers = {{"content-type", "application/json"}};
    ack.body = "{\"seq\": " + std::to_string(seqs.back()) + "}";
    std::promise<ApiResponse> acked;
    feed.AckConsumer(ack, warehouse, "warehouse",
                     [&acked](ApiResponse a) { acked.set_value(std::move(a)); });
    ASSERT_EQ(acked.get_future().get().status, 200);
  }
  EXPECT_GT(pages, 3);
  ASSERT_EQ(seqs.size(), static_cast<size_t>(kRows));
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], static_cast<int64_t>(i + 1));
  waiters.Stop();
}

}  // namespace
}  // namespace hookvault::api
