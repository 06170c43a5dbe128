// The scheduler on a store shared by several nodes, where a destination's concurrency is a cap
// across all of them (PostgreSQL): a claim may return fewer deliveries than the scheduler has
// free slots although more are due, and NextDue then names the first lease end, not a due
// time. The store here is the real SQLite store behind such a cap (CappedStore), with the real
// writer, a fake clock that does not move, and an HTTP client that the test answers.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "server/delivery/scheduler.h"
#include "storage/group_commit_writer.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::server {
namespace {

// The cluster-wide cap of the PostgreSQL store, in front of a real store: at most `cap`
// deliveries leased and not yet recorded; while the cap is taken, NextDue answers the end of
// the leases (an hour away here, on a clock that does not move). Thread-safety: as the store
// it wraps (calls do not overlap); the counters are guarded by mu_ for the test's reads.
class CappedStore final : public storage::DeliveryStore {
 public:
  CappedStore(storage::DeliveryStore& inner, int cap, int64_t lease_end)
      : inner_(inner), cap_(cap), lease_end_(lease_end) {}

  storage::StatusOr<std::vector<storage::DueDelivery>> ClaimDue(
      const std::string& destination, int limit, int64_t now, int64_t lease_until,
      std::span<const int64_t> held) override {
    int room = cap_ - static_cast<int>(leased().size());
    if (room <= 0) return std::vector<storage::DueDelivery>{};
    auto claimed = inner_.ClaimDue(destination, std::min(limit, room), now, lease_until, held);
    if (claimed.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      for (const storage::DueDelivery& d : *claimed) leased_.insert(d.delivery_id);
    }
    return claimed;
  }
  storage::StatusOr<std::optional<int64_t>> NextDue(const std::string& destination) override {
    if (static_cast<int>(leased().size()) >= cap_) return std::optional<int64_t>(lease_end_);
    return inner_.NextDue(destination);
  }
  storage::StatusOr<storage::RecordedAttempts> RecordAttempts(
      std::span<const storage::AttemptRecord> attempts) override {
    auto recorded = inner_.RecordAttempts(attempts);
    if (recorded.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      for (const storage::AttemptRecord& a : attempts) leased_.erase(a.delivery_id);
    }
    return recorded;
  }
  storage::StatusOr<storage::PendingSummary> Pending() override { return inner_.Pending(); }
  storage::StatusOr<int> ReleaseAllLeases() override { return 0; }
  storage::StatusOr<storage::ReleasedHolds> ReleaseUnorderedHolds(
      std::span<const std::string> ordered) override {
    return inner_.ReleaseUnorderedHolds(ordered);
  }

  std::set<int64_t> leased() const {
    std::lock_guard<std::mutex> lock(mu_);
    return leased_;
  }

 private:
  storage::DeliveryStore& inner_;
  const int cap_;
  const int64_t lease_end_;
  mutable std::mutex mu_;
  std::set<int64_t> leased_;  // guarded by mu_
};

// Holds every request until the test answers it. Thread-safety: any thread.
class HeldHttpClient final : public HttpClient {
 public:
  void Post(OutboundRequest, std::function<void(OutboundResponse)> done) override {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(std::move(done));
  }
  // Answers the oldest pending request with 200; false if there is none.
  bool AnswerOne() {
    std::function<void(OutboundResponse)> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_.empty()) return false;
      done = std::move(pending_.front());
      pending_.erase(pending_.begin());
    }
    OutboundResponse r;
    r.status = 200;
    r.duration_us = 1000;
    done(r);
    return true;
  }
  void DropAll() {
    std::vector<std::function<void(OutboundResponse)>> calls;
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls.swap(pending_);
    }
    for (auto& done : calls) done(OutboundResponse{0, "client shutting down", "", {}, 0});
  }

 private:
  std::mutex mu_;
  std::vector<std::function<void(OutboundResponse)>> pending_;  // guarded by mu_
};

bool WaitFor(const std::function<bool()>& condition) {
  for (int i = 0; i < 600; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

// A claim held back by the cap (not because nothing was due) must be made again once one of
// the destination's own attempts is recorded: nothing else would wake the scheduler (no new
// commit, and NextDue named the lease end, an hour away). Before, the second and third
// deliveries waited for that hour (on PostgreSQL: for the listener's poll or a lease end,
// which made a backlog drain at a few deliveries a second).
TEST(SchedulerSharedStoreTest, AnOutcomeRecordedFreesTheCappedSlotForTheNextClaim) {
  hookvault::testing::TempDir dir;
  std::string path = dir.File("hookvault.db");
  hookvault::testing::FakeClock clock{1'800'000'000'000'000};
  auto stores = hookvault::testing::OpenMigratedStore(path, clock);
  ASSERT_NE(stores, nullptr);
  storage::GroupCommitWriter writer(*stores->events, storage::WriterOptions{});
  for (int i = 0; i < 3; ++i) {
    storage::NewEvent e;
    e.source = "src";
    e.event_type = "t";
    e.idempotency_key = "k" + std::to_string(i);
    e.headers_json = "{}";
    e.body = "{}";
    e.received_at = clock.NowMicros();
    e.destinations = {"a"};
    std::promise<bool> stored;
    ASSERT_TRUE(writer
                    .SubmitEvent(storage::IngestRecord{std::move(e), std::nullopt},
                                 [&](const storage::Status& s, const storage::AppendResult&) {
                                   stored.set_value(s.ok());
                                 })
                    .ok());
    ASSERT_TRUE(stored.get_future().get());
  }

  CappedStore capped(*stores->deliveries, /*cap=*/1, clock.NowMicros() + 3'600'000'000);
  HeldHttpClient http;
  OutboundDestination a;
  a.name = "a";
  a.url = "http://127.0.0.1:9/a";
  a.concurrency = 8;  // the node's own limit: the store's cap binds first
  a.max_attempts = 5;
  a.timeout_ms = 1000;
  a.backoff = BackoffPolicy{1000, 60000, 2.0};
  SchedulerOptions options;
  options.stop_grace = std::chrono::milliseconds(200);
  auto scheduler = std::make_unique<Scheduler>(std::vector<OutboundDestination>{a}, writer,
                                               capped, http, clock, [] { return uint64_t{0}; },
                                               options);
  ASSERT_TRUE(scheduler->Start().ok());

  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(WaitFor([&] { return http.AnswerOne(); }))
        << "delivery " << i + 1 << " of 3 was never sent (the scheduler waits for the lease end)";
    EXPECT_TRUE(WaitFor([&] {
      return hookvault::testing::QueryInt(
                 path, "SELECT count(*) FROM deliveries WHERE status = 'succeeded'") == i + 1;
    }));
  }
  scheduler->Stop();
  http.DropAll();
  scheduler.reset();
  writer.Stop();
}

}  // namespace
}  // namespace hookvault::server
