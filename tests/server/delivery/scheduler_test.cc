// The forwarding scheduler on a real SQLite store and the real writer, with a fake HTTP client
// (the test decides every response) and a fake clock (due times are exact).
#include "server/delivery/scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "server/delivery/backoff.h"
#include "server/delivery/webhook_signature.h"
#include "storage/group_commit_writer.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::server {
namespace {

using hookvault::testing::QueryInt;
using hookvault::testing::QueryText;

// Holds every request until the test answers it.
class FakeHttpClient final : public HttpClient {
 public:
  struct Call {
    OutboundRequest request;
    std::function<void(OutboundResponse)> done;
  };

  void Post(OutboundRequest request, std::function<void(OutboundResponse)> done) override {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(Call{std::move(request), std::move(done)});
    ++posted_;
    size_t in_flight = pending_.size();
    if (in_flight > max_in_flight_) max_in_flight_ = in_flight;
  }

  // Answers the oldest pending call to a URL containing `url_part` (any URL when empty).
  // Returns false if there is none.
  bool Answer(int status, const std::string& url_part = "",
              std::optional<std::string> retry_after = std::nullopt) {
    Call call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Call& c) {
        return c.request.url.find(url_part) != std::string::npos;
      });
      if (it == pending_.end()) return false;
      call = std::move(*it);
      pending_.erase(it);
      answered_.push_back(call.request);
    }
    OutboundResponse r;
    r.status = status;
    if (status == 0) r.error = "Timeout was reached";
    r.body_excerpt = "body";
    r.retry_after = retry_after;
    r.duration_us = 1500;
    call.done(r);
    return true;
  }

  // Answers the oldest pending call with `response` as it is. Returns false if there is none.
  bool AnswerWith(OutboundResponse response) {
    Call call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_.empty()) return false;
      call = std::move(pending_.front());
      pending_.pop_front();
      answered_.push_back(call.request);
    }
    call.done(std::move(response));
    return true;
  }

  size_t pending(const std::string& url_part = "") {
    std::lock_guard<std::mutex> lock(mu_);
    return std::count_if(pending_.begin(), pending_.end(), [&](const Call& c) {
      return c.request.url.find(url_part) != std::string::npos;
    });
  }
  size_t max_in_flight() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_in_flight_;
  }
  std::vector<OutboundRequest> answered() {
    std::lock_guard<std::mutex> lock(mu_);
    return answered_;
  }
  // Completes everything still pending with no response (as the real client does on shutdown).
  void DropAll() {
    std::deque<Call> calls;
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls.swap(pending_);
    }
    for (Call& c : calls) c.done(OutboundResponse{0, "client shutting down", "", {}, 0});
  }

 private:
  std::mutex mu_;
  std::deque<Call> pending_;
  std::vector<OutboundRequest> answered_;
  size_t posted_ = 0;
  size_t max_in_flight_ = 0;
};

bool WaitFor(const std::function<bool()>& condition) {
  for (int i = 0; i < 1000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

OutboundDestination Destination(const std::string& name, int concurrency = 8, int max_attempts = 5) {
  OutboundDestination d;
  d.name = name;
  d.url = "http://127.0.0.1:9/" + name;
  d.concurrency = concurrency;
  d.max_attempts = max_attempts;
  d.timeout_ms = 1000;
  d.backoff = BackoffPolicy{1000, 60000, 2.0};
  return d;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_);
    ASSERT_NE(stores_, nullptr);
    writer_ =
        std::make_unique<storage::GroupCommitWriter>(*stores_->events, storage::WriterOptions{});
  }
  void TearDown() override {
    if (scheduler_) scheduler_->Stop();
    http_.DropAll();
    scheduler_.reset();
    writer_->Stop();
  }

  void StartScheduler(std::vector<OutboundDestination> destinations, int global = 64) {
    SchedulerOptions options;
    options.global_concurrency = global;
    options.stop_grace = std::chrono::milliseconds(200);
    if (sign_) options.sign = sign_;
    options.notify = [this](const DeliveryNotice& n) {
      std::lock_guard<std::mutex> lock(notices_mu_);
      notices_.push_back(n);
    };
    scheduler_ = std::make_unique<Scheduler>(
        std::move(destinations), *writer_, *stores_->deliveries, http_, clock_,
        [this] { return random_; }, options);
    writer_->set_commit_listener([this] { scheduler_->Wake(); });
    ASSERT_TRUE(scheduler_->Start().ok());
  }

  // Stores an event with one delivery per destination and returns its id.
  std::string Ingest(const std::string& key, std::vector<std::string> destinations,
                     const std::string& event_type = "payment.received") {
    storage::NewEvent e;
    e.source = "src";
    e.event_type = event_type;
    e.idempotency_key = key;
    e.headers_json = "{}";
    e.body = R"({"k":")" + key + R"("})";
    e.received_at = clock_.NowMicros();
    e.destinations = std::move(destinations);
    std::promise<std::string> id;
    auto result = id.get_future();
    EXPECT_TRUE(writer_
                    ->SubmitEvent(storage::IngestRecord{std::move(e), std::nullopt},
                                  [&](const storage::Status& s, const storage::AppendResult& r) {
                                    id.set_value(s.ok() ? r.id : "");
                                  })
                    .ok());
    return result.get();
  }

  int64_t DeliveryInt(const std::string& event_id, const std::string& column,
                      const std::string& destination = "a") {
    return QueryInt(path_,
                    "SELECT d." + column +
                        " FROM deliveries d JOIN events e ON e.seq = d.event_seq "
                        "WHERE e.id = ? AND d.destination = '" +
                        destination + "'",
                    event_id);
  }
  std::string DeliveryStatus(const std::string& event_id, const std::string& destination = "a") {
    return QueryText(path_,
                     "SELECT d.status FROM deliveries d JOIN events e ON e.seq = d.event_seq "
                     "WHERE e.id = ? AND d.destination = '" +
                         destination + "'",
                     event_id);
  }
  std::string EventStatus(const std::string& id) {
    return QueryText(path_, "SELECT status FROM events WHERE id = ?", id);
  }

  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_{1'800'000'000'000'000};
  uint64_t random_ = 0;
  decltype(SchedulerOptions::sign) sign_;  // when set: replaces SignWebhook
  std::unique_ptr<storage::SqliteStores> stores_;
  std::unique_ptr<storage::GroupCommitWriter> writer_;
  FakeHttpClient http_;
  std::unique_ptr<Scheduler> scheduler_;
  std::mutex notices_mu_;
  std::vector<DeliveryNotice> notices_;  // guarded by notices_mu_

  // The circuit notices (kPaused, kResumed) told so far.
  std::vector<DeliveryNotice> CircuitNotices() {
    std::lock_guard<std::mutex> lock(notices_mu_);
    std::vector<DeliveryNotice> out;
    for (const DeliveryNotice& n : notices_) {
      if (n.kind != DeliveryNotice::Kind::kExhausted) out.push_back(n);
    }
    return out;
  }
  // Moves the clock, wakes the scheduler and gives it time to act on it.
  // Advances the clock, wakes the scheduler and waits until it has gone idle after a whole
  // round (Scheduler::idle_waits), so that a "nothing happened" check after it means it.
  void AdvanceAndSettle(int64_t micros) {
    clock_.Advance(micros);
    const uint64_t idle = scheduler_->idle_waits();
    scheduler_->Wake();
    ASSERT_TRUE(WaitFor([&] { return scheduler_->idle_waits() > idle; }));
  }
};

TEST_F(SchedulerTest, SendsTheStoredEventWithStandardWebhooksHeaders) {
  OutboundDestination a = Destination("a");
  a.signing_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  StartScheduler({a});
  std::string id = Ingest("k1", {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  ASSERT_TRUE(http_.Answer(200));
  ASSERT_TRUE(WaitFor([&] { return DeliveryStatus(id) == "succeeded"; }));
  EXPECT_EQ(EventStatus(id), "delivered");

  OutboundRequest sent = http_.answered().at(0);
  std::map<std::string, std::string> h(sent.headers.begin(), sent.headers.end());
  EXPECT_EQ(sent.body, R"({"k":"k1"})");
  EXPECT_EQ(h["webhook-id"], id);
  EXPECT_EQ(h["webhook-timestamp"], std::to_string(clock_.NowMicros() / 1000000));
  EXPECT_EQ(h["Content-Type"], "application/json");
  EXPECT_EQ(h["X-Hookvault-Source"], "src");
  EXPECT_EQ(h["X-Hookvault-Event-Type"], "payment.received");
  EXPECT_EQ(h["X-Hookvault-Attempt"], "1");
  auto key = DecodeSigningSecret(a.signing_secret);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(h["webhook-signature"],
            SignWebhook(*key, id, clock_.NowMicros() / 1000000, R"({"k":"k1"})").value());
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM attempts WHERE outcome = 'success'"), 1);
  EXPECT_EQ(QueryInt(path_, "SELECT http_status FROM attempts"), 200);
}

TEST_F(SchedulerTest, AnAmqpAttemptSucceedsOnlyOnTheBrokersAck) {
  OutboundDestination a = Destination("a");
  a.url = "amqp://guest:guest@127.0.0.1:5672/";
  a.amqp = AmqpTarget{"bookings", "booking.created"};
  StartScheduler({a});
  std::string id = Ingest("k1", {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  // No status and no ack (a return, a nack, a lost connection): a failed attempt, retried.
  OutboundResponse returned;
  returned.error = "basic.return 312 NO_ROUTE (exchange 'bookings', routing key 'k')";
  ASSERT_TRUE(http_.AnswerWith(returned));
  ASSERT_TRUE(WaitFor([&] { return DeliveryInt(id, "attempts") == 1; }));
  EXPECT_EQ(DeliveryStatus(id), "pending");
  EXPECT_EQ(QueryText(path_, "SELECT last_error FROM deliveries"), returned.error);
  clock_.Advance(120'000'000);
  scheduler_->Wake();
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  OutboundResponse acked;
  acked.acknowledged = true;
  acked.body_excerpt = "basic.ack";
  ASSERT_TRUE(http_.AnswerWith(acked));
  ASSERT_TRUE(WaitFor([&] { return DeliveryStatus(id) == "succeeded"; }));
  EXPECT_EQ(EventStatus(id), "delivered");
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM attempts WHERE outcome = 'success' AND "
                            "http_status IS NULL AND CAST(response_excerpt AS TEXT) = 'basic.ack'"),
            1);
  // The request says where to publish, and the message's id.
  OutboundRequest sent = http_.answered().at(1);
  EXPECT_EQ(sent.amqp_exchange, "bookings");
  EXPECT_EQ(sent.amqp_routing_key, "booking.created");
  EXPECT_EQ(sent.message_id, id);
}

TEST_F(SchedulerTest, ControlCharactersInTheEventTypeCannotBreakTheRequest) {
  StartScheduler({Destination("a")});
  Ingest("k1", {"a"}, "evil\r\nX-Injected: 1");
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  ASSERT_TRUE(http_.Answer(200));
  OutboundRequest sent = http_.answered().at(0);
  std::map<std::string, std::string> h(sent.headers.begin(), sent.headers.end());
  EXPECT_EQ(h["X-Hookvault-Event-Type"], "evil  X-Injected: 1");
}

TEST_F(SchedulerTest, FailedAttemptIsRescheduledAtTheExactJitteredTime) {
  StartScheduler({Destination("a")});
  random_ = UINT64_MAX / 2;  // half the ceiling
  std::string id = Ingest("k1", {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  int64_t t0 = clock_.NowMicros();
  ASSERT_TRUE(http_.Answer(500));
  ASSERT_TRUE(WaitFor([&] { return DeliveryInt(id, "attempts") == 1; }));
  EXPECT_EQ(DeliveryStatus(id), "pending");
  // Attempt 1 failed: ceiling initial_ms = 1000 ms, half of it with this random value.
  EXPECT_EQ(DeliveryInt(id, "next_attempt_at"),
            t0 + NextDelayMs(BackoffPolicy{1000, 60000, 2.0}, 1, std::nullopt, random_) * 1000);
  EXPECT_NEAR(DeliveryInt(id, "next_attempt_at") - t0, 500'000, 1000);
  EXPECT_EQ(QueryText(path_, "SELECT last_error FROM deliveries"), "HTTP 500");

  // Not due yet: nothing is sent.
  AdvanceAndSettle(400'000);
  EXPECT_EQ(http_.pending(), 0u);
  // Due: the second attempt goes out, numbered 2, same webhook-id.
  clock_.Advance(200'000);
  scheduler_->Wake();
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  ASSERT_TRUE(http_.Answer(200));
  ASSERT_TRUE(WaitFor([&] { return DeliveryStatus(id) == "succeeded"; }));
  auto sent = http_.answered();
  ASSERT_EQ(sent.size(), 2u);
  std::map<std::string, std::string> h2(sent[1].headers.begin(), sent[1].headers.end());
  EXPECT_EQ(h2["X-Hookvault-Attempt"], "2");
  EXPECT_EQ(h2["webhook-id"], id);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM attempts"), 2);
}

TEST_F(SchedulerTest, RetryAfterIsHonouredButCappedAtMaxMs) {
  OutboundDestination a = Destination("a");
  a.backoff = BackoffPolicy{100, 5000, 2.0};
  StartScheduler({a});
  std::string id = Ingest("k1", {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  int64_t t0 = clock_.NowMicros();
  ASSERT_TRUE(http_.Answer(429, "", "3"));
  ASSERT_TRUE(WaitFor([&] { return DeliveryInt(id, "attempts") == 1; }));
  EXPECT_EQ(DeliveryInt(id, "next_attempt_at"), t0 + 3'000'000);  // honoured, no jitter

  clock_.Advance(3'000'000);
  scheduler_->Wake();
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  int64_t t1 = clock_.NowMicros();
  ASSERT_TRUE(http_.Answer(503, "", "86400"));  // a day: capped at max_ms
  ASSERT_TRUE(WaitFor([&] { return DeliveryInt(id, "attempts") == 2; }));
  EXPECT_EQ(DeliveryInt(id, "next_attempt_at"), t1 + 5'000'000);
}

TEST_F(SchedulerTest, GoneFailsAtOnceAndMaxAttemptsParksAsFailed) {
  StartScheduler({Destination("a", 8, 2), Destination("b", 8, 2)});
  std::string id = Ingest("k1", {"a", "b"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 2; }));
  ASSERT_TRUE(http_.Answer(410, "/a"));
  ASSERT_TRUE(WaitFor([&] { return DeliveryStatus(id, "a") == "failed"; }));
  EXPECT_EQ(DeliveryInt(id, "attempts", "a"), 1);
  EXPECT_EQ(EventStatus(id), "failed");  // any failed delivery fails the event

  ASSERT_TRUE(http_.Answer(0, "/b"));  // timeout: retried
  ASSERT_TRUE(WaitFor([&] { return DeliveryInt(id, "attempts", "b") == 1; }));
  EXPECT_EQ(DeliveryStatus(id, "b"), "pending");
  clock_.Advance(10'000'000);
  scheduler_->Wake();
  ASSERT_TRUE(WaitFor([&] { return http_.pending("/b") == 1; }));
  ASSERT_TRUE(http_.Answer(0, "/b"));
  ASSERT_TRUE(WaitFor([&] { return DeliveryStatus(id, "b") == "failed"; }));
  EXPECT_EQ(DeliveryInt(id, "attempts", "b"), 2);
  EXPECT_EQ(QueryText(path_, "SELECT last_error FROM deliveries WHERE destination = 'b'"),
            "Timeout was reached");
  // Parked: even much later nothing more is sent.
  AdvanceAndSettle(3600'000'000);
  EXPECT_EQ(http_.pending(), 0u);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM attempts"), 3);
}

TEST_F(SchedulerTest, PerDestinationAndGlobalConcurrencyCapsHold) {
  StartScheduler({Destination("a", 3), Destination("b", 10)}, /*global=*/5);
  for (int i = 0; i < 20; ++i) Ingest("k" + std::to_string(i), {"a", "b"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 5; }));
  AdvanceAndSettle(0);
  EXPECT_EQ(http_.pending(), 5u);  // global cap
  EXPECT_LE(http_.pending("/a"), 3u);
  // Drain everything, checking the caps as we go.
  int answered = 0;
  while (answered < 40) {
    ASSERT_TRUE(WaitFor([&] { return http_.pending() > 0; })) << "stalled at " << answered;
    EXPECT_LE(http_.pending("/a"), 3u);
    EXPECT_LE(http_.pending(), 5u);
    ASSERT_TRUE(http_.Answer(200));
    ++answered;
  }
  EXPECT_TRUE(WaitFor([&] {
    return QueryInt(path_, "SELECT count(*) FROM deliveries WHERE status = 'succeeded'") == 40;
  }));
  EXPECT_LE(http_.max_in_flight(), 5u);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM events WHERE status = 'delivered'"), 20);
  // The counters follow the commit of the outcomes.
  EXPECT_TRUE(WaitFor([&] { return scheduler_->stats()["a"].succeeded == 20u; }));
  std::map<std::string, DestinationStats> stats = scheduler_->stats();
  EXPECT_EQ(stats["a"].succeeded, 20u);
  EXPECT_EQ(stats["b"].attempts, 20u);
  EXPECT_EQ(stats["a"].in_flight, 0);
  EXPECT_EQ(stats["a"].latency_buckets[0], 20u);  // the fake answers in 1.5 ms
}

TEST_F(SchedulerTest, PendingSummaryCountsTheBacklogAndItsOldestEntry) {
  int64_t first = clock_.NowMicros();
  Ingest("k1", {"a", "b"});
  clock_.Advance(5'000'000);
  Ingest("k2", {"a"});
  std::promise<storage::StatusOr<storage::PendingSummary>> summary;
  ASSERT_TRUE(writer_->SubmitTask([&] { summary.set_value(stores_->deliveries->Pending()); }).ok());
  auto s = summary.get_future().get();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->count, 3);
  EXPECT_EQ(s->by_destination.at("a"), 2);
  EXPECT_EQ(s->by_destination.at("b"), 1);
  EXPECT_EQ(s->oldest_pending_since, first);
}

TEST_F(SchedulerTest, ASlowDestinationDoesNotHoldBackTheOthers) {
  StartScheduler({Destination("slow", 2), Destination("fast", 2)});
  for (int i = 0; i < 10; ++i) Ingest("k" + std::to_string(i), {"slow", "fast"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending("/slow") == 2; }));
  // The slow destination never answers; the fast one gets through all ten.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(WaitFor([&] { return http_.pending("/fast") > 0; })) << i;
    ASSERT_TRUE(http_.Answer(200, "/fast"));
  }
  EXPECT_TRUE(WaitFor([&] {
    return QueryInt(path_,
                    "SELECT count(*) FROM deliveries WHERE destination = 'fast' AND "
                    "status = 'succeeded'") == 10;
  }));
  EXPECT_EQ(http_.pending("/slow"), 2u);
}

// A delivery leased by a process that died is attempted again after a restart.
TEST_F(SchedulerTest, LeasesOfACrashedRunAreReleasedAtStart) {
  StartScheduler({Destination("a")});
  std::string id = Ingest("k1", {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  EXPECT_GT(DeliveryInt(id, "lease_expires_at"), clock_.NowMicros());
  // "Crash": the scheduler goes away without the attempt's outcome ever being recorded.
  scheduler_->Stop();
  http_.DropAll();
  scheduler_.reset();
  EXPECT_EQ(DeliveryInt(id, "attempts"), 0);
  EXPECT_GT(DeliveryInt(id, "lease_expires_at"), 0);  // still leased in the store

  StartScheduler({Destination("a")});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  ASSERT_TRUE(http_.Answer(200));
  ASSERT_TRUE(WaitFor([&] { return DeliveryStatus(id) == "succeeded"; }));
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM attempts"), 1);
}

// A lease that expires (an attempt that never came back) makes the delivery due again.
TEST_F(SchedulerTest, AnExpiredLeaseMakesTheDeliveryDueAgain) {
  std::string id = Ingest("k1", {"a"});
  int64_t now = clock_.NowMicros();
  std::promise<size_t> first;
  ASSERT_TRUE(writer_
                  ->SubmitTask([&] {
                    first.set_value(
                        stores_->deliveries->ClaimDue("a", 10, now, now + 1'000'000)->size());
                  })
                  .ok());
  EXPECT_EQ(first.get_future().get(), 1u);
  std::promise<size_t> while_leased, after_expiry;
  ASSERT_TRUE(
      writer_
          ->SubmitTask([&] {
            while_leased.set_value(
                stores_->deliveries->ClaimDue("a", 10, now + 500'000, now + 2'000'000)->size());
            after_expiry.set_value(
                stores_->deliveries->ClaimDue("a", 10, now + 1'000'000, now + 3'000'000)->size());
          })
          .ok());
  EXPECT_EQ(while_leased.get_future().get(), 0u);
  EXPECT_EQ(after_expiry.get_future().get(), 1u);
  EXPECT_EQ(DeliveryInt(id, "lease_expires_at"), now + 3'000'000);
}

// An NTP step forward makes every stored lease look expired. The scheduler must not claim and
// send again what it still has in flight: the attempt goes out once and is recorded once.
TEST_F(SchedulerTest, AWallClockStepDoesNotResendDeliveriesInFlight) {
  StartScheduler({Destination("a")});
  std::string id = Ingest("k1", {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  clock_.Set(clock_.NowMicros() + 3600'000'000);  // the wall clock alone jumps an hour
  scheduler_->Wake();
  // A second event goes out after the step: the scheduler has claimed since, and the first
  // delivery, due earlier, would have come first.
  std::string id2 = Ingest("k2", {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() >= 2; }));
  AdvanceAndSettle(0);
  EXPECT_EQ(http_.pending(), 2u);
  ASSERT_TRUE(http_.Answer(200));
  ASSERT_TRUE(http_.Answer(200));
  ASSERT_TRUE(WaitFor([&] { return DeliveryStatus(id) == "succeeded"; }));
  ASSERT_TRUE(WaitFor([&] { return DeliveryStatus(id2) == "succeeded"; }));
  std::vector<OutboundRequest> sent = http_.answered();
  ASSERT_EQ(sent.size(), 2u);
  std::map<std::string, std::string> h0(sent[0].headers.begin(), sent[0].headers.end());
  std::map<std::string, std::string> h1(sent[1].headers.begin(), sent[1].headers.end());
  EXPECT_EQ(h0["webhook-id"], id);
  EXPECT_EQ(h1["webhook-id"], id2);
  EXPECT_EQ(DeliveryInt(id, "attempts"), 1);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM attempts"), 2);
  EXPECT_EQ(scheduler_->stats()["a"].stale, 0u);
}

// A request that cannot be signed is never sent (with an empty signature or without one): the
// attempt fails with the reason, and is retried like any failed attempt.
TEST_F(SchedulerTest, ARequestThatCannotBeSignedIsAFailedAttemptNotAnUnsignedRequest) {
  OutboundDestination a = Destination("a");
  a.signing_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  sign_ = [](std::string_view, std::string_view, int64_t,
             std::string_view) -> storage::StatusOr<std::string> {
    return storage::Status::Internal("signing the request failed: no SHA-256 provider");
  };
  random_ = UINT64_MAX / 2;  // a retry half a second away, not at once (random 0: no delay)
  StartScheduler({a});
  std::string id = Ingest("k1", {"a"});
  ASSERT_TRUE(WaitFor([&] { return DeliveryInt(id, "attempts") == 1; }));
  EXPECT_EQ(http_.pending(), 0u);
  EXPECT_TRUE(http_.answered().empty());
  EXPECT_EQ(DeliveryStatus(id), "pending");  // retried later
  EXPECT_EQ(QueryText(path_, "SELECT last_error FROM deliveries"),
            "signing the request failed: no SHA-256 provider");
  EXPECT_EQ(QueryText(path_, "SELECT error FROM attempts"),
            "signing the request failed: no SHA-256 provider");
  EXPECT_EQ(QueryInt(path_, "SELECT http_status IS NULL FROM attempts"), 1);

  // An empty signature (a signer that "succeeds" with nothing) is refused the same way.
  sign_ = [](std::string_view, std::string_view, int64_t,
             std::string_view) -> storage::StatusOr<std::string> { return std::string(); };
  scheduler_->Stop();
  scheduler_.reset();
  StartScheduler({a});
  clock_.Advance(3600'000'000);
  scheduler_->Wake();
  ASSERT_TRUE(WaitFor([&] { return DeliveryInt(id, "attempts") == 2; }));
  EXPECT_TRUE(http_.answered().empty());
  EXPECT_EQ(http_.pending(), 0u);
}

TEST_F(SchedulerTest, HealthCountsConsecutiveFailuresAndKeepsTheLastErrorAndSuccess) {
  random_ = UINT64_MAX / 2;  // retries half a backoff away: only when the test moves the clock
  StartScheduler({Destination("a")});
  Ingest("k1", {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  DestinationStats s = scheduler_->stats().at("a");
  EXPECT_EQ(s.consecutive_failures, 0u);
  EXPECT_EQ(s.last_error, "");
  EXPECT_EQ(s.last_error_at, 0);
  EXPECT_EQ(s.last_success_at, 0);

  ASSERT_TRUE(http_.Answer(500));  // counted as it completes, before it is written
  s = scheduler_->stats().at("a");
  EXPECT_EQ(s.consecutive_failures, 1u);
  EXPECT_EQ(s.last_error, "HTTP 500: body");
  EXPECT_EQ(s.last_error_at, clock_.NowMicros());
  EXPECT_EQ(s.last_success_at, 0);

  clock_.Advance(2'000'000);
  scheduler_->Wake();
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  ASSERT_TRUE(http_.Answer(0));  // no response: the transport error
  s = scheduler_->stats().at("a");
  EXPECT_EQ(s.consecutive_failures, 2u);
  EXPECT_EQ(s.last_error, "Timeout was reached");
  const int64_t failed_at = clock_.NowMicros();
  EXPECT_EQ(s.last_error_at, failed_at);

  clock_.Advance(4'000'000);
  scheduler_->Wake();
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  ASSERT_TRUE(http_.Answer(200));
  s = scheduler_->stats().at("a");
  EXPECT_EQ(s.consecutive_failures, 0u);
  EXPECT_EQ(s.last_success_at, clock_.NowMicros());
  EXPECT_EQ(s.last_error, "Timeout was reached");  // the last failure stays visible
  EXPECT_EQ(s.last_error_at, failed_at);
  EXPECT_EQ(s.attempts, 3u);
}

// Circuit breaker: N consecutive failures pause the destination (one kPaused); while paused
// nothing is claimed, whatever wakes the scheduler; after open_ms exactly one probe goes out; a
// failed probe pauses it again (no second kPaused), a successful one resumes it (kResumed) and
// the deliveries that waited go out with their attempt counts untouched.
TEST_F(SchedulerTest, CircuitOpensAfterNFailuresProbesOnceAndResumesOnSuccess) {
  OutboundDestination a = Destination("a", /*concurrency=*/1, /*max_attempts=*/10);
  a.circuit = CircuitPolicy{3, 1000};
  random_ = 0;  // retries due at once: without the breaker this would be a retry storm
  StartScheduler({a});
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Ingest("k" + std::to_string(i), {"a"}));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; })) << i;
    ASSERT_TRUE(http_.Answer(503));
  }
  const int64_t opened_at = clock_.NowMicros();
  ASSERT_TRUE(WaitFor([&] { return CircuitNotices().size() == 1; }));
  DeliveryNotice paused = CircuitNotices().at(0);
  EXPECT_EQ(paused.kind, DeliveryNotice::Kind::kPaused);
  EXPECT_EQ(paused.destination, "a");
  EXPECT_EQ(paused.consecutive_failures, 3u);
  EXPECT_EQ(paused.error, "HTTP 503: body");
  EXPECT_EQ(paused.at, opened_at);
  DestinationStats s = scheduler_->stats().at("a");
  EXPECT_EQ(s.circuit, CircuitState::kPaused);
  EXPECT_EQ(s.paused_since, opened_at);
  EXPECT_EQ(s.paused_until, opened_at + 1'000'000);
  EXPECT_EQ(s.circuit_opens, 1u);

  // Paused: a wake, a new commit, time short of open_ms: nothing is claimed.
  scheduler_->Wake();
  ids.push_back(Ingest("k5", {"a"}));
  AdvanceAndSettle(900'000);
  EXPECT_EQ(http_.pending(), 0u);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM attempts"), 3);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM deliveries WHERE lease_expires_at > 0"), 0);

  // open_ms has passed: one probe, and only one.
  AdvanceAndSettle(100'000);
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  EXPECT_EQ(scheduler_->stats().at("a").circuit, CircuitState::kProbing);
  AdvanceAndSettle(0);
  EXPECT_EQ(http_.pending(), 1u);
  // It fails: paused again for open_ms, without a second kPaused or a second opening.
  ASSERT_TRUE(http_.Answer(503));
  AdvanceAndSettle(0);
  s = scheduler_->stats().at("a");
  EXPECT_EQ(s.circuit, CircuitState::kPaused);
  EXPECT_EQ(s.paused_since, opened_at);
  EXPECT_EQ(s.paused_until, clock_.NowMicros() + 1'000'000);
  EXPECT_EQ(s.circuit_opens, 1u);
  EXPECT_EQ(http_.pending(), 0u);
  EXPECT_EQ(CircuitNotices().size(), 1u);

  // The next probe succeeds: resumed, everything that waited goes out.
  AdvanceAndSettle(1'000'000);
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  ASSERT_TRUE(http_.Answer(200));
  ASSERT_TRUE(WaitFor([&] { return CircuitNotices().size() == 2; }));
  DeliveryNotice resumed = CircuitNotices().at(1);
  EXPECT_EQ(resumed.kind, DeliveryNotice::Kind::kResumed);
  EXPECT_EQ(resumed.destination, "a");
  EXPECT_EQ(resumed.paused_us, 2'000'000);
  s = scheduler_->stats().at("a");
  EXPECT_EQ(s.circuit, CircuitState::kActive);
  EXPECT_EQ(s.paused_since, 0);
  EXPECT_EQ(s.paused_until, 0);
  for (int answered = 0; answered < 5; ++answered) {
    ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; })) << answered;
    ASSERT_TRUE(http_.Answer(200));
  }
  ASSERT_TRUE(WaitFor([&] {
    return QueryInt(path_, "SELECT count(*) FROM deliveries WHERE status = 'succeeded'") == 6;
  }));
  // 3 failures + 1 failed probe + 1 successful probe + 5: no attempt was spent while paused.
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM attempts"), 10);
  EXPECT_EQ(QueryInt(path_, "SELECT max(attempts) FROM deliveries"), 5);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM deliveries WHERE attempts = 1"), 5);
  EXPECT_EQ(CircuitNotices().size(), 2u);
}

// After an outage in which every delivery ended (here: one attempt, failed), open_ms passes
// with nothing to probe: the circuit stays paused (waiting for a delivery to probe, not
// "probing" for ever), and the next delivery is the probe that resumes it.
TEST_F(SchedulerTest, CircuitWithNothingDueStaysPausedUntilADeliveryCanProbe) {
  OutboundDestination a = Destination("a", /*concurrency=*/1, /*max_attempts=*/1);
  a.circuit = CircuitPolicy{1, 1000};
  StartScheduler({a});
  std::string first = Ingest("k0", {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  ASSERT_TRUE(http_.Answer(503));
  ASSERT_TRUE(WaitFor([&] { return DeliveryStatus(first) == "failed"; }));
  ASSERT_TRUE(WaitFor([&] { return CircuitNotices().size() == 1; }));
  AdvanceAndSettle(2'000'000);
  AdvanceAndSettle(0);  // woken again past open_ms, still nothing due
  DestinationStats s = scheduler_->stats().at("a");
  EXPECT_EQ(s.circuit, CircuitState::kPaused);
  EXPECT_LT(s.paused_until, clock_.NowMicros());  // the console: "waiting for a delivery to probe"
  EXPECT_EQ(http_.pending(), 0u);
  // A new delivery is the probe; its success resumes the destination.
  Ingest("k1", {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  EXPECT_EQ(scheduler_->stats().at("a").circuit, CircuitState::kProbing);
  ASSERT_TRUE(http_.Answer(200));
  ASSERT_TRUE(WaitFor([&] { return CircuitNotices().size() == 2; }));
  EXPECT_EQ(CircuitNotices().at(1).kind, DeliveryNotice::Kind::kResumed);
  EXPECT_EQ(scheduler_->stats().at("a").circuit, CircuitState::kActive);
}

// Attempts in flight when the circuit opens finish and are recorded, but their outcomes no
// longer move it: their failures neither pause it again nor make the pause longer, and one that
// succeeds while the probe is out is not taken for the probe.
TEST_F(SchedulerTest, CircuitIgnoresOutcomesOfAttemptsInFlightWhenItOpened) {
  OutboundDestination a = Destination("a", /*concurrency=*/6, /*max_attempts=*/10);
  a.circuit = CircuitPolicy{2, 1000};
  random_ = UINT64_MAX / 2;
  StartScheduler({a});
  for (int i = 0; i < 8; ++i) Ingest("k" + std::to_string(i), {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 6; }));
  ASSERT_TRUE(http_.Answer(0));
  ASSERT_TRUE(http_.Answer(0));
  const int64_t opened_at = clock_.NowMicros();
  ASSERT_TRUE(WaitFor([&] { return CircuitNotices().size() == 1; }));
  clock_.Advance(600'000);
  ASSERT_TRUE(http_.Answer(500));
  ASSERT_TRUE(WaitFor([&] { return QueryInt(path_, "SELECT count(*) FROM attempts") == 3; }));
  DestinationStats s = scheduler_->stats().at("a");
  EXPECT_EQ(s.circuit, CircuitState::kPaused);
  EXPECT_EQ(s.paused_until, opened_at + 1'000'000);  // not extended
  EXPECT_EQ(s.circuit_opens, 1u);
  EXPECT_EQ(s.consecutive_failures, 3u);  // the health counter still sees it
  AdvanceAndSettle(0);
  EXPECT_EQ(http_.pending(), 3u);  // the three still in flight; nothing new

  // The pause ends when it was due to: 400 ms later, one probe (not one per free slot).
  AdvanceAndSettle(400'000);
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 4; }));
  AdvanceAndSettle(0);
  EXPECT_EQ(http_.pending(), 4u);
  EXPECT_EQ(scheduler_->stats().at("a").circuit, CircuitState::kProbing);
  // Old attempts come back while the probe is out (Answer takes the oldest): a failure does
  // not pause it again, a success does not resume it.
  ASSERT_TRUE(http_.Answer(500));
  ASSERT_TRUE(http_.Answer(200));
  ASSERT_TRUE(WaitFor([&] { return QueryInt(path_, "SELECT count(*) FROM attempts") == 5; }));
  AdvanceAndSettle(0);
  EXPECT_EQ(scheduler_->stats().at("a").circuit, CircuitState::kProbing);
  EXPECT_EQ(http_.pending(), 2u);
  EXPECT_EQ(CircuitNotices().size(), 1u);
  // The probe itself decides.
  ASSERT_TRUE(http_.Answer(0));    // the last old one
  ASSERT_TRUE(http_.Answer(200));  // the probe
  ASSERT_TRUE(WaitFor([&] { return CircuitNotices().size() == 2; }));
  EXPECT_EQ(scheduler_->stats().at("a").circuit, CircuitState::kActive);
}

// The rate limit: a claim takes only what the limiter allows; the rest waits for a slot (the
// scheduler's timed wait, not a sleep), and the cut claims are counted. A slot frees a second
// after its attempt ended, so an attempt still in flight holds its slot however long it takes.
TEST_F(SchedulerTest, RateLimitHoldsAttemptsToPerSecond) {
  OutboundDestination a = Destination("a", /*concurrency=*/8);
  a.rate_limit.per_second = 2;
  StartScheduler({a});
  for (int i = 0; i < 5; ++i) Ingest("k" + std::to_string(i), {"a"});
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 2; }));
  AdvanceAndSettle(2'000'000);
  EXPECT_EQ(http_.pending(), 2u);  // both still in flight: their slots are held
  EXPECT_GE(scheduler_->stats().at("a").rate_limited, 1u);
  ASSERT_TRUE(http_.Answer(200));
  ASSERT_TRUE(http_.Answer(200));
  AdvanceAndSettle(999'999);
  EXPECT_EQ(http_.pending(), 0u);  // a second has not passed since they ended
  AdvanceAndSettle(1);
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 2; }));
  AdvanceAndSettle(0);
  EXPECT_EQ(http_.pending(), 2u);
  ASSERT_TRUE(http_.Answer(200));
  ASSERT_TRUE(http_.Answer(200));
  AdvanceAndSettle(1'000'000);
  ASSERT_TRUE(WaitFor([&] { return http_.pending() == 1; }));
  ASSERT_TRUE(http_.Answer(200));
  ASSERT_TRUE(WaitFor([&] {
    return QueryInt(path_, "SELECT count(*) FROM deliveries WHERE status = 'succeeded'") == 5;
  }));
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM attempts"), 5);
}

TEST(RateLimiterTest, NeverMoreThanPerSecondInAnyWindow) {
  RateLimiter none(0);
  EXPECT_FALSE(none.limited());
  EXPECT_EQ(none.Allowed(0, 1000), 1000);

  RateLimiter r(20);
  EXPECT_EQ(r.Allowed(0, 8), 8);
  r.Started(8);
  EXPECT_EQ(r.Allowed(0, 20), 12);
  r.Started(12);
  EXPECT_EQ(r.Allowed(5'000'000, 1), 0);  // all 20 in flight: no slot frees, however late
  EXPECT_EQ(r.NextFree(), 0);             // an end will tell
  for (int i = 0; i < 8; ++i) r.Ended(100'000);
  for (int i = 0; i < 12; ++i) r.Ended(300'000);
  EXPECT_EQ(r.Allowed(1'099'999, 8), 0);
  EXPECT_EQ(r.NextFree(), 1'100'000);
  EXPECT_EQ(r.Allowed(1'100'000, 20), 8);  // the first 8 slots free, the rest still held
  r.Started(8);
  EXPECT_EQ(r.Allowed(1'300'000, 20), 12);

  // A fractional part above 1 is rounded down: 2 in every window is 2 per second.
  RateLimiter f(2.5);
  EXPECT_EQ(f.Allowed(0, 10), 2);
  // Below 1: one attempt per 1/per_second seconds.
  RateLimiter half(0.5);
  EXPECT_EQ(half.Allowed(0, 10), 1);
  half.Started(1);
  half.Ended(10'000);
  EXPECT_EQ(half.Allowed(2'009'999, 10), 0);
  EXPECT_EQ(half.NextFree(), 2'010'000);
  EXPECT_EQ(half.Allowed(2'010'000, 10), 1);
}

TEST(AttemptErrorTextTest, IsOneShortLineOfTheStatusAndBodyOrTheTransportError) {
  OutboundResponse r;
  r.status = 503;
  r.body_excerpt = "Service\r\n  down\x01 for maintenance\n";
  EXPECT_EQ(AttemptErrorText(r), "HTTP 503: Service down for maintenance");
  r.body_excerpt = "";
  EXPECT_EQ(AttemptErrorText(r), "HTTP 503");
  r.body_excerpt = std::string(1024, 'x');
  EXPECT_EQ(AttemptErrorText(r).size(), kLastErrorBytes);
  EXPECT_TRUE(AttemptErrorText(r).starts_with("HTTP 503: xxx"));
  // Cut at a character boundary: "HTTP 500: x" is 11 bytes, then two-byte characters, so byte
  // 200 is the second byte of one.
  r.status = 500;
  r.body_excerpt = "x";
  for (int i = 0; i < 200; ++i) r.body_excerpt += "\xc3\xa9";  // é
  std::string cut = AttemptErrorText(r);
  EXPECT_EQ(cut.size(), kLastErrorBytes - 1);
  EXPECT_EQ(static_cast<unsigned char>(cut.back()), 0xa9);

  OutboundResponse transport;
  transport.error = "Couldn't connect to server";
  EXPECT_EQ(AttemptErrorText(transport), "Couldn't connect to server");
  transport.error = std::string(500, 'e');
  EXPECT_EQ(AttemptErrorText(transport).size(), kLastErrorBytes);
  EXPECT_EQ(AttemptErrorText(OutboundResponse{}), "no response");
}

}  // namespace
}  // namespace hookvault::server
