// Retention and the pull consumers, end to end below HTTP: the real Retention driver and
// SqliteRetentionStore behind the real GroupCommitWriter, and the real FeedHandler reading the
// same SQLite file, with an injected clock that ages the data. Retention keeps what a consumer
// that still reads has not acknowledged; a consumer silent for longer than
// max_consumer_lag_days loses that hold, and its next read is a 410 naming the first seq it can
// still get instead of a silent skip.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "api/feed.h"
#include "api/feed_waiters.h"
#include "server/retention.h"
#include "storage/group_commit_writer.h"
#include "storage/operator_port.h"
#include "storage/sqlite/query_store.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::server {
namespace {

using hookvault::testing::QueryInt;

constexpr int64_t kDay = 86'400'000'000LL;
constexpr int64_t kNow = 1'790'000'000'000'000LL;

class ConsumerRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_);
    ASSERT_NE(stores_, nullptr);
  }

  void TearDown() override {
    if (waiters_) waiters_->Stop();
  }

  // Stores `n` events received `age` ago, with no destination (so they are `delivered`), before
  // the writer starts.
  void AddEvents(int n, int64_t age) {
    std::vector<storage::IngestRecord> batch;
    for (int i = 0; i < n; ++i) {
      storage::NewEvent e;
      e.source = "s";
      e.idempotency_key = "k" + std::to_string(++keys_);
      e.received_at = clock_.NowMicros() - age;
      e.headers_json = "{}";
      e.body = "{\"n\":" + std::to_string(keys_) + "}";
      storage::RequestLogEntry log;
      log.received_at = e.received_at;
      log.source = "s";
      log.status = 200;
      log.reason = "stored";
      batch.push_back({std::move(e), std::move(log)});
    }
    ASSERT_TRUE(stores_->events->Append(batch).ok());
  }

  // Starts the writer, the readers and the handler; `consumers` as the config lists them.
  void Start(std::vector<std::string> consumers) {
    consumers_ = consumers;
    writer_ =
        std::make_unique<storage::GroupCommitWriter>(*stores_->events, storage::WriterOptions{});
    auto queries = storage::SqliteQueryStore::Open({.path = path_}, 2);
    ASSERT_TRUE(queries.ok()) << queries.status().ToString();
    queries_ = std::move(queries).value();
    waiters_ = std::make_unique<api::FeedWaiters>(*queries_, 8);
    operations_ = std::make_unique<storage::SerializedOperatorPort>(
        *writer_, *stores_->operations, *queries_, clock_, nullptr);
    feed_ = std::make_unique<api::FeedHandler>(*queries_, *waiters_, *operations_, consumers);
  }

  storage::StatusOr<RetentionRound> Round() {
    Retention retention(ages_, consumers_, *writer_, *stores_->retention, clock_);
    return retention.RunRound();
  }

  api::ApiResponse Read(const std::string& consumer) {
    api::ApiRequest req;
    req.method = "GET";
    req.path = "/api/v1/consumers/" + consumer + "/events";
    req.query = {{"limit", "100"}};
    api::ApiResponse out;
    out.status = 0;
    feed_->ConsumerEvents(req, Owner(consumer), consumer,
                          [&out](api::ApiResponse r) { out = std::move(r); });
    return out;  // a read that does not wait answers on the calling thread
  }

  api::ApiResponse Ack(const std::string& consumer, int64_t seq) {
    api::ApiRequest req;
    req.method = "POST";
    req.path = "/api/v1/consumers/" + consumer + "/ack";
    req.headers = {{"content-type", "application/json"}};
    req.body = "{\"seq\": " + std::to_string(seq) + "}";
    auto done = std::make_shared<std::promise<api::ApiResponse>>();
    feed_->AckConsumer(req, Owner(consumer), consumer,
                       [done](api::ApiResponse r) { done->set_value(std::move(r)); });
    return done->get_future().get();
  }

  // The seqs of a 200 page.
  static std::vector<int64_t> Seqs(const api::ApiResponse& r) {
    std::vector<int64_t> seqs;
    rapidjson::Document d;
    d.Parse(r.body.c_str(), r.body.size());
    if (!d.IsObject() || !d.HasMember("data")) return seqs;
    for (const auto& e : d["data"].GetArray()) seqs.push_back(e["seq"].GetInt64());
    return seqs;
  }

  static api::Principal Owner(const std::string& consumer) {
    return api::Principal{consumer, api::Role::kConsumer, {consumer}};
  }

  int64_t Count(const std::string& sql) { return QueryInt(path_, sql); }

  RetentionConfig ages_{.delivered_days = 30,
                        .failed_days = 90,
                        .attempts_days = 90,
                        .request_log_days = 14,
                        .idempotency_days = 37,
                        .max_consumer_lag_days = 7};
  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_{kNow};
  int keys_ = 0;
  std::vector<std::string> consumers_;
  std::unique_ptr<storage::SqliteStores> stores_;
  std::unique_ptr<storage::GroupCommitWriter> writer_;
  std::unique_ptr<storage::SqliteQueryStore> queries_;
  std::unique_ptr<api::FeedWaiters> waiters_;
  std::unique_ptr<storage::SerializedOperatorPort> operations_;
  std::unique_ptr<api::FeedHandler> feed_;
};

TEST_F(ConsumerRetentionTest, UnreadEventsStayWhileTheConsumerReadsAndA410FollowsWhenItStops) {
  AddEvents(10, 40 * kDay);  // seq 1..10, all past delivered_days
  Start({"warehouse"});
  clock_.Set(kNow - 1 * kDay);
  ASSERT_EQ(Ack("warehouse", 3).status, 200);
  clock_.Set(kNow);

  // warehouse acknowledged a day ago: what it has not read stays, whatever its age.
  auto round = Round();
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  EXPECT_EQ(round->delivered_events, 3);
  EXPECT_EQ(round->max_event_seq, 3);
  EXPECT_TRUE(round->lapsed_consumers.empty());
  EXPECT_EQ(Count("SELECT min(seq) FROM events"), 4);
  api::ApiResponse r = Read("warehouse");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Seqs(r), (std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10}));

  // Silent for longer than max_consumer_lag_days: it holds nothing back any more.
  clock_.Set(kNow + 7 * kDay);
  round = Round();
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  EXPECT_EQ(round->delivered_events, 7);
  EXPECT_EQ(round->lapsed_consumers, std::vector<std::string>{"warehouse"});
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 0);

  // Its next read says so, naming the first seq it can still get (none left: the next to come).
  r = Read("warehouse");
  ASSERT_EQ(r.status, 410) << r.body;
  EXPECT_EQ(r.content_type, "application/problem+json");
  rapidjson::Document d;
  d.Parse(r.body.c_str(), r.body.size());
  ASSERT_TRUE(d.IsObject()) << r.body;
  EXPECT_EQ(std::string(d["type"].GetString()), "urn:hookvault:problem:gone");
  EXPECT_EQ(d["cursor"].GetInt64(), 3);
  EXPECT_EQ(d["first_seq"].GetInt64(), 11);
  // A new event does not hide the hole.
  AddEvents(1, 0);
  r = Read("warehouse");
  ASSERT_EQ(r.status, 410) << r.body;
  d.Parse(r.body.c_str(), r.body.size());
  EXPECT_EQ(d["first_seq"].GetInt64(), 11);
  // Acknowledging first_seq - 1 goes on from there.
  ASSERT_EQ(Ack("warehouse", 10).status, 200);
  r = Read("warehouse");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Seqs(r), std::vector<int64_t>{11});
}

TEST_F(ConsumerRetentionTest, AConsumerThatNeverAckedHoldsEventsFromWhenItWasFirstSeen) {
  AddEvents(5, 40 * kDay);
  Start({"fresh", "warehouse"});
  ASSERT_EQ(Ack("warehouse", 5).status, 200);
  auto round = Round();
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  EXPECT_EQ(round->delivered_events, 0);  // "fresh" has read nothing yet
  EXPECT_EQ(Count("SELECT cursor FROM consumers WHERE name = 'fresh'"), 0);
  EXPECT_EQ(Count("SELECT updated_at FROM consumers WHERE name = 'fresh'"), kNow);
  ASSERT_EQ(Read("fresh").status, 200);

  clock_.Set(kNow + 8 * kDay);
  ASSERT_EQ(Ack("warehouse", 5).status, 200);  // warehouse still reads; fresh never started
  round = Round();
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  EXPECT_EQ(round->delivered_events, 5);
  EXPECT_EQ(round->lapsed_consumers, std::vector<std::string>{"fresh"});
  api::ApiResponse r = Read("fresh");
  EXPECT_EQ(r.status, 410) << r.body;
  EXPECT_EQ(Read("warehouse").status, 200);  // nothing it had not read went
}

// seq is gap-free, so a consumer's page stops before a pruned seq and the next read is the 410.
TEST_F(ConsumerRetentionTest, APageStopsBeforeAGapAndTheNextReadIsA410) {
  AddEvents(6, 0);
  Start({"warehouse"});
  {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM events WHERE seq IN (3, 4)");  // as retention would
  }
  api::ApiResponse r = Read("warehouse");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Seqs(r), (std::vector<int64_t>{1, 2}));
  ASSERT_EQ(Ack("warehouse", 2).status, 200);
  r = Read("warehouse");
  ASSERT_EQ(r.status, 410) << r.body;
  rapidjson::Document d;
  d.Parse(r.body.c_str(), r.body.size());
  EXPECT_EQ(d["cursor"].GetInt64(), 2);
  EXPECT_EQ(d["first_seq"].GetInt64(), 5);
  ASSERT_EQ(Ack("warehouse", 4).status, 200);
  r = Read("warehouse");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Seqs(r), (std::vector<int64_t>{5, 6}));
}

}  // namespace
}  // namespace hookvault::server
