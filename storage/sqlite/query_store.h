// SqliteQueryStore: the QueryStore on a small pool of read-only SQLite connections.
//
// WAL lets these readers run beside the writer: a query sees the last commit before it
// started and never waits for the writer, nor the writer for it.
#ifndef HOOKVAULT_STORAGE_SQLITE_QUERY_STORE_H_
#define HOOKVAULT_STORAGE_SQLITE_QUERY_STORE_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/query_store.h"
#include "storage/sqlite/database.h"

namespace hookvault::storage {

// Thread-safety: thread-safe. Each call borrows one connection of the pool for its duration
// (waiting while all are busy); a connection and its cached statements are used by one thread
// at a time.
class SqliteQueryStore final : public QueryStore {
 public:
  // Opens `connections` (at least 1) reader connections with `PRAGMA query_only` on the
  // database at options.path (migrations must have been applied). Returns kUnavailable if one
  // cannot be opened.
  static StatusOr<std::unique_ptr<SqliteQueryStore>> Open(const DatabaseOptions& options,
                                                          int connections);
  ~SqliteQueryStore() override;

  StatusOr<std::vector<EventRow>> ListEvents(const EventFilter& filter, const Page& page) override;
  StatusOr<std::optional<EventRow>> GetEvent(const std::string& id) override;
  StatusOr<std::vector<DeliveryRow>> EventDeliveries(int64_t event_seq) override;
  StatusOr<std::vector<AttemptRow>> EventAttempts(int64_t event_seq, const Page& page) override;
  StatusOr<std::vector<DeliveryRow>> ListDeliveries(const DeliveryFilter& filter,
                                                    const Page& page) override;
  StatusOr<int64_t> CountDeliveries(const std::vector<DeliveryFilter>& filters) override;
  StatusOr<std::vector<AttemptRow>> ListAttempts(const AttemptFilter& filter,
                                                 const Page& page) override;
  StatusOr<std::vector<RequestRow>> ListRequests(const RequestFilter& filter,
                                                 const Page& page) override;
  StatusOr<std::vector<AuditRow>> ListAudit(const TimeFilter& filter, const Page& page) override;
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
  class Connection;
  class Lease;

  explicit SqliteQueryStore(std::vector<std::unique_ptr<Connection>> connections);

  // Runs fn(Connection&) on a borrowed connection, turning SQLite exceptions into a Status
  // (`what` names the operation in its message).
  template <typename T, typename Fn>
  StatusOr<T> Run(const char* what, Fn&& fn);

  // Blocks until a connection is free and takes it.
  Connection* Acquire();
  void Release(Connection* connection);

  std::vector<std::unique_ptr<Connection>> connections_;  // owned; immutable after Open
  std::string audit_key_;  // immutable once shared
  std::mutex mu_;
  std::condition_variable free_cv_;
  std::vector<Connection*> free_;  // guarded by mu_
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_QUERY_STORE_H_
