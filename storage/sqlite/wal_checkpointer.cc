#include "storage/sqlite/wal_checkpointer.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>

#include "storage/sqlite/database.h"

namespace hookvault::storage {

StatusOr<std::unique_ptr<SqliteWalCheckpointer>> SqliteWalCheckpointer::Open(
    WalCheckpointOptions options) {
  auto db = OpenDatabase({.path = options.path, .vfs = options.vfs});
  if (!db.ok()) return db.status();
  return std::unique_ptr<SqliteWalCheckpointer>(
      new SqliteWalCheckpointer(std::move(options), std::move(db).value()));
}

SqliteWalCheckpointer::SqliteWalCheckpointer(WalCheckpointOptions options,
                                             std::unique_ptr<SQLite::Database> db)
    : options_(std::move(options)), db_(std::move(db)) {}

SqliteWalCheckpointer::~SqliteWalCheckpointer() { Stop(); }

void SqliteWalCheckpointer::Start(std::function<void()> request_restart) {
  request_restart_ = std::move(request_restart);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "hv-checkpoint");
    Run();
  });
}

void SqliteWalCheckpointer::Notify(int64_t wal_frames) {
  bool due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (wal_frames < wal_frames_) {  // the WAL started over: nothing in it is copied yet
      copied_frames_ = 0;
      restart_asked_at_ = 0;
      ++restarts_seen_;
    }
    wal_frames_ = wal_frames;
    stats_.last_wal_frames = wal_frames;
    due = Due();
  }
  if (due) cv_.notify_one();
}

bool SqliteWalCheckpointer::Due() const {
  return !restart_pending_ && wal_frames_ - copied_frames_ >= options_.checkpoint_frames;
}

void SqliteWalCheckpointer::RestartDone() {
  bool due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    restart_pending_ = false;
    due = Due();
  }
  if (due) cv_.notify_one();
}

WalCheckpointStats SqliteWalCheckpointer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void SqliteWalCheckpointer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void SqliteWalCheckpointer::Run() {
  for (;;) {
    int64_t seen_frames;  // what the WAL held when this checkpoint began
    uint64_t seen_restarts;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || Due(); });
      if (stopping_) return;
      seen_frames = wal_frames_;
      seen_restarts = restarts_seen_;
    }
    int log_frames = 0;
    int copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(db_->getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                       &log_frames, &copied);
    bool ask_restart = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.checkpoints;
      // Frames committed meanwhile count towards the next checkpoint only. Everything up to
      // seen_frames is dealt with, also when SQLite reports fewer (0 once the WAL is completely
      // copied but not yet started over): otherwise the checkpoint would be due again at once
      // and this thread would spin until the next commit. Unless the WAL started over
      // meanwhile: then Notify() already counts from 0.
      if (restarts_seen_ == seen_restarts) {
        copied_frames_ = std::max<int64_t>(seen_frames, rc == SQLITE_OK ? log_frames : 0);
      }
      if (rc == SQLITE_OK && log_frames >= 0) {
        if (log_frames >= options_.restart_frames &&
            log_frames >= restart_asked_at_ + options_.restart_frames) {
          restart_asked_at_ = log_frames;
          restart_pending_ = true;
          ++stats_.restarts_requested;
          ask_restart = true;
        }
      } else {
        // Busy: the writer's own checkpoint runs; anything else (an I/O error) shows in the
        // writer's commits too. Either way, try again after the next checkpoint_frames.
        ++((rc & 0xff) == SQLITE_BUSY ? stats_.busy : stats_.failed);
      }
    }
    if (ask_restart && request_restart_) request_restart_();
  }
}

}  // namespace hookvault::storage
