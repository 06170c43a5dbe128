// Disk full and I/O errors: how SQLite's errors map to Status, and that the writer's connection
// stays usable after a COMMIT that failed — injected by a VFS into real SQLite writes.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <future>
#include <string>
#include <vector>

#include "storage/group_commit_writer.h"
#include "storage/sqlite/migrations.h"
#include "storage/sqlite/database.h"
#include "storage/sqlite/stores.h"
#include "tests/testing/db.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/faulty_vfs.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::storage {
namespace {

using hookvault::testing::FailFaultyVfsWrites;
using hookvault::testing::FaultyVfsName;
using hookvault::testing::QueryInt;
using hookvault::testing::QueryText;

TEST(StatusFromSqliteTest, ConditionsThatMayPassAreUnavailable) {
  for (int code : {SQLITE_FULL, SQLITE_IOERR, SQLITE_IOERR_WRITE, SQLITE_IOERR_FSYNC,
                   SQLITE_IOERR_SHORT_READ, SQLITE_IOERR_NOMEM, SQLITE_CANTOPEN,
                   SQLITE_CANTOPEN_ISDIR, SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED,
                   SQLITE_READONLY, SQLITE_READONLY_DBMOVED, SQLITE_NOMEM, SQLITE_PROTOCOL}) {
    Status s = StatusFromSqlite(SQLite::Exception("boom", code), "append batch");
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << code << " " << s.ToString();
    EXPECT_NE(s.message().find("append batch"), std::string::npos);
    EXPECT_EQ(StatusFromSqliteCode(code, "x").code(), StatusCode::kUnavailable) << code;
  }
}

TEST(StatusFromSqliteTest, BugsAreInternal) {
  for (int code : {SQLITE_ERROR, SQLITE_CONSTRAINT, SQLITE_CONSTRAINT_UNIQUE, SQLITE_MISUSE,
                   SQLITE_MISMATCH, SQLITE_RANGE, -1}) {
    EXPECT_EQ(StatusFromSqlite(SQLite::Exception("boom", code), "x").code(), StatusCode::kInternal)
        << code;
  }
}

TEST(StatusFromSqliteTest, ADatabaseThatCannotBeOpenedIsUnavailable) {
  hookvault::testing::TempDir dir;
  auto db = OpenDatabase({.path = dir.File("no-such-dir/hookvault.db")});
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kUnavailable) << db.status().ToString();
}

IngestRecord Event(const std::string& key) {
  NewEvent e;
  e.source = "s";
  e.idempotency_key = key;
  e.body = R"({"k":")" + key + R"("})";
  e.headers_json = "{}";
  e.destinations = {"d"};
  RequestLogEntry log;
  log.source = "s";
  log.status = 200;
  log.reason = "stored";
  return IngestRecord{std::move(e), std::move(log)};
}

class StorageFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      auto db = OpenDatabase({.path = path_});
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      ASSERT_TRUE(ApplyMigrations(**db, SqliteMigrations()).ok());
    }
    auto stores = SqliteStores::Open({.path = path_, .vfs = FaultyVfsName()}, clock_);
    ASSERT_TRUE(stores.ok()) << stores.status().ToString();
    stores_ = std::make_unique<SqliteStores>(std::move(stores).value());
  }
  void TearDown() override { FailFaultyVfsWrites(0); }

  int64_t Events() const { return QueryInt(path_, "SELECT count(*) FROM events"); }

  hookvault::testing::TempDir dir_;
  std::string path_ = dir_.File("hookvault.db");
  hookvault::testing::FakeClock clock_;
  std::unique_ptr<SqliteStores> stores_;
};

// The COMMIT itself fails (the WAL cannot be written: a full disk, a dying device). Nothing of
// the batch is stored, and the same connection takes the next batch: the failed transaction
// was rolled back, not left open.
TEST_F(StorageFaultTest, FailedCommitIsRolledBackAndTheConnectionStaysUsable) {
  for (int code : {SQLITE_FULL, SQLITE_IOERR_WRITE}) {
    SCOPED_TRACE(code);
    std::string k = std::to_string(code);
    std::vector<IngestRecord> before = {Event("before-" + k)};
    ASSERT_TRUE(stores_->events->Append(before).ok());

    FailFaultyVfsWrites(code);
    std::vector<IngestRecord> failing = {Event("lost-" + k), Event("lost2-" + k)};
    auto failed = stores_->events->Append(failing);
    ASSERT_FALSE(failed.ok()) << "the fault was not injected";
    EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable) << failed.status().ToString();
    EXPECT_EQ(stores_->events->Probe().code(), StatusCode::kUnavailable);

    FailFaultyVfsWrites(0);
    // The same keys: not duplicates, they were never stored.
    auto again = stores_->events->Append(failing);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    ASSERT_EQ(again->size(), 2u);
    EXPECT_FALSE((*again)[0]->duplicate);
    EXPECT_FALSE((*again)[1]->duplicate);
    EXPECT_TRUE(stores_->events->Probe().ok());
  }
  EXPECT_EQ(Events(), 6);
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM deliveries"), 6);
  EXPECT_EQ(QueryText(path_, "PRAGMA integrity_check"), "ok");
}

// The writer over that store: every submission of the failed batch is answered with the
// error, healthy() turns false, and the writer recovers by itself once writes succeed again.
TEST_F(StorageFaultTest, WriterAnswersFailedCommitsWithUnavailableAndRecovers) {
  GroupCommitWriter writer(*stores_->events, {.max_batch = 64});
  auto submit = [&](const std::string& key) {
    auto done = std::make_shared<std::promise<Status>>();
    std::future<Status> f = done->get_future();
    Status queued = writer.SubmitEvent(
        Event(key), [done](const Status& s, const AppendResult&) { done->set_value(s); });
    EXPECT_TRUE(queued.ok()) << queued.ToString();
    return f;
  };
  auto probe = [&] {
    auto done = std::make_shared<std::promise<Status>>();
    std::future<Status> f = done->get_future();
    EXPECT_TRUE(writer.SubmitProbe([done](const Status& s) { done->set_value(s); }).ok());
    return f.get();
  };

  EXPECT_TRUE(submit("a").get().ok());
  EXPECT_TRUE(writer.healthy());

  FailFaultyVfsWrites(SQLITE_FULL);
  std::vector<std::future<Status>> failing;
  for (int i = 0; i < 20; ++i) failing.push_back(submit("full-" + std::to_string(i)));
  for (auto& f : failing) EXPECT_EQ(f.get().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(writer.healthy());
  EXPECT_EQ(probe().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(writer.healthy());

  FailFaultyVfsWrites(0);
  EXPECT_TRUE(probe().ok());  // readiness returns without any event having to succeed first
  EXPECT_TRUE(writer.healthy());
  EXPECT_TRUE(submit("b").get().ok());
  writer.Stop();
  EXPECT_GE(writer.stats().failed_batches, 1u);
  EXPECT_EQ(Events(), 2);  // a and b; none of the failed ones
  EXPECT_EQ(QueryInt(path_, "SELECT count(*) FROM events WHERE idempotency_key LIKE 'full-%'"), 0);
}

}  // namespace
}  // namespace hookvault::storage
