// PostgresCommitListener: tells this node that some node committed events, so that its
// scheduler and its parked feed long-polls look again without waiting for their own timers.
//
// Every ingest batch that stores an event sends `NOTIFY hookvault_events, '<last seq>'` inside
// its transaction (storage/postgres/event_log.cc), so the notification is delivered only once
// the batch committed, to every node LISTENing. A notification is a hint, never the data: the
// callback is also called every poll interval (the backstop: a notification lost with a
// connection, or one that arrives while the callback runs, costs at most one interval), and once
// after each reconnect (commits may have gone by while the connection was down).
#ifndef HOOKVAULT_STORAGE_POSTGRES_COMMIT_LISTENER_H_
#define HOOKVAULT_STORAGE_POSTGRES_COMMIT_LISTENER_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <thread>

#include "storage/postgres/connection.h"
#include "storage/status.h"

namespace hookvault::storage {

// A thread with its own connection that LISTENs on kChannel and calls `on_commit`: once
// for every read of the socket that brought notifications (several commits that arrive together
// give one call), every `poll_interval` without one, and once after each reconnect. When the
// connection is lost it reconnects with a backoff (100 ms doubling to 5 s, never longer than the
// poll interval) and LISTENs again.
//
// Thread-safety: Start() and Stop() from one owning thread; on_commit runs on the listener's
// own thread, one call at a time, and must not block for long (it delays the next read).
class PostgresCommitListener {
 public:
  // The channel every ingest batch notifies; its payload is the batch's last seq (decimal).
  static constexpr std::string_view kChannel = "hookvault_events";

  // Connects (with TCP keepalives, as every pg::Connection: a listener only reads, and a
  // server gone without closing the socket must fail its poll) and LISTENs. Returns
  // kUnavailable if the database cannot be reached.
  // `on_commit` is called only between Start() and Stop().
  static StatusOr<std::unique_ptr<PostgresCommitListener>> Open(
      const pg::ConnectionOptions& options, std::chrono::milliseconds poll_interval,
      std::function<void()> on_commit);

  PostgresCommitListener(const PostgresCommitListener&) = delete;
  PostgresCommitListener& operator=(const PostgresCommitListener&) = delete;
  ~PostgresCommitListener();  // Stop()

  // Starts the thread. Later calls, and calls after Stop(), do nothing.
  void Start();
  // Wakes the thread and joins it; on_commit is not called after Stop() returns. A reconnect
  // under way finishes first (bounded by the connect timeout). Safe to call more than once.
  void Stop();

  // Times the connection was re-established after a loss (for tests and logs).
  int64_t reconnects() const { return reconnects_.load(std::memory_order_relaxed); }

 private:
  PostgresCommitListener(std::unique_ptr<pg::Connection> connection,
                         std::chrono::milliseconds poll_interval, std::function<void()> on_commit,
                         int stop_fd);
  void Run();
  // Waits until the connection is back and listening, or Stop(). Returns false on Stop().
  bool Reconnect();
  // Waits up to `timeout` for the stop signal. Returns true if Stop() was called.
  bool WaitForStop(std::chrono::milliseconds timeout) const;

  // Used by the listener's thread only once Start() has run.
  std::unique_ptr<pg::Connection> connection_;
  const std::chrono::milliseconds poll_interval_;
  const std::function<void()> on_commit_;
  // An eventfd: Stop() writes it to wake the thread out of poll().
  const int stop_fd_;
  std::atomic<int64_t> reconnects_{0};
  std::thread thread_;  // owning thread only
  bool stopped_ = false;  // owning thread only
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_POSTGRES_COMMIT_LISTENER_H_
