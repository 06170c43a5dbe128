// The data dir as the real binary leaves it: private modes whatever the umask, backups that
// cannot replace the live database, migrate under the server's lock, the environment's tokens
// held to the config's minimum.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "data-dir-test-token-0123456789";

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Runs hookvault under umask 022, as a login shell usually has it.
CommandResult RunUnderUmask022(const std::string& args) {
  return RunCommand("umask 022; " + HookvaultBinary() + " " + args);
}

// Sets the test process's umask (inherited by the servers it starts) for one scope.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

// Expects `dir` to be 0700 and every file in it 0600 or stricter; returns how many files.
int ExpectPrivate(const std::string& dir) {
  EXPECT_EQ(ModeOf(dir), 0700u) << dir;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    mode_t mode = ModeOf(entry.path().string());
    EXPECT_EQ(mode & 077, 0u) << entry.path() << " has mode " << std::oct << mode;
  }
  return files;
}

TEST(DataDirTest, EveryFileIsPrivateUnderUmask022) {
  TempDir dir;
  std::string data = dir.File("data");
  {
    ScopedUmask umask022(022);
    ServerProcess server({"serve", "--listen", "127.0.0.1:0", "--data-dir", data},
                         dir.File("server.log"), {std::string("HOOKVAULT_TOKEN=") + kToken});
    ASSERT_TRUE(server.started()) << server.Log();
    HttpClient client;
    ASSERT_EQ(client
                  .Request("POST", server.Url("/webhooks/default"),
                           {{"x-auth-token", kToken}, {"Content-Type", "application/json"}},
                           R"({"event":"x"})")
                  .status,
              200);
    // While it runs: the database, its -wal and -shm, the lock and the admin token.
    for (const char* name : {"hookvault.db", "hookvault.db-wal", "hookvault.db-shm",
                             "hookvault.lock", "default-api-token"}) {
      EXPECT_TRUE(std::filesystem::exists(data + "/" + name)) << name;
    }
    EXPECT_GE(ExpectPrivate(data), 5);

    CommandResult backup = RunUnderUmask022("backup --data-dir " + data + " --out " +
                                            dir.File("copy.db"));
    ASSERT_EQ(backup.exit_code, 0) << backup.output;
    EXPECT_EQ(ModeOf(dir.File("copy.db")), 0600u);
    EXPECT_EQ(server.Signal(SIGTERM), 0);
  }
  ExpectPrivate(data);

  // migrate on its own, too.
  CommandResult migrate = RunUnderUmask022("migrate --data-dir " + dir.File("fresh/data"));
  ASSERT_EQ(migrate.exit_code, 0) << migrate.output;
  EXPECT_GE(ExpectPrivate(dir.File("fresh/data")), 2);
}

// An existing data dir left open by an earlier version is tightened, files and all.
TEST(DataDirTest, ALooseExistingDataDirIsTightened) {
  TempDir dir;
  std::string data = dir.File("data");
  ASSERT_TRUE(std::filesystem::create_directory(data));
  ASSERT_EQ(::chmod(data.c_str(), 0755), 0);
  std::string old_db = dir.Write("data/hookvault.db", "");
  ASSERT_EQ(::chmod(old_db.c_str(), 0644), 0);
  CommandResult migrate = RunUnderUmask022("migrate --data-dir " + data);
  ASSERT_EQ(migrate.exit_code, 0) << migrate.output;
  EXPECT_NE(migrate.output.find("had mode 0755"), std::string::npos) << migrate.output;
  ExpectPrivate(data);
  EXPECT_EQ(ModeOf(old_db), 0600u);
}

// Only hookvault's own files are tightened: `--data-dir .` in a directory that holds other
// files leaves them as they are. A shared (sticky) directory is refused, not made 0700.
TEST(DataDirTest, OnlyHookvaultsOwnFilesAreTightenedAndASharedDirIsRefused) {
  TempDir dir;
  std::string data = dir.File("data");
  ASSERT_TRUE(std::filesystem::create_directory(data));
  std::string notes = dir.Write("data/notes.txt", "someone else's");
  ASSERT_EQ(::chmod(notes.c_str(), 0644), 0);
  CommandResult migrate = RunUnderUmask022("migrate --data-dir " + data);
  ASSERT_EQ(migrate.exit_code, 0) << migrate.output;
  EXPECT_EQ(ModeOf(notes), 0644u) << "a file hookvault does not own was changed";
  EXPECT_EQ(ModeOf(data + "/hookvault.db"), 0600u);

  std::string shared = dir.File("shared");
  ASSERT_TRUE(std::filesystem::create_directory(shared));
  ASSERT_EQ(::chmod(shared.c_str(), 01777), 0);
  CommandResult refused = RunUnderUmask022("migrate --data-dir " + shared);
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("sticky"), std::string::npos) << refused.output;
  EXPECT_EQ(ModeOf(shared), 01777u);
}

TEST(DataDirTest, BackupRefusesToReplaceTheLiveDatabaseOrItsFiles) {
  TempDir dir;
  std::string data = dir.File("data");
  ServerProcess server({"serve", "--listen", "127.0.0.1:0", "--data-dir", data},
                       dir.File("server.log"), {std::string("HOOKVAULT_TOKEN=") + kToken});
  ASSERT_TRUE(server.started()) << server.Log();
  HttpClient client;
  ASSERT_EQ(client
                .Request("POST", server.Url("/webhooks/default"),
                         {{"x-auth-token", kToken}, {"Content-Type", "application/json"}},
                         R"({"event":"kept"})")
                .status,
            200);
  std::string db = data + "/hookvault.db";
  std::filesystem::create_symlink(db, dir.File("link.db"));
  ASSERT_EQ(::link(db.c_str(), dir.File("hard.db").c_str()), 0);
  for (const std::string& out :
       {db, data + "/./hookvault.db", data + "/hookvault.db-wal", data + "/hookvault.db-shm",
        data + "/hookvault.lock", data + "/default-api-token", dir.File("link.db"),
        dir.File("hard.db")}) {
    CommandResult r = RunHookvault("backup --force --data-dir " + data + " --out " + out);
    EXPECT_NE(r.exit_code, 0) << out << ": " << r.output;
    EXPECT_NE(r.output.find("write the backup elsewhere"), std::string::npos) << r.output;
  }
  // The server still has its database, and its event.
  HttpResult events = client.Request(
      "GET", server.Url("/api/v1/events"),
      {{"Authorization", "Bearer " + ReadFirstLine(data + "/default-api-token")}});
  EXPECT_EQ(events.status, 200) << events.body;
  EXPECT_NE(events.body.find("kept"), std::string::npos) << events.body;
  EXPECT_EQ(server.Signal(SIGTERM), 0);
  EXPECT_EQ(QueryText(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(QueryInt(db, "SELECT count(*) FROM events"), 1);

  // A new file in the data dir is fine: the rule is about hookvault's own files.
  CommandResult beside = RunHookvault("backup --data-dir " + data + " --out " + data + "/copy.db");
  EXPECT_EQ(beside.exit_code, 0) << beside.output;
}

TEST(DataDirTest, MigrateRefusesWhileAServerHoldsTheDataDir) {
  TempDir dir;
  std::string data = dir.File("data");
  ServerProcess server({"serve", "--listen", "127.0.0.1:0", "--data-dir", data},
                       dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  CommandResult migrate = RunHookvault("migrate --data-dir " + data);
  EXPECT_NE(migrate.exit_code, 0) << migrate.output;
  EXPECT_NE(migrate.output.find("another hookvault is serving"), std::string::npos)
      << migrate.output;
  EXPECT_NE(migrate.output.find("stop it before migrating"), std::string::npos) << migrate.output;
  EXPECT_EQ(server.Signal(SIGTERM), 0);
  CommandResult after = RunHookvault("migrate --data-dir " + data);
  EXPECT_EQ(after.exit_code, 0) << after.output;
}

TEST(DataDirTest, TokensFromTheEnvironmentNeedSixteenCharacters) {
  TempDir dir;
  for (const char* var : {"HOOKVAULT_TOKEN", "HOOKVAULT_API_TOKEN"}) {
    ServerProcess server({"serve", "--listen", "127.0.0.1:0", "--data-dir", dir.File("data")},
                         dir.File(std::string(var) + ".log"),
                         {std::string(var) + "=short-sekrit-15"});
    EXPECT_FALSE(server.started()) << var;
    std::string log = server.Log();
    EXPECT_NE(log.find(std::string("$") + var + " must be at least 16 characters"),
              std::string::npos)
        << log;
    EXPECT_EQ(log.find("sekrit"), std::string::npos) << "the value was logged";
  }
  ServerProcess ok({"serve", "--listen", "127.0.0.1:0", "--data-dir", dir.File("data")},
                   dir.File("ok.log"), {"HOOKVAULT_TOKEN=just-sixteen-chr"});
  EXPECT_TRUE(ok.started()) << ok.Log();
}

}  // namespace
}  // namespace hookvault::testing
