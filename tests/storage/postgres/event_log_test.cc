// PostgresEventLog on a real PostgreSQL with the real migrations: batches, seq, duplicates within
// and across batches and across nodes (the 23505 redo), refused records, NOTIFY, a lost
// connection.
#include "storage/postgres/event_log.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/group_commit_writer.h"
#include "storage/postgres/connection.h"
#include "storage/postgres/stores.h"
#include "storage/postgres/write_sql.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/postgres_server.h"

namespace hookvault::storage {
namespace {

IngestRecord Event(const std::string& source, const std::string& key,
                   std::vector<std::string> destinations = {}, std::string body = "{}") {
  NewEvent e;
  e.source = source;
  e.event_type = "payment.received";
  e.idempotency_key = key;
  e.received_at = 1'790'000'000'000'000;
  e.remote_addr = "127.0.0.1";
  e.headers_json = R"({"content-type":"application/json"})";
  e.body = std::move(body);
  e.destinations = std::move(destinations);
  RequestLogEntry log;
  log.received_at = e.received_at;
  log.source = source;
  log.remote_addr = "127.0.0.1";
  log.status = 200;
  log.reason = "stored";
  log.body_bytes = static_cast<int64_t>(e.body.size());
  return IngestRecord{std::move(e), std::move(log)};
}

// One hookvault node's write side: its own connection and event log.
struct Node {
  std::unique_ptr<pg::Connection> conn;
  std::unique_ptr<PostgresEventLog> log;
};

class PostgresEventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* server = hookvault::testing::PostgresServer::Shared();
    ASSERT_NE(server, nullptr);
    url_ = server->CreateDatabase();
    ASSERT_FALSE(url_.empty());
    node_ = OpenNode();
    ASSERT_NE(node_.log, nullptr);
    auto reader = pg::Connection::Open({.url = url_, .application_name = "test-reader"});
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    reader_ = std::move(reader).value();
  }

  Node OpenNode() {
    Node node;
    auto conn = pg::Connection::Open({.url = url_, .application_name = "hookvault-writer"});
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return node;
    node.conn = std::move(conn).value();
    auto log = PostgresEventLog::Create(*node.conn, clock_);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    if (log.ok()) node.log = std::move(log).value();
    return node;
  }

  int64_t QueryInt(const std::string& sql, const std::string& param = "") {
    pg::Params params;
    if (!param.empty()) params.Add(param);
    auto r = reader_->Exec(sql, params);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    if (!r.ok() || r->rows() == 0) return -1;
    return r->GetInt64(0, 0);
  }
  std::string QueryText(const std::string& sql, const std::string& param = "") {
    pg::Params params;
    if (!param.empty()) params.Add(param);
    auto r = reader_->Exec(sql, params);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    if (!r.ok() || r->rows() == 0) return "<no row>";
    return r->GetString(0, 0);
  }
  // The stored seq values in order, and whether they are exactly 1..n.
  std::vector<int64_t> Seqs() {
    std::vector<int64_t> seqs;
    auto r = reader_->Exec("SELECT seq FROM events ORDER BY seq");
    EXPECT_TRUE(r.ok());
    if (r.ok()) {
      for (int i = 0; i < r->rows(); ++i) seqs.push_back(r->GetInt64(i, 0));
    }
    return seqs;
  }
  static std::vector<int64_t> Dense(int64_t n) {
    std::vector<int64_t> v;
    for (int64_t i = 1; i <= n; ++i) v.push_back(i);
    return v;
  }

  hookvault::testing::FakeClock clock_;
  std::string url_;
  Node node_;
  std::unique_ptr<pg::Connection> reader_;
};

TEST_F(PostgresEventLogTest, ABatchStoresEventsWithDenseSeqDeliveriesAndLogRows) {
  std::vector<IngestRecord> batch = {Event("s", "k1", {"billing", "crm"}), Event("s", "k2"),
                                     Event("t", "k1")};
  auto results = node_.log->Append(batch);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*results)[i].has_value());
    EXPECT_FALSE((*results)[i]->duplicate);
    EXPECT_EQ((*results)[i]->seq, i + 1);
  }
  EXPECT_LT((*results)[0]->id, (*results)[1]->id);
  EXPECT_LT((*results)[1]->id, (*results)[2]->id);  // same key, other source: a new event
  EXPECT_EQ(Seqs(), Dense(3));
  EXPECT_EQ(QueryInt("SELECT last_seq FROM event_seq_counter"), 3);
  EXPECT_EQ(QueryInt("SELECT seq FROM events WHERE id = $1", (*results)[2]->id), 3);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries WHERE status = 'pending' AND event_seq = 1"),
            2);
  EXPECT_EQ(QueryText("SELECT status FROM events WHERE seq = 1"), "pending");
  EXPECT_EQ(QueryText("SELECT status FROM events WHERE seq = 2"), "delivered");  // no destination
  EXPECT_EQ(QueryInt("SELECT count(*) FROM idempotency_keys"), 3);
  EXPECT_EQ(QueryInt("SELECT event_seq FROM idempotency_keys WHERE source = 't' AND key = 'k1'"),
            3);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM request_log WHERE reason = 'stored' "
                     "AND event_id IN (SELECT id FROM events)"),
            3);

  std::vector<IngestRecord> next = {Event("s", "k3")};
  auto more = node_.log->Append(next);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ((*more)[0]->seq, 4);
}

TEST_F(PostgresEventLogTest, DuplicatesInOneBatchAndAcrossBatchesAnswerTheOriginal) {
  std::vector<IngestRecord> batch = {Event("s", "same", {"billing"}), Event("s", "other"),
                                     Event("s", "same", {"billing"})};
  auto results = node_.log->Append(batch);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  EXPECT_FALSE((*results)[0]->duplicate);
  EXPECT_TRUE((*results)[2]->duplicate);
  EXPECT_EQ((*results)[2]->id, (*results)[0]->id);
  EXPECT_EQ((*results)[2]->seq, (*results)[0]->seq);
  EXPECT_EQ((*results)[0]->seq, 1);
  EXPECT_EQ((*results)[1]->seq, 2);

  std::vector<IngestRecord> later = {Event("s", "same", {"billing"}), Event("s", "new")};
  auto again = node_.log->Append(later);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)[0]->duplicate);
  EXPECT_EQ((*again)[0]->id, (*results)[0]->id);
  EXPECT_EQ((*again)[0]->seq, 1);
  EXPECT_EQ((*again)[1]->seq, 3);  // the duplicate took no seq value
  EXPECT_EQ(Seqs(), Dense(3));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries"), 1);
  EXPECT_EQ(
      QueryInt("SELECT count(*) FROM request_log WHERE reason = 'duplicate' AND event_id = $1",
               (*results)[0]->id),
      2);

  // A batch of duplicates alone takes no seq value and sends no notification.
  std::vector<IngestRecord> only_duplicates = {Event("s", "same"), Event("s", "other")};
  auto dup = node_.log->Append(only_duplicates);
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ((*dup)[1]->seq, 2);
  EXPECT_EQ(QueryInt("SELECT last_seq FROM event_seq_counter"), 3);
}

// A full batch of the writer (max_batch 512) with large bodies, 8 MiB in one pipeline, arrives
// whole: 512 events, 1,024 deliveries, 512 log rows, the bodies byte for byte in size.
TEST_F(PostgresEventLogTest, AFullBatchOfLargeBodiesGoesThroughOnePipeline) {
  std::vector<IngestRecord> batch;
  for (int i = 0; i < 512; ++i) {
    batch.push_back(Event("s", "big" + std::to_string(i), {"billing", "crm"},
                          std::string(16 << 10, static_cast<char>('a' + i % 26))));
  }
  auto results = node_.log->Append(batch);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  EXPECT_EQ((*results)[511]->seq, 512);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries"), 1024);
  EXPECT_EQ(QueryInt("SELECT sum(length(body))::bigint FROM events"), 512 * (16 << 10));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM request_log"), 512);
}

TEST_F(PostgresEventLogTest, RawBodyBytesAreKeptExactly) {
  std::string body("{\"a\": \"\xc3\xa9\" ,\n\t\"b\":[1 ,2]}\0tail\xff", 31);
  std::vector<IngestRecord> batch = {Event("s", "raw", {}, body)};
  auto results = node_.log->Append(batch);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  auto r =
      reader_->Exec("SELECT body FROM events WHERE id = $1", pg::Params().Add((*results)[0]->id));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->rows(), 1);
  EXPECT_EQ(r->GetBytes(0, 0), body);
}

TEST_F(PostgresEventLogTest, LogOnlyRecordsAreWrittenWithoutEventsOrSeq) {
  IngestRecord rejected;
  rejected.log = RequestLogEntry{
      1, "s", "10.0.0.1", 401, "unauthenticated", std::nullopt, 12, std::string("bad\0body", 8)};
  std::vector<IngestRecord> batch = {rejected};
  auto results = node_.log->Append(batch);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  EXPECT_FALSE((*results)[0].has_value());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM events"), 0);
  EXPECT_EQ(QueryInt("SELECT last_seq FROM event_seq_counter"), 0);
  EXPECT_EQ(QueryInt("SELECT status FROM request_log WHERE reason = 'unauthenticated'"), 401);
  EXPECT_EQ(QueryInt("SELECT length(body) FROM request_log"), 8);
}

// A record the database refuses after the batch took its seq values (a destination named twice:
// UNIQUE (event_seq, destination), a 23505 that no other node caused): the whole batch rolls
// back, the counter gives its values back, and the next batch continues with no gap. The 23505
// is not mistaken for another node's key: kInternal (the writer splits), not a redo loop.
TEST_F(PostgresEventLogTest, ABatchThatFailsAfterTakingSeqStoresNothingAndLeavesNoGap) {
  std::vector<IngestRecord> first = {Event("s", "a")};
  ASSERT_TRUE(node_.log->Append(first).ok());
  std::vector<IngestRecord> bad = {Event("s", "b", {"billing"}), Event("s", "c"),
                                   Event("s", "d", {"billing", "billing"})};
  auto failed = node_.log->Append(bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInternal) << failed.status().ToString();
  EXPECT_EQ(node_.log->redone_batches(), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM events"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM idempotency_keys"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries"), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM request_log"), 1);
  EXPECT_EQ(QueryInt("SELECT last_seq FROM event_seq_counter"), 1);

  std::vector<IngestRecord> next = {Event("s", "b", {"billing"}), Event("s", "c")};
  auto results = node_.log->Append(next);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  EXPECT_FALSE((*results)[0]->duplicate);
  EXPECT_EQ((*results)[0]->seq, 2);
  EXPECT_EQ((*results)[1]->seq, 3);
  EXPECT_EQ(Seqs(), Dense(3));
}

// PostgreSQL text cannot hold a NUL byte. libpq's text format would cut the value there (a key
// "k\0x" stored as "k", then answering "k\0y" as its duplicate); the log sends text as bytes that
// the server checks, so the record is refused (kInternal) and nothing is stored.
TEST_F(PostgresEventLogTest, ANulByteInATextFieldIsRefusedNotTruncated) {
  std::vector<IngestRecord> first = {Event("s", std::string("k\0x", 3))};
  auto failed = node_.log->Append(first);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInternal) << failed.status().ToString();

  IngestRecord typed = Event("s", "typed");
  typed.event->event_type = std::string("a\0b", 3);
  std::vector<IngestRecord> second = {Event("s", "fine"), typed};
  failed = node_.log->Append(second);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInternal) << failed.status().ToString();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM events"), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM idempotency_keys"), 0);
  EXPECT_EQ(QueryInt("SELECT last_seq FROM event_seq_counter"), 0);

  std::vector<IngestRecord> next = {Event("s", "k")};
  auto results = node_.log->Append(next);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  EXPECT_FALSE((*results)[0]->duplicate);
  EXPECT_EQ((*results)[0]->seq, 1);
}

// Through the real GroupCommitWriter (invariant 2): the refused record fails alone, the others
// of its batch commit with dense seq values.
TEST_F(PostgresEventLogTest, ThroughTheWriterARefusedRecordFailsAloneAndTheOthersCommit) {
  GroupCommitWriter writer(*node_.log, {.max_batch = 512, .max_queue = 1000});
  std::atomic<bool> release{false};
  // Holds the writer so that all seven records form one batch.
  ASSERT_TRUE(writer
                  .SubmitTask([&] {
                    while (!release.load()) std::this_thread::yield();
                  })
                  .ok());
  std::vector<Status> answers(7);
  std::vector<AppendResult> stored(7);
  for (int i = 0; i < 7; ++i) {
    IngestRecord record = Event("s", "iso" + std::to_string(i), {"billing"});
    if (i == 4) record.event->event_type = std::string("bad\0type", 8);
    ASSERT_TRUE(writer
                    .SubmitEvent(std::move(record),
                                 [&answers, &stored, i](const Status& s, const AppendResult& r) {
                                   answers[i] = s;
                                   stored[i] = r;
                                 })
                    .ok());
  }
  release = true;
  writer.Stop();
  std::set<int64_t> seqs;
  for (int i = 0; i < 7; ++i) {
    if (i == 4) {
      EXPECT_EQ(answers[i].code(), StatusCode::kInternal) << answers[i].ToString();
    } else {
      EXPECT_TRUE(answers[i].ok()) << i << ": " << answers[i].ToString();
      seqs.insert(stored[i].seq);
    }
  }
  EXPECT_EQ(seqs, (std::set<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(Seqs(), Dense(6));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM events WHERE idempotency_key = 'iso4'"), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries"), 6);
  EXPECT_TRUE(writer.healthy());
}

// Another node commits one of the batch's keys between its two round trips: the batch's key
// insert fails with 23505, its transaction rolls back, and the redo answers the other node's
// event as the original, while the batch's other events are stored after it.
TEST_F(PostgresEventLogTest, AKeyAnotherNodeCommittedFirstIsRedoneAsItsDuplicate) {
  Node other = OpenNode();
  ASSERT_NE(other.log, nullptr);
  std::optional<AppendResult> others;
  node_.log->set_between_round_trips_for_test([&] {
    if (others) return;
    std::vector<IngestRecord> batch = {Event("s", "contested", {"billing"})};
    auto r = other.log->Append(batch);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    others = *(*r)[0];
  });
  std::vector<IngestRecord> batch = {Event("s", "mine", {"billing"}),
                                     Event("s", "contested", {"billing"}), Event("s", "also")};
  auto results = node_.log->Append(batch);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_TRUE(others.has_value());
  EXPECT_EQ(node_.log->redone_batches(), 1);
  EXPECT_TRUE((*results)[1]->duplicate);
  EXPECT_EQ((*results)[1]->id, others->id);
  EXPECT_EQ((*results)[1]->seq, 1);
  EXPECT_FALSE((*results)[0]->duplicate);
  EXPECT_EQ((*results)[0]->seq, 2);
  EXPECT_EQ((*results)[2]->seq, 3);
  EXPECT_EQ(Seqs(), Dense(3));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM events WHERE idempotency_key = 'contested'"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries"), 2);
  EXPECT_EQ(QueryText("SELECT reason FROM request_log WHERE event_id = $1 ORDER BY id DESC LIMIT 1",
                      others->id),
            "duplicate");
}

// Two nodes append batches of the same keys at once, in opposite orders: every key is stored
// once, both nodes answer the same id and seq for it, and seq is 1..n with no gap.
TEST_F(PostgresEventLogTest, TwoNodesAppendingTheSameKeysAtOnceStoreEachKeyOnce) {
  auto a = PostgresStores::Open({.url = url_}, clock_, {});
  auto b = PostgresStores::Open({.url = url_}, clock_, {});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
                     "AND datname = current_database()",
                     kWriterApplicationName),
            3);  // the fixture's node and these two
  auto named =
      PostgresStores::Open({.url = url_, .application_name = "hookvault writer pid 7"}, clock_, {});
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
                     "AND datname = current_database()",
                     "hookvault writer pid 7"),
            1);
  constexpr int kBatches = 40;
  constexpr int kPerBatch = 8;
  using Answers = std::map<std::string, AppendResult>;
  auto run = [&](PostgresEventLog& log, bool reversed, Answers& answers) {
    for (int n = 0; n < kBatches; ++n) {
      int batch_no = reversed ? kBatches - 1 - n : n;
      std::vector<IngestRecord> batch;
      for (int i = 0; i < kPerBatch; ++i) {
        batch.push_back(Event("s", "k" + std::to_string(batch_no * kPerBatch + i), {"billing"}));
      }
      for (int attempt = 0;; ++attempt) {
        auto results = log.Append(batch);
        if (!results.ok()) {
          // Only a conflict that kept coming back may fail a batch; the client retries.
          ASSERT_EQ(results.status().code(), StatusCode::kUnavailable)
              << results.status().ToString();
          ASSERT_LT(attempt, 10);
          continue;
        }
        for (int i = 0; i < kPerBatch; ++i) {
          answers[batch[i].event->idempotency_key] = *(*results)[i];
        }
        break;
      }
    }
  };
  Answers from_a, from_b;
  std::thread ta([&] { run(*a->events, false, from_a); });
  std::thread tb([&] { run(*b->events, true, from_b); });
  ta.join();
  tb.join();
  constexpr int kKeys = kBatches * kPerBatch;
  ASSERT_EQ(from_a.size(), static_cast<size_t>(kKeys));
  ASSERT_EQ(from_b.size(), static_cast<size_t>(kKeys));
  int originals = 0;
  for (const auto& [key, ra] : from_a) {
    const AppendResult& rb = from_b.at(key);
    EXPECT_EQ(ra.id, rb.id) << key;
    EXPECT_EQ(ra.seq, rb.seq) << key;
    originals += (ra.duplicate ? 0 : 1) + (rb.duplicate ? 0 : 1);
  }
  EXPECT_EQ(originals, kKeys);  // each key stored by exactly one of them
  EXPECT_EQ(QueryInt("SELECT count(*) FROM events"), kKeys);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM idempotency_keys"), kKeys);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM deliveries"), kKeys);
  EXPECT_EQ(Seqs(), Dense(kKeys));
  // The race happens when both nodes reach the same keys together (in the middle): seen as
  // redone batches on either node most runs; correctness above holds either way.
  std::cout << "redone batches: " << a->events->redone_batches() << " + "
            << b->events->redone_batches() << "\n";
}

// Runs `append` on a thread and returns its result, or fails the test when it has not returned
// within `bound`: then `release` ends what it waits for (so that the thread can be joined).
StatusOr<std::vector<std::optional<AppendResult>>> WithinBound(
    const std::function<StatusOr<std::vector<std::optional<AppendResult>>>()>& append,
    std::chrono::seconds bound, const std::function<void()>& release) {
  auto done = std::async(std::launch::async, append);
  if (done.wait_for(bound) != std::future_status::ready) {
    ADD_FAILURE() << "Append waited past " << bound.count() << " s";
    release();
  }
  return done.get();
}

// The writer's session bounds every wait: an idle transaction within seconds, a lock wait (the
// seq counter held by a stalled node) and a statement (a database stuck behind an operator's
// LOCK TABLE) too; smaller configured bounds stay.
TEST_F(PostgresEventLogTest, TheWriterSessionBoundsIdleTransactionsLockWaitsAndStatements) {
  auto stores = PostgresStores::Open({.url = url_}, clock_, {});
  ASSERT_TRUE(stores.ok()) << stores.status().ToString();
  auto shown = stores->connection->Exec(
      "SELECT current_setting('idle_in_transaction_session_timeout'), "
      "current_setting('lock_timeout'), current_setting('statement_timeout')");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->GetString(0, 0), "5s");
  EXPECT_EQ(shown->GetString(0, 1), "5s");
  EXPECT_EQ(shown->GetString(0, 2), "15s");
  auto smaller = PostgresStores::Open({.url = url_,
                                       .statement_timeout_ms = 3000,
                                       .idle_in_transaction_timeout_ms = 2000,
                                       .lock_timeout_ms = 1000},
                                      clock_, {});
  ASSERT_TRUE(smaller.ok());
  shown = smaller->connection->Exec(
      "SELECT current_setting('idle_in_transaction_session_timeout'), "
      "current_setting('lock_timeout'), current_setting('statement_timeout')");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->GetString(0, 0), "2s");
  EXPECT_EQ(shown->GetString(0, 1), "1s");
  EXPECT_EQ(shown->GetString(0, 2), "3s");
}

// A node stalled in the middle of its batch holds the seq counter (no idle timeout runs while
// the backend waits for the rest of a pipelined batch). Another node's batch must not wait for
// it for ever: it gives up after the lock_timeout with kUnavailable (503, Retry-After), stores
// nothing, and commits once the counter is free.
TEST_F(PostgresEventLogTest,
       ABatchWaitingForAStalledNodesCounterIsUnavailableWithinTheLockTimeout) {
  auto stalled = pg::Connection::Open({.url = url_, .application_name = "stalled-node"});
  ASSERT_TRUE(stalled.ok());
  ASSERT_TRUE((*stalled)->Exec("BEGIN").ok());
  ASSERT_TRUE(
      (*stalled)->Exec("UPDATE event_seq_counter SET last_seq = last_seq + 1 WHERE id = 1").ok());

  auto stores = PostgresStores::Open({.url = url_, .lock_timeout_ms = 300}, clock_, {});
  ASSERT_TRUE(stores.ok()) << stores.status().ToString();
  auto result = WithinBound(
      [&] {
        std::vector<IngestRecord> batch = {Event("s", "a", {"d"})};
        return stores->events->Append(batch);
      },
      std::chrono::seconds(20), [&] { (void)(*stalled)->Exec("ROLLBACK"); });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().ToString();
  EXPECT_NE(result.status().message().find("55P03"), std::string::npos)
      << result.status().ToString();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM request_log"), 0);  // the whole batch rolled back

  ASSERT_TRUE((*stalled)->Exec("ROLLBACK").ok());
  std::vector<IngestRecord> batch = {Event("s", "a", {"d"})};
  auto retried = stores->events->Append(batch);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ((*retried)[0]->seq, 1);
  EXPECT_EQ(Seqs(), Dense(1));
}

// A database that is up but stuck (an operator's LOCK TABLE for a REINDEX or an ALTER): an
// accepted batch waits at most the statement_timeout, then kUnavailable, nothing stored.
TEST_F(PostgresEventLogTest, AStuckDatabaseFailsTheBatchWithinTheStatementTimeout) {
  // A lock_timeout longer than the statement_timeout: the statement's bound is what ends it.
  auto stores = PostgresStores::Open(
      {.url = url_, .statement_timeout_ms = 300, .lock_timeout_ms = 5000}, clock_, {});
  ASSERT_TRUE(stores.ok()) << stores.status().ToString();
  auto operator_session = pg::Connection::Open({.url = url_, .application_name = "operator"});
  ASSERT_TRUE(operator_session.ok());
  ASSERT_TRUE((*operator_session)->Exec("BEGIN").ok());
  ASSERT_TRUE((*operator_session)->Exec("LOCK TABLE events IN SHARE MODE").ok());
  auto result = WithinBound(
      [&] {
        std::vector<IngestRecord> batch = {Event("s", "a")};
        return stores->events->Append(batch);
      },
      std::chrono::seconds(20), [&] { (void)(*operator_session)->Exec("ROLLBACK"); });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().ToString();
  EXPECT_NE(result.status().message().find("57014"), std::string::npos)
      << result.status().ToString();
  ASSERT_TRUE((*operator_session)->Exec("ROLLBACK").ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM request_log"), 0);
  EXPECT_EQ(QueryInt("SELECT last_seq FROM event_seq_counter"), 0);
}

// A database without the migrations: the stores cannot prepare their statements, and Open
// says so (kUnavailable, naming what is missing) instead of failing later on every batch.
TEST_F(PostgresEventLogTest, OpeningTheStoresOnAnUnmigratedDatabaseFails) {
  const std::string empty = hookvault::testing::PostgresServer::Shared()->CreateEmptyDatabase();
  ASSERT_FALSE(empty.empty());
  auto stores = PostgresStores::Open({.url = empty}, clock_, {});
  ASSERT_FALSE(stores.ok());
  EXPECT_EQ(stores.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(stores.status().message().find("does not exist"), std::string::npos)
      << stores.status().ToString();
}

// One notification per batch that stored a new event, sent at its commit, with the batch's
// last seq; none for a batch of duplicates.
TEST_F(PostgresEventLogTest, ACommittedBatchNotifiesOnceWithItsLastSeq) {
  auto listener = pg::Connection::Open({.url = url_});
  ASSERT_TRUE(listener.ok());
  ASSERT_TRUE((*listener)->Exec("LISTEN hookvault_events").ok());
  std::vector<IngestRecord> batch = {Event("s", "a"), Event("s", "b"), Event("s", "c")};
  ASSERT_TRUE(node_.log->Append(batch).ok());
  std::vector<IngestRecord> duplicates = {Event("s", "a")};
  ASSERT_TRUE(node_.log->Append(duplicates).ok());
  std::vector<IngestRecord> one = {Event("s", "d")};
  ASSERT_TRUE(node_.log->Append(one).ok());

  // Notifications arrive after the commits returned; a query's round trip reads them in.
  ASSERT_TRUE((*listener)->Exec("SELECT 1").ok());
  std::vector<std::string> payloads;
  PQconsumeInput((*listener)->raw());
  while (PGnotify* n = PQnotifies((*listener)->raw())) {
    EXPECT_STREQ(n->relname, "hookvault_events");
    payloads.emplace_back(n->extra);
    PQfreemem(n);
  }
  EXPECT_EQ(payloads, (std::vector<std::string>{"3", "4"}));
}

// The server ends the idle writer's session (a restart, a failover, an operator, a pooler's
// idle timeout): the next batch reconnects before it writes and commits (no 503 for it).
TEST_F(PostgresEventLogTest, AWriterSessionEndedWhileIdleCostsTheNextBatchNothing) {
  std::vector<IngestRecord> first = {Event("s", "a")};
  ASSERT_TRUE(node_.log->Append(first).ok());
  const int pid = PQbackendPID(node_.conn->raw());
  ASSERT_EQ(QueryInt("SELECT pg_terminate_backend($1::integer)::integer", std::to_string(pid)), 1);
  // pg_terminate_backend returns before the backend has gone; wait until it has.
  for (int i = 0;
       i < 500 && QueryInt("SELECT count(*) FROM pg_stat_activity WHERE pid = $1::integer",
                           std::to_string(pid)) > 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  std::vector<IngestRecord> next = {Event("s", "b")};
  auto results = node_.log->Append(next);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  EXPECT_EQ((*results)[0]->seq, 2);
  EXPECT_NE(PQbackendPID(node_.conn->raw()), pid);
  EXPECT_EQ(Seqs(), Dense(2));
  EXPECT_TRUE(node_.log->Probe().ok());
}

// The probe writes as much as a big batch, for real: its bytes reach the WAL (not compressed
// away by TOAST), and its row is gone after it.
TEST_F(PostgresEventLogTest, TheProbeWritesABigBatchWorthOfBytesAndLeavesNothingBehind) {
  const std::string before = QueryText("SELECT pg_current_wal_lsn()::text");
  Status probe = node_.log->Probe();
  ASSERT_TRUE(probe.ok()) << probe.ToString();
  EXPECT_GE(QueryInt("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint", before),
            pgsql::kProbeBytes);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM service_state WHERE key = 'write_probe'"), 0);
}

}  // namespace
}  // namespace hookvault::storage
