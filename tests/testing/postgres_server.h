// PostgresServer: a throwaway PostgreSQL 15 for tests — initdb (as the `postgres` user when run
// as root, which initdb refuses) in a temp dir, started with pg_ctl on a free loopback port,
// stopped and removed at the end (scripts/pg-test-server does both). Databases for tests are
// cloned from a template that already has the real migrations (CREATE DATABASE … TEMPLATE), so
// each test gets a fresh, migrated database in a fraction of a second.
//
// When HOOKVAULT_TEST_POSTGRES_URL is set (scripts/test starts one server for its whole run),
// that server is used instead of a new one: ctest runs every test in its own process, and a
// server per process would cost seconds each. The template is then built once, by whichever
// process comes first, under an advisory lock; the others wait for it and reuse it. Database
// names are unique across processes (pid, counter, random suffix), and a process drops the
// databases it created when it exits.
//
// A test that cannot start the server fails (ADD_FAILURE / FAIL): it never skips silently.
#ifndef HOOKVAULT_TESTS_TESTING_POSTGRES_SERVER_H_
#define HOOKVAULT_TESTS_TESTING_POSTGRES_SERVER_H_

#include <sys/types.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

namespace hookvault::testing {

// Thread-safety: Shared(), CreateDatabase(), CreateEmptyDatabase() and DropDatabase() may be
// called from any thread; Url() and port() read members fixed at start.
class PostgresServer {
 public:
  // Returns the server of this test process, started on first use (about 2 s) and stopped
  // when the process exits. Null, with a test failure recorded, if it cannot start (every
  // later call records the failure again, so each test that needs it fails).
  static PostgresServer* Shared();

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;
  // Own server: pg_ctl stop -m immediate, then removes the data directory (done by a watchdog
  // process that also does it if this process dies without running destructors). Shared
  // server: drops the databases this process created.
  ~PostgresServer();

  // Creates a new database with every migration applied and returns its connection URL
  // (postgresql://postgres@127.0.0.1:PORT/NAME). Empty, with a test failure, on error.
  std::string CreateDatabase();
  // Creates a new empty database (no migrations) and returns its URL; for migration tests.
  std::string CreateEmptyDatabase();
  // Drops database `name` (WITH (FORCE): its connections are ended). Records a test failure
  // on error.
  void DropDatabase(const std::string& name);

  int port() const { return port_; }
  // The directory of a server of our own (scripts/pg-test-server's DIR is below it); empty for
  // the shared one of HOOKVAULT_TEST_POSTGRES_URL.
  const std::string& dir() const { return dir_; }
  // The URL of database `name` on this server.
  std::string Url(const std::string& name) const;

 private:
  PostgresServer() = default;
  // Starts a server of our own with scripts/pg-test-server, or adopts the one named by
  // HOOKVAULT_TEST_POSTGRES_URL. Returns an empty string or what went wrong (with the log).
  std::string Start();
  // Creates (once per server, under an advisory lock) the migrated template database.
  // Returns an empty string or what went wrong. Requires mu_ held.
  std::string EnsureTemplate();
  // Runs `sql` on the `postgres` database. Returns an empty string or the error.
  std::string ExecAdmin(const std::string& sql);
  std::string NewDatabase(bool migrated);

  pid_t owner_ = getpid();  // the process that started it
  std::string dir_;         // own server only: its directory (DIR of scripts/pg-test-server)
  std::string host_;        // "postgresql://postgres@127.0.0.1:PORT/"
  int port_ = 0;
  pid_t watchdog_ = -1;     // own server only: stops it when watchdog_pipe_ closes
  int watchdog_pipe_ = -1;  // the write end; never written, closed to stop the server

  std::mutex mu_;
  bool template_ready_ = false;       // guarded by mu_
  std::vector<std::string> created_;  // guarded by mu_; dropped at exit on a shared server
};

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_POSTGRES_SERVER_H_
