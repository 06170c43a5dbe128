// The writer connection's VFS gathers a commit's WAL writes (storage/sqlite/wal_write_batching_vfs.h):
// far fewer write system calls, every commit visible to another connection the moment COMMIT
// returns (also across WAL restarts), a deferred write's error still fails its COMMIT.
#include "storage/sqlite/wal_write_batching_vfs.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <string>

#include "storage/sqlite/database.h"
#include "storage/sqlite/write_connection.h"
#include "tests/testing/faulty_vfs.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::storage {
namespace {

// Write system calls made by this thread so far (/proc/thread-self/io, "syscw").
int64_t ThreadWriteCalls() {
  std::ifstream io("/proc/thread-self/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "syscw:") return value;
  }
  return -1;
}

constexpr char kSchema[] = "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB)";

// Commits one transaction of `rows` rows of 1 KiB on `db` (each row also in the index on k).
void CommitRows(SQLite::Database& db, int first, int rows) {
  SQLite::Transaction txn(db);
  SQLite::Statement insert(db, "INSERT INTO t (id, k, v) VALUES (?1, ?2, zeroblob(1024))");
  for (int i = first; i < first + rows; ++i) {
    insert.reset();
    insert.bind(1, i);
    insert.bind(2, "key-" + std::to_string(i * 7919 % 100003));  // scattered over the index
    insert.exec();
  }
  txn.commit();
}

// Write calls of 50 commits of 40 rows on a fresh database opened with `vfs`.
int64_t WriteCallsFor50Commits(const std::string& path, const std::string& vfs) {
  auto db = OpenDatabase({.path = path, .vfs = vfs});
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  (*db)->exec(kSchema);
  // No checkpoint during the count: it writes the database file page by page either way.
  (*db)->exec("PRAGMA wal_autocheckpoint = 0");
  int64_t before = ThreadWriteCalls();
  for (int c = 0; c < 50; ++c) CommitRows(**db, c * 40, 40);
  return ThreadWriteCalls() - before;
}

TEST(WalWriteBatchingVfsTest, ACommitGoesDownInAFractionOfTheWriteCalls) {
  hookvault::testing::TempDir dir;
  auto batching = WalWriteBatchingVfs("");
  ASSERT_TRUE(batching.ok()) << batching.status().ToString();
  ASSERT_GE(ThreadWriteCalls(), 0) << "no /proc/thread-self/io";
  int64_t plain = WriteCallsFor50Commits(dir.File("plain.db"), "");
  int64_t gathered = WriteCallsFor50Commits(dir.File("gathered.db"), *batching);
  // Plain: two writes per frame (header, page), about 15 frames per commit. Gathered: one or two
  // per commit (120 KiB at most per write).
  EXPECT_GT(plain, 50 * 20) << "gathered: " << gathered;
  EXPECT_LT(gathered, plain / 4) << "plain: " << plain;
}

TEST(WalWriteBatchingVfsTest, EveryCommitIsVisibleToAnotherConnectionAtOnceAcrossRestarts) {
  hookvault::testing::TempDir dir;
  auto batching = WalWriteBatchingVfs("");
  ASSERT_TRUE(batching.ok());
  auto writer = OpenDatabase({.path = dir.File("v.db"), .vfs = *batching});
  ASSERT_TRUE(writer.ok());
  (*writer)->exec(kSchema);
  auto reader = OpenDatabase({.path = dir.File("v.db"), .read_only = true});
  ASSERT_TRUE(reader.ok());
  int rows = 0;
  for (int c = 1; c <= 120; ++c) {
    int n = 1 + (c * 13) % 150;  // up to 150 KiB: some commits take more than one write
    CommitRows(**writer, rows, n);
    rows += n;
    ASSERT_EQ((*reader)->execAndGet("SELECT count(*) FROM t").getInt(), rows) << "commit " << c;
    ASSERT_EQ((*reader)->execAndGet("SELECT sum(length(v)) FROM t").getInt64(),
              int64_t{1024} * rows);
    if (c % 10 == 0) {
      // Copies everything back and empties the WAL: the next commit writes it from offset 0.
      (*writer)->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
  }
  // And after the writer is closed (its WAL handle too), from a fresh connection.
  writer->reset();
  auto fresh = OpenDatabase({.path = dir.File("v.db"), .read_only = true});
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)->execAndGet("SELECT count(*) FROM t").getInt(), rows);
  EXPECT_EQ((*fresh)->execAndGet("PRAGMA integrity_check").getString(), "ok");
}

TEST(WalWriteBatchingVfsTest, AFailedDeferredWriteFailsTheCommitAndTheNextOneSucceeds) {
  hookvault::testing::TempDir dir;
  auto batching = WalWriteBatchingVfs(hookvault::testing::FaultyVfsName());
  ASSERT_TRUE(batching.ok()) << batching.status().ToString();
  auto db = OpenDatabase({.path = dir.File("f.db"), .vfs = *batching});
  ASSERT_TRUE(db.ok());
  (*db)->exec(kSchema);
  CommitRows(**db, 0, 10);
  hookvault::testing::FailFaultyVfsWrites(SQLITE_FULL);
  try {
    CommitRows(**db, 10, 10);
    ADD_FAILURE() << "the commit succeeded although its WAL writes failed";
  } catch (const SQLite::Exception& e) {
    EXPECT_EQ(e.getErrorCode(), SQLITE_FULL) << e.what();
  }
  hookvault::testing::FailFaultyVfsWrites(0);
  CommitRows(**db, 10, 10);
  EXPECT_EQ((*db)->execAndGet("SELECT count(*) FROM t").getInt(), 20);
  EXPECT_EQ((*db)->execAndGet("PRAGMA integrity_check").getString(), "ok");
}

TEST(WalWriteBatchingVfsTest, TheWriterConnectionUsesItAndRefusesAnUnknownBase) {
  hookvault::testing::TempDir dir;
  ASSERT_TRUE(MigrateDatabase(dir.File("w.db")).ok());
  auto connection = SqliteWriteConnection::Open({.path = dir.File("w.db")});
  ASSERT_TRUE(connection.ok()) << connection.status().ToString();
  sqlite3_vfs* vfs = nullptr;
  ASSERT_EQ(sqlite3_file_control((*connection)->database().getHandle(), "main",
                                 SQLITE_FCNTL_VFS_POINTER, &vfs),
            SQLITE_OK);
  ASSERT_NE(vfs, nullptr);
  EXPECT_EQ(std::string(vfs->zName), *WalWriteBatchingVfs(""));
  EXPECT_FALSE(WalWriteBatchingVfs("no-such-vfs").ok());
}

}  // namespace
}  // namespace hookvault::storage
