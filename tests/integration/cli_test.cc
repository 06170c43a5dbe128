// The hookvault command line: --version, check-config, migrate, and serve on the embedded
// default, run as the real binary.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

TEST(CliTest, VersionAndHelp) {
  CommandResult version = RunHookvault("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.output.find("hookvault 0."), std::string::npos) << version.output;
  CommandResult help = RunHookvault("--help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* command : {"serve", "migrate", "check-config"}) {
    EXPECT_NE(help.output.find(command), std::string::npos) << help.output;
  }
}

TEST(CliTest, CheckConfigAcceptsAGoodFileAndNamesTheBadKey) {
  TempDir dir;
  std::string good =
      dir.Write("good.json", R"({"sources": [{"name": "s", "tokens": ["${HV_CLI_TOKEN}"]}]})");
  unsetenv("HV_CLI_TOKEN");
  CommandResult ok = RunHookvault("check-config --config " + good);
  // The variable is unset: a clear error naming the key and the variable.
  EXPECT_NE(ok.exit_code, 0);
  EXPECT_NE(ok.output.find("sources[0].tokens[0]"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("HV_CLI_TOKEN"), std::string::npos) << ok.output;

  setenv("HV_CLI_TOKEN", "a-token-long-enough-0000", 1);
  CommandResult ok3 = RunHookvault("check-config --config " + good);
  unsetenv("HV_CLI_TOKEN");
  EXPECT_EQ(ok3.exit_code, 0) << ok3.output;
  EXPECT_EQ(ok3.output.find("a-token-long-enough-0000"), std::string::npos) << "secret printed";

  std::string bad = dir.Write(
      "bad.json", R"({"sources": [{"name": "s", "tokens": ["0123456789abcdef"], "tokenz": 1}]})");
  CommandResult refused = RunHookvault("check-config --config " + bad);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("sources[0].tokenz: unknown key"), std::string::npos)
      << refused.output;
}

TEST(CliTest, MigrateAppliesTheEmbeddedMigrations) {
  TempDir dir;
  CommandResult migrate = RunHookvault("migrate --data-dir " + dir.File("data"));
  ASSERT_EQ(migrate.exit_code, 0) << migrate.output;
  std::string db = dir.File("data/hookvault.db");
  EXPECT_GE(QueryInt(db, "SELECT count(*) FROM schema_migrations"), 1);
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM sqlite_master WHERE name = 'events'"), 1);
  CommandResult again = RunHookvault("migrate --data-dir " + dir.File("data"));
  EXPECT_EQ(again.exit_code, 0) << again.output;
}

// --config: SQLite in the config's data_dir (a PostgreSQL config: tests/integration/
// postgres_node_test.cc); --data-dir still overrides it; one of the two is required.
TEST(CliTest, MigrateAndBackupTakeTheDataDirOfAConfig) {
  TempDir dir;
  std::string config = dir.Write(
      "config.json", R"({"data_dir": ")" + dir.File("data") +
                         R"(", "sources": [{"name": "s", "tokens": ["0123456789abcdef"]}]})");
  CommandResult migrate = RunHookvault("migrate --config " + config);
  ASSERT_EQ(migrate.exit_code, 0) << migrate.output;
  EXPECT_EQ(QueryInt(dir.File("data/hookvault.db"),
                     "SELECT count(*) FROM sqlite_master WHERE name = 'events'"),
            1);
  CommandResult overridden =
      RunHookvault("migrate --config " + config + " --data-dir " + dir.File("other"));
  ASSERT_EQ(overridden.exit_code, 0) << overridden.output;
  EXPECT_EQ(QueryInt(dir.File("other/hookvault.db"),
                     "SELECT count(*) FROM sqlite_master WHERE name = 'events'"),
            1);
  CommandResult neither = RunHookvault("migrate");
  EXPECT_NE(neither.exit_code, 0);
  EXPECT_NE(neither.output.find("--config or --data-dir"), std::string::npos) << neither.output;

  CommandResult backup =
      RunHookvault("backup --config " + config + " --out " + dir.File("copy.db"));
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  EXPECT_EQ(QueryInt(dir.File("copy.db"), "SELECT count(*) FROM sqlite_master WHERE name = 'events'"),
            1);
  CommandResult both = RunHookvault("backup --config " + config + " --data-dir " +
                                    dir.File("data") + " --out " + dir.File("copy2.db"));
  EXPECT_NE(both.exit_code, 0) << both.output;
}

// No --config: 127.0.0.1 (port overridden here), data in --data-dir, one source "default"
// whose generated token is kept in <data_dir>/default-token with mode 0600 and never logged.
TEST(CliTest, EmbeddedDefaultGeneratesAPrivateTokenFile) {
  TempDir dir;
  std::string data = dir.File("data");
  std::string token;
  {
    ServerProcess server({"serve", "--listen", "127.0.0.1:0", "--data-dir", data},
                         dir.File("server.log"));
    ASSERT_TRUE(server.started()) << server.Log();
    struct stat st {};
    ASSERT_EQ(stat((data + "/default-token").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
    FILE* f = fopen((data + "/default-token").c_str(), "r");
    char buf[128] = {};
    ASSERT_TRUE(fgets(buf, sizeof(buf), f));
    fclose(f);
    token = buf;
    if (!token.empty() && token.back() == '\n') token.pop_back();
    EXPECT_GE(token.size(), 32u);

    HttpClient client;
    HttpResult r = client.Request("POST", server.Url("/webhooks/default"),
                                  {{"x-auth-token", token}, {"Content-Type", "application/json"}},
                                  R"({"id":"evt_1","event":"booking.created"})");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(client
                  .Request("POST", server.Url("/webhooks/default"),
                           {{"x-auth-token", "wrong-token-0000000000000000"},
                            {"Content-Type", "application/json"}},
                           "{}")
                  .status,
              401);
    EXPECT_EQ(server.Signal(SIGTERM), 0);
    std::string log = server.Log();
    EXPECT_NE(log.find("default-token"), std::string::npos) << log;
    EXPECT_EQ(log.find(token), std::string::npos) << "the token reached the log";
  }
  // A restart keeps the same token; HOOKVAULT_TOKEN overrides it.
  ServerProcess again({"serve", "--listen", "127.0.0.1:0", "--data-dir", data},
                      dir.File("server2.log"), {"HOOKVAULT_TOKEN=env-token-0123456789abcdef"});
  ASSERT_TRUE(again.started()) << again.Log();
  HttpClient client;
  EXPECT_EQ(client
                .Request("POST", again.Url("/webhooks/default"),
                         {{"x-auth-token", "env-token-0123456789abcdef"},
                          {"Content-Type", "application/json"}},
                         R"({"event":"x"})")
                .status,
            200);
  EXPECT_EQ(client
                .Request("POST", again.Url("/webhooks/default"),
                         {{"x-auth-token", token}, {"Content-Type", "application/json"}},
                         R"({"event":"y"})")
                .status,
            401);
}

TEST(CliTest, JsonLogFormatWritesOneJsonObjectPerLine) {
  TempDir dir;
  std::string config = dir.Write("config.json", R"({"listen": "127.0.0.1:0", "data_dir": ")" +
                                                    dir.path() + R"(", "log": {"format": "json"},
      "sources": [{"name": "s", "tokens": ["json-log-token-0123456789"]}]})");
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  EXPECT_EQ(client
                .Request("POST", server.Url("/webhooks/s"),
                         {{"x-auth-token", "json-log-token-0123456789"},
                          {"Content-Type", "application/json"}},
                         R"({"q":"\"quoted\""})")
                .status,
            200);
  EXPECT_EQ(server.Signal(SIGTERM), 0);
  int json_lines = 0;
  std::string log = server.Log();
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    std::string line = log.substr(start, end - start);
    start = end == std::string::npos ? log.size() : end + 1;
    if (line.rfind("hookvault listening", 0) == 0 || line.empty()) continue;
    rapidjson::Document d;
    d.Parse(line.c_str());
    ASSERT_FALSE(d.HasParseError()) << line;
    EXPECT_TRUE(d.HasMember("time") && d.HasMember("level") && d.HasMember("msg")) << line;
    ++json_lines;
  }
  EXPECT_GE(json_lines, 3);
  EXPECT_EQ(log.find("json-log-token-0123456789"), std::string::npos);
}

TEST(CliTest, ASecondServerOnTheSameDataDirIsRefused) {
  TempDir dir;
  std::string data = dir.File("data");
  ServerProcess first({"serve", "--listen", "127.0.0.1:0", "--data-dir", data},
                      dir.File("first.log"));
  ASSERT_TRUE(first.started()) << first.Log();
  ServerProcess second({"serve", "--listen", "127.0.0.1:0", "--data-dir", data},
                       dir.File("second.log"));
  EXPECT_FALSE(second.started());
  EXPECT_NE(second.Log().find("another hookvault is serving"), std::string::npos) << second.Log();
  EXPECT_EQ(first.Signal(SIGTERM), 0);
  // Once the first is gone, the data dir is free again.
  ServerProcess third({"serve", "--listen", "127.0.0.1:0", "--data-dir", data},
                      dir.File("third.log"));
  EXPECT_TRUE(third.started()) << third.Log();
}

}  // namespace
}  // namespace hookvault::testing
