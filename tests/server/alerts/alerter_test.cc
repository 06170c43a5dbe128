// The Alerter with a fake EventWriter and a fake clock: RunOnce() is called by the test (no
// thread), so every round is deterministic.
#include "server/alerts/alerter.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_event_writer.h"

namespace hookvault::server {
namespace {

using testing::FakeClock;
using testing::FakeEventWriter;

constexpr int64_t kMs = 1000;

class AlerterTest : public ::testing::Test {
 protected:
  AlerterOptions Options() {
    AlerterOptions o;
    o.destinations = {"crm", "erp"};
    o.min_interval_ms = 60000;
    o.node = "node-a";
    o.unavailable_answers = [this] { return answers_; };
    return o;
  }

  static DeliveryNotice Exhausted(const std::string& destination, int i) {
    DeliveryNotice n;
    n.kind = DeliveryNotice::Kind::kExhausted;
    n.destination = destination;
    n.at = 1'790'000'000'000'000 + i;
    n.delivery_id = 100 + i;
    n.event_id = "evt_" + std::to_string(i);
    n.attempts = 3;
    n.error = "HTTP 500: error " + std::to_string(i);
    return n;
  }

  // The i-th submitted alert's payload.
  rapidjson::Document Payload(size_t i) {
    rapidjson::Document d;
    d.Parse(writer_.events().at(i).record.event->body.c_str());
    EXPECT_FALSE(d.HasParseError());
    return d;
  }
  const storage::NewEvent& Event(size_t i) { return *writer_.events().at(i).record.event; }

  uint64_t answers_ = 0;
  FakeClock clock_;
  FakeEventWriter writer_;
};

TEST_F(AlerterTest, FirstAlertAtOnceTheRestFoldedIntoOneSummary) {
  Alerter alerter(writer_, clock_, Options());
  for (int i = 1; i <= 50; ++i) {
    alerter.Notify(Exhausted("crm", i));
    clock_.Advance(100 * kMs);
  }
  alerter.RunOnce();
  ASSERT_EQ(writer_.events().size(), 1u);
  const storage::NewEvent& first = Event(0);
  EXPECT_EQ(first.source, "_hookvault");
  EXPECT_EQ(first.event_type, "delivery.exhausted");
  EXPECT_EQ(first.destinations, std::vector<std::string>{"_hookvault"});
  EXPECT_FALSE(writer_.events()[0].record.log.has_value());
  rapidjson::Document p = Payload(0);
  EXPECT_STREQ(p["type"].GetString(), "delivery.exhausted");
  EXPECT_STREQ(p["destination"].GetString(), "crm");
  EXPECT_STREQ(p["node"].GetString(), "node-a");
  EXPECT_FALSE(p["summary"].GetBool());
  EXPECT_EQ(p["count"].GetUint64(), 1u);
  EXPECT_STREQ(p["first"]["event_id"].GetString(), "evt_1");
  EXPECT_EQ(p["first"]["delivery_id"].GetInt64(), 101);
  EXPECT_EQ(p["first"]["attempts"].GetInt(), 3);
  EXPECT_STREQ(p["first"]["error"].GetString(), "HTTP 500: error 1");
  EXPECT_STREQ(p["link"].GetString(), "/console/#/events/evt_1");
  writer_.Commit(0, {"evt_alert_1", 1, false});
  EXPECT_EQ(alerter.counts()["delivery.exhausted"].stored, 1u);
  EXPECT_EQ(alerter.counts()["delivery.exhausted"].suppressed, 49u);

  // Within the interval (5 s of 60 have passed): nothing more.
  alerter.RunOnce();
  EXPECT_EQ(writer_.events().size(), 1u);
  clock_.Advance(55 * 1000 * kMs);
  alerter.RunOnce();
  ASSERT_EQ(writer_.events().size(), 2u);
  rapidjson::Document s = Payload(1);
  EXPECT_TRUE(s["summary"].GetBool());
  EXPECT_EQ(s["count"].GetUint64(), 49u);
  EXPECT_EQ(s["interval_ms"].GetInt64(), 60000);
  EXPECT_STREQ(s["first"]["event_id"].GetString(), "evt_2");
  EXPECT_STREQ(s["last"]["event_id"].GetString(), "evt_50");
  EXPECT_STREQ(s["first"]["error"].GetString(), "HTTP 500: error 2");
  EXPECT_STREQ(s["last"]["error"].GetString(), "HTTP 500: error 50");
  EXPECT_STREQ(s["link"].GetString(), "/console/#/failed");
  EXPECT_NE(Event(0).idempotency_key, Event(1).idempotency_key);
  writer_.Commit(1, {"evt_alert_2", 2, false});
  EXPECT_EQ(alerter.counts()["delivery.exhausted"].stored, 2u);

  // A quiet interval later the next failure is alerted at once again.
  clock_.Advance(61 * 1000 * kMs);
  alerter.RunOnce();
  EXPECT_EQ(writer_.events().size(), 2u);
  alerter.Notify(Exhausted("crm", 51));
  alerter.RunOnce();
  ASSERT_EQ(writer_.events().size(), 3u);
  EXPECT_FALSE(Payload(2)["summary"].GetBool());
}

TEST_F(AlerterTest, KindsAndDestinationsAreLimitedSeparately) {
  Alerter alerter(writer_, clock_, Options());
  alerter.Notify(Exhausted("crm", 1));
  alerter.Notify(Exhausted("erp", 2));
  DeliveryNotice paused;
  paused.kind = DeliveryNotice::Kind::kPaused;
  paused.destination = "crm";
  paused.at = clock_.NowMicros();
  paused.consecutive_failures = 20;
  paused.error = "connection refused";
  alerter.Notify(paused);
  DeliveryNotice resumed;
  resumed.kind = DeliveryNotice::Kind::kResumed;
  resumed.destination = "crm";
  resumed.at = clock_.NowMicros();
  resumed.paused_us = 30'500'000;
  alerter.Notify(resumed);
  alerter.RunOnce();
  ASSERT_EQ(writer_.events().size(), 4u);
  std::multiset<std::string> types;
  for (size_t i = 0; i < 4; ++i) types.insert(Event(i).event_type);
  EXPECT_EQ(types, (std::multiset<std::string>{"delivery.exhausted", "delivery.exhausted",
                                               "destination.paused", "destination.resumed"}));
  rapidjson::Document p = Payload(2);
  EXPECT_STREQ(p["type"].GetString(), "destination.paused");
  EXPECT_EQ(p["first"]["consecutive_failures"].GetUint64(), 20u);
  EXPECT_STREQ(p["first"]["error"].GetString(), "connection refused");
  EXPECT_STREQ(p["link"].GetString(), "/console/#/destinations");
  rapidjson::Document r = Payload(3);
  EXPECT_STREQ(r["type"].GetString(), "destination.resumed");
  EXPECT_EQ(r["first"]["paused_ms"].GetInt64(), 30500);
}

TEST_F(AlerterTest, NeverAlertsAboutItsOwnDestinationNorUnknownOnes) {
  AlerterOptions options = Options();
  options.destinations.push_back("_hookvault");  // even where it is listed, as the scheduler does
  Alerter alerter(writer_, clock_, options);
  alerter.Notify(Exhausted("_hookvault", 1));
  DeliveryNotice paused;
  paused.kind = DeliveryNotice::Kind::kPaused;
  paused.destination = "_hookvault";
  alerter.Notify(paused);
  alerter.Notify(Exhausted("not-configured", 2));
  alerter.RunOnce();
  EXPECT_EQ(writer_.events().size(), 0u);
  EXPECT_EQ(alerter.slots(), 0u);
}

TEST_F(AlerterTest, MemoryIsBoundedByKindsTimesDestinations) {
  Alerter alerter(writer_, clock_, Options());
  // Nothing is ever stored (the writer never commits): everything must fold in place.
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 500; ++i) {
      for (const char* d : {"crm", "erp"}) {
        alerter.Notify(Exhausted(d, i));
        DeliveryNotice n = Exhausted(d, i);
        n.kind = DeliveryNotice::Kind::kPaused;
        alerter.Notify(n);
        n.kind = DeliveryNotice::Kind::kResumed;
        alerter.Notify(n);
      }
      if (i < 3) alerter.Notify(Exhausted("unknown-" + std::to_string(i), i));
    }
    clock_.Advance(61 * 1000 * kMs);
    alerter.RunOnce();
  }
  EXPECT_EQ(alerter.slots(), 6u);
  EXPECT_EQ(alerter.unstored(), 6u);
  EXPECT_EQ(writer_.events().size(), 6u);  // one each, waiting for their commit
  EXPECT_EQ(alerter.counts()["delivery.exhausted"].suppressed, 2u * 20 * 500 - 2);
}

TEST_F(AlerterTest, StorageOutageIsStoredOnRecoveryRightBeforeRecovered) {
  Alerter alerter(writer_, clock_, Options());
  answers_ = 7;  // 503s before the outage do not count
  alerter.RunOnce();
  const int64_t since = clock_.NowMicros();
  writer_.set_healthy(false);
  answers_ = 12;  // the failed transaction's answers come before the alerter sees it
  alerter.RunOnce();
  EXPECT_EQ(writer_.probes().size(), 1u) << "a probe finds out when it is writable again";
  alerter.Notify(Exhausted("crm", 1));
  clock_.Advance(500 * kMs);
  answers_ = 40;
  alerter.RunOnce();
  EXPECT_EQ(writer_.events().size(), 0u) << "nothing is submitted while the store is down";
  EXPECT_EQ(writer_.probes().size(), 1u);
  clock_.Advance(600 * kMs);
  alerter.RunOnce();
  EXPECT_EQ(writer_.probes().size(), 2u);

  writer_.set_healthy(true);
  const int64_t until = clock_.NowMicros();
  alerter.RunOnce();
  ASSERT_EQ(writer_.events().size(), 3u);
  EXPECT_EQ(Event(0).event_type, "delivery.exhausted");
  EXPECT_EQ(Event(1).event_type, "storage.unavailable");
  EXPECT_EQ(Event(2).event_type, "storage.recovered");
  rapidjson::Document u = Payload(1);
  EXPECT_STREQ(u["since"].GetString(), storage::FormatRfc3339(since).c_str());
  EXPECT_STREQ(u["until"].GetString(), storage::FormatRfc3339(until).c_str());
  EXPECT_EQ(u["answered_503"].GetUint64(), 33u);
  EXPECT_EQ(u["first"]["unavailable_ms"].GetInt64(), 1100);
  EXPECT_FALSE(u.HasMember("destination"));
  EXPECT_STREQ(u["link"].GetString(), "/console/#/overview");
  rapidjson::Document r = Payload(2);
  EXPECT_STREQ(r["until"].GetString(), storage::FormatRfc3339(until).c_str());

  // A second outage within the interval is folded into one summary.
  for (size_t i = 0; i < 3; ++i) writer_.Commit(i, {"a" + std::to_string(i), 1, false});
  writer_.set_healthy(false);
  alerter.RunOnce();
  clock_.Advance(2000 * kMs);
  writer_.set_healthy(true);
  alerter.RunOnce();
  EXPECT_EQ(writer_.events().size(), 3u);
  clock_.Advance(60 * 1000 * kMs);
  alerter.RunOnce();
  ASSERT_EQ(writer_.events().size(), 5u);
  EXPECT_EQ(Event(3).event_type, "storage.unavailable");
  EXPECT_TRUE(Payload(3)["summary"].GetBool());
  EXPECT_EQ(Payload(3)["count"].GetUint64(), 1u);
}

TEST_F(AlerterTest, AFailedOrRefusedWriteIsSubmittedAgainWithTheSameKey) {
  Alerter alerter(writer_, clock_, Options());
  alerter.Notify(Exhausted("crm", 1));
  alerter.RunOnce();
  ASSERT_EQ(writer_.events().size(), 1u);
  const std::string key = Event(0).idempotency_key;
  writer_.Fail(0, storage::Status::Unavailable("disk full"));
  EXPECT_EQ(alerter.unstored(), 1u);
  writer_.set_refuse_events(true);
  alerter.RunOnce();
  EXPECT_EQ(writer_.events().size(), 1u);
  writer_.set_refuse_events(false);
  alerter.RunOnce();
  ASSERT_EQ(writer_.events().size(), 2u);
  EXPECT_EQ(Event(1).idempotency_key, key);
  writer_.Commit(1, {"evt_a", 1, false});
  EXPECT_EQ(alerter.unstored(), 0u);
  EXPECT_EQ(alerter.counts()["delivery.exhausted"].stored, 1u);
}

TEST_F(AlerterTest, StopSendsWhatIsFoldedInsteadOfLosingIt) {
  Alerter alerter(writer_, clock_, Options());
  alerter.Notify(Exhausted("crm", 1));
  alerter.RunOnce();
  writer_.Commit(0, {"evt_a", 1, false});
  alerter.Notify(Exhausted("crm", 2));
  alerter.Notify(Exhausted("crm", 3));
  alerter.RunOnce();
  EXPECT_EQ(writer_.events().size(), 1u);
  alerter.Stop();
  ASSERT_EQ(writer_.events().size(), 2u);
  rapidjson::Document s = Payload(1);
  EXPECT_TRUE(s["summary"].GetBool());
  EXPECT_EQ(s["count"].GetUint64(), 2u);
}

// A writer the alerter's thread may call while the test reads: it commits every event at once.
class CommittingWriter final : public storage::EventWriter {
 public:
  storage::Status SubmitEvent(storage::IngestRecord record, storage::WriteCallback done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      types_.push_back(record.event->event_type);
    }
    done(storage::Status::Ok(), storage::AppendResult{"evt", 1, false});
    return storage::Status::Ok();
  }
  storage::Status SubmitLog(storage::RequestLogEntry) override { return storage::Status::Ok(); }
  storage::Status SubmitProbe(std::function<void(const storage::Status&)> done) override {
    done(storage::Status::Ok());
    return storage::Status::Ok();
  }
  bool healthy() const override { return true; }
  std::vector<std::string> types() const {
    std::lock_guard<std::mutex> lock(mu_);
    return types_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> types_;
};

TEST_F(AlerterTest, ItsThreadSubmitsWhatNoticesBringAndStopSendsTheRest) {
  CommittingWriter writer;
  storage::SystemClock clock;
  AlerterOptions options = Options();
  options.poll_ms = 10000;  // only a notice can make it submit within the test
  Alerter alerter(writer, clock, options);
  alerter.Start();
  alerter.Notify(Exhausted("crm", 1));
  for (int i = 0; i < 500 && writer.types().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(writer.types(), std::vector<std::string>{"delivery.exhausted"});
  alerter.Notify(Exhausted("crm", 2));  // folded: the interval is a minute
  alerter.Stop();
  EXPECT_EQ(writer.types(), (std::vector<std::string>{"delivery.exhausted", "delivery.exhausted"}));
  EXPECT_EQ(alerter.counts()["delivery.exhausted"].stored, 2u);
  EXPECT_EQ(alerter.unstored(), 0u);
}

}  // namespace
}  // namespace hookvault::server
