// SqliteDeliveryStore: the DeliveryStore on the SQLite write connection. Each claim and each
// batch of attempt records is one transaction, durable when it returns like every commit of the
// connection (synchronous=FULL in WAL mode).
#ifndef HOOKVAULT_STORAGE_SQLITE_DELIVERY_STORE_H_
#define HOOKVAULT_STORAGE_SQLITE_DELIVERY_STORE_H_

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storage/clock.h"
#include "storage/delivery_store.h"
#include "storage/sqlite/write_connection.h"

namespace hookvault::storage {

// Thread-safety: not thread-safe; called by the writer thread only (WriteSerializer tasks), like
// its connection.
class SqliteDeliveryStore final : public DeliveryStore {
 public:
  // Prepares the delivery store's statements on `connection`, which must outlive the store (as
  // must `clock`). Returns kUnavailable if they cannot be prepared.
  static StatusOr<std::unique_ptr<SqliteDeliveryStore>> Create(SqliteWriteConnection& connection,
                                                               const Clock& clock);
  ~SqliteDeliveryStore() override;

  // The default of `held` is the interface's.
  StatusOr<std::vector<DueDelivery>> ClaimDue(const std::string& destination, int limit,
                                              int64_t now, int64_t lease_until,
                                              std::span<const int64_t> held = {}) override;
  StatusOr<std::optional<int64_t>> NextDue(const std::string& destination) override;
  StatusOr<RecordedAttempts> RecordAttempts(std::span<const AttemptRecord> attempts) override;
  StatusOr<PendingSummary> Pending() override;
  StatusOr<int> ReleaseAllLeases() override;
  StatusOr<ReleasedHolds> ReleaseUnorderedHolds(
      std::span<const std::string> ordered_destinations) override;

 private:
  struct Statements;
  SqliteDeliveryStore(SqliteWriteConnection& connection, const Clock& clock);

  SQLite::Database& db_;  // the connection's
  const Clock& clock_;
  std::unique_ptr<Statements> stmts_;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_DELIVERY_STORE_H_
