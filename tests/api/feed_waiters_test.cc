// The feed and its parked long-polls, on a real database with the real migrations.
#include "api/feed_waiters.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "storage/sqlite/query_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::api {
namespace {

using std::chrono::milliseconds;

storage::FeedQuery Query(int64_t after, int limit, std::optional<std::string> source = {}) {
  storage::FeedQuery q;
  q.after_seq = after;
  q.limit = limit;
  q.source = std::move(source);
  return q;
}
using std::chrono::steady_clock;

class FeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = testing::OpenMigratedStore(dir_.File("hookvault.db"), clock_);
    ASSERT_NE(stores_, nullptr);
    auto queries = storage::SqliteQueryStore::Open({.path = dir_.File("hookvault.db")}, 2);
    ASSERT_TRUE(queries.ok()) << queries.status().ToString();
    queries_ = std::move(queries).value();
  }

  // Stores one event and returns its seq.
  int64_t Append(const std::string& source, const std::string& type) {
    storage::IngestRecord record;
    storage::NewEvent event;
    event.source = source;
    event.event_type = type;
    event.idempotency_key = "k" + std::to_string(++keys_);
    event.received_at = clock_.NowMicros();
    event.remote_addr = "127.0.0.1";
    event.headers_json = "{}";
    event.body = "{\"n\":" + std::to_string(keys_) + "}";
    record.event = std::move(event);
    auto results = stores_->events->Append(std::span<const storage::IngestRecord>(&record, 1));
    EXPECT_TRUE(results.ok());
    return results.ok() ? (*results)[0]->seq : 0;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<storage::SqliteStores> stores_;
  std::unique_ptr<storage::SqliteQueryStore> queries_;
  int keys_ = 0;
};

TEST_F(FeedTest, PagesAscendAndAFilteredEndMovesPastWhatDidNotMatch) {
  int64_t a = Append("pms", "x");
  int64_t b = Append("crm", "x");
  int64_t c = Append("pms", "y");
  auto page = ReadFeed(*queries_, Query(0, 2));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->rows.size(), 2u);
  EXPECT_EQ(page->rows[0].seq, a);
  EXPECT_EQ(page->rows[1].seq, b);
  EXPECT_EQ(page->rows[0].body, "{\"n\":1}");
  EXPECT_EQ(page->next_after, b);  // a full page: more may follow right after it

  page = ReadFeed(*queries_, Query(0, 10, "crm"));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->rows.size(), 1u);
  EXPECT_EQ(page->next_after, c);  // c did not match, and nothing after it exists yet

  page = ReadFeed(*queries_, Query(c, 10));
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->rows.empty());
  EXPECT_EQ(page->next_after, c);
}

TEST_F(FeedTest, AParkedPollIsAnsweredByTheNextMatchingCommit) {
  FeedWaiters waiters(*queries_, 10);
  int64_t first = Append("pms", "x");
  std::promise<storage::StatusOr<FeedPage>> answered;
  auto start = steady_clock::now();
  ASSERT_TRUE(waiters
                  .Park(Query(first, 10, "pms"), milliseconds(10000),
                        [&](storage::StatusOr<FeedPage> p) { answered.set_value(std::move(p)); })
                  .ok());
  auto future = answered.get_future();
  // An event that does not match wakes nobody.
  Append("crm", "x");
  waiters.Notify();
  EXPECT_EQ(future.wait_for(milliseconds(300)), std::future_status::timeout);
  EXPECT_EQ(waiters.waiting(), 1u);
  int64_t match = Append("pms", "x");
  waiters.Notify();
  ASSERT_EQ(future.wait_for(milliseconds(2000)), std::future_status::ready);
  auto page = future.get();
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->rows.size(), 1u);
  EXPECT_EQ(page->rows[0].seq, match);
  EXPECT_LT(steady_clock::now() - start, milliseconds(5000));
  EXPECT_EQ(waiters.waiting(), 0u);
}

// A commit between the handler's empty read and Park() notifies nobody; Park looks once more.
TEST_F(FeedTest, AnEventCommittedJustBeforeParkIsNotMissed) {
  FeedWaiters waiters(*queries_, 10);
  int64_t seq = Append("pms", "x");  // no Notify()
  std::promise<storage::StatusOr<FeedPage>> answered;
  ASSERT_TRUE(waiters
                  .Park(Query(0, 10), milliseconds(10000),
                        [&](storage::StatusOr<FeedPage> p) { answered.set_value(std::move(p)); })
                  .ok());
  auto future = answered.get_future();
  ASSERT_EQ(future.wait_for(milliseconds(2000)), std::future_status::ready);
  auto page = future.get();
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->rows.size(), 1u);
  EXPECT_EQ(page->rows[0].seq, seq);
}

TEST_F(FeedTest, TheWaitEndsWithAnEmptyPage) {
  FeedWaiters waiters(*queries_, 10);
  int64_t seq = Append("pms", "x");
  std::promise<storage::StatusOr<FeedPage>> answered;
  auto start = steady_clock::now();
  ASSERT_TRUE(waiters
                  .Park(Query(seq, 10), milliseconds(300),
                        [&](storage::StatusOr<FeedPage> p) { answered.set_value(std::move(p)); })
                  .ok());
  auto page = answered.get_future().get();
  auto waited = steady_clock::now() - start;
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->rows.empty());
  EXPECT_EQ(page->next_after, seq);
  EXPECT_GE(waited, milliseconds(290));
  EXPECT_LT(waited, milliseconds(2000));
}

TEST_F(FeedTest, StopAnswersEveryParkedPollAndRefusesMore) {
  auto waiters = std::make_unique<FeedWaiters>(*queries_, 3);
  std::atomic<int> answers{0};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(waiters
                    ->Park(Query(0, 10), milliseconds(60000),
                           [&](storage::StatusOr<FeedPage> p) {
                             EXPECT_TRUE(p.ok() && p->rows.empty());
                             ++answers;
                           })
                    .ok());
  }
  // The fourth is over the limit.
  EXPECT_EQ(waiters->Park({}, milliseconds(1000), [](storage::StatusOr<FeedPage>) { FAIL(); })
                .code(),
            storage::StatusCode::kUnavailable);
  auto start = steady_clock::now();
  waiters->Stop();
  EXPECT_LT(steady_clock::now() - start, milliseconds(2000));
  EXPECT_EQ(answers.load(), 3);
  EXPECT_EQ(waiters->Park({}, milliseconds(1000), [](storage::StatusOr<FeedPage>) { FAIL(); })
                .code(),
            storage::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace hookvault::api
