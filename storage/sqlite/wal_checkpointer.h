// SqliteWalCheckpointer: keeps SQLite's write-ahead log small under sustained writes without
// checkpointing inside the writer's commits.
//
// Why not SQLite's defaults: the automatic checkpoint runs inside the COMMIT that takes the WAL
// past 1000 frames, so every few hundred batches one waits for a checkpoint (copying pages and
// an fsync of the database file) before its requests are answered. A checkpointer on another
// connection alone does not bound the WAL either: SQLite writes the WAL from its beginning
// again only when a writer begins a transaction at a moment when every frame is already copied
// back (walRestartLog), and under sustained load the writer has always appended new frames by
// then, so the file grows without end (88 MB in a 60 s ingest run).
//
// How it works:
//  1. The writer connection has no automatic checkpoint; its WAL hook
//     (SqliteWriteConnection::set_wal_listener) calls Notify() after each commit with the WAL's
//     frames.
//  2. From checkpoint_frames new frames on, this class's thread runs a PASSIVE checkpoint on its
//     own connection: it copies the frames into the database file and fsyncs it while the
//     writer keeps committing (PASSIVE takes no writer lock and waits for nobody).
//  3. When the WAL then still holds restart_frames or more, it calls `request_restart` once per
//     restart_frames of growth; the server makes that a writer task (run between batches, after
//     their answers) doing SqliteWriteConnection::CheckpointWal() and then RestartDone(): only
//     the frames committed since step 2 are left to copy, so it is short, and once all frames
//     are copied the writer's next transaction writes the WAL from its beginning.
//     journal_size_limit (DatabaseOptions) then truncates a file that grew past it. Until
//     RestartDone() this class starts no checkpoint of its own: SQLite lets one checkpointer run
//     at a time, and under sustained load a background checkpoint is due again at once, so the
//     writer's PASSIVE checkpoint would find it running (SQLITE_BUSY) nearly every time and the
//     WAL would never start over.
//
// Invariant (tests/storage/sqlite_wal_checkpointer_test.cc): while no reader keeps one snapshot
// open for long, the -wal file stays below about restart_frames plus what the writer commits
// while one checkpoint runs, and after each restart no larger than journal_size_limit.
// Durability is untouched: a checkpoint copies only committed frames and fsyncs the database
// file before SQLite lets the WAL be written over.
//
// Thread-safety: Notify() and stats() may be called from any thread (Notify runs on the writer
// thread, inside its COMMIT, so it only records a number and signals). Start() and Stop() from
// the thread that owns the object. The connection is used only by the checkpointer's thread.
#ifndef HOOKVAULT_STORAGE_SQLITE_WAL_CHECKPOINTER_H_
#define HOOKVAULT_STORAGE_SQLITE_WAL_CHECKPOINTER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "storage/status.h"

namespace SQLite {
class Database;
}

namespace hookvault::storage {

struct WalCheckpointOptions {
  std::string path;  // the database file
  // New WAL frames (pages of 4 KiB plus a 24-byte header) that start a background checkpoint.
  int64_t checkpoint_frames = 1000;
  // WAL frames from which the writer is asked to finish the checkpoint and restart the WAL.
  int64_t restart_frames = 4096;
  // SQLite VFS for the checkpointer's connection (DatabaseOptions::vfs); empty: the default.
  std::string vfs = "";
};

struct WalCheckpointStats {
  uint64_t checkpoints = 0;         // background checkpoints run
  uint64_t busy = 0;                // of them, found another checkpoint running
  uint64_t failed = 0;              // of them, failed otherwise (I/O error, ...)
  uint64_t restarts_requested = 0;  // request_restart calls
  int64_t last_wal_frames = 0;      // the WAL's frames at the last Notify()
};

class SqliteWalCheckpointer {
 public:
  // Opens the checkpointer's own connection to options.path. Returns kUnavailable if it
  // cannot. The thread starts with Start().
  static StatusOr<std::unique_ptr<SqliteWalCheckpointer>> Open(WalCheckpointOptions options);
  SqliteWalCheckpointer(const SqliteWalCheckpointer&) = delete;
  SqliteWalCheckpointer& operator=(const SqliteWalCheckpointer&) = delete;
  // Calls Stop().
  ~SqliteWalCheckpointer();

  // Starts the thread. `request_restart` is called on it and must not block long; it must make
  // the writer run SqliteWriteConnection::CheckpointWal() soon and then call
  // RestartDone() (also when that cannot be arranged: background checkpoints wait for it).
  void Start(std::function<void()> request_restart);

  // Records that the writer's checkpoint asked for by `request_restart` has run (whatever its
  // outcome); background checkpoints resume.
  void RestartDone();

  // Records that the WAL holds `wal_frames` frames after a commit; wakes the thread when a
  // checkpoint is due.
  void Notify(int64_t wal_frames);

  WalCheckpointStats stats() const;

  // Stops and joins the thread (a running checkpoint finishes first). Idempotent.
  void Stop();

 private:
  SqliteWalCheckpointer(WalCheckpointOptions options, std::unique_ptr<SQLite::Database> db);
  bool Due() const;  // requires mu_
  void Run();

  const WalCheckpointOptions options_;
  std::unique_ptr<SQLite::Database> db_;  // used by the thread only
  std::function<void()> request_restart_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t wal_frames_ = 0;        // the latest Notify(); guarded by mu_
  int64_t copied_frames_ = 0;     // frames the last checkpoint left copied; guarded by mu_
  int64_t restart_asked_at_ = 0;  // WAL frames when a restart was last asked; guarded by mu_
  uint64_t restarts_seen_ = 0;    // WAL restarts Notify() saw; guarded by mu_
  bool restart_pending_ = false;  // request_restart called, RestartDone not yet; guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  WalCheckpointStats stats_;      // guarded by mu_
  std::thread thread_;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_WAL_CHECKPOINTER_H_
