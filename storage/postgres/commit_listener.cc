#include "storage/postgres/commit_listener.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

namespace hookvault::storage {
namespace {

// The channel is an identifier, not a parameter: LISTEN takes no bind parameters.
constexpr std::string_view kListen = R"sql(LISTEN hookvault_events)sql";
static_assert(kListen.ends_with(PostgresCommitListener::kChannel));

// The first retry after a lost connection comes at once (a terminated backend, a restarted
// pooler: the server is likely there); then the waits double up to this.
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

Status Listen(pg::Connection& connection) {
  auto listened = connection.Exec(kListen);
  return listened.ok() ? Status::Ok() : listened.status();
}

}  // namespace

StatusOr<std::unique_ptr<PostgresCommitListener>> PostgresCommitListener::Open(
    const pg::ConnectionOptions& options, std::chrono::milliseconds poll_interval,
    std::function<void()> on_commit) {
  auto connection = pg::Connection::Open(options);
  if (!connection.ok()) return connection.status();
  if (auto s = Listen(**connection); !s.ok()) return s;
  const int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    return Status::Internal(std::string("commit listener: eventfd: ") + std::strerror(errno));
  }
  return std::unique_ptr<PostgresCommitListener>(new PostgresCommitListener(
      std::move(connection).value(), std::max(poll_interval, std::chrono::milliseconds(1)),
      std::move(on_commit), stop_fd));
}

PostgresCommitListener::PostgresCommitListener(std::unique_ptr<pg::Connection> connection,
                                               std::chrono::milliseconds poll_interval,
                                               std::function<void()> on_commit, int stop_fd)
    : connection_(std::move(connection)),
      poll_interval_(poll_interval),
      on_commit_(std::move(on_commit)),
      stop_fd_(stop_fd) {}

PostgresCommitListener::~PostgresCommitListener() {
  Stop();
  ::close(stop_fd_);
}

void PostgresCommitListener::Start() {
  if (stopped_ || thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void PostgresCommitListener::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // The eventfd is never read: it stays readable, so every later poll() sees the stop too.
  const uint64_t one = 1;
  ssize_t written;
  do {
    written = ::write(stop_fd_, &one, sizeof(one));
  } while (written < 0 && errno == EINTR);
  if (thread_.joinable()) thread_.join();
}

void PostgresCommitListener::Run() {
  while (true) {
    if (connection_->broken()) {
      if (!Reconnect()) return;
      on_commit_();  // commits may have gone by unnoticed while the connection was down
      continue;
    }
    pollfd fds[2] = {{.fd = connection_->socket(), .events = POLLIN, .revents = 0},
                     {.fd = stop_fd_, .events = POLLIN, .revents = 0}};
    const int ready = ::poll(fds, 2, static_cast<int>(poll_interval_.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (fds[1].revents != 0) return;
    if (ready <= 0) {
      on_commit_();  // the backstop tick (also if poll() itself failed: never spin)
      if (ready < 0 && WaitForStop(poll_interval_)) return;
      continue;
    }
    // One read takes every notification that arrived: one call for all of them.
    const bool notified = !connection_->ConsumeNotifications().empty();
    if (notified) on_commit_();
    // A hung-up socket whose last bytes libpq could still read: the next read fails for sure,
    // so reconnect now rather than wake on it again.
    if (!connection_->broken() && (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
      if (!Reconnect()) return;
      on_commit_();
    }
  }
}

bool PostgresCommitListener::Reconnect() {
  std::chrono::milliseconds delay = kFirstBackoff;
  const std::chrono::milliseconds max_delay = std::min(kMaxBackoff, poll_interval_);
  while (true) {
    Status s = connection_->Reset();
    if (s.ok()) s = Listen(*connection_);
    if (s.ok()) {
      reconnects_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    if (WaitForStop(std::min(delay, max_delay))) return false;
    delay = std::min(delay * 2, max_delay);
  }
}

bool PostgresCommitListener::WaitForStop(std::chrono::milliseconds timeout) const {
  pollfd fd = {.fd = stop_fd_, .events = POLLIN, .revents = 0};
  int ready;
  do {
    ready = ::poll(&fd, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  return ready > 0;
}

}  // namespace hookvault::storage
