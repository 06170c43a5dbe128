// Power cuts, not just kill -9. A killed process leaves its writes in the page cache, so
// IngestCrashTest and scripts/crash-test cannot show that a 200 survives power loss. Here the
// real ingest handler, group-commit writer, stores, WAL checkpointer and backup run on a VFS
// that simulates a power cut (tests/testing/power_cut_vfs.h: what was not synced is dropped or
// torn at 512-byte sectors), the power goes at a random point, the database is opened again
// from what a disk would hold, and every acknowledged event must be there with its deliveries.
//
// The negative control runs the same harness with the writer's connection at synchronous=OFF:
// it must lose acknowledged events, or the simulation would prove nothing.
//
// HOOKVAULT_POWER_CUT_SEEDS=<n> runs n seeds per cut point (default 3; scripts/test runs the
// default); a failure names its cut point, seed and the operation the power went at.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/ingest.h"
#include "storage/group_commit_writer.h"
#include "storage/sqlite/backup.h"
#include "storage/sqlite/database.h"
#include "storage/sqlite/migrations.h"
#include "storage/sqlite/stores.h"
#include "storage/sqlite/wal_checkpointer.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/power_cut_vfs.h"
#include "tests/testing/temp_dir.h"

namespace hookvault {
namespace {

using testing::ArmPowerCut;
using testing::CutPower;
using testing::GetPowerCutStats;
using testing::PowerCutTrigger;
using testing::PowerCutVfsName;
using testing::PowerIsCut;

constexpr char kSource[] = "provider";
constexpr char kToken[] = "power-cut-token-0001";
constexpr int kThreads = 4;
constexpr int kBurst = 4;                   // requests a thread has in flight at once
constexpr int kMaxRequestsPerThread = 400;  // if the trigger has not fired by then, cut anyway
constexpr int64_t kDestinations = 2;

enum class CutPoint {
  kBetweenBatches,  // from the writer thread, right after a batch's commit was acknowledged
  kWalWrite,        // mid-commit: while the commit's frames are written to the WAL
  kWalSync,         // mid-commit: every frame written, the WAL not yet synced
  kCheckpoint,      // while a checkpoint copies the WAL into the database file and syncs it
  kBackup,          // while BackupDatabase writes its copy (backups run back to back)
  kAnywhere,        // at any write, sync, truncation or deletion of any file
};

const char* Name(CutPoint p) {
  switch (p) {
    case CutPoint::kBetweenBatches:
      return "between batches";
    case CutPoint::kWalWrite:
      return "WAL write";
    case CutPoint::kWalSync:
      return "WAL sync";
    case CutPoint::kCheckpoint:
      return "checkpoint";
    case CutPoint::kBackup:
      return "backup";
    case CutPoint::kAnywhere:
      return "anywhere";
  }
  return "?";
}

int SeedsPerPoint() {
  const char* env = std::getenv("HOOKVAULT_POWER_CUT_SEEDS");
  int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : 3;
}

// A database with every migration applied, made once; each trial starts from a copy.
const std::string& MigratedTemplate() {
  static testing::TempDir dir;
  static const std::string path = [] {
    std::string p = dir.File("template.db");
    auto db = storage::OpenDatabase({.path = p});
    if (!db.ok()) throw std::runtime_error(db.status().ToString());
    auto applied = storage::ApplyMigrations(**db, storage::SqliteMigrations());
    if (!applied.ok()) throw std::runtime_error(applied.status().ToString());
    return p;
  }();
  return path;
}

struct Ack {
  std::string key;
  std::string id;
};

struct BackupAttempt {
  std::string out;
  storage::Status status;
  std::vector<Ack> acked_before;  // acknowledged before the backup began
};

struct Trial {
  std::string cut_at;
  int64_t acked = 0;
  int64_t lost = 0;  // acknowledged, not in the reopened database
  std::vector<std::string> problems;
  int backups_published = 0;
  int backups_refused = 0;
  std::string io;  // what reached the VFS before the cut
};

// One line per trial, so that a run shows what it covered.
void Print(CutPoint point, uint64_t seed, const Trial& t) {
  std::printf("[power cut] %-15s seed %llu: %lld acknowledged, %lld lost; %s; cut at %s",
              Name(point), static_cast<unsigned long long>(seed), static_cast<long long>(t.acked),
              static_cast<long long>(t.lost), t.io.c_str(), t.cut_at.c_str());
  if (point == CutPoint::kBackup) {
    std::printf("; backups: %d published, %d refused", t.backups_published, t.backups_refused);
  }
  std::printf("\n");
}

// Signals when a burst's answers are all in. Thread-safe.
class Latch {
 public:
  explicit Latch(int n) : left_(n) {}
  void CountDown() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--left_ == 0) cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return left_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int left_;  // guarded by mu_
};

api::IngestOptions IngestOptions() {
  api::IngestOptions options;
  api::SourcePolicy source;
  source.name = kSource;
  source.tokens = {kToken};
  source.idempotency_header = "idempotency-key";
  options.sources = {source};
  for (const char* name : {"billing", "warehouse"}) {  // no filters: both match everything
    api::DestinationFilter d;
    d.name = name;
    options.destinations.push_back(d);
  }
  return options;
}

api::ApiRequest Request(const std::string& key, int64_t now) {
  api::ApiRequest r;
  r.method = "POST";
  r.path = std::string("/webhooks/") + kSource;
  r.headers = {
      {"content-type", "application/json"}, {"x-auth-token", kToken}, {"idempotency-key", key}};
  // About 1 KiB, so that batches span several pages and the WAL grows to checkpoints.
  r.body =
      R"({"event":"order.paid","key":")" + key + R"(","pad":")" + std::string(900, 'x') + R"("})";
  r.peer_addr = "127.0.0.1";
  r.received_at = now;
  return r;
}

// Returns the problems of PRAGMA integrity_check, empty when it says ok.
std::string IntegrityProblems(SQLite::Database& db) {
  SQLite::Statement check(db, "PRAGMA integrity_check");
  std::string problems;
  while (check.executeStep()) {
    std::string line = check.getColumn(0).getString();
    if (line != "ok") problems += line + "; ";
  }
  return problems;
}

// Counts the acknowledged events missing from `db`; a stored one must have its id, its
// idempotency key and one delivery per destination, else a problem is recorded.
int64_t CountLost(SQLite::Database& db, const std::vector<Ack>& acks,
                  std::vector<std::string>& problems) {
  SQLite::Statement find(db, R"sql(
    SELECT e.id,
           (SELECT count(*) FROM deliveries d WHERE d.event_seq = e.seq),
           (SELECT k.event_id FROM idempotency_keys k WHERE k.source = e.source
                                                        AND k.key = e.idempotency_key)
    FROM events e WHERE e.source = ? AND e.idempotency_key = ?)sql");
  int64_t lost = 0;
  for (const Ack& ack : acks) {
    find.reset();
    find.bind(1, kSource);
    find.bind(2, ack.key);
    if (!find.executeStep()) {
      ++lost;
      continue;
    }
    std::string id = find.getColumn(0).getString();
    int64_t deliveries = find.getColumn(1).getInt64();
    std::string key_id = find.getColumn(2).isNull() ? "" : find.getColumn(2).getString();
    if (id != ack.id || key_id != ack.id || deliveries != kDestinations) {
      problems.push_back("event " + ack.key + ": id " + id + " (acknowledged " + ack.id +
                         "), key for " + key_id + ", " + std::to_string(deliveries) +
                         " deliveries");
    }
  }
  return lost;
}

// One run: ingest from several threads until the power goes at `point`, reopen, count.
Trial RunTrial(CutPoint point, uint64_t seed, bool synchronous_off) {
  Trial trial;
  testing::TempDir dir;
  const std::string path = dir.File("hookvault.db");
  std::filesystem::copy_file(MigratedTemplate(), path);
  std::mt19937_64 rng(seed * 1000003 + static_cast<uint64_t>(point));
  auto pick = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  storage::Status reset =
      testing::ResetPowerCut({.seed = seed, .created_files_need_sync = !synchronous_off});
  if (!reset.ok()) {
    trial.problems.push_back(reset.ToString());
    return trial;
  }
  testing::FakeClock clock;

  // Small WAL thresholds, so that checkpoints, WAL restarts and truncations happen often.
  auto stores = storage::SqliteStores::Open(
      {.path = path, .journal_size_limit = 256 << 10, .vfs = PowerCutVfsName()}, clock);
  if (!stores.ok()) {
    trial.problems.push_back(stores.status().ToString());
    return trial;
  }
  auto store = std::make_unique<storage::SqliteStores>(std::move(stores).value());
  if (synchronous_off) store->connection->database().exec("PRAGMA synchronous = OFF");
  // Checkpoints now often, now seldom. The control's checkpointer stays idle: its own
  // connection syncs the WAL before each checkpoint, which would make the unsynced commits
  // durable behind the writer's back.
  const int64_t checkpoint_frames = synchronous_off ? int64_t{1} << 40 : 16 << pick(0, 3);
  auto opened = storage::SqliteWalCheckpointer::Open({.path = path,
                                                      .checkpoint_frames = checkpoint_frames,
                                                      .restart_frames = checkpoint_frames * 4,
                                                      .vfs = PowerCutVfsName()});
  if (!opened.ok()) {
    trial.problems.push_back(opened.status().ToString());
    return trial;
  }
  std::unique_ptr<storage::SqliteWalCheckpointer> checkpointer = std::move(opened).value();
  store->connection->set_wal_listener(
      [cp = checkpointer.get()](int64_t frames) { cp->Notify(frames); });
  auto writer = std::make_unique<storage::GroupCommitWriter>(
      *store->events, storage::WriterOptions{.max_batch = 32});
  // As server/main.cc wires it: the writer restarts the WAL between batches.
  checkpointer->Start([&] {
    storage::SqliteWalCheckpointer* cp = checkpointer.get();
    storage::SqliteWriteConnection* connection = store->connection.get();
    if (!writer
             ->SubmitTask([cp, connection] {
               (void)connection->CheckpointWal();
               cp->RestartDone();
             })
             .ok()) {
      cp->RestartDone();
    }
  });
  auto handler = std::make_unique<api::IngestHandler>(IngestOptions(), *writer);

  int64_t cut_after_acks = 0;
  switch (point) {
    case CutPoint::kBetweenBatches:
      cut_after_acks = pick(1, 300);
      break;
    case CutPoint::kWalWrite:
      ArmPowerCut({.ops = testing::kPowerCutWrite, .path_suffix = "-wal", .at = pick(1, 600)});
      break;
    case CutPoint::kWalSync:
      ArmPowerCut({.ops = testing::kPowerCutSync, .path_suffix = "-wal", .at = pick(1, 60)});
      break;
    case CutPoint::kCheckpoint:
      // Only checkpoints write the database file in WAL mode.
      ArmPowerCut(
          {.ops = testing::kPowerCutAnyOp, .path_suffix = "hookvault.db", .at = pick(1, 300)});
      break;
    case CutPoint::kBackup:
      ArmPowerCut({.ops = testing::kPowerCutAnyOp, .path_contains = "/backup-", .at = pick(1, 250)});
      break;
    case CutPoint::kAnywhere:
      ArmPowerCut({.ops = testing::kPowerCutAnyOp, .at = pick(1, 1500)});
      break;
  }

  std::mutex acks_mu;
  std::vector<Ack> acks;  // guarded by acks_mu
  auto acknowledged = [&] {
    std::lock_guard<std::mutex> lock(acks_mu);
    return acks;
  };

  std::vector<BackupAttempt> backups;  // used by the backup thread, read after its join
  std::thread backup_thread;
  std::atomic<bool> ingest_done{false};
  if (point == CutPoint::kBackup) {
    backup_thread = std::thread([&] {
      for (int n = 0; !PowerIsCut() && !ingest_done.load(); ++n) {
        BackupAttempt attempt;
        attempt.out = dir.File("backup-" + std::to_string(n) + ".db");
        attempt.acked_before = acknowledged();
        auto result = storage::BackupDatabase(path, attempt.out, {.vfs = PowerCutVfsName()});
        attempt.status = result.status();
        backups.push_back(std::move(attempt));
      }
    });
  }

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int sent = 0; sent < kMaxRequestsPerThread && !PowerIsCut(); sent += kBurst) {
        Latch answered(kBurst);
        for (int i = 0; i < kBurst; ++i) {
          std::string key = "t" + std::to_string(t) + "-" + std::to_string(sent + i);
          handler->Handle(Request(key, clock.NowMicros()), kSource, [&, key](api::ApiResponse r) {
            if (r.status == 200) {
              std::lock_guard<std::mutex> lock(acks_mu);
              acks.push_back({key, r.event_id});
              if (static_cast<int64_t>(acks.size()) == cut_after_acks) {
                CutPower("between batches, after acknowledgement #" +
                         std::to_string(cut_after_acks));
              }
            }
            answered.CountDown();
          });
        }
        answered.Wait();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ingest_done.store(true);
  if (backup_thread.joinable()) backup_thread.join();
  CutPower("after the last request (the trigger did not fire)");  // no-op if it fired

  // Everything goes down as after the power went: nothing more reaches the disk.
  writer->Stop();
  checkpointer->Stop();
  handler.reset();
  checkpointer.reset();
  writer.reset();
  store.reset();
  testing::PowerCutStats stats = GetPowerCutStats();
  trial.cut_at = stats.cut_at;
  trial.io = std::to_string(stats.writes) + " writes, " + std::to_string(stats.syncs) + " syncs, " +
             std::to_string(stats.truncates) + " truncations, " + std::to_string(stats.deletes) +
             " deletions";
  if (storage::Status m = testing::MaterializePowerCut(); !m.ok()) {
    trial.problems.push_back("materialize: " + m.ToString());
    return trial;
  }

  // Power on: open the database with the default VFS (SQLite recovers the WAL) and look.
  std::vector<Ack> all = acknowledged();
  trial.acked = static_cast<int64_t>(all.size());
  try {
    auto db = storage::OpenDatabase({.path = path});
    if (!db.ok()) {
      trial.problems.push_back("reopen: " + db.status().ToString());
      trial.lost = trial.acked;
      return trial;
    }
    if (std::string p = IntegrityProblems(**db); !p.empty()) {
      trial.problems.push_back("integrity_check: " + p);
    }
    trial.lost = CountLost(**db, all, trial.problems);
  } catch (const SQLite::Exception& e) {
    trial.problems.push_back(std::string("reading the reopened database: ") + e.what());
    trial.lost = trial.acked;
    return trial;
  }

  // The live database takes writes again.
  auto reopened = storage::SqliteStores::Open({.path = path}, clock);
  if (!reopened.ok()) {
    trial.problems.push_back("reopen the stores: " + reopened.status().ToString());
  } else {
    storage::NewEvent event;
    event.source = kSource;
    event.idempotency_key = "after-power-on";
    event.body = "{}";
    event.headers_json = "{}";
    std::vector<storage::IngestRecord> batch = {{.event = std::move(event), .log = std::nullopt}};
    if (auto appended = reopened->events->Append(batch); !appended.ok()) {
      trial.problems.push_back("append after power on: " + appended.status().ToString());
    }
  }

  // A backup is either refused (nothing at its path) or a good database holding everything
  // acknowledged before it began — never a damaged file presented as a backup.
  for (const BackupAttempt& b : backups) {
    bool exists = std::filesystem::exists(b.out);
    if (!b.status.ok()) {
      if (exists) trial.problems.push_back("failed backup left " + b.out);
      ++trial.backups_refused;
      continue;
    }
    ++trial.backups_published;
    try {
      SQLite::Database copy(b.out, SQLite::OPEN_READONLY);
      if (std::string p = IntegrityProblems(copy); !p.empty()) {
        trial.problems.push_back(b.out + " integrity_check: " + p);
      }
      std::vector<std::string> problems;
      if (int64_t missing = CountLost(copy, b.acked_before, problems); missing > 0) {
        trial.problems.push_back(b.out + " misses " + std::to_string(missing) + " events");
      }
      for (std::string& p : problems) trial.problems.push_back(b.out + ": " + p);
    } catch (const SQLite::Exception& e) {
      trial.problems.push_back(b.out + ": " + e.what());
    }
  }
  return trial;
}

class PowerCutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Every commit after the cut fails and logs a warning.
    level_ = spdlog::get_level();
    spdlog::set_level(spdlog::level::err);
  }
  void TearDown() override { spdlog::set_level(level_); }

  spdlog::level::level_enum level_ = spdlog::level::info;
};

constexpr CutPoint kAllPoints[] = {CutPoint::kBetweenBatches, CutPoint::kWalWrite,
                                   CutPoint::kWalSync,        CutPoint::kCheckpoint,
                                   CutPoint::kBackup,         CutPoint::kAnywhere};

TEST_F(PowerCutTest, EveryAcknowledgedEventSurvivesAPowerCut) {
  int64_t acked = 0;
  int published = 0;
  for (CutPoint point : kAllPoints) {
    for (int seed = 1; seed <= SeedsPerPoint(); ++seed) {
      Trial t = RunTrial(point, static_cast<uint64_t>(seed), /*synchronous_off=*/false);
      Print(point, static_cast<uint64_t>(seed), t);
      SCOPED_TRACE(std::string("cut point: ") + Name(point) + ", seed " + std::to_string(seed) +
                   ", power cut at " + t.cut_at);
      EXPECT_EQ(t.lost, 0) << "of " << t.acked << " acknowledged";
      for (const std::string& p : t.problems) ADD_FAILURE() << p;
      acked += t.acked;
      published += t.backups_published;
    }
  }
  EXPECT_GT(acked, 0);
  EXPECT_GT(published, 0) << "no backup finished before a cut: the backup check saw nothing";
}

// The negative control: the same harness with the writer's commits not synced
// (synchronous=OFF, an acknowledgement before the data is durable) must lose acknowledged
// events. New files count as created without a sync here, so the losses come from unsynced
// data alone.
TEST_F(PowerCutTest, NegativeControlWithoutSyncLosesAcknowledgedEvents) {
  int64_t acked = 0;
  int64_t lost = 0;
  for (CutPoint point : {CutPoint::kBetweenBatches, CutPoint::kWalWrite}) {
    for (int seed = 1; seed <= SeedsPerPoint(); ++seed) {
      Trial t = RunTrial(point, static_cast<uint64_t>(seed), /*synchronous_off=*/true);
      Print(point, static_cast<uint64_t>(seed), t);
      for (const std::string& p : t.problems) std::printf("[power cut]   %s\n", p.c_str());
      acked += t.acked;
      lost += t.lost;
    }
  }
  ASSERT_GT(acked, 0);
  EXPECT_GT(lost, 0) << "synchronous=OFF lost none of " << acked
                     << " acknowledged events: the power-cut simulation does not bite";
}

}  // namespace
}  // namespace hookvault
