#include "server/data_dir.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "storage/base/crypto.h"

namespace hookvault::server {

namespace {

constexpr char kLockFile[] = "hookvault.lock";
// The secrets of the embedded default config (server/main.cc).
constexpr const char* kSecretFiles[] = {"default-token", "default-api-token"};

// Removes group and other permissions from `path` (mode `mode`). Returns kUnavailable naming
// the reason when chmod fails.
storage::Status Tighten(const std::string& path, mode_t mode, mode_t allowed) {
  if ((mode & 07777 & ~allowed) == 0) return storage::Status::Ok();
  if (::chmod(path.c_str(), mode & allowed) != 0) {
    return storage::Status::Unavailable(fmt::format(
        "{} has mode {:04o} and cannot be made private ({:04o}): {}", path, mode & 07777,
        mode & allowed, strerror(errno)));
  }
  spdlog::warn("{} had mode {:04o}: now {:04o}, so other local users cannot read it", path,
               mode & 07777, mode & allowed);
  return storage::Status::Ok();
}

}  // namespace

storage::Status EnsureDataDir(const std::string& dir) {
  std::error_code ec;
  // Parents created here are private too (hookvault's main sets umask 077 as well).
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return storage::Status::Unavailable("cannot create data dir " + dir + ": " + ec.message());
  }
  // An existing data dir that is looser is tightened rather than refused: it is hookvault's
  // own, and the common cause is an earlier version or a default umask; refusing would only
  // make the operator run the same chmod.
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return storage::Status::Unavailable("cannot stat data dir " + dir + ": " + strerror(errno));
  }
  // A shared directory (sticky, like /tmp) is not a data dir: other users' files live there, and
  // making it 0700 would lock them out.
  if (st.st_mode & S_ISVTX) {
    return storage::Status::Unavailable("data dir " + dir +
                                        " is a shared directory (sticky bit): give hookvault a "
                                        "directory of its own");
  }
  // Only group and other bits are taken away (a setgid bit stays).
  if (auto s = Tighten(dir, st.st_mode, 07777 & ~(S_IRWXG | S_IRWXO)); !s.ok()) return s;
  // hookvault's own files only (the directory may hold others: `--data-dir .`): the database,
  // its -wal, -shm and -journal (SQLite gives them the database's mode), the lock and the
  // secrets, no more than 0600.
  std::vector<std::string> own = {"hookvault.db", "hookvault.db-wal", "hookvault.db-shm",
                                  "hookvault.db-journal", kLockFile};
  own.insert(own.end(), std::begin(kSecretFiles), std::end(kSecretFiles));
  for (const std::string& name : own) {
    struct stat f {};
    std::string path = dir + "/" + name;
    if (::lstat(path.c_str(), &f) != 0 || !S_ISREG(f.st_mode)) continue;
    if (auto s = Tighten(path, f.st_mode, S_IRUSR | S_IWUSR); !s.ok()) return s;
  }
  return storage::Status::Ok();
}

storage::Status CheckBackupTarget(const std::string& db_path, const std::string& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path db = fs::weakly_canonical(db_path, ec);
  if (ec) return storage::Status::Ok();  // no database: the backup reports it
  fs::path dir = db.parent_path();
  std::vector<fs::path> owned;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    owned.push_back(dir / (db.filename().string() + suffix));
  }
  owned.push_back(dir / kLockFile);
  for (const char* secret : kSecretFiles) owned.push_back(dir / secret);

  // weakly_canonical resolves every symbolic link of the part that exists, `out` itself too.
  fs::path target = fs::weakly_canonical(out, ec);
  if (ec) target = fs::absolute(out);
  struct stat out_st {};
  bool out_exists = ::stat(out.c_str(), &out_st) == 0;
  for (const fs::path& file : owned) {
    struct stat st {};
    bool same_file = out_exists && ::stat(file.c_str(), &st) == 0 &&
                     st.st_dev == out_st.st_dev && st.st_ino == out_st.st_ino;
    if (target == file || same_file) {
      return storage::Status::InvalidArgument(
          "--out " + out + " is " + file.string() +
          ", a file of the live data dir: write the backup elsewhere");
    }
  }
  return storage::Status::Ok();
}

storage::StatusOr<DataDirLock> DataDirLock::Acquire(const std::string& data_dir) {
  std::string path = data_dir + "/hookvault.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return storage::Status::Unavailable("cannot open " + path + ": " + strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return storage::Status::Unavailable("another hookvault is serving " + data_dir +
                                        " (it holds " + path + ")");
  }
  return DataDirLock(fd);
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

storage::StatusOr<std::string> StoredSecret(const std::string& data_dir, const char* env_name,
                                            const std::string& file_name, const char* what) {
  if (const char* env = std::getenv(env_name); env && *env) {
    // The same minimum as a token in a config file; the value is not shown.
    if (std::strlen(env) < kMinSecretChars) {
      return storage::Status::InvalidArgument("$" + std::string(env_name) + " must be at least " +
                                              std::to_string(kMinSecretChars) + " characters");
    }
    return std::string(env);
  }
  std::string path = data_dir + "/" + file_name;
  std::ifstream existing(path);
  std::string token;
  if (existing && std::getline(existing, token) && !token.empty()) {
    spdlog::info("{}: read from {}", what, path);
    return token;
  }
  token = base::RandomHex(24);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return storage::Status::Unavailable("cannot write " + path + ": " + strerror(errno));
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = (::fsync(fd) == 0) && ok;
  ::close(fd);
  if (!ok) return storage::Status::Unavailable("cannot write " + path);
  spdlog::info("{}: generated and written to {} (mode 0600)", what, path);
  return token;
}

}  // namespace hookvault::server
