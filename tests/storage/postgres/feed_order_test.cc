// The feed's order across nodes (issue 16): transactions that take a sequence value and commit
// out of that order make a reader following `seq > cursor` skip the lower value for good. The
// first test provokes exactly that on a plain bigserial table; the others show that ingest's
// seq (the counter row of write_sql.h, locked to COMMIT) cannot be overtaken: a second node's
// batch waits for the first to commit, and a reader sees a gap-free prefix at every moment.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/postgres/connection.h"
#include "storage/postgres/event_log.h"
#include "storage/postgres/write_pipeline.h"
#include "storage/postgres/write_sql.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/postgres_server.h"

namespace hookvault::storage {
namespace {

using std::chrono::milliseconds;

IngestRecord Event(const std::string& key) {
  NewEvent e;
  e.source = "s";
  e.event_type = "t";
  e.idempotency_key = key;
  e.received_at = 1'790'000'000'000'000;
  e.headers_json = "{}";
  e.body = "{}";
  return IngestRecord{std::move(e), std::nullopt};
}

class PostgresFeedOrderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* server = hookvault::testing::PostgresServer::Shared();
    ASSERT_NE(server, nullptr);
    url_ = server->CreateDatabase();
    ASSERT_FALSE(url_.empty());
    reader_ = Connect("test-reader");
    ASSERT_NE(reader_, nullptr);
  }

  std::unique_ptr<pg::Connection> Connect(const std::string& name) {
    auto conn = pg::Connection::Open({.url = url_, .application_name = name});
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    return conn.ok() ? std::move(conn).value() : nullptr;
  }

  // Runs `sql` on `conn` and returns the first column of every row.
  static std::vector<int64_t> Column(pg::Connection& conn, std::string_view sql,
                                     const pg::Params& params = pg::Params()) {
    std::vector<int64_t> values;
    auto r = conn.Exec(sql, params);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    if (r.ok()) {
      for (int i = 0; i < r->rows(); ++i) values.push_back(r->GetInt64(i, 0));
    }
    return values;
  }

  // What a feed consumer does: reads what follows its cursor, in order, and moves the cursor to
  // the last value it saw.
  static std::vector<int64_t> ReadAfter(pg::Connection& conn, std::string_view table,
                                        std::string_view column, int64_t& cursor) {
    std::string sql = "SELECT " + std::string(column) + " FROM " + std::string(table) + " WHERE " +
                      std::string(column) + " > $1 ORDER BY " + std::string(column);
    std::vector<int64_t> seen = Column(conn, sql, pg::Params().Add(cursor));
    if (!seen.empty()) cursor = seen.back();
    return seen;
  }

  // True while the backend of `pid` waits for a lock.
  bool WaitsForALock(int pid) {
    return Column(*reader_,
                  "SELECT count(*) FROM pg_stat_activity "
                  "WHERE pid = $1::integer AND wait_event_type = 'Lock'",
                  pg::Params().Add(static_cast<int64_t>(pid))) == std::vector<int64_t>{1};
  }

  hookvault::testing::FakeClock clock_;
  std::string url_;
  std::unique_ptr<pg::Connection> reader_;
};

// The bug the counter exists for: with a sequence, the transaction holding the lower value
// commits last, and the reader that already moved its cursor past it never sees it.
TEST_F(PostgresFeedOrderTest, ANaiveSeqCursorSkipsALowerValueThatCommitsLast) {
  ASSERT_TRUE(reader_->Exec("CREATE TABLE naive_feed (seq bigserial PRIMARY KEY)").ok());
  auto first = Connect("first");
  auto second = Connect("second");
  ASSERT_TRUE(first->Exec("BEGIN").ok());
  EXPECT_EQ(Column(*first, "INSERT INTO naive_feed DEFAULT VALUES RETURNING seq"),
            std::vector<int64_t>{1});
  ASSERT_TRUE(second->Exec("BEGIN").ok());
  EXPECT_EQ(Column(*second, "INSERT INTO naive_feed DEFAULT VALUES RETURNING seq"),
            std::vector<int64_t>{2});
  ASSERT_TRUE(second->Exec("COMMIT").ok());

  int64_t cursor = 0;
  std::vector<int64_t> seen = ReadAfter(*reader_, "naive_feed", "seq", cursor);
  EXPECT_EQ(seen, std::vector<int64_t>{2});  // 2 is visible, 1 is not yet
  ASSERT_TRUE(first->Exec("COMMIT").ok());
  std::vector<int64_t> later = ReadAfter(*reader_, "naive_feed", "seq", cursor);
  seen.insert(seen.end(), later.begin(), later.end());
  EXPECT_EQ(Column(*reader_, "SELECT seq FROM naive_feed ORDER BY seq"),
            (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(seen, std::vector<int64_t>{2}) << "the naive reader skipped seq 1 for good";
}

// Our path, step by step. Node A's batch has taken its seq (the counter row, with exactly the
// statements PostgresEventLog::Append sends) and has not committed. Node B's Append must wait
// for it (it cannot take a later seq and commit first), a reader sees no gap at any moment, and
// once A commits, B's event takes the next seq and the reader sees both, in order.
TEST_F(PostgresFeedOrderTest, ASecondNodesBatchWaitsForTheFirstAndReadersNeverSeeAGap) {
  auto a = Connect("node-a");
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->Exec("BEGIN").ok());
  pg::Params event;
  event.Add(int64_t{1});
  for (std::string_view text : {"a-event", "s", "t", "from-a"}) {
    event.AddBytes(pg::BinaryArray(pg::BinaryArray::kText).Add(text).Encode());
  }
  event.AddBytes(pg::BinaryArray(pg::BinaryArray::kInt8).Add(int64_t{1}).Encode());
  for (std::string_view text : {"", "{}"}) {
    event.AddBytes(pg::BinaryArray(pg::BinaryArray::kText).Add(text).Encode());
  }
  event.AddBytes(pg::BinaryArray(pg::BinaryArray::kBytea).Add(std::string_view("{}")).Encode());
  event.AddBytes(
      pg::BinaryArray(pg::BinaryArray::kText).Add(std::string_view("delivered")).Encode());
  // Takes the counter (seq 1) and stores the event in one statement, as Append does.
  auto inserted = a->Exec(pgsql::kInsertEvents, event);
  ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  ASSERT_EQ(inserted->rows(), 1);
  ASSERT_EQ(inserted->GetInt64(0, 0), 1);
  auto keyed = a->Exec(pgsql::kInsertKeys, pg::Params().Add(int64_t{1}).Add(int64_t{1}));
  ASSERT_TRUE(keyed.ok()) << keyed.status().ToString();
  ASSERT_EQ(keyed->affected_rows(), 1);

  auto b_conn = Connect("node-b");
  ASSERT_NE(b_conn, nullptr);
  auto b = PostgresEventLog::Create(*b_conn, clock_);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const int b_pid = PQbackendPID(b_conn->raw());
  std::atomic<bool> b_returned{false};
  StatusOr<std::vector<std::optional<AppendResult>>> b_result = Status::Internal("not run");
  std::thread node_b([&] {
    std::vector<IngestRecord> batch = {Event("from-b")};
    b_result = (*b)->Append(batch);
    b_returned = true;
  });

  // A reader at every moment: the seq values visible are exactly 1..n.
  std::atomic<bool> stop_reading{false};
  std::atomic<int> reads{0};
  std::atomic<int> gaps{0};
  auto sampler_conn = Connect("sampler");
  std::thread sampler([&] {
    while (!stop_reading.load()) {
      std::vector<int64_t> seqs = Column(*sampler_conn, "SELECT seq FROM events ORDER BY seq");
      for (size_t i = 0; i < seqs.size(); ++i) {
        if (seqs[i] != static_cast<int64_t>(i) + 1) ++gaps;
      }
      ++reads;
      std::this_thread::sleep_for(milliseconds(1));
    }
  });

  // B is blocked on the counter row's lock, not merely slow.
  bool waiting = false;
  for (int i = 0; i < 1000 && !waiting && !b_returned.load(); ++i) {
    waiting = WaitsForALock(b_pid);
    if (!waiting) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(waiting) << "node B did not wait for node A's open batch";
  EXPECT_FALSE(b_returned.load()) << "node B committed while node A's lower seq was open";
  int64_t cursor = 0;
  EXPECT_TRUE(ReadAfter(*reader_, "events", "seq", cursor).empty());

  ASSERT_TRUE(a->Exec("COMMIT").ok());
  node_b.join();
  ASSERT_TRUE(b_result.ok()) << b_result.status().ToString();
  EXPECT_EQ((*b_result)[0]->seq, 2);  // A's seq + A's n
  std::vector<int64_t> seen = ReadAfter(*reader_, "events", "seq", cursor);
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2}));

  while (reads.load() < 3) std::this_thread::yield();
  stop_reading = true;
  sampler.join();
  EXPECT_EQ(gaps.load(), 0);
}

// Many batches from two nodes at once, a consumer following its cursor all along: it sees
// every event exactly once, each seq the one after its cursor (no gap ever visible).
TEST_F(PostgresFeedOrderTest, AConsumerFollowingTwoBusyNodesSeesEverySeqOnceInOrder) {
  constexpr int kBatches = 60;
  constexpr int kPerBatch = 5;
  auto run = [&](const std::string& node) {
    auto conn = Connect(node);
    ASSERT_NE(conn, nullptr);
    auto log = PostgresEventLog::Create(*conn, clock_);
    ASSERT_TRUE(log.ok());
    for (int n = 0; n < kBatches; ++n) {
      std::vector<IngestRecord> batch;
      for (int i = 0; i < kPerBatch; ++i) {
        batch.push_back(Event(node + "-" + std::to_string(n) + "-" + std::to_string(i)));
      }
      auto results = (*log)->Append(batch);
      ASSERT_TRUE(results.ok()) << results.status().ToString();
    }
  };
  std::atomic<bool> writers_done{false};
  std::vector<int64_t> seen;
  std::thread consumer([&] {
    auto conn = Connect("consumer");
    int64_t cursor = 0;
    for (;;) {
      // Read the flag first: a read after it saw the writers done sees everything.
      bool last = writers_done.load();
      std::vector<int64_t> page = ReadAfter(*conn, "events", "seq", cursor);
      seen.insert(seen.end(), page.begin(), page.end());
      if (last) break;
      std::this_thread::sleep_for(milliseconds(1));  // leave the two cores to the writers
    }
  });
  std::thread a([&] { run("a"); });
  std::thread b([&] { run("b"); });
  a.join();
  b.join();
  writers_done = true;
  consumer.join();
  constexpr int kEvents = 2 * kBatches * kPerBatch;
  ASSERT_EQ(seen.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) ASSERT_EQ(seen[i], i + 1) << "at position " << i;
}

}  // namespace
}  // namespace hookvault::storage
