// The test server itself: it must never outlive the test process that started it, however that
// process ends (ctest's timeout kills with SIGKILL; a crash runs no destructor).
#include "tests/testing/postgres_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/temp_dir.h"

extern char** environ;

namespace hookvault::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kReportVariable[] = "HOOKVAULT_TEST_PG_REPORT";

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// Run only as the child of the test below (disabled, so a normal run never kills itself): starts
// a server of its own, reports its port and directory, and dies by SIGKILL.
TEST(PostgresServerTest, DISABLED_StartThenKillSelf) {
  const char* report = std::getenv(kReportVariable);
  ASSERT_NE(report, nullptr);
  PostgresServer* server = PostgresServer::Shared();
  ASSERT_NE(server, nullptr);
  ASSERT_FALSE(server->CreateDatabase().empty());
  {
    std::ofstream out(report);
    out << server->port() << "\n" << server->dir() << "\n";
  }
  raise(SIGKILL);
}

TEST(PostgresServerTest, KilledTestProcessLeavesNoServerRunning) {
  TempDir tmp;
  const std::string report = tmp.File("report");
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "HOOKVAULT_TEST_POSTGRES_URL=", 28) != 0) env_strings.emplace_back(*e);
  }
  env_strings.push_back(std::string(kReportVariable) + "=" + report);
  std::vector<char*> env;
  for (std::string& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<std::string> argv_strings = {
      self, "--gtest_also_run_disabled_tests",
      "--gtest_filter=PostgresServerTest.DISABLED_StartThenKillSelf"};
  std::vector<char*> argv;
  for (std::string& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), env.data()), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child did not start its server and die; status " << status;

  std::ifstream in(report);
  int port = 0;
  std::string dir;
  in >> port >> dir;
  ASSERT_GT(port, 0);
  ASSERT_FALSE(dir.empty());
  // The watchdog stops the server and removes its directory once the process is gone.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((Accepts(port) || std::filesystem::exists(dir)) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_FALSE(Accepts(port)) << "the server of a killed test process still runs on " << port;
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir << " is still there";
}

}  // namespace
}  // namespace hookvault::testing
