// /readyz (api/health.h): it answers from a cached probe, so that a caller (it is public) cannot
// make the gateway write: a burst of calls writes at most one probe per interval. It still turns
// unready when the storage cannot commit.
#include "api/health.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/group_commit_writer.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_event_writer.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace hookvault::api {
namespace {

using hookvault::testing::FakeClock;
using hookvault::testing::FakeEventWriter;
using hookvault::testing::TempDir;

// Collects the statuses of Readiness answers, from whichever thread answers.
class Answers {
 public:
  Responder Respond() {
    return [this](ApiResponse r) {
      std::lock_guard<std::mutex> lock(mu_);
      statuses_.push_back(r.status);
    };
  }
  // Waits (bounded) until `n` answers arrived; returns them.
  std::vector<int> WaitFor(size_t n) {
    for (int i = 0; i < 5000; ++i) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (statuses_.size() >= n) return statuses_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::lock_guard<std::mutex> lock(mu_);
    return statuses_;
  }

 private:
  std::mutex mu_;
  std::vector<int> statuses_;
};

ApiRequest ReadyRequest() {
  ApiRequest r;
  r.method = "GET";
  r.path = "/readyz";
  return r;
}

int64_t FileSize(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? -1 : static_cast<int64_t>(size);
}

// Finding: each /readyz call made a 64 KiB durable write. Now a burst of a thousand calls
// writes one probe; the WAL and the database do not grow; a later call after the interval
// probes again.
TEST(ReadinessTest, ABurstOfCallsWritesOneProbe) {
  TempDir dir;
  std::string path = dir.File("hookvault.db");
  FakeClock clock;
  auto stores = hookvault::testing::OpenMigratedStore(path, clock);
  ASSERT_NE(stores, nullptr);
  storage::GroupCommitWriter writer(*stores->events, {});
  IngestHandler ingest(IngestOptions{}, writer);
  HealthHandler health(writer, ingest, clock);

  Answers answers;
  health.Readiness(ReadyRequest(), answers.Respond());
  ASSERT_EQ(answers.WaitFor(1), std::vector<int>{200});
  int64_t wal = FileSize(path + "-wal");
  int64_t db = FileSize(path);
  for (int i = 0; i < 1000; ++i) health.Readiness(ReadyRequest(), answers.Respond());
  std::vector<int> statuses = answers.WaitFor(1001);
  ASSERT_EQ(statuses.size(), 1001u);
  for (int s : statuses) EXPECT_EQ(s, 200);
  EXPECT_EQ(writer.stats().probes, 1u);
  EXPECT_EQ(FileSize(path + "-wal"), wal);
  EXPECT_EQ(FileSize(path), db);

  clock.Advance(6'000'000);  // past the interval a ready answer is believed
  health.Readiness(ReadyRequest(), answers.Respond());
  EXPECT_EQ(answers.WaitFor(1002).back(), 200);
  EXPECT_EQ(writer.stats().probes, 2u);
  writer.Stop();
}

// Readiness still means "an event fits now": a database that cannot take the probe's write is
// unready.
TEST(ReadinessTest, UnreadyWhenTheStorageCannotCommit) {
  TempDir dir;
  std::string path = dir.File("hookvault.db");
  FakeClock clock;
  {
    auto migrated = hookvault::testing::OpenMigratedStore(path, clock);
    ASSERT_NE(migrated, nullptr);
  }
  // Room for a few pages more, not for the probe's 64 KiB.
  auto stores = hookvault::testing::OpenMigratedStore(path, clock, FileSize(path) + 16384);
  ASSERT_NE(stores, nullptr);
  storage::GroupCommitWriter writer(*stores->events, {});
  IngestHandler ingest(IngestOptions{}, writer);
  HealthHandler health(writer, ingest, clock);
  Answers answers;
  health.Readiness(ReadyRequest(), answers.Respond());
  EXPECT_EQ(answers.WaitFor(1), std::vector<int>{503});
  writer.Stop();
}

// A failed ingest transaction (the writer unhealthy) makes /readyz unready at once, without
// waiting for the cached probe to age; then a probe comes sooner (the unready interval).
TEST(ReadinessTest, AFailedTransactionIsUnreadyAtOnceAndProbedAgainSoon) {
  FakeClock clock;
  FakeEventWriter writer;
  IngestHandler ingest(IngestOptions{}, writer);
  HealthHandler health(writer, ingest, clock);
  Answers answers;
  health.Readiness(ReadyRequest(), answers.Respond());
  ASSERT_EQ(writer.probes().size(), 1u);
  writer.probes()[0](storage::Status::Ok());
  ASSERT_EQ(answers.WaitFor(1), std::vector<int>{200});

  writer.set_healthy(false);
  health.Readiness(ReadyRequest(), answers.Respond());
  EXPECT_EQ(answers.WaitFor(2).back(), 503);
  EXPECT_EQ(writer.probes().size(), 1u);

  clock.Advance(1'500'000);
  health.Readiness(ReadyRequest(), answers.Respond());
  ASSERT_EQ(writer.probes().size(), 2u) << "no new probe after the unready interval";
  writer.set_healthy(true);  // the probe's success restores the writer's health
  writer.probes()[1](storage::Status::Ok());
  EXPECT_EQ(answers.WaitFor(3).back(), 200);

  ingest.StopAccepting();
  health.Readiness(ReadyRequest(), answers.Respond());
  EXPECT_EQ(answers.WaitFor(4).back(), 503);
}

// Review finding: /readyz is public, and its detail carried the store's message, which names
// the database's host and port. Now the detail is generic and the message goes to the log hook.
TEST(ReadinessTest, TheDetailDoesNotCarryTheStoresMessage) {
  FakeClock clock;
  FakeEventWriter writer;
  IngestHandler ingest(IngestOptions{}, writer);
  std::vector<std::string> logged;
  ReadinessOptions options;
  options.on_probe_failure = [&](const storage::Status& s) { logged.push_back(s.message()); };
  HealthHandler health(writer, ingest, clock, options);
  std::vector<ApiResponse> responses;
  health.Readiness(ReadyRequest(), [&](ApiResponse r) { responses.push_back(std::move(r)); });
  ASSERT_EQ(writer.probes().size(), 1u);
  const std::string message =
      "write probe: reconnect to PostgreSQL: connection to server at \"127.0.0.1\", port 47521 "
      "failed";
  writer.probes()[0](storage::Status::Unavailable(message));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 503);
  EXPECT_EQ(responses[0].body.find("127.0.0.1"), std::string::npos) << responses[0].body;
  EXPECT_EQ(responses[0].body.find("47521"), std::string::npos) << responses[0].body;
  EXPECT_NE(responses[0].body.find("storage is not writable"), std::string::npos)
      << responses[0].body;
  EXPECT_EQ(logged, std::vector<std::string>{message});
}

// Review finding: a stuck database made /readyz park its callers for as long as the probe took
// (50 s) and then say ready. A probe under way longer than max_probe_micros now answers 503 at
// once, to the new caller and to those parked on it; a later probe that succeeds is ready again.
TEST(ReadinessTest, AStuckProbeAnswersUnreadyInsteadOfParking) {
  FakeClock clock;
  FakeEventWriter writer;
  IngestHandler ingest(IngestOptions{}, writer);
  HealthHandler health(writer, ingest, clock);
  Answers answers;
  health.Readiness(ReadyRequest(), answers.Respond());
  clock.Advance(1'000'000);
  health.Readiness(ReadyRequest(), answers.Respond());  // parks on the same probe
  ASSERT_EQ(writer.probes().size(), 1u);
  EXPECT_TRUE(answers.WaitFor(0).empty());

  clock.Advance(2'500'000);  // 3.5 s into the probe
  health.Readiness(ReadyRequest(), answers.Respond());
  EXPECT_EQ(answers.WaitFor(3), (std::vector<int>{503, 503, 503}));
  health.Readiness(ReadyRequest(), answers.Respond());
  EXPECT_EQ(answers.WaitFor(4).size(), 4u) << "a caller parked on the stuck probe";
  EXPECT_EQ(writer.probes().size(), 1u) << "a stuck store is not sent a second probe";

  writer.probes()[0](storage::Status::Ok());  // the store answers at last
  clock.Advance(6'000'000);
  health.Readiness(ReadyRequest(), answers.Respond());
  ASSERT_EQ(writer.probes().size(), 2u);
  writer.probes()[1](storage::Status::Ok());
  EXPECT_EQ(answers.WaitFor(5).back(), 200);
}

}  // namespace
}  // namespace hookvault::api
