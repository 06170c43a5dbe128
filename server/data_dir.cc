#include "server/data_dir.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "storage/base/crypto.h"

namespace hookvault::server {

storage::Status EnsureDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return storage::Status::Unavailable("cannot create data dir " + dir + ": " + ec.message());
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
  if (const char* env = std::getenv(env_name); env && *env) return std::string(env);
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
