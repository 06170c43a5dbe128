// PostgresQueryStore: the QueryStore on a pool of reader connections to PostgreSQL.
//
// MVCC lets these readers run beside every node's writers: a statement sees the commits that
// preceded it and never waits for a writer (a plain read takes no row lock), nor a writer for
// it. Each reader session is read-only and has a statement_timeout, so that a runaway query
// cannot hold back the xmin horizon (and with it the vacuum of the hot tables) for long.
#ifndef HOOKVAULT_STORAGE_POSTGRES_QUERY_STORE_H_
#define HOOKVAULT_STORAGE_POSTGRES_QUERY_STORE_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/postgres/connection.h"
#include "storage/query_store.h"

namespace hookvault::storage {

// Thread-safety: thread-safe. Each call borrows one connection of the pool for its duration
// (waiting while all are busy); a connection and its prepared statements are used by one thread
// at a time. A connection found broken (the server restarted, or ended the session) is
// reconnected before use, and a call whose connection broke under it is run once more on the
// reconnected one (reads repeat safely); when the database cannot be reached the call returns
// kUnavailable and the connection is tried again by a later call.
class PostgresQueryStore final : public QueryStore {
 public:
  // The statement_timeout of the reader sessions unless `options` sets one: a list, a feed page
  // or a count runs in milliseconds; one that runs this long is a bug or a missing index, and
  // its snapshot would pin the xmin horizon of the whole cluster while it ran.
  static constexpr int64_t kReaderStatementTimeoutMs = 30'000;

  // Opens `pool_size` (at least 1) reader connections to options.url, shown as
  // "hookvault-reader" in pg_stat_activity (migrations must have been applied). Returns
  // kUnavailable if one cannot be opened.
  static StatusOr<std::unique_ptr<PostgresQueryStore>> Open(const pg::ConnectionOptions& options,
                                                            int pool_size);
  ~PostgresQueryStore() override;

  StatusOr<std::vector<EventRow>> ListEvents(const EventFilter& filter, const Page& page) override;
  StatusOr<std::optional<EventRow>> GetEvent(const std::string& id) override;
  StatusOr<std::vector<DeliveryRow>> EventDeliveries(int64_t event_seq) override;
  StatusOr<std::vector<AttemptRow>> EventAttempts(int64_t event_seq, const Page& page) override;
  StatusOr<std::vector<DeliveryRow>> ListDeliveries(const DeliveryFilter& filter,
                                                    const Page& page) override;
  // Counts every filter in one REPEATABLE READ, READ ONLY transaction: one snapshot.
  StatusOr<int64_t> CountDeliveries(const std::vector<DeliveryFilter>& filters) override;
  StatusOr<std::vector<AttemptRow>> ListAttempts(const AttemptFilter& filter,
                                                 const Page& page) override;
  StatusOr<std::vector<RequestRow>> ListRequests(const RequestFilter& filter,
                                                 const Page& page) override;
  StatusOr<std::vector<AuditRow>> ListAudit(const TimeFilter& filter, const Page& page) override;
  // Walks the chain in id order, in chunks, all in one snapshot.
  StatusOr<AuditVerification> VerifyAudit() override;
  StatusOr<std::vector<EventRow>> Feed(const FeedQuery& query) override;
  StatusOr<int64_t> LatestSeq() override;
  StatusOr<std::optional<ConsumerRow>> GetConsumer(const std::string& name) override;
  StatusOr<std::vector<ConsumerRow>> ListConsumers() override;
  StatusOr<PendingSummary> Pending() override;

  // The key VerifyAudit checks keyed rows with (config `audit.key`; empty: none). Call before
  // the store is shared between threads.
  void set_audit_key(std::string key) { audit_key_ = std::move(key); }

 private:
  class Reader;
  class Lease;

  explicit PostgresQueryStore(std::vector<std::unique_ptr<Reader>> readers);

  // Runs fn(Reader&) -> StatusOr<T> on a borrowed, healthy reader, once more on the
  // reconnected reader if the connection broke during the first run.
  template <typename T, typename Fn>
  StatusOr<T> Run(Fn&& fn);

  // Blocks until a reader is free and takes it.
  Reader* Acquire();
  void Release(Reader* reader);

  std::vector<std::unique_ptr<Reader>> readers_;  // owned; immutable after Open
  std::string audit_key_;                         // immutable once shared
  std::mutex mu_;
  std::condition_variable free_cv_;
  std::vector<Reader*> free_;  // guarded by mu_
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_POSTGRES_QUERY_STORE_H_
