// The shipped deployment files under scripts/deploy stay consistent with the binary.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "server/config.h"
#include "tests/testing/server_process.h"

namespace hookvault::testing {
namespace {

std::string DeployFile(const std::string& name) {
  return std::string(HOOKVAULT_SOURCE_DIR) + "/scripts/deploy/" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The variables config.example.json takes from /etc/hookvault/env.
const std::vector<std::string> kExampleEnv = {
    "HARMONICS_TOKEN=harmonics-0123456789abcdef",
    "BILLING_SIGNING_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "AUDIT_TOKEN=audit-0123456789abcdef0123",
    "OPS_TOKEN=ops-0123456789abcdef012345",
    "WAREHOUSE_TOKEN=warehouse-0123456789abcdef",
    "HOOKVAULT_AUDIT_KEY=audit-key-0123456789abcdef0123456789abcdef",
};

// Runs `hookvault check-config` on the example with exactly `env` as its environment.
CommandResult CheckExampleConfig(const std::vector<std::string>& env) {
  std::string command = "env -i";
  for (const std::string& e : env) command += " '" + e + "'";
  return RunCommand(command + " '" + HookvaultBinary() + "' check-config --config '" +
                    DeployFile("config.example.json") + "'");
}

TEST(DeployFilesTest, ExampleConfigPassesCheckConfigWithItsVariablesSet) {
  CommandResult r = CheckExampleConfig(kExampleEnv);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(": ok (1 sources, 1 destinations)"), std::string::npos) << r.output;
}

TEST(DeployFilesTest, ExampleConfigNamesAMissingVariable) {
  CommandResult r =
      CheckExampleConfig(std::vector<std::string>(kExampleEnv.begin() + 1, kExampleEnv.end()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("sources[0].tokens[0]: environment variable HARMONICS_TOKEN"),
            std::string::npos)
      << r.output;
}

// nginx must refuse what hookvault would refuse, and nothing hookvault would accept.
TEST(DeployFilesTest, NginxBodyLimitEqualsTheExampleConfigsMaxBodyBytes) {
  std::string nginx = ReadFile(DeployFile("nginx-hookvault.conf"));
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(nginx, m, std::regex(R"(\n\s*client_max_body_size\s+(\d+)([kKmM]?);)")))
      << "no client_max_body_size in nginx-hookvault.conf";
  int64_t nginx_limit = std::stoll(m[1]);
  std::string unit = m[2];
  if (unit == "k" || unit == "K") nginx_limit <<= 10;
  if (unit == "m" || unit == "M") nginx_limit <<= 20;

  auto config = server::LoadConfigFile(DeployFile("config.example.json"),
                                       [](const std::string& name) -> std::optional<std::string> {
                                         for (const std::string& e : kExampleEnv) {
                                           if (e.rfind(name + "=", 0) == 0)
                                             return e.substr(name.size() + 1);
                                         }
                                         return std::nullopt;
                                       });
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(nginx_limit, config->max_body_bytes);
  EXPECT_EQ(nginx_limit, server::Config{}.max_body_bytes);  // and the built-in default
  // The example listens where the nginx upstream points, and trusts that nginx.
  EXPECT_EQ(config->listen, "127.0.0.1:8080");
  EXPECT_NE(nginx.find("server 127.0.0.1:8080;"), std::string::npos);
  ASSERT_EQ(config->trusted_proxies.size(), 1u);
  EXPECT_EQ(config->trusted_proxies[0].text(), "127.0.0.1/32");
  // The systemd unit's state directory is the example's data_dir.
  std::string unit_file = ReadFile(DeployFile("hookvault.service"));
  EXPECT_NE(unit_file.find("StateDirectory=hookvault\n"), std::string::npos);
  EXPECT_EQ(config->data_dir, "/var/lib/hookvault");
  EXPECT_FALSE(config->audit.key.empty());  // the example keys its audit chain
}

// The unit waits for READY=1 and restarts a process whose watchdog pings stop
// (server/systemd_notifier.h), and keeps the data dir private like hookvault itself does.
TEST(DeployFilesTest, SystemdUnitIsNotifyWithAWatchdogAndAPrivateStateDirectory) {
  std::string unit = ReadFile(DeployFile("hookvault.service"));
  for (const char* line : {"\nType=notify\n", "\nNotifyAccess=main\n", "\nRestart=on-failure\n",
                           "\nStateDirectoryMode=0700\n", "\nUMask=0077\n"}) {
    EXPECT_NE(unit.find(line), std::string::npos) << "missing " << line;
  }
  EXPECT_EQ(unit.find("\nType=simple"), std::string::npos);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(unit, m, std::regex(R"(\nWatchdogSec=(\d+)s\n)")))
      << "no WatchdogSec=<n>s";
  // Long enough for a slow fsync under load, short enough to matter.
  EXPECT_GE(std::stoi(m[1]), 10);
  EXPECT_LE(std::stoi(m[1]), 120);
}

}  // namespace
}  // namespace hookvault::testing
