// PostgresServer: a throwaway PostgreSQL 15 for tests — initdb (as the `postgres` user when run
// as root, which initdb refuses) in a temp dir, started with pg_ctl on a free loopback port,
// stopped and removed at the end. Databases for tests are cloned from a template that already
// has the real migrations (CREATE DATABASE … TEMPLATE), so each test gets a fresh, migrated
// database in a few milliseconds.
//
// A test that cannot start the server fails (ADD_FAILURE / FAIL): it never skips silently.
#ifndef HOOKVAULT_TESTS_TESTING_POSTGRES_SERVER_H_
#define HOOKVAULT_TESTS_TESTING_POSTGRES_SERVER_H_

#include <string>

namespace hookvault::testing {

// Thread-safety: Shared() and CreateDatabase() may be called from any thread.
class PostgresServer {
 public:
  // Returns the server of this test process, started on first use (about 2 s) and stopped
  // when the process exits. Null, with a test failure recorded, if it cannot start.
  static PostgresServer* Shared();

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;
  ~PostgresServer();  // pg_ctl stop -m immediate, then removes the data directory

  // Creates a new database with every migration applied and returns its connection URL
  // (postgresql://postgres@127.0.0.1:PORT/NAME). Empty, with a test failure, on error.
  std::string CreateDatabase();
  // Creates a new empty database (no migrations) and returns its URL; for migration tests.
  std::string CreateEmptyDatabase();

  int port() const { return port_; }
  // The URL of database `name` on this server.
  std::string Url(const std::string& name) const;

 private:
  PostgresServer() = default;
  bool Start();

  std::string dir_;  // owned by the postgres user when run as root
  int port_ = 0;
  bool template_ready_ = false;
};

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_POSTGRES_SERVER_H_
