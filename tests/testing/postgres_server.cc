#include "tests/testing/postgres_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string_view>

#include "storage/postgres/migrations.h"

extern char** environ;

namespace hookvault::testing {
namespace {

// Serialises the building of the template across the test processes that share one server
// (session advisory lock on the `postgres` database). Distinct from the migration runner's key.
constexpr int64_t kTemplateLock = 0x68765f74706c0001;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The template's name carries a hash of the embedded migrations, so a long-lived server that a
// developer points HOOKVAULT_TEST_POSTGRES_URL at never hands out a template of older ones.
std::string TemplateName() {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  };
  for (const storage::Migration& m : storage::PostgresMigrations()) {
    mix(m.name);
    mix(m.sql);
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "hv_template_%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// One libpq connection for the fixture's own statements. Raw libpq rather than pg::Connection,
// so that the fixture works whatever state the wrapper under test is in.
class AdminConnection {
 public:
  explicit AdminConnection(const std::string& url) : conn_(PQconnectdb(url.c_str())) {}
  ~AdminConnection() { PQfinish(conn_); }
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;

  // Returns an empty string or what went wrong.
  std::string error() const {
    if (PQstatus(conn_) == CONNECTION_OK) return "";
    return std::string("connect: ") + PQerrorMessage(conn_);
  }
  // Runs `sql` (no parameters); returns an empty string or the server's message. `value`, if
  // given, receives the first column of the first row ("" when there is none, "t"/"f" for
  // booleans).
  std::string Exec(const std::string& sql, std::string* value = nullptr) {
    PGresult* r = PQexec(conn_, sql.c_str());
    ExecStatusType st = PQresultStatus(r);
    std::string err;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      err = sql + ": " + PQresultErrorMessage(r);
      if (err.size() == sql.size() + 2) err += PQerrorMessage(conn_);
    } else if (value) {
      *value = PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    }
    PQclear(r);
    return err;
  }

 private:
  PGconn* conn_;
};

// Runs argv[0] (a path) with stdin from /dev/null and stdout and stderr into `log`, from `cwd`.
// Returns its exit status (-1 if it could not run).
int Run(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::unique_ptr<PostgresServer>& Instance() {
  static std::unique_ptr<PostgresServer> instance;
  return instance;
}

}  // namespace

PostgresServer* PostgresServer::Shared() {
  static std::mutex mu;
  static std::string failure;  // guarded by mu: why the server did not start
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<PostgresServer>& instance = Instance();
  if (!instance && failure.empty()) {
    std::unique_ptr<PostgresServer> server(new PostgresServer());
    failure = server->Start();
    if (failure.empty()) instance = std::move(server);
    // On failure `server` goes here: its destructor closes the watchdog's pipe, which stops
    // and removes whatever part of the server had started.
  }
  if (!instance) {
    ADD_FAILURE() << "PostgresServer: no PostgreSQL for this test: " << failure;
    return nullptr;
  }
  return instance.get();
}

std::string PostgresServer::Start() {
  if (const char* url = std::getenv("HOOKVAULT_TEST_POSTGRES_URL"); url && *url) {
    // postgresql://postgres@127.0.0.1:PORT/DBNAME: keep all but the database name.
    std::string u(url);
    size_t slash = u.rfind('/');
    size_t colon = u.rfind(':', slash);
    if (slash == std::string::npos || colon == std::string::npos || slash < 3 ||
        u.compare(slash - 2, 3, "://") == 0) {
      return "HOOKVAULT_TEST_POSTGRES_URL is not of the form postgresql://USER@HOST:PORT/DB: " + u;
    }
    host_ = u.substr(0, slash + 1);
    port_ = std::atoi(u.substr(colon + 1, slash - colon - 1).c_str());
    AdminConnection probe(Url("postgres"));
    if (std::string e = probe.error(); !e.empty()) {
      return "the server of HOOKVAULT_TEST_POSTGRES_URL (" + u + ") does not answer: " + e;
    }
    return "";
  }

  std::string pattern =
      (std::filesystem::temp_directory_path() / "hookvault-pg-XXXXXX").string();
  if (!mkdtemp(pattern.data())) return std::string("mkdtemp: ") + std::strerror(errno);
  dir_ = pattern;
  // The cluster's directory below it belongs to the postgres user when we run as root, who must
  // be able to reach it.
  chmod(dir_.c_str(), 0755);
  const std::string script = std::string(HOOKVAULT_SOURCE_DIR) + "/scripts/pg-test-server";
  const std::string cluster = dir_ + "/cluster";

  // The watchdog: a process in a session of its own that waits for the end of its stdin (our
  // pipe's write end, which only this process holds: O_CLOEXEC) and then stops the server and
  // removes the directory. It runs whenever this process ends — destructor, exit, crash,
  // SIGKILL by ctest's timeout — so no test leaves a PostgreSQL running.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe2: ") + std::strerror(errno);
  std::vector<std::string> watch = {
      "/bin/sh", "-c", "cat >/dev/null; \"$0\" stop \"$1/cluster\"; rm -rf \"$1\"", script, dir_};
  std::vector<char*> args;
  for (const std::string& a : watch) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
  // Never ctest's pipes: ctest waits for every holder of the test's output to close it.
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);  // Ctrl-C on the tests does not stop it
  int rc = posix_spawn(&watchdog_, "/bin/sh", &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[0]);
  if (rc != 0) {
    close(fds[1]);
    watchdog_ = -1;
    std::filesystem::remove_all(dir_);
    return std::string("posix_spawn of the watchdog: ") + std::strerror(rc);
  }
  watchdog_pipe_ = fds[1];

  const std::string log = dir_ + "/start.log";
  if (Run({script, "start", cluster}, log) != 0) {
    return "scripts/pg-test-server start failed:\n" + ReadFile(log);
  }
  std::string url = ReadFile(cluster + "/url");
  size_t colon = url.rfind(':');
  size_t slash = url.rfind('/');
  if (colon == std::string::npos || slash == std::string::npos || slash < colon) {
    return "scripts/pg-test-server wrote no URL:\n" + ReadFile(log);
  }
  host_ = url.substr(0, slash + 1);
  port_ = std::atoi(url.substr(colon + 1, slash - colon - 1).c_str());
  return "";
}

PostgresServer::~PostgresServer() {
  // A forked child that ran static destructors (exit() instead of _exit()) must neither stop
  // the server nor drop the databases its parent is using.
  if (getpid() != owner_) return;
  if (watchdog_ > 0) {
    close(watchdog_pipe_);
    int status = 0;
    while (waitpid(watchdog_, &status, 0) < 0 && errno == EINTR) {
    }
    return;
  }
  // A shared server outlives this process: give its disk back. Errors are ignored (the test
  // run is over; scripts/test removes the whole server next).
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& name : created_) {
    (void)ExecAdmin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  }
}

std::string PostgresServer::Url(const std::string& name) const { return host_ + name; }

std::string PostgresServer::ExecAdmin(const std::string& sql) {
  AdminConnection conn(Url("postgres"));
  if (std::string e = conn.error(); !e.empty()) return e;
  return conn.Exec(sql);
}

std::string PostgresServer::EnsureTemplate() {
  const std::string name = TemplateName();
  AdminConnection conn(Url("postgres"));
  if (std::string e = conn.error(); !e.empty()) return e;
  // Held until `conn` closes at return: another process building the same template waits
  // here, then finds it ready.
  if (std::string e = conn.Exec("SELECT pg_advisory_lock(" + std::to_string(kTemplateLock) + ")");
      !e.empty()) {
    return e;
  }
  std::string is_template;
  if (std::string e = conn.Exec(
          "SELECT datistemplate FROM pg_database WHERE datname = '" + name + "'", &is_template);
      !e.empty()) {
    return e;
  }
  if (is_template == "t") return "";
  // Missing, or left half-built by a process that died: build it afresh.
  if (is_template == "f") {
    if (std::string e = conn.Exec("DROP DATABASE " + name + " WITH (FORCE)"); !e.empty()) return e;
  }
  if (std::string e = conn.Exec("CREATE DATABASE " + name + " STRATEGY FILE_COPY"); !e.empty()) {
    return e;
  }
  auto migrated = storage::MigratePostgres(Url(name));
  if (!migrated.ok()) return "MigratePostgres on the template: " + migrated.status().ToString();
  // Marks it finished, and no one may connect to it any more: CREATE DATABASE … TEMPLATE
  // refuses a source that has connections.
  return conn.Exec("ALTER DATABASE " + name + " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false");
}

std::string PostgresServer::NewDatabase(bool migrated) {
  std::string template_clause;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (migrated && !template_ready_) {
      if (std::string e = EnsureTemplate(); !e.empty()) {
        ADD_FAILURE() << "PostgresServer: the migrated template: " << e;
        return "";
      }
      template_ready_ = true;
    }
  }
  if (migrated) template_clause = " TEMPLATE " + TemplateName();
  // Unique across the processes sharing a server: the pid, a counter, and random bits for a
  // pid reused after a process that died without dropping its databases.
  static std::atomic<int> counter{0};
  static const uint32_t salt = std::random_device{}();
  char name[64];
  std::snprintf(name, sizeof name, "hv_%d_%d_%08x", static_cast<int>(getpid()),
                counter.fetch_add(1), salt);
  // FILE_COPY copies the template's files after a checkpoint, which costs nothing with
  // fsync=off: about 50 ms here, against about 400 ms for PostgreSQL 15's default WAL_LOG,
  // which writes every block of the copy to the WAL.
  if (std::string e = ExecAdmin(std::string("CREATE DATABASE ") + name + template_clause +
                                " STRATEGY FILE_COPY");
      !e.empty()) {
    ADD_FAILURE() << "PostgresServer: " << e;
    return "";
  }
  std::lock_guard<std::mutex> lock(mu_);
  created_.push_back(name);
  return Url(name);
}

std::string PostgresServer::CreateDatabase() { return NewDatabase(true); }

std::string PostgresServer::CreateEmptyDatabase() { return NewDatabase(false); }

void PostgresServer::DropDatabase(const std::string& name) {
  if (std::string e = ExecAdmin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); !e.empty()) {
    ADD_FAILURE() << "PostgresServer: " << e;
  }
}

}  // namespace hookvault::testing
