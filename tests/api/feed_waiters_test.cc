// The feed and its parked long-polls, on a real database with the real migrations.
#include "api/feed_waiters.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
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

// Forwards to a real store and counts the reads of the feed.
class CountingQueryStore final : public storage::QueryStore {
 public:
  explicit CountingQueryStore(storage::QueryStore& inner) : inner_(inner) {}

  int feeds() const { return feeds_.load(); }
  int latest_seqs() const { return latest_seqs_.load(); }
  // Called in every LatestSeq() before it reads (set before the store is used by a thread).
  std::function<void()> on_latest_seq;

  storage::StatusOr<std::vector<storage::EventRow>> Feed(const storage::FeedQuery& q) override {
    ++feeds_;
    return inner_.Feed(q);
  }
  storage::StatusOr<int64_t> LatestSeq() override {
    ++latest_seqs_;
    if (on_latest_seq) on_latest_seq();
    return inner_.LatestSeq();
  }
  storage::StatusOr<std::vector<storage::EventRow>> ListEvents(const storage::EventFilter& f,
                                                               const storage::Page& p) override {
    return inner_.ListEvents(f, p);
  }
  storage::StatusOr<std::optional<storage::EventRow>> GetEvent(const std::string& id) override {
    return inner_.GetEvent(id);
  }
  storage::StatusOr<std::vector<storage::DeliveryRow>> EventDeliveries(int64_t seq) override {
    return inner_.EventDeliveries(seq);
  }
  storage::StatusOr<std::vector<storage::AttemptRow>> EventAttempts(
      int64_t seq, const storage::Page& p) override {
    return inner_.EventAttempts(seq, p);
  }
  storage::StatusOr<std::vector<storage::DeliveryRow>> ListDeliveries(
      const storage::DeliveryFilter& f, const storage::Page& p) override {
    return inner_.ListDeliveries(f, p);
  }
  storage::StatusOr<std::vector<storage::AttemptRow>> ListAttempts(
      const storage::AttemptFilter& f, const storage::Page& p) override {
    return inner_.ListAttempts(f, p);
  }
  storage::StatusOr<std::vector<storage::RequestRow>> ListRequests(
      const storage::RequestFilter& f, const storage::Page& p) override {
    return inner_.ListRequests(f, p);
  }
  storage::StatusOr<std::vector<storage::AuditRow>> ListAudit(const storage::TimeFilter& f,
                                                              const storage::Page& p) override {
    return inner_.ListAudit(f, p);
  }
  storage::StatusOr<storage::AuditVerification> VerifyAudit() override {
    return inner_.VerifyAudit();
  }
  storage::StatusOr<int64_t> CountDeliveries(
      const std::vector<storage::DeliveryFilter>& filters) override {
    return inner_.CountDeliveries(filters);
  }
  storage::StatusOr<std::optional<storage::ConsumerRow>> GetConsumer(
      const std::string& name) override {
    return inner_.GetConsumer(name);
  }
  storage::StatusOr<std::vector<storage::ConsumerRow>> ListConsumers() override {
    return inner_.ListConsumers();
  }
  storage::StatusOr<storage::PendingSummary> Pending() override { return inner_.Pending(); }

 private:
  storage::QueryStore& inner_;
  std::atomic<int> feeds_{0};
  std::atomic<int> latest_seqs_{0};
};

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
  int64_t Append(const std::string& source, const std::string& type, size_t body_bytes = 0) {
    storage::IngestRecord record;
    storage::NewEvent event;
    event.source = source;
    event.event_type = type;
    event.idempotency_key = "k" + std::to_string(++keys_);
    event.received_at = clock_.NowMicros();
    event.remote_addr = "127.0.0.1";
    event.headers_json = "{}";
    event.body = "{\"n\":" + std::to_string(keys_) + "}";
    if (body_bytes > 0) {
      event.body = "{\"pad\":\"" + std::string(body_bytes, 'p') + "\"}";
    }
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

// A page is bounded in bytes as well as in rows: it stops after the event that reaches the budget
// (at least one event), and next_after continues right after it, so paging still gets them all.
TEST_F(FeedTest, APageStopsAtItsByteBudgetAndTheNextPageGoesOn) {
  for (int i = 0; i < 20; ++i) Append("pms", "x", 1000);
  storage::FeedQuery q = Query(0, 1000);
  q.max_bytes = 3500;  // three and a half events
  std::vector<int64_t> seen;
  for (int pages = 0; pages < 20 && seen.size() < 20; ++pages) {
    auto page = ReadFeed(*queries_, q);
    ASSERT_TRUE(page.ok());
    ASSERT_FALSE(page->rows.empty()) << "after " << q.after_seq;
    EXPECT_LE(page->rows.size(), 4u);
    for (const storage::EventRow& e : page->rows) seen.push_back(e.seq);
    EXPECT_EQ(page->next_after, page->rows.back().seq);
    q.after_seq = page->next_after;
  }
  ASSERT_EQ(seen.size(), 20u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<int64_t>(i + 1));
  // One event larger than the budget still comes, alone.
  q = Query(0, 1000);
  q.max_bytes = 10;
  auto page = ReadFeed(*queries_, q);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->rows.size(), 1u);
  EXPECT_EQ(page->next_after, 1);
}

// A commit wakes every parked poll with one read of the feed for all of them, not one each.
TEST_F(FeedTest, ACommitCostsOneFeedReadForAllParkedPolls) {
  CountingQueryStore counting(*queries_);
  FeedWaiters waiters(counting, 100);
  int64_t latest = Append("pms", "x");
  constexpr int kPms = 30;
  constexpr int kCrm = 10;
  std::mutex mu;
  std::vector<storage::StatusOr<FeedPage>> answers;
  auto record = [&](storage::StatusOr<FeedPage> p) {
    std::lock_guard<std::mutex> lock(mu);
    answers.push_back(std::move(p));
  };
  for (int i = 0; i < kPms; ++i) {
    ASSERT_TRUE(waiters.Park(Query(latest, 10, i % 2 ? "pms" : std::optional<std::string>()),
                             milliseconds(20000), record)
                    .ok());
  }
  for (int i = 0; i < kCrm; ++i) {
    ASSERT_TRUE(waiters.Park(Query(latest, 10, "crm"), milliseconds(20000), record).ok());
  }
  // (A look that Park() asked for may hold them for a moment.)
  for (int i = 0; i < 200 && waiters.waiting() != static_cast<size_t>(kPms + kCrm); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(waiters.waiting(), static_cast<size_t>(kPms + kCrm));
  int feeds_before = counting.feeds();
  EXPECT_EQ(feeds_before, 0);  // parked at the newest event: nothing to read but the newest seq
  int64_t seq = Append("pms", "x");
  waiters.Notify();
  for (int i = 0; i < 200 && waiters.waiting() != static_cast<size_t>(kCrm); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(waiters.waiting(), static_cast<size_t>(kCrm));
  EXPECT_EQ(counting.feeds(), 1) << "one read of the feed for " << kPms << " waiters";
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(answers.size(), static_cast<size_t>(kPms));
    for (const auto& a : answers) {
      ASSERT_TRUE(a.ok());
      ASSERT_EQ(a->rows.size(), 1u);
      EXPECT_EQ(a->rows[0].seq, seq);
      EXPECT_EQ(a->rows[0].body, "{\"n\":2}");
      EXPECT_EQ(a->next_after, seq);
    }
  }
  // The crm polls moved past the pms event and are answered by their own.
  int64_t crm = Append("crm", "x");
  waiters.Notify();
  for (int i = 0; i < 200 && waiters.waiting() != 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(waiters.waiting(), 0u);
  EXPECT_EQ(counting.feeds(), 2);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(answers.size(), static_cast<size_t>(kPms + kCrm));
  for (size_t i = kPms; i < answers.size(); ++i) {
    ASSERT_TRUE(answers[i].ok());
    ASSERT_EQ(answers[i]->rows.size(), 1u);
    EXPECT_EQ(answers[i]->rows[0].seq, crm);
  }
}

// Waiters at many positions, limits and filters get from the shared read exactly the page
// they would have read on their own.
TEST_F(FeedTest, PagesCutFromTheSharedReadAreThoseOfOwnReads) {
  for (int i = 0; i < 40; ++i) Append(i % 3 ? "pms" : "crm", i % 2 ? "a" : "b");
  FeedWaiters waiters(*queries_, 500);
  std::mutex mu;
  std::vector<std::pair<storage::FeedQuery, storage::StatusOr<FeedPage>>> got;
  int parked = 0;
  for (int after = 0; after <= 40; after += 3) {
    for (int limit : {1, 2, 5, 50}) {
      for (std::optional<std::string> source :
           {std::optional<std::string>(), std::optional<std::string>("crm")}) {
        storage::FeedQuery q = Query(after, limit, source);
        if (limit == 5) q.event_type = "a";
        ++parked;
        // A wait of 0: answered at the first look, with a page or empty.
        ASSERT_TRUE(waiters
                        .Park(q, milliseconds(0),
                              [&, q](storage::StatusOr<FeedPage> p) {
                                std::lock_guard<std::mutex> lock(mu);
                                got.emplace_back(q, std::move(p));
                              })
                        .ok());
      }
    }
  }
  for (int i = 0; i < 300; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (static_cast<int>(got.size()) == parked) break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(static_cast<int>(got.size()), parked);
  for (const auto& [q, page] : got) {
    auto own = ReadFeed(*queries_, q);
    ASSERT_TRUE(page.ok() && own.ok());
    std::vector<int64_t> a, b;
    for (const auto& e : page->rows) a.push_back(e.seq);
    for (const auto& e : own->rows) b.push_back(e.seq);
    EXPECT_EQ(a, b) << "after " << q.after_seq << " limit " << q.limit;
    EXPECT_EQ(page->next_after, own->next_after) << "after " << q.after_seq << " limit " << q.limit;
  }
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

// The limit holds while the feed thread checks the waiters outside its lock: those it took out
// still count (they used to be forgotten for that moment, so every check could let in another
// full set of long-polls).
TEST_F(FeedTest, WaitersBeingCheckedStillCountAgainstTheLimit) {
  CountingQueryStore counting(*queries_);
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};
  counting.on_latest_seq = [&] {
    if (first.exchange(false)) {
      entered.set_value();
      released.wait();
    }
  };
  auto waiters = std::make_unique<FeedWaiters>(counting, 2);
  auto no_answer = [](storage::StatusOr<FeedPage>) {};
  ASSERT_TRUE(waiters->Park(Query(0, 10), milliseconds(60000), no_answer).ok());
  // The feed thread now checks the first waiter and is held inside its read.
  ASSERT_EQ(entered.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(waiters->Park(Query(0, 10), milliseconds(60000), no_answer).ok());
  EXPECT_EQ(waiters->Park(Query(0, 10), milliseconds(60000), no_answer).code(),
            storage::StatusCode::kUnavailable);
  release.set_value();
  waiters->Stop();
}

}  // namespace
}  // namespace hookvault::api
