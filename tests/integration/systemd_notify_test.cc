// systemd readiness (Type=notify): the real binary talks to a $NOTIFY_SOCKET this test owns, as
// systemd's would be; and SystemdNotifier's watchdog pings only while its probe runs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <functional>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "server/systemd_notifier.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

// A unix datagram socket bound at a path, standing in for systemd's notification socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << path;
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }

  // Returns the next message, or nullopt after `timeout` without one.
  std::optional<std::string> Receive(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = timeout.count() / 1000;
    tv.tv_usec = (timeout.count() % 1000) * 1000;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

  // Returns the first message containing `what` within `timeout`; the others are dropped.
  std::optional<std::string> WaitFor(const std::string& what, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto m = Receive(std::max(left, std::chrono::milliseconds(1)));
      if (m && m->find(what) != std::string::npos) return m;
    }
    return std::nullopt;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

bool PortAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

TEST(SystemdNotifyTest, ReadyAfterTheListenerWatchdogPingsAndStopping) {
  TempDir dir;
  NotifySocket socket(dir.File("notify.sock"));
  ServerProcess server({"serve", "--listen", "127.0.0.1:0", "--data-dir", dir.File("data")},
                       dir.File("server.log"),
                       {"NOTIFY_SOCKET=" + dir.File("notify.sock"), "WATCHDOG_USEC=400000"});
  ASSERT_TRUE(server.started()) << server.Log();

  std::optional<std::string> ready = socket.WaitFor("READY=1", std::chrono::seconds(10));
  ASSERT_TRUE(ready) << server.Log();
  // READY=1 names the port it listens on, and that port accepts connections: the listener
  // was up before systemd was told.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(*ready, m, std::regex(R"(STATUS=listening on http://[^ ]*:(\d+))")))
      << *ready;
  EXPECT_EQ(std::stoi(m[1]), server.port());
  EXPECT_TRUE(PortAccepts(std::stoi(m[1])));

  // Pings at half of WATCHDOG_USEC while the writer runs its probes.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(socket.WaitFor("WATCHDOG=1", std::chrono::seconds(5))) << "ping " << i;
  }
  server.Kill(SIGTERM);
  EXPECT_TRUE(socket.WaitFor("STOPPING=1", std::chrono::seconds(10))) << server.Log();
  EXPECT_EQ(server.Wait(), 0) << server.Log();
}

TEST(SystemdNotifyTest, WithoutAWatchdogNoPings) {
  TempDir dir;
  NotifySocket socket(dir.File("notify.sock"));
  ServerProcess server({"serve", "--listen", "127.0.0.1:0", "--data-dir", dir.File("data")},
                       dir.File("server.log"), {"NOTIFY_SOCKET=" + dir.File("notify.sock")});
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_TRUE(socket.WaitFor("READY=1", std::chrono::seconds(10)));
  EXPECT_FALSE(socket.WaitFor("WATCHDOG=1", std::chrono::milliseconds(500)));
  EXPECT_EQ(server.Signal(SIGTERM), 0);
}

// Scoped environment variable (the notifier reads $NOTIFY_SOCKET and $WATCHDOG_USEC).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

// A writer that stops running tasks stops the pings, so systemd restarts the process.
TEST(SystemdNotifyTest, NoPingWhileTheProbeDoesNotRun) {
  TempDir dir;
  NotifySocket socket(dir.File("notify.sock"));
  ScopedEnv notify("NOTIFY_SOCKET", dir.File("notify.sock"));
  ScopedEnv watchdog("WATCHDOG_USEC", "100000");
  std::mutex mu;
  std::vector<std::function<void()>> queued;  // guarded by mu; the wedged writer keeps them
  {
    server::SystemdNotifier notifier([&](std::function<void()> on_run) {
      std::lock_guard<std::mutex> lock(mu);
      queued.push_back(std::move(on_run));
      return storage::Status::Ok();
    });
    notifier.Ready("test");
    ASSERT_TRUE(socket.WaitFor("READY=1", std::chrono::seconds(5)));
    // The first ping (the server just started), then none: the probe never ran.
    EXPECT_TRUE(socket.WaitFor("WATCHDOG=1", std::chrono::seconds(5)));
    EXPECT_FALSE(socket.WaitFor("WATCHDOG=1", std::chrono::milliseconds(500)));
    std::function<void()> probe;
    {
      std::lock_guard<std::mutex> lock(mu);
      ASSERT_EQ(queued.size(), 1u) << "a second probe was queued behind a stuck one";
      probe = queued[0];
    }
    // The writer runs again: pings resume.
    probe();
    EXPECT_TRUE(socket.WaitFor("WATCHDOG=1", std::chrono::seconds(5)));
    notifier.Stopping();
  }
  EXPECT_TRUE(socket.WaitFor("STOPPING=1", std::chrono::seconds(5)));
}

// The ping is sent by the probe when the writer runs it, not at the watchdog thread's next round:
// a writer that was stalled for less than WatchdogSec pings the moment it runs again, so systemd's
// deadline is missed only by a stall of about three quarters of WatchdogSec or more. (Pinging at
// the next round, every WatchdogSec/2, a stall of just over half of it could miss the deadline.)
TEST(SystemdNotifyTest, TheProbePingsTheMomentTheWriterRunsIt) {
  TempDir dir;
  NotifySocket socket(dir.File("notify.sock"));
  ScopedEnv notify("NOTIFY_SOCKET", dir.File("notify.sock"));
  ScopedEnv watchdog("WATCHDOG_USEC", "4000000");  // rounds of 1 s
  std::mutex mu;
  std::vector<std::function<void()>> queued;  // guarded by mu
  {
    server::SystemdNotifier notifier([&](std::function<void()> on_run) {
      std::lock_guard<std::mutex> lock(mu);
      queued.push_back(std::move(on_run));
      return storage::Status::Ok();
    });
    notifier.Ready("test");
    ASSERT_TRUE(socket.WaitFor("WATCHDOG=1", std::chrono::seconds(5)));  // the first, at start
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));  // a stall, between rounds
    std::function<void()> probe;
    {
      std::lock_guard<std::mutex> lock(mu);
      ASSERT_EQ(queued.size(), 1u);
      probe = queued[0];
    }
    probe();
    EXPECT_TRUE(socket.WaitFor("WATCHDOG=1", std::chrono::milliseconds(300)))
        << "the ping waited for the watchdog thread's next round";
    notifier.Stopping();
  }
}

// A probe that could not be queued once (say, a bounded queue was full) does not stop the pings
// for good: it is queued again next round.
TEST(SystemdNotifyTest, AProbeThatCouldNotBeQueuedIsQueuedAgain) {
  TempDir dir;
  NotifySocket socket(dir.File("notify.sock"));
  ScopedEnv notify("NOTIFY_SOCKET", dir.File("notify.sock"));
  ScopedEnv watchdog("WATCHDOG_USEC", "100000");
  std::atomic<int> calls{0};
  server::SystemdNotifier notifier([&](std::function<void()> on_run) {
    if (calls.fetch_add(1) == 0) return storage::Status::Unavailable("queue full");
    on_run();  // a writer that runs it at once
    return storage::Status::Ok();
  });
  notifier.Ready("test");
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(socket.WaitFor("WATCHDOG=1", std::chrono::seconds(5))) << "ping " << i;
  }
  notifier.Stopping();
  EXPECT_GE(calls.load(), 2);
}

}  // namespace
}  // namespace hookvault::testing
