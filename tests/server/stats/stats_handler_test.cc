// GET /api/v1/stats and GET /api/v1/destinations on a real SQLite backlog, the real Metrics and
// a real (idle) Scheduler: the answers come from the sampler's last sample only — a request
// makes no store call, counted by a fake that forwards to the real store — with the shapes of
// the API, percentiles from the latency histogram, no secret in /destinations, and the sampler
// thread's ticks and prompt stop.
#include "server/stats/stats_handler.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "server/stats/stats_sampler.h"
#include "storage/group_commit_writer.h"
#include "storage/sqlite/query_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::server {
namespace {

constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// Forwards to a real store and counts every call; Pending() can be made to fail.
class CountingQueryStore final : public storage::QueryStore {
 public:
  explicit CountingQueryStore(storage::QueryStore& inner) : inner_(inner) {}

  int calls() const { return calls_.load(); }
  void set_fail_pending(bool fail) { fail_pending_ = fail; }

  storage::StatusOr<storage::PendingSummary> Pending() override {
    ++calls_;
    if (fail_pending_) return storage::Status::Unavailable("disk I/O error");
    return inner_.Pending();
  }
  storage::StatusOr<std::vector<storage::EventRow>> Feed(const storage::FeedQuery& q) override {
    ++calls_;
    return inner_.Feed(q);
  }
  storage::StatusOr<int64_t> LatestSeq() override {
    ++calls_;
    return inner_.LatestSeq();
  }
  storage::StatusOr<std::vector<storage::EventRow>> ListEvents(const storage::EventFilter& f,
                                                               const storage::Page& p) override {
    ++calls_;
    return inner_.ListEvents(f, p);
  }
  storage::StatusOr<std::optional<storage::EventRow>> GetEvent(const std::string& id) override {
    ++calls_;
    return inner_.GetEvent(id);
  }
  storage::StatusOr<std::vector<storage::DeliveryRow>> EventDeliveries(int64_t seq) override {
    ++calls_;
    return inner_.EventDeliveries(seq);
  }
  storage::StatusOr<std::vector<storage::AttemptRow>> EventAttempts(
      int64_t seq, const storage::Page& p) override {
    ++calls_;
    return inner_.EventAttempts(seq, p);
  }
  storage::StatusOr<std::vector<storage::DeliveryRow>> ListDeliveries(
      const storage::DeliveryFilter& f, const storage::Page& p) override {
    ++calls_;
    return inner_.ListDeliveries(f, p);
  }
  storage::StatusOr<int64_t> CountDeliveries(
      const std::vector<storage::DeliveryFilter>& filters) override {
    ++calls_;
    return inner_.CountDeliveries(filters);
  }
  storage::StatusOr<std::vector<storage::AttemptRow>> ListAttempts(
      const storage::AttemptFilter& f, const storage::Page& p) override {
    ++calls_;
    return inner_.ListAttempts(f, p);
  }
  storage::StatusOr<std::vector<storage::RequestRow>> ListRequests(
      const storage::RequestFilter& f, const storage::Page& p) override {
    ++calls_;
    return inner_.ListRequests(f, p);
  }
  storage::StatusOr<std::vector<storage::AuditRow>> ListAudit(const storage::TimeFilter& f,
                                                              const storage::Page& p) override {
    ++calls_;
    return inner_.ListAudit(f, p);
  }
  storage::StatusOr<storage::AuditVerification> VerifyAudit() override {
    ++calls_;
    return inner_.VerifyAudit();
  }
  storage::StatusOr<std::optional<storage::ConsumerRow>> GetConsumer(
      const std::string& name) override {
    ++calls_;
    return inner_.GetConsumer(name);
  }
  storage::StatusOr<std::vector<storage::ConsumerRow>> ListConsumers() override {
    ++calls_;
    return inner_.ListConsumers();
  }

 private:
  storage::QueryStore& inner_;
  std::atomic<int> calls_{0};
  std::atomic<bool> fail_pending_{false};
};

// Never called: the scheduler of these tests is not started.
class UnusedHttpClient final : public HttpClient {
 public:
  void Post(OutboundRequest, std::function<void(OutboundResponse)> done) override {
    ADD_FAILURE() << "no request expected";
    done(OutboundResponse{});
  }
};

std::vector<DestinationConfig> Destinations() {
  DestinationConfig a;
  a.name = "billing";
  a.url = "https://ops:s3cret-pw@billing.example:8443/hooks/in?token=q-secret#frag";
  a.signing_secret = kSecret;
  a.timeout_ms = 8000;
  a.max_attempts = 4;
  a.filter = {"billing", {"pms"}, {"booking.*"}, {}, {}};
  rapidjson::Document conditions;
  conditions.Parse(R"([{"pointer": "/amount", "gte": 100},
                       {"pointer": "/booking/status", "in": ["confirmed", "paid"]}])");
  auto payload = api::PayloadFilter::Parse(conditions);
  EXPECT_TRUE(payload.ok()) << payload.status().message();
  if (payload.ok()) a.filter.payload = *payload;
  DestinationConfig b;
  b.name = "crm";
  b.url = "http://127.0.0.1:9/crm";
  b.timeout_ms = 3000;
  b.max_attempts = 10;
  b.filter = {"crm", {}, {}, {}, {}};
  return {a, b};
}

class StatsHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_);
    ASSERT_NE(stores_, nullptr);
    writer_ =
        std::make_unique<storage::GroupCommitWriter>(*stores_->events, storage::WriterOptions{});
    auto queries = storage::SqliteQueryStore::Open({.path = path_}, 2);
    ASSERT_TRUE(queries.ok()) << queries.status().ToString();
    queries_ = std::move(queries).value();
    counting_ = std::make_unique<CountingQueryStore>(*queries_);
    std::vector<OutboundDestination> outbound;
    for (const DestinationConfig& d : Destinations()) outbound.push_back(d);
    scheduler_ = std::make_unique<Scheduler>(std::move(outbound), *writer_, *stores_->deliveries,
                                             http_, clock_, [] { return uint64_t{0}; });
    recorder_ = std::make_unique<StatsRecorder>(clock_.NowMicros());
    handler_ = std::make_unique<StatsHandler>(*recorder_, Destinations(), clock_);
  }
  void TearDown() override {
    if (sampler_) sampler_->Stop();
    if (writer_) writer_->Stop();
  }

  std::unique_ptr<StatsSampler> MakeSampler(std::chrono::milliseconds tick) {
    return std::make_unique<StatsSampler>(
        *recorder_, [this] { return ReadStatsCounters(metrics_, *scheduler_, *counting_); }, clock_,
        tick);
  }

  // Stores an event with a delivery to each of `destinations` (pending: nothing sends it).
  void Ingest(const std::string& key, std::vector<std::string> destinations) {
    storage::NewEvent e;
    e.source = "pms";
    e.event_type = "booking.created";
    e.idempotency_key = key;
    e.headers_json = "{}";
    e.body = "{}";
    e.received_at = clock_.NowMicros();
    e.destinations = std::move(destinations);
    std::promise<bool> done;
    auto stored = done.get_future();
    ASSERT_TRUE(writer_
                    ->SubmitEvent(storage::IngestRecord{std::move(e), std::nullopt},
                                  [&](const storage::Status& s, const storage::AppendResult&) {
                                    done.set_value(s.ok());
                                  })
                    .ok());
    ASSERT_TRUE(stored.get());
  }

  api::ApiResponse Call(bool stats, api::HeaderList query = {}) {
    api::ApiRequest req;
    req.method = "GET";
    req.path = stats ? "/api/v1/stats" : "/api/v1/destinations";
    req.query = std::move(query);
    api::ApiResponse out;
    auto respond = [&](api::ApiResponse r) { out = std::move(r); };
    if (stats) {
      handler_->Stats(req, respond);
    } else {
      handler_->Destinations(req, respond);
    }
    return out;
  }

  rapidjson::Document Json(const api::ApiResponse& r) {
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    EXPECT_FALSE(d.HasParseError()) << r.body;
    return d;
  }

  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_{1'800'000'003'000'000};
  std::unique_ptr<storage::SqliteStores> stores_;
  std::unique_ptr<storage::GroupCommitWriter> writer_;
  std::unique_ptr<storage::SqliteQueryStore> queries_;
  std::unique_ptr<CountingQueryStore> counting_;
  Metrics metrics_{{"pms"}, "test"};
  UnusedHttpClient http_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<StatsRecorder> recorder_;
  std::unique_ptr<StatsSampler> sampler_;
  std::unique_ptr<StatsHandler> handler_;
};

TEST_F(StatsHandlerTest, RequestsAreAnsweredFromTheLastSampleWithoutAStoreCall) {
  Ingest("k1", {"billing"});
  Ingest("k2", {"billing", "crm"});
  metrics_.ObserveIngest("pms", 200, 0.001);
  metrics_.ObserveIngest("pms", 401, 0.001);
  sampler_ = MakeSampler(std::chrono::hours(1));
  sampler_->SampleNow();
  ASSERT_EQ(counting_->calls(), 1);  // the one backlog read of the sample

  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Call(true).status, 200);
    EXPECT_EQ(Call(true, {{"window", "31536000"}}).status, 200);
    EXPECT_EQ(Call(false).status, 200);
  }
  EXPECT_EQ(counting_->calls(), 1);

  rapidjson::Document d = Json(Call(true));
  EXPECT_EQ(d["totals"]["ingest"]["2xx"].GetUint64(), 1u);
  EXPECT_EQ(d["totals"]["ingest"]["4xx"].GetUint64(), 1u);
  const auto& last = d["buckets"][d["buckets"].Size() - 1];
  EXPECT_EQ(last["pending"].GetInt64(), 3);
  EXPECT_EQ(last["ingest"]["2xx"].GetUint64(), 1u);
  EXPECT_EQ(d["destinations"][0]["name"].GetString(), std::string("billing"));
  EXPECT_EQ(d["destinations"][0]["pending"].GetInt64(), 2);
  EXPECT_EQ(d["destinations"][1]["pending"].GetInt64(), 1);
  rapidjson::Document list = Json(Call(false));
  EXPECT_EQ(list["data"][0]["health"]["pending"].GetInt64(), 2);
}

TEST_F(StatsHandlerTest, AnswersTheShapeOfTheApi) {
  clock_.Advance(7'000'000);
  rapidjson::Document d = Json(Call(true));
  for (const char* key :
       {"now", "started_at", "window", "bucket_seconds", "buckets", "totals", "destinations"}) {
    EXPECT_TRUE(d.HasMember(key)) << key;
  }
  EXPECT_EQ(d.MemberCount(), 7u);
  EXPECT_EQ(d["now"].GetString(), storage::FormatRfc3339(clock_.NowMicros()));
  EXPECT_EQ(d["started_at"].GetString(), storage::FormatRfc3339(clock_.NowMicros() - 7'000'000));
  EXPECT_EQ(d["window"].GetInt64(), 900);
  EXPECT_EQ(d["bucket_seconds"].GetInt64(), 5);
  ASSERT_EQ(d["buckets"].Size(), 3u);  // from the start's bucket to the one in progress
  const auto& b = d["buckets"][0];
  EXPECT_EQ(b["start"].GetString(), std::string("2027-01-15T08:00:00.000000Z"));
  for (const char* key : {"start", "ingest", "deliveries", "pending", "oldest_pending_age_s"}) {
    EXPECT_TRUE(b.HasMember(key)) << key;
  }
  EXPECT_TRUE(b["pending"].IsNull());  // no sample yet
  EXPECT_EQ(b["ingest"].MemberCount(), 3u);
  EXPECT_EQ(b["deliveries"]["retried"].GetUint64(), 0u);
  // Destinations before any attempt: nulls where there is nothing to say.
  const auto& dest = d["destinations"][1];
  EXPECT_EQ(dest["name"].GetString(), std::string("crm"));
  EXPECT_EQ(dest["state"].GetString(), std::string("ok"));
  EXPECT_EQ(dest["attempts"].GetUint64(), 0u);
  for (const char* key : {"success_rate", "p50_ms", "p95_ms", "pending", "last_error",
                          "last_error_at", "last_success_at"}) {
    EXPECT_TRUE(dest[key].IsNull()) << key;
  }
  EXPECT_EQ(dest.MemberCount(), 15u);

  rapidjson::Document since = Json(Call(true, {{"window", "31536000"}}));
  EXPECT_EQ(since["window"].GetInt64(), 31536000);
  EXPECT_EQ(since["bucket_seconds"].GetInt64(), 60);
  EXPECT_EQ(since["buckets"].Size(), 1u);
}

TEST_F(StatsHandlerTest, DestinationHealthComesFromTheSchedulersCounters) {
  StatsCounters c;
  DestinationStats& billing = c.destinations["billing"];
  billing.attempts = 20;
  billing.succeeded = 17;
  billing.failed = 1;
  billing.retried = 2;
  billing.in_flight = 3;
  billing.latency_buckets[0] = 18;                               // <= 5 ms
  billing.latency_buckets[kAttemptLatencyBucketsMs.size()] = 2;  // beyond 5000 ms
  billing.consecutive_failures = 2;
  billing.last_error = "HTTP 500: down";
  billing.last_error_at = clock_.NowMicros() - 1'000'000;
  billing.last_success_at = clock_.NowMicros() - 9'000'000;
  DestinationStats& crm = c.destinations["crm"];
  crm.attempts = 20;
  crm.succeeded = 20;
  crm.latency_buckets[1] = 19;  // <= 10 ms
  crm.latency_buckets[kAttemptLatencyBucketsMs.size()] = 1;
  c.pending = storage::PendingSummary{4, {{"billing", 4}}, clock_.NowMicros() - 2'500'000};
  recorder_->Sample(clock_.NowMicros(), c);

  rapidjson::Document d = Json(Call(true));
  const auto& b = d["destinations"][0];
  EXPECT_EQ(b["state"].GetString(), std::string("failing"));
  EXPECT_EQ(b["attempts"].GetUint64(), 20u);
  EXPECT_EQ(b["succeeded"].GetUint64(), 17u);
  EXPECT_EQ(b["failed"].GetUint64(), 1u);
  EXPECT_EQ(b["retried"].GetUint64(), 2u);
  EXPECT_DOUBLE_EQ(b["success_rate"].GetDouble(), 0.85);
  EXPECT_DOUBLE_EQ(b["p50_ms"].GetDouble(), 5);
  // The 19th of 20 lies beyond the last bound: the destination's timeout bounds it.
  EXPECT_DOUBLE_EQ(b["p95_ms"].GetDouble(), 8000);
  EXPECT_EQ(b["pending"].GetInt64(), 4);
  EXPECT_EQ(b["in_flight"].GetInt(), 3);
  EXPECT_EQ(b["consecutive_failures"].GetUint64(), 2u);
  EXPECT_EQ(b["last_error"].GetString(), std::string("HTTP 500: down"));
  EXPECT_EQ(b["last_error_at"].GetString(), storage::FormatRfc3339(billing.last_error_at));
  EXPECT_EQ(b["last_success_at"].GetString(), storage::FormatRfc3339(billing.last_success_at));
  const auto& crm_json = d["destinations"][1];
  EXPECT_EQ(crm_json["state"].GetString(), std::string("ok"));
  EXPECT_DOUBLE_EQ(crm_json["success_rate"].GetDouble(), 1.0);
  EXPECT_DOUBLE_EQ(crm_json["p50_ms"].GetDouble(), 10);
  EXPECT_DOUBLE_EQ(crm_json["p95_ms"].GetDouble(), 10);
  EXPECT_EQ(crm_json["pending"].GetInt64(), 0);  // known, and nothing waits
  const auto& bucket = d["buckets"][d["buckets"].Size() - 1];
  EXPECT_EQ(bucket["pending"].GetInt64(), 4);
  EXPECT_DOUBLE_EQ(bucket["oldest_pending_age_s"].GetDouble(), 2.5);

  rapidjson::Document list = Json(Call(false));
  const auto& health = list["data"][0]["health"];
  EXPECT_EQ(list["data"][0]["state"].GetString(), std::string("failing"));
  EXPECT_FALSE(health.HasMember("name"));
  EXPECT_FALSE(health.HasMember("state"));
  EXPECT_EQ(health.MemberCount(), 13u);
  EXPECT_DOUBLE_EQ(health["p95_ms"].GetDouble(), 8000);
  EXPECT_EQ(health["last_error"].GetString(), std::string("HTTP 500: down"));
}

TEST_F(StatsHandlerTest, DestinationsShowTheConfigurationButNoSecret) {
  api::ApiResponse r = Call(false);
  ASSERT_EQ(r.status, 200);
  for (const char* secret : {"s3cret-pw", "q-secret", "whsec_", "frag", "ops:"}) {
    EXPECT_EQ(r.body.find(secret), std::string::npos) << secret << " in " << r.body;
  }
  rapidjson::Document d = Json(r);
  ASSERT_EQ(d["data"].Size(), 2u);
  const auto& billing = d["data"][0];
  EXPECT_EQ(billing["name"].GetString(), std::string("billing"));
  EXPECT_EQ(billing["url"].GetString(), std::string("https://billing.example:8443/hooks/in"));
  ASSERT_EQ(billing["sources"].Size(), 1u);
  EXPECT_EQ(billing["sources"][0].GetString(), std::string("pms"));
  EXPECT_EQ(billing["events"][0].GetString(), std::string("booking.*"));
  // The payload filter, as the normalised array (PayloadFilter::json()).
  ASSERT_TRUE(billing["filter"].IsArray()) << r.body;
  ASSERT_EQ(billing["filter"].Size(), 2u);
  EXPECT_EQ(billing["filter"][0]["pointer"].GetString(), std::string("/amount"));
  EXPECT_EQ(billing["filter"][0]["gte"].GetInt(), 100);
  EXPECT_EQ(billing["filter"][1]["pointer"].GetString(), std::string("/booking/status"));
  EXPECT_EQ(billing["filter"][1]["in"][1].GetString(), std::string("paid"));
  EXPECT_NE(r.body.find(R"("filter":[{"pointer":"/amount","gte":100},)"
                        R"({"pointer":"/booking/status","in":["confirmed","paid"]}])"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(billing["timeout_ms"].GetInt64(), 8000);
  EXPECT_EQ(billing["max_attempts"].GetInt(), 4);
  EXPECT_TRUE(billing["signed"].GetBool());
  EXPECT_EQ(billing["state"].GetString(), std::string("ok"));
  EXPECT_TRUE(billing["health"].IsObject());
  EXPECT_EQ(billing.MemberCount(), 13u);  // no "amqp": an https destination
  // The circuit's defaults and its state; no rate limit, no ordering.
  EXPECT_EQ(billing["circuit"]["failures"].GetInt(), 20);
  EXPECT_EQ(billing["circuit"]["open_ms"].GetInt64(), 30000);
  EXPECT_EQ(billing["circuit"]["state"].GetString(), std::string("active"));
  EXPECT_TRUE(billing["circuit"]["paused_since"].IsNull());
  EXPECT_TRUE(billing["circuit"]["paused_until"].IsNull());
  EXPECT_EQ(billing["circuit"]["opens"].GetUint64(), 0u);
  EXPECT_TRUE(billing["rate_limit"].IsNull());
  EXPECT_TRUE(billing["ordering"].IsNull());
  const auto& crm = d["data"][1];
  EXPECT_EQ(crm["url"].GetString(), std::string("http://127.0.0.1:9/crm"));
  EXPECT_EQ(crm["sources"].Size(), 0u);
  ASSERT_TRUE(crm["filter"].IsArray()) << r.body;
  EXPECT_EQ(crm["filter"].Size(), 0u);
  EXPECT_FALSE(crm["signed"].GetBool());
}

// A paused destination says so (state "paused", when it opened and when it is probed), with
// its limits, its ordering key and, for RabbitMQ, where it publishes (never the password).
TEST_F(StatsHandlerTest, DestinationsShowTheCircuitTheRateLimitTheOrderingAndTheAmqpTarget) {
  std::vector<DestinationConfig> config = Destinations();
  config[1].url = "amqp://hv:amqp-pw@127.0.0.1:5672/vh";
  config[1].amqp = AmqpTarget{"hooks", "crm.events"};
  config[1].rate_limit.per_second = 0.5;
  config[1].circuit = CircuitPolicy{3, 500};
  config[1].ordering = "/booking/id";
  StatsHandler handler(*recorder_, config, clock_);
  StatsCounters c;
  DestinationStats& crm = c.destinations["crm"];
  crm.circuit = CircuitState::kPaused;
  crm.paused_since = clock_.NowMicros() - 2'000'000;
  crm.paused_until = clock_.NowMicros() + 500'000;
  crm.circuit_opens = 2;
  crm.rate_limited = 7;
  c.destinations["billing"].circuit = CircuitState::kProbing;
  recorder_->Sample(clock_.NowMicros(), c);

  api::ApiRequest req;
  req.method = "GET";
  req.path = "/api/v1/destinations";
  api::ApiResponse r;
  handler.Destinations(req, [&](api::ApiResponse response) { r = std::move(response); });
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("amqp-pw"), std::string::npos) << r.body;
  rapidjson::Document d = Json(r);
  const auto& j = d["data"][1];
  EXPECT_EQ(j["state"].GetString(), std::string("paused"));
  EXPECT_EQ(j["circuit"]["state"].GetString(), std::string("paused"));
  EXPECT_EQ(j["circuit"]["failures"].GetInt(), 3);
  EXPECT_EQ(j["circuit"]["open_ms"].GetInt64(), 500);
  EXPECT_EQ(j["circuit"]["paused_since"].GetString(), storage::FormatRfc3339(crm.paused_since));
  EXPECT_EQ(j["circuit"]["paused_until"].GetString(), storage::FormatRfc3339(crm.paused_until));
  EXPECT_EQ(j["circuit"]["opens"].GetUint64(), 2u);
  EXPECT_DOUBLE_EQ(j["rate_limit"]["per_second"].GetDouble(), 0.5);
  EXPECT_EQ(j["rate_limit"]["limited"].GetUint64(), 7u);
  EXPECT_EQ(j["ordering"]["key"].GetString(), std::string("/booking/id"));
  EXPECT_EQ(j["amqp"]["exchange"].GetString(), std::string("hooks"));
  EXPECT_EQ(j["amqp"]["routing_key"].GetString(), std::string("crm.events"));
  EXPECT_EQ(j["url"].GetString(), DisplayUrl(config[1].url));
  // Probing is still paused for the summary state: one attempt, not the destination's flow.
  EXPECT_EQ(d["data"][0]["state"].GetString(), std::string("paused"));
  EXPECT_EQ(d["data"][0]["circuit"]["state"].GetString(), std::string("probing"));
}

TEST_F(StatsHandlerTest, RefusesAWindowOutOfRangeAndUnknownParameters) {
  for (api::HeaderList query : std::vector<api::HeaderList>{
           {{"window", "59"}},
           {{"window", "31536001"}},
           {{"window", "abc"}},
           {{"window", ""}},
           {{"window", "900"}, {"window", "900"}},
           {{"since", "1"}},
       }) {
    api::ApiResponse r = Call(true, query);
    EXPECT_EQ(r.status, 400) << query.front().first << "=" << query.front().second;
    EXPECT_EQ(r.content_type, "application/problem+json");
  }
  EXPECT_EQ(Call(true, {{"window", "60"}}).status, 200);
  EXPECT_EQ(Call(false, {{"limit", "1"}}).status, 400);
}

TEST_F(StatsHandlerTest, AnUnreadableBacklogIsUnknownNotZero) {
  Ingest("k1", {"billing"});
  metrics_.ObserveIngest("pms", 200, 0.001);
  counting_->set_fail_pending(true);
  sampler_ = MakeSampler(std::chrono::hours(1));
  sampler_->SampleNow();
  rapidjson::Document d = Json(Call(true));
  EXPECT_TRUE(d["buckets"][d["buckets"].Size() - 1]["pending"].IsNull());
  EXPECT_TRUE(d["destinations"][0]["pending"].IsNull());
  EXPECT_EQ(d["totals"]["ingest"]["2xx"].GetUint64(), 1u);  // the rest of the sample counts

  counting_->set_fail_pending(false);
  sampler_->SampleNow();
  d = Json(Call(true));
  EXPECT_EQ(d["destinations"][0]["pending"].GetInt64(), 1);
}

bool WaitFor(const std::function<bool()>& condition) {
  for (int i = 0; i < 2000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

using StatsSamplerTest = StatsHandlerTest;

TEST_F(StatsSamplerTest, SamplesAtOnceThenEveryTickAndStopsWithoutWaitingForTheTick) {
  metrics_.ObserveIngest("pms", 200, 0.001);
  sampler_ = MakeSampler(std::chrono::milliseconds(5));
  sampler_->Start();
  ASSERT_TRUE(WaitFor([&] { return counting_->calls() >= 3; }));
  sampler_->Stop();
  int calls = counting_->calls();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(counting_->calls(), calls);  // stopped: no more samples
  EXPECT_EQ(Json(Call(true))["totals"]["ingest"]["2xx"].GetUint64(), 1u);

  // With an hour's tick: one sample at start, and Stop() does not wait for the next one (it
  // would hang the test otherwise).
  sampler_ = MakeSampler(std::chrono::hours(1));
  sampler_->Start();
  ASSERT_TRUE(WaitFor([&] { return counting_->calls() == calls + 1; }));
  sampler_->Stop();
  EXPECT_EQ(counting_->calls(), calls + 1);
}

TEST_F(StatsSamplerTest, RequestsDuringSamplingSeeWholeSamples) {
  sampler_ = MakeSampler(std::chrono::milliseconds(1));
  sampler_->Start();
  std::atomic<bool> stop{false};
  std::thread ingest([&] {
    while (!stop) metrics_.ObserveIngest("pms", 200, 0.001);
  });
  uint64_t last = 0;
  for (int i = 0; i < 200; ++i) {
    rapidjson::Document d = Json(Call(true));
    uint64_t total = d["totals"]["ingest"]["2xx"].GetUint64();
    EXPECT_GE(total, last);  // never goes back
    uint64_t sum = 0;
    for (const auto& b : d["buckets"].GetArray()) sum += b["ingest"]["2xx"].GetUint64();
    EXPECT_EQ(sum, total);  // the buckets of a 15-minute-old process hold everything
    last = total;
  }
  stop = true;
  ingest.join();
  sampler_->Stop();
}

}  // namespace
}  // namespace hookvault::server
