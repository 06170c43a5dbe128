// The data directory: creating it, the lock that keeps a second server off it, and the secrets
// of the embedded default config kept in it.
#ifndef HOOKVAULT_SERVER_DATA_DIR_H_
#define HOOKVAULT_SERVER_DATA_DIR_H_

#include <cstddef>
#include <string>

#include "storage/status.h"

namespace hookvault::server {

// Creates `dir` and its parents when missing, and makes it private: the directory mode 0700
// and each file directly in it no more than 0600 (payloads, secrets and backups must not be
// readable by other local users, whatever the umask). A looser existing directory or file is
// tightened, with a warning in the log. Returns kUnavailable naming the reason when it cannot be
// created or tightened (for instance another user owns it).
storage::Status EnsureDataDir(const std::string& dir);

// Returns kInvalidArgument when `out` (a backup's target) is, or would replace, a file that
// hookvault keeps beside the database at `db_path` in its data dir: the database, its -wal,
// -shm or -journal, the lock or a stored secret, by name after resolving symbolic links or by
// being the same file (inode).
storage::Status CheckBackupTarget(const std::string& db_path, const std::string& out);

// Holds an exclusive lock on <data_dir>/hookvault.lock until destroyed. Two servers on one
// database would each release the other's delivery leases at start and deliver twice.
class DataDirLock {
 public:
  // Takes the lock without waiting. Returns kUnavailable naming the holder's file when another
  // process holds it, or the reason it cannot be opened.
  static storage::StatusOr<DataDirLock> Acquire(const std::string& data_dir);
  DataDirLock(DataDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DataDirLock& operator=(DataDirLock&&) = delete;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

// Returns a secret of the embedded default config: $`env_name` when set, else the one kept in
// <data_dir>/`file_name` (created with mode 0600 and fsynced on first start). `what` names it
// in the log. Returns kInvalidArgument when $`env_name` is shorter than kMinSecretChars (like a
// token of a config file), kUnavailable when the file cannot be written.
storage::StatusOr<std::string> StoredSecret(const std::string& data_dir, const char* env_name,
                                            const std::string& file_name, const char* what);

// The shortest token the environment may set (the config's minimum for tokens).
inline constexpr size_t kMinSecretChars = 16;

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DATA_DIR_H_
