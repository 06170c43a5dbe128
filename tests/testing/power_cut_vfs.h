// A SQLite VFS that simulates power loss, as SQLite's own crash tests do (src/test6.c): it
// forwards to the default VFS and remembers, for every file, what a disk would still hold after
// the power went — the image as of the file's last xSync — beside what was written since. At a
// power cut every further I/O fails; MaterializePowerCut() then puts on disk only what survives,
// and the database is opened again, with the default VFS, as after a reboot.
//
// The model (each random choice comes from the seeded generator: the same I/O and seed give the
// same disk):
//  - Writes pass through to the real file (so every connection of the process reads them, as
//    from the page cache) and are recorded per 512-byte sector. xSync makes the file's current
//    content durable; the real fsync is skipped (the model decides what is durable, and the test
//    stays fast).
//  - At a cut, each sector written since the file's last xSync is, at random, written, dropped
//    (the synced bytes stay) or trashed (random bytes): torn at sector granularity. Only the
//    bytes that were written change, never their neighbours: the default VFS reports
//    SQLITE_IOCAP_POWERSAFE_OVERWRITE, which promises that, and this VFS passes it on.
//  - A file that grew since its last sync keeps only the growth of its written sectors; a
//    truncation since the last sync happens or not.
//  - Directory entries. A file created through the VFS is sure to exist after a cut only once
//    it was synced (the default VFS fsyncs the directory at the first sync of a new WAL or
//    journal); before that it is, at random, absent or there with some of its sectors. (SQLite's
//    crash VFS glosses this; PowerCutModel::created_files_need_sync = false glosses it too.)
//    xDelete with its dirSync flag is durable; without it the file may come back with its
//    synced image. Renames and directory fsyncs done outside SQLite (BackupDatabase's publish
//    step) are not seen: a file that is gone from disk when the power is cut is left alone.
//  - Shared memory (-shm) is not durable state: SQLite rebuilds it from the WAL on reopening.
//    Temporary files (no name, or delete-on-close) are not tracked.
//
// Thread-safety: every function and every VFS method may be called from any thread; the state
// is guarded by one mutex (real writes, syncs and truncations run under it too).
#ifndef HOOKVAULT_TESTS_TESTING_POWER_CUT_VFS_H_
#define HOOKVAULT_TESTS_TESTING_POWER_CUT_VFS_H_

#include <cstdint>
#include <string>

#include "storage/status.h"

namespace hookvault::testing {

// Operations a trigger counts (a bitmask).
enum PowerCutOp : unsigned {
  kPowerCutWrite = 1,
  kPowerCutSync = 2,
  kPowerCutTruncate = 4,
  kPowerCutDelete = 8,
  kPowerCutAnyOp = 15,
};

// Cuts the power at the `at`-th counted operation (1-based) since ArmPowerCut: that operation
// fails (SQLITE_IOERR_*) and does not happen, and nor does anything after it.
struct PowerCutTrigger {
  unsigned ops = kPowerCutAnyOp;
  std::string path_suffix = "";    // only files whose path ends with this; empty: every file
  std::string path_contains = "";  // only files whose path contains this; empty: every file
  int64_t at = 0;                  // 0: never
};

struct PowerCutModel {
  uint64_t seed = 1;
  // false: a created file exists after a cut, empty, even if it was never synced (its data
  // sectors still follow the model). The negative control uses it, so that the only losses it
  // can show are of unsynced data.
  bool created_files_need_sync = true;
};

struct PowerCutStats {
  int64_t writes = 0;  // of tracked files, before the cut
  int64_t syncs = 0;
  int64_t truncates = 0;
  int64_t deletes = 0;
  bool cut = false;
  std::string cut_at;  // which operation the power went at, or CutPower's reason
};

// Registers the VFS (once; not as the default) and returns its name, for
// storage::DatabaseOptions::vfs and the other options' vfs fields.
const char* PowerCutVfsName();

// Starts a new run: forgets every file (what is on disk now counts as durable), clears the
// trigger and the cut, and seeds the generator. Returns kInternal if a file is still open.
storage::Status ResetPowerCut(const PowerCutModel& model);

// Sets the trigger (the count starts at 0).
void ArmPowerCut(const PowerCutTrigger& trigger);

// Cuts the power now (if not cut yet); `why` is recorded in stats().cut_at.
void CutPower(const std::string& why);

bool PowerIsCut();
PowerCutStats GetPowerCutStats();

// Cuts the power if it is not cut yet, then writes on disk, for every file the VFS tracked,
// what survives the cut (see the model above), and ends the cut: the files can be opened again
// (with any VFS; call ResetPowerCut before using this one again). Every connection through the
// VFS must be closed first: returns kInternal, changing nothing, if a file is still open.
storage::Status MaterializePowerCut();

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_POWER_CUT_VFS_H_
