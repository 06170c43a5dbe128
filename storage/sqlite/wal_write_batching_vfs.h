// A SQLite VFS that hands the WAL's writes of one commit to the file system in one write.
//
// Why: SQLite writes each WAL frame as two writes, its 24-byte header and then its page, so a
// commit touching 20 pages costs 40 pwrite calls, each a system call and a pass through the
// file system's write path for the same page-cache pages. On the writer thread those calls
// took about as much CPU as the commit's fsync (perf, `scripts/bench ingest`). This VFS
// gathers writes that continue one another and passes them down as one write just before the
// file is synced, read, truncated, sized, controlled or closed, or when 120 KiB are gathered.
//
// Durability and visibility are unchanged: SQLite makes new frames visible to other connections
// (the wal-index header) only after the commit's xSync, which writes everything gathered first,
// and a frame it reads back is written before the read. So it must be used only where every
// commit syncs the WAL: PRAGMA synchronous = FULL, as OpenDatabase sets (with NORMAL, a commit
// does not sync and readers could look for frames not yet written). Only files opened as a WAL
// are wrapped; the database, its -shm and every other file are the base VFS's own, untouched.
// An error of a deferred write is returned by the call that writes it (xSync for a commit), so a
// commit still fails as it would have (SQLITE_FULL stays SQLITE_FULL).
//
// Thread-safety: registration is thread-safe. A file handle is used by one connection, which
// SQLite uses from one thread at a time, as with any VFS.
#ifndef HOOKVAULT_STORAGE_SQLITE_WAL_WRITE_BATCHING_VFS_H_
#define HOOKVAULT_STORAGE_SQLITE_WAL_WRITE_BATCHING_VFS_H_

#include <string>

#include "storage/status.h"

namespace hookvault::storage {

// Registers (once per base, never as the default) the batching VFS over the VFS named `base`
// ("" for SQLite's default) and returns its name, for DatabaseOptions::vfs. kUnavailable if
// `base` is not registered.
StatusOr<std::string> WalWriteBatchingVfs(const std::string& base);

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_WAL_WRITE_BATCHING_VFS_H_
