// The WAL bound of storage/sqlite_wal_checkpointer.h: sustained writes through the real writer
// and store on a real file, with the checkpointer wired as the server wires it.
#include "storage/sqlite/wal_checkpointer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

#include "storage/group_commit_writer.h"
#include "storage/sqlite/migrations.h"
#include "storage/sqlite/database.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::storage {
namespace {

using hookvault::testing::QueryInt;

int64_t FileSize(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

IngestRecord Event(int i, size_t body_bytes) {
  NewEvent e;
  e.source = "s";
  e.idempotency_key = "k";
  e.idempotency_key += std::to_string(i);
  e.body = std::string(body_bytes, 'x');
  e.headers_json = "{}";
  e.destinations = {"d"};
  RequestLogEntry log;
  log.source = "s";
  log.status = 200;
  log.reason = "stored";
  return IngestRecord{std::move(e), std::move(log)};
}

// ~40 MB of WAL frames written in batches of 32 events of 8 KiB; the WAL file must stay within
// a few restart sizes of 1 MiB. Without the restart step (or without the checkpointer: the
// connection's WAL hook replaces SQLite's automatic checkpoint) the file grows with every batch.
TEST(SqliteWalCheckpointerTest, WalStaysBoundedUnderSustainedWrites) {
  hookvault::testing::TempDir dir;
  std::string path = dir.File("hookvault.db");
  {
    auto db = OpenDatabase({.path = path});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(ApplyMigrations(**db, SqliteMigrations()).ok());
  }
  constexpr int64_t kJournalLimit = 2 << 20;
  hookvault::testing::FakeClock clock;
  auto stores = SqliteStores::Open({.path = path, .journal_size_limit = kJournalLimit}, clock);
  ASSERT_TRUE(stores.ok()) << stores.status().ToString();
  auto checkpointer = SqliteWalCheckpointer::Open(
      {.path = path, .checkpoint_frames = 64, .restart_frames = 256});  // 256 KiB, 1 MiB
  ASSERT_TRUE(checkpointer.ok()) << checkpointer.status().ToString();
  stores->connection->set_wal_listener([cp = checkpointer->get()](int64_t f) { cp->Notify(f); });
  GroupCommitWriter writer(*stores->events, {.max_batch = 32});
  std::atomic<int> writer_checkpoints{0};
  (*checkpointer)->Start([&] {
    Status queued = writer.SubmitTask([&] {
      if (stores->connection->CheckpointWal().ok()) ++writer_checkpoints;
      (*checkpointer)->RestartDone();
    });
    if (!queued.ok()) (*checkpointer)->RestartDone();
  });

  std::atomic<bool> done{false};
  int64_t max_wal = 0;
  std::thread sampler([&] {
    while (!done.load()) {
      max_wal = std::max(max_wal, FileSize(path + "-wal"));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  constexpr int kEvents = 4800;  // 4800 x 8 KiB: ~40 MB of pages
  constexpr int kInFlight = 256;
  std::vector<std::future<Status>> pending;
  int stored = 0;
  for (int i = 0; i < kEvents; ++i) {
    auto p = std::make_shared<std::promise<Status>>();
    pending.push_back(p->get_future());
    ASSERT_TRUE(writer
                    .SubmitEvent(Event(i, 8192),
                                 [p](const Status& s, const AppendResult&) { p->set_value(s); })
                    .ok());
    if (pending.size() >= kInFlight) {
      for (auto& f : pending) stored += f.get().ok();
      pending.clear();
    }
  }
  for (auto& f : pending) stored += f.get().ok();
  // Idle now: the checkpointer must not spin (a checkpoint is due only after new frames).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  uint64_t idle_before = (*checkpointer)->stats().checkpoints;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ((*checkpointer)->stats().checkpoints, idle_before) << "checkpoints while idle";
  writer.Stop();
  (*checkpointer)->Stop();
  done = true;
  sampler.join();
  max_wal = std::max(max_wal, FileSize(path + "-wal"));

  EXPECT_EQ(stored, kEvents);
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM events"), kEvents);
  WalCheckpointStats stats = (*checkpointer)->stats();
  EXPECT_GT(stats.checkpoints, 10u);
  // At most one per checkpoint_frames (64) new frames: ~10,000 frames were written.
  EXPECT_LT(stats.checkpoints, 400u) << "the checkpointer spins";
  EXPECT_GT(stats.restarts_requested, 5u);
  EXPECT_GT(writer_checkpoints.load(), 5);
  // The bound: restart size (1 MiB) plus what the writer commits while one checkpoint runs,
  // with room for a slow, shared machine; ~40 MB were written through the WAL.
  EXPECT_LT(max_wal, 12 << 20) << "WAL peaked at " << max_wal << " bytes";
  std::cout << "WAL peak " << max_wal / 1024 << " KiB; " << stats.checkpoints
            << " background checkpoints, " << stats.busy << " busy, " << stats.restarts_requested
            << " restarts requested\n";
}

// Without any checkpoint the same load grows the WAL with every batch: the contrast that shows
// the bound above comes from the checkpointer (and the WAL hook really replaced SQLite's
// automatic checkpoint).
TEST(SqliteWalCheckpointerTest, WithoutTheCheckpointerTheWalGrows) {
  hookvault::testing::TempDir dir;
  std::string path = dir.File("hookvault.db");
  {
    auto db = OpenDatabase({.path = path});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(ApplyMigrations(**db, SqliteMigrations()).ok());
  }
  hookvault::testing::FakeClock clock;
  auto stores = SqliteStores::Open({.path = path}, clock);
  ASSERT_TRUE(stores.ok());
  int64_t last_frames = 0;
  stores->connection->set_wal_listener([&](int64_t f) { last_frames = f; });
  for (int b = 0; b < 40; ++b) {
    std::vector<IngestRecord> batch;
    for (int i = 0; i < 32; ++i) batch.push_back(Event(b * 32 + i, 8192));
    ASSERT_TRUE(stores->events->Append(batch).ok());
  }
  EXPECT_GT(last_frames, 2000);  // ~10 MB: far past SQLite's automatic 1000 pages
  EXPECT_GT(FileSize(path + "-wal"), 8 << 20);
}

}  // namespace
}  // namespace hookvault::storage
