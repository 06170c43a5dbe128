// BackupDatabase as a library call (the CLI adds its own check of the data dir's files first):
// the copy is private whatever the umask, and it never replaces its own source.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "storage/sqlite/backup.h"
#include "storage/sqlite/database.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::storage {
namespace {

TEST(BackupDatabaseTest, CopyIsPrivateWhateverTheUmask) {
  testing::TempDir dir;
  std::string db = dir.File("hookvault.db");
  ASSERT_TRUE(MigrateDatabase(db).ok());
  mode_t old = ::umask(022);
  auto copied = BackupDatabase(db, dir.File("copy.db"));
  ::umask(old);
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(dir.File("copy.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(BackupDatabaseTest, RefusesToReplaceItsSourceEvenWithOverwrite) {
  testing::TempDir dir;
  std::string db = dir.File("hookvault.db");
  ASSERT_TRUE(MigrateDatabase(db).ok());
  auto size = std::filesystem::file_size(db);
  std::filesystem::create_symlink(db, dir.File("link.db"));
  for (const std::string& out : {db, dir.path() + "/./hookvault.db", dir.File("link.db"),
                                 db + "-wal", db + "-journal"}) {
    auto r = BackupDatabase(db, out, {.overwrite = true});
    ASSERT_FALSE(r.ok()) << out;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  }
  EXPECT_EQ(std::filesystem::file_size(db), size);
  EXPECT_TRUE(std::filesystem::is_symlink(dir.File("link.db")));
}

}  // namespace
}  // namespace hookvault::storage
