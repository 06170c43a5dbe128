// Online backup of a hookvault database: a consistent, self-contained copy taken while a
// server keeps writing to it.
//
// Invariant: the copy is one committed snapshot of the source. Every transaction committed
// before the backup opened its read transaction is in the copy, whole; none committed after
// is in it, not even partly. So an event acknowledged (its COMMIT returned) before the backup
// began is in the copy with its idempotency key and its deliveries.
//
// Thread-safety: BackupDatabase uses only its own connections and may run on any thread, in
// any process, beside a serving process. It takes no hookvault.lock: it never writes the
// source, and in WAL mode its read transaction blocks neither the writer nor readers (only
// checkpoints cannot pass its snapshot until it ends).
#ifndef HOOKVAULT_STORAGE_SQLITE_BACKUP_H_
#define HOOKVAULT_STORAGE_SQLITE_BACKUP_H_

#include <cstdint>
#include <string>

#include "storage/status.h"

namespace hookvault::storage {

struct BackupOptions {
  // Replace an existing `out_path`. Without it an existing file is never touched.
  bool overwrite = false;
  // Pages copied per sqlite3_backup_step(); the source stays readable by everyone between
  // steps and the copy's progress is visible to a debugger, nothing more.
  int pages_per_step = 256;
  // How long to keep retrying while the source reports SQLITE_BUSY/LOCKED before giving up.
  int busy_timeout_ms = 30000;
  // SQLite VFS for every connection of the backup (source, copy); empty: the default. Tests use
  // one that simulates a power cut.
  std::string vfs = "";
};

struct BackupResult {
  int64_t pages = 0;
  int64_t bytes = 0;
  double seconds = 0;
  int64_t max_event_seq = 0;  // 0 when the copy holds no event
  int64_t events = 0;
};

// Copies the database at `db_path` into `out_path` with SQLite's online backup API, reading
// one snapshot of the source through a single read transaction. The copy is written to a
// temporary file beside `out_path`, switched to journal_mode=DELETE (so it needs no -wal file),
// checked with PRAGMA integrity_check, fsynced, renamed into place, and the directory fsynced.
// The copy has mode 0600 whatever the umask. On failure nothing is left at `out_path` (an
// existing file there is untouched).
//
// Returns kNotFound if `db_path` does not exist, kInvalidArgument if `out_path` is the database
// or its -wal, -shm or -journal (resolving links; also with `overwrite`), kAlreadyExists if
// `out_path` exists and `options.overwrite` is false, kUnavailable if a file cannot be read or
// written (or the source stays busy), kInternal if the copy fails its integrity check.
StatusOr<BackupResult> BackupDatabase(const std::string& db_path, const std::string& out_path,
                                      const BackupOptions& options = {});

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_BACKUP_H_
