#include "storage/sqlite/backup.h"

#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <thread>

#include "storage/sqlite/database.h"

namespace hookvault::storage {
namespace {

// Any read of the schema starts the read transaction that BEGIN only announced (SQLite starts
// transactions lazily); from then on every backup step reads this one snapshot.
constexpr std::string_view kStartSnapshot = "SELECT count(*) FROM sqlite_schema";
constexpr std::string_view kCopyJournalMode = "PRAGMA journal_mode = DELETE";
constexpr std::string_view kIntegrityCheck = "PRAGMA integrity_check";
constexpr std::string_view kEventSummary = "SELECT count(*), coalesce(max(seq), 0) FROM events";
constexpr std::string_view kHasEvents =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'events'";

constexpr auto kBusyPause = std::chrono::milliseconds(5);

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

void RemoveTemp(const std::string& tmp) {
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) ::unlink((tmp + suffix).c_str());
}

Status Errno(const std::string& what) {
  return Status::Unavailable(what + ": " + std::strerror(errno));
}

Status FsyncPath(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) return Errno("open " + path);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  return rc == 0 ? Status::Ok() : Errno("fsync " + path);
}

// Returns kInvalidArgument when `out_path` is the database at `db_path` or one of its -wal,
// -shm or -journal files (by resolved name or inode): renaming the copy over it would replace
// the live database under a running server.
Status RefuseSourceFiles(const std::string& db_path, const std::string& out_path) {
  std::error_code ec;
  std::filesystem::path out = std::filesystem::weakly_canonical(out_path, ec);
  if (ec) out = std::filesystem::absolute(out_path);
  struct stat out_st {};
  bool out_exists = ::stat(out_path.c_str(), &out_st) == 0;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::string file = db_path + suffix;
    struct stat st {};
    bool same_inode = out_exists && ::stat(file.c_str(), &st) == 0 &&
                      st.st_dev == out_st.st_dev && st.st_ino == out_st.st_ino;
    std::filesystem::path resolved = std::filesystem::weakly_canonical(file, ec);
    if (same_inode || (!ec && resolved == out)) {
      return Status::InvalidArgument(out_path + " is the database's own " + file +
                                     ": write the backup elsewhere");
    }
  }
  return Status::Ok();
}

// Creates `tmp` empty with mode 0600 whatever the umask (the copy holds every payload; SQLite
// gives its journal the same mode). Returns kUnavailable naming the reason.
Status CreatePrivate(const std::string& tmp) {
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create " + tmp);
  int rc = ::fchmod(fd, 0600);
  int saved = errno;
  ::close(fd);
  errno = saved;
  return rc == 0 ? Status::Ok() : Errno("chmod " + tmp);
}

// Moves `tmp` to `out`; without `overwrite`, atomically refuses when `out` exists (a file that
// appeared while the copy ran is not replaced either).
Status Publish(const std::string& tmp, const std::string& out, bool overwrite) {
  if (overwrite) {
    if (::rename(tmp.c_str(), out.c_str()) != 0) return Errno("rename to " + out);
    return Status::Ok();
  }
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_NOREPLACE) == 0) {
    return Status::Ok();
  }
  if (errno == EEXIST) return Status::AlreadyExists(out + " exists (use --force to replace it)");
  if (errno != EINVAL && errno != ENOSYS) return Errno("rename to " + out);
  // A file system without RENAME_NOREPLACE: link() refuses an existing name just as well.
  if (::link(tmp.c_str(), out.c_str()) != 0) {
    if (errno == EEXIST) return Status::AlreadyExists(out + " exists (use --force to replace it)");
    return Errno("link to " + out);
  }
  ::unlink(tmp.c_str());
  return Status::Ok();
}

// Copies one snapshot of `src_path` into a new database at `tmp`.
Status CopySnapshot(const std::string& src_path, const std::string& tmp,
                    const BackupOptions& options, BackupResult& result) {
  try {
    // Read-only: the backup never writes the source (nor runs its migrations).
    SQLite::Database src(src_path, SQLite::OPEN_READONLY, options.busy_timeout_ms, options.vfs);
    SQLite::Database dest(tmp, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, 0, options.vfs);
    // With the source in WAL mode this read transaction blocks no writer, and it pins the
    // snapshot: without it each step would open its own, and a commit by the server between
    // two steps would restart the copy from page 1 (forever, under steady ingest).
    SQLite::Transaction snapshot(src, SQLite::TransactionBehavior::DEFERRED);
    src.execAndGet(std::string(kStartSnapshot));

    SQLite::Backup backup(dest, src);
    auto busy_since = std::chrono::steady_clock::time_point{};
    for (;;) {
      int rc = backup.executeStep(options.pages_per_step);  // throws on errors but busy/locked
      if (rc == SQLITE_DONE) break;
      if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        auto now = std::chrono::steady_clock::now();
        if (busy_since == decltype(busy_since){}) busy_since = now;
        if (now - busy_since > std::chrono::milliseconds(options.busy_timeout_ms)) {
          return Status::Unavailable("backup: the database stayed busy for " +
                                     std::to_string(options.busy_timeout_ms) + " ms");
        }
        std::this_thread::sleep_for(kBusyPause);
        continue;
      }
      busy_since = {};
    }
    result.pages = backup.getTotalPageCount();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "backup");
  }
  return Status::Ok();
}

// Makes the copy self-contained, then verifies it and reads its summary.
Status FinishCopy(const std::string& tmp, const BackupOptions& options, BackupResult& result) {
  try {
    SQLite::Database copy(tmp, SQLite::OPEN_READWRITE, 0, options.vfs);
    // The pages carry the source's WAL flag; DELETE mode writes it out of the header so the
    // copy is one file that opens anywhere (serve switches a restored copy back to WAL).
    copy.exec(std::string(kCopyJournalMode));
    SQLite::Statement check(copy, std::string(kIntegrityCheck));
    std::string problems;
    while (check.executeStep()) {
      std::string line = check.getColumn(0).getString();
      if (line == "ok") continue;
      if (!problems.empty()) problems += "; ";
      problems += line;
    }
    if (!problems.empty()) return Status::Internal("backup failed integrity_check: " + problems);
    if (copy.execAndGet(std::string(kHasEvents)).getInt64() > 0) {
      SQLite::Statement summary(copy, std::string(kEventSummary));
      summary.executeStep();
      result.events = summary.getColumn(0).getInt64();
      result.max_event_seq = summary.getColumn(1).getInt64();
    }
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "check backup");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<BackupResult> BackupDatabase(const std::string& db_path, const std::string& out_path,
                                      const BackupOptions& options) {
  auto started = std::chrono::steady_clock::now();
  if (!Exists(db_path)) return Status::NotFound("no database at " + db_path);
  if (Status s = RefuseSourceFiles(db_path, out_path); !s.ok()) return s;
  if (!options.overwrite && Exists(out_path)) {
    return Status::AlreadyExists(out_path + " exists (use --force to replace it)");
  }
  std::filesystem::path out(out_path);
  std::string dir = out.parent_path().empty() ? "." : out.parent_path().string();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::Unavailable("cannot write " + out_path + ": no directory " + dir);
  }

  // Beside the target, so the final rename stays on one file system and is atomic.
  std::string tmp = out_path + ".tmp-" + std::to_string(::getpid());
  RemoveTemp(tmp);
  BackupResult result;
  Status s = CreatePrivate(tmp);
  if (s.ok()) s = CopySnapshot(db_path, tmp, options, result);
  if (s.ok()) s = FinishCopy(tmp, options, result);
  if (s.ok()) s = FsyncPath(tmp, /*directory=*/false);
  if (s.ok()) s = Publish(tmp, out_path, options.overwrite);
  if (!s.ok()) {
    RemoveTemp(tmp);
    return s;
  }
  // The rename is durable only once the directory is.
  if (Status d = FsyncPath(dir, /*directory=*/true); !d.ok()) return d;
  if (::stat(out_path.c_str(), &st) == 0) result.bytes = st.st_size;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace hookvault::storage
