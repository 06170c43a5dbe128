// PostgresCommitListener on a real PostgreSQL (tests/testing/postgres_server.h): notifications
// from another connection, the backstop poll, and a reconnect after its backend is terminated.
#include "storage/postgres/commit_listener.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "storage/postgres/connection.h"
#include "tests/testing/postgres_server.h"

namespace hookvault::storage {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Longer than any test here: no backstop tick comes in between, so every call is a
// notification's or a reconnect's.
constexpr milliseconds kNoBackstop{60000};

// Counts the listener's calls; waits for a count.
class Calls {
 public:
  std::function<void()> Callback() {
    return [this] {
      std::lock_guard<std::mutex> lock(mu_);
      ++count_;
      cv_.notify_all();
    };
  }
  int count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  // Returns true once the count reaches `n`, false after `timeout`.
  bool WaitFor(int n, milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  int count_ = 0;  // guarded by mu_
};

std::string NewDatabase() {
  testing::PostgresServer* server = testing::PostgresServer::Shared();
  return server == nullptr ? "" : server->CreateDatabase();
}

std::unique_ptr<pg::Connection> Connect(const std::string& url) {
  auto c = pg::Connection::Open({.url = url, .application_name = "commit listener test"});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

void Notify(pg::Connection& c, const std::string& seq) {
  auto notified = c.Exec("SELECT pg_notify($1, $2)",
                         pg::Params().Add(PostgresCommitListener::kChannel).Add(seq));
  ASSERT_TRUE(notified.ok()) << notified.status().ToString();
}

TEST(PostgresCommitListenerTest, ANotificationFromAnotherConnectionCallsBack) {
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  Calls calls;
  auto listener = PostgresCommitListener::Open({.url = url}, kNoBackstop, calls.Callback());
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  (*listener)->Start();
  auto other = Connect(url);
  ASSERT_NE(other, nullptr);

  // Another channel is not ours.
  auto elsewhere = other->Exec("NOTIFY some_other_channel, '1'");
  ASSERT_TRUE(elsewhere.ok()) << elsewhere.status().ToString();
  Notify(*other, "1");
  EXPECT_TRUE(calls.WaitFor(1, seconds(1)));
  EXPECT_EQ(calls.count(), 1);

  // Several commits at once: at least one call, never more than one per notification.
  auto batch = other->Exec(
      "BEGIN; NOTIFY hookvault_events, '2'; NOTIFY hookvault_events, '3'; "
      "NOTIFY hookvault_events, '4'; COMMIT");
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_TRUE(calls.WaitFor(2, seconds(1)));
  (*listener)->Stop();
  EXPECT_LE(calls.count(), 4);

  // After Stop() nothing more is called.
  const int stopped_at = calls.count();
  Notify(*other, "5");
  EXPECT_FALSE(calls.WaitFor(stopped_at + 1, milliseconds(300)));
}

TEST(PostgresCommitListenerTest, ARolledBackNotificationIsNeverDelivered) {
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  Calls calls;
  auto listener = PostgresCommitListener::Open({.url = url}, kNoBackstop, calls.Callback());
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  (*listener)->Start();
  auto other = Connect(url);
  ASSERT_NE(other, nullptr);
  auto rolled_back = other->Exec("BEGIN; NOTIFY hookvault_events, '1'; ROLLBACK");
  ASSERT_TRUE(rolled_back.ok()) << rolled_back.status().ToString();
  Notify(*other, "1");  // a committed one after it, to know the first would have come by now
  ASSERT_TRUE(calls.WaitFor(1, seconds(1)));
  (*listener)->Stop();
  EXPECT_EQ(calls.count(), 1);
}

TEST(PostgresCommitListenerTest, TheBackstopTicksWithoutNotifications) {
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  Calls calls;
  auto listener = PostgresCommitListener::Open({.url = url}, milliseconds(100), calls.Callback());
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  EXPECT_FALSE(calls.WaitFor(1, milliseconds(300))) << "called before Start()";
  (*listener)->Start();
  EXPECT_TRUE(calls.WaitFor(3, seconds(10)));
  (*listener)->Stop();
}

TEST(PostgresCommitListenerTest, ReconnectsAfterItsBackendIsTerminatedAndHearsAgain) {
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  Calls calls;
  auto listener = PostgresCommitListener::Open(
      {.url = url, .application_name = "listener under test"}, kNoBackstop, calls.Callback());
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  (*listener)->Start();
  auto other = Connect(url);
  ASSERT_NE(other, nullptr);
  Notify(*other, "1");
  ASSERT_TRUE(calls.WaitFor(1, seconds(1)));

  auto terminated = other->Exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE application_name = 'listener under test'");
  ASSERT_TRUE(terminated.ok()) << terminated.status().ToString();
  ASSERT_EQ(terminated->rows(), 1);
  EXPECT_EQ(terminated->GetString(0, 0), "t");
  // Once back it calls, for the commits it may have missed, and listens again.
  ASSERT_TRUE(calls.WaitFor(2, seconds(10)));
  EXPECT_EQ((*listener)->reconnects(), 1);

  const int before = calls.count();
  Notify(*other, "2");
  EXPECT_TRUE(calls.WaitFor(before + 1, seconds(1)));
  (*listener)->Stop();
}

TEST(PostgresCommitListenerTest, OpenFailsWhenTheDatabaseCannotBeReached) {
  testing::PostgresServer* server = testing::PostgresServer::Shared();
  ASSERT_NE(server, nullptr);
  Calls calls;
  // The server's port, a database that does not exist.
  auto listener = PostgresCommitListener::Open(
      {.url = server->Url("no_such_database_here")}, kNoBackstop, calls.Callback());
  ASSERT_FALSE(listener.ok());
  EXPECT_EQ(listener.status().code(), StatusCode::kUnavailable) << listener.status().ToString();
}

}  // namespace
}  // namespace hookvault::storage
