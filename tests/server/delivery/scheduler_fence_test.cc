// The forwarding scheduler when attempt outcomes cannot be written, over real parts: a real
// SQLite file at its size limit (max_db_bytes), the real writer, the real libcurl client and a
// real sink that counts requests. Only time is fake, so that leases can expire at once.
//
// At the size limit a claim (an in-place UPDATE) still commits but an attempt row (an INSERT
// that needs a page) does not. The scheduler must then stop sending — no claims, no re-sends
// when leases expire — and once space returns, record each outcome once, with no finished
// delivery changing state afterwards.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/delivery/curl_http_client.h"
#include "server/delivery/scheduler.h"
#include "storage/group_commit_writer.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::server {
namespace {

using hookvault::testing::QueryInt;
using namespace std::chrono_literals;

constexpr int kEvents = 6;
constexpr int64_t kSecond = 1'000'000;

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

class SchedulerFenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(sink_.port(), 0);
    // The first request carrying a webhook-id gets 200; any later one 500: a re-sent delivery
    // would come back as a failure, and applying it would take "succeeded" back to "pending".
    sink_.SetHandler([this](const hookvault::testing::SinkRequest& r) {
      hookvault::testing::SinkReply reply;
      std::lock_guard<std::mutex> lock(mu_);
      reply.status = ++seen_[r.headers.at("webhook-id")] == 1 ? 200 : 500;
      reply.body = std::string(600, 'r');  // a response excerpt no leftover space can hold
      return reply;
    });
  }

  void TearDown() override {
    // The client's last completions go to the stopped scheduler (which drops them): the client
    // goes first.
    if (scheduler_) scheduler_->Stop();
    http_.reset();
    scheduler_.reset();
    if (writer_) writer_->Stop();
  }

  void OpenWriter(int64_t max_db_bytes) {
    stores_ = hookvault::testing::OpenMigratedStore(path_, clock_, max_db_bytes);
    ASSERT_NE(stores_, nullptr);
    writer_ =
        std::make_unique<storage::GroupCommitWriter>(*stores_->events, storage::WriterOptions{});
  }
  void CloseWriter() {
    writer_->Stop();
    writer_.reset();
    stores_.reset();
  }

  void Ingest(const std::string& key, const std::string& destination) {
    storage::NewEvent e;
    e.source = "src";
    e.event_type = "t";
    e.idempotency_key = key;
    e.headers_json = "{}";
    e.body = R"({"k":")" + key + R"("})";
    e.received_at = clock_.NowMicros();
    e.destinations = {destination};
    std::promise<bool> stored;
    ASSERT_TRUE(writer_
                    ->SubmitEvent(storage::IngestRecord{std::move(e), std::nullopt},
                                  [&](const storage::Status& s, const storage::AppendResult&) {
                                    stored.set_value(s.ok());
                                  })
                    .ok());
    ASSERT_TRUE(stored.get_future().get());
  }

  // Fills the database to exactly its page limit with small attempt rows of a delivery no
  // destination takes, and returns that limit in bytes: then no page is left, and the last
  // page of attempts has less room than one real attempt row needs.
  int64_t FillToTheLimit() {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE, 5000);
    int64_t page_size = db.execAndGet("PRAGMA page_size").getInt64();
    int64_t pages = db.execAndGet("PRAGMA page_count").getInt64();
    db.exec("PRAGMA max_page_count = " + std::to_string(pages));
    int64_t filler = QueryInt(path_, "SELECT id FROM deliveries WHERE destination = 'parked'");
    SQLite::Statement insert(
        db,
        "INSERT INTO attempts (delivery_id, number, started_at, duration_us, outcome, "
        "destination, event_seq) SELECT id, 1, 0, 0, 'failure', destination, event_seq "
        "FROM deliveries WHERE id = ?");
    insert.bind(1, static_cast<int64_t>(filler));
    for (int i = 0; i < 1'000'000; ++i) {
      try {
        insert.reset();
        insert.exec();
      } catch (const SQLite::Exception& e) {
        EXPECT_EQ(e.getErrorCode(), SQLITE_FULL) << e.what();
        break;
      }
    }
    fillers_ = db.execAndGet("SELECT count(*) FROM attempts").getInt64();
    EXPECT_GT(fillers_, 0);
    return db.execAndGet("PRAGMA page_count").getInt64() * page_size;
  }

  // Frees the room again, as retention or an operator would.
  void FreeSpace() {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE, 5000);
    db.exec("DELETE FROM attempts WHERE destination = 'parked'");
  }

  // Starts the scheduler with the real libcurl client on destination "sink" (concurrency 4)
  // and returns the length of a lease.
  int64_t StartScheduler() {
    OutboundDestination d;
    d.name = "sink";
    d.url = sink_.Url("/hook");
    d.timeout_ms = 2000;
    d.max_attempts = 5;
    d.backoff = BackoffPolicy{1000, 60000, 2.0};
    d.concurrency = 4;
    SchedulerOptions options;
    options.lease_margin_ms = 1000;  // a lease: 3 s of the fake clock
    options.stop_grace = 500ms;
    http_ = std::make_unique<CurlHttpClient>();
    scheduler_ = std::make_unique<Scheduler>(std::vector<OutboundDestination>{d}, *writer_,
                                             *stores_->deliveries, *http_, clock_,
                                             [] { return uint64_t{0}; }, options);
    EXPECT_TRUE(scheduler_->Start().ok());
    return (d.timeout_ms + options.lease_margin_ms) * 1000;
  }

  int64_t RealAttemptRows() {
    return QueryInt(path_, "SELECT count(*) FROM attempts WHERE destination = 'sink'");
  }
  int64_t Succeeded() {
    return QueryInt(path_,
                    "SELECT count(*) FROM deliveries WHERE destination = 'sink' AND "
                    "status = 'succeeded' AND attempts = 1");
  }
  // The sink's requests per webhook-id, most first.
  int MaxSendsOfOneDelivery() {
    std::lock_guard<std::mutex> lock(mu_);
    int most = 0;
    for (const auto& [id, n] : seen_) most = std::max(most, n);
    return most;
  }

  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_{1'800'000'000'000'000};
  hookvault::testing::SinkServer sink_;
  std::mutex mu_;
  std::map<std::string, int> seen_;  // guarded by mu_
  int64_t fillers_ = 0;
  std::unique_ptr<storage::SqliteStores> stores_;
  std::unique_ptr<storage::GroupCommitWriter> writer_;
  std::unique_ptr<CurlHttpClient> http_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerFenceTest, OutcomesThatCannotBeWrittenAreNeitherResentNorAppliedTwice) {
  OpenWriter(0);
  for (int i = 0; i < kEvents; ++i) Ingest("k" + std::to_string(i), "sink");
  Ingest("filler", "parked");
  CloseWriter();
  int64_t limit = FillToTheLimit();
  OpenWriter(limit);

  const int64_t lease = StartScheduler();

  // The concurrency cap lets 4 go out; their outcomes cannot be written.
  ASSERT_TRUE(sink_.WaitForCount(4, 10s));
  ASSERT_TRUE(WaitFor([&] { return scheduler_->stats()["sink"].attempts >= 4; }));
  EXPECT_EQ(RealAttemptRows(), 0);

  // Far longer than a lease, in steps: each would let the claims' leases expire.
  for (int i = 0; i < 8; ++i) {
    clock_.Advance(2 * lease);
    scheduler_->Wake();
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(sink_.Count(), 4u) << "deliveries went out while outcomes waited to be written";
  EXPECT_EQ(MaxSendsOfOneDelivery(), 1);
  EXPECT_EQ(RealAttemptRows(), 0);
  // The claims committed (in place) and were never repeated: one token each.
  EXPECT_EQ(QueryInt(path_, "SELECT max(lease_token) FROM deliveries"), 1);

  // Space returns: the outcomes are written, then the rest go out, each once.
  FreeSpace();
  clock_.Advance(2 * kSecond);  // past the pause after a failed write
  scheduler_->Wake();
  ASSERT_TRUE(WaitFor([&] { return Succeeded() == kEvents; }))
      << Succeeded() << " of " << kEvents << " succeeded";
  EXPECT_EQ(sink_.Count(), static_cast<size_t>(kEvents));
  EXPECT_EQ(MaxSendsOfOneDelivery(), 1);
  EXPECT_EQ(RealAttemptRows(), kEvents);

  // Nothing finished changes state afterwards, however long we wait.
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(2 * lease);
    scheduler_->Wake();
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(Succeeded(), kEvents);
  EXPECT_EQ(RealAttemptRows(), kEvents);
  EXPECT_EQ(sink_.Count(), static_cast<size_t>(kEvents));
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM events WHERE status = 'delivered'"), kEvents);
  EXPECT_EQ(scheduler_->stats()["sink"].stale, 0u);
  EXPECT_EQ(scheduler_->stats()["sink"].succeeded, static_cast<uint64_t>(kEvents));
}

// The pause before writing again after a failed write is monotonic time: a wall-clock step
// back by an hour does not stretch it to an hour and a second.
TEST_F(SchedulerFenceTest, AWallClockStepBackDoesNotStretchTheRetryOfAFailedWrite) {
  OpenWriter(0);
  Ingest("k0", "sink");
  Ingest("filler", "parked");
  CloseWriter();
  OpenWriter(FillToTheLimit());
  StartScheduler();
  ASSERT_TRUE(sink_.WaitForCount(1, 10s));
  ASSERT_TRUE(WaitFor([&] { return scheduler_->stats()["sink"].attempts == 1; }));
  // The write of the outcome follows the answer at once, and fails (nothing to wait on but
  // that moment, hence the pause).
  std::this_thread::sleep_for(200ms);
  ASSERT_EQ(RealAttemptRows(), 0);

  clock_.Set(clock_.NowMicros() - 3600 * kSecond);
  FreeSpace();
  clock_.Advance(2 * kSecond);
  scheduler_->Wake();
  EXPECT_TRUE(WaitFor([&] { return Succeeded() == 1; }, 5s));
  EXPECT_EQ(sink_.Count(), 1u);
}

}  // namespace
}  // namespace hookvault::server
