// PostgresDeliveryStore: the DeliveryStore on the PostgreSQL write connection of one node, with
// every node's scheduler claiming from the same deliveries.
//
// - A delivery is attempted by one node at a time: claims lock the rows they take (FOR UPDATE
//   SKIP LOCKED, so claimers never wait for each other and never take one row twice) and lease
//   them with a new token each; outcomes are fenced by that token (storage/delivery_store.h).
// - Leases run on the database's clock, never a node's: a claim turns the caller's
//   lease_until - now into a duration from database time, and expiry is judged by database
//   time. A node that dies holds its leases until they expire; then any node claims them.
// - A destination's `concurrency` holds cluster-wide: its claims take a transaction advisory
//   lock of the destination, count its unexpired leases and claim at most cap - that many.
// Each claim and each batch of outcomes is one transaction in one round trip (pipelined),
// durable when it returns (synchronous_commit = on).
#ifndef HOOKVAULT_STORAGE_POSTGRES_DELIVERY_STORE_H_
#define HOOKVAULT_STORAGE_POSTGRES_DELIVERY_STORE_H_

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storage/clock.h"
#include "storage/delivery_store.h"
#include "storage/postgres/connection.h"

namespace hookvault::storage {

// Thread-safety: not thread-safe; called by the writer thread only (WriteSerializer tasks), like
// its connection.
class PostgresDeliveryStore final : public DeliveryStore {
 public:
  // Prepares the store's statements on `conn`, which must outlive the store (as must `clock`).
  // `destination_concurrency`: destination name -> its `concurrency`; ClaimDue never lets more
  // deliveries of such a destination hold an unexpired lease, on all nodes together, than that.
  // A destination absent from it is unlimited here. Returns kUnavailable if the statements
  // cannot be prepared.
  static StatusOr<std::unique_ptr<PostgresDeliveryStore>> Create(
      pg::Connection& conn, const Clock& clock, std::map<std::string, int> destination_concurrency);

  // The default of `held` is the interface's.
  StatusOr<std::vector<DueDelivery>> ClaimDue(const std::string& destination, int limit,
                                              int64_t now, int64_t lease_until,
                                              std::span<const int64_t> held = {}) override;
  // Also counts deliveries leased by any node, due again at their lease's end (if their node
  // dies), and for a capped destination whose cap is taken, the first lease end. A lease that
  // expired counts as due at its next attempt, unless the last ClaimDue of the destination held
  // or took it (in flight here: its outcome reschedules it).
  StatusOr<std::optional<int64_t>> NextDue(const std::string& destination) override;
  StatusOr<RecordedAttempts> RecordAttempts(std::span<const AttemptRecord> attempts) override;
  StatusOr<PendingSummary> Pending() override;
  // Releases nothing and returns 0: on a shared database the leases belong to every node, and
  // those of the other nodes are live. A restarted node's own old leases simply expire (at most
  // a destination's timeout plus the lease margin later), and their late outcomes stay fenced.
  StatusOr<int> ReleaseAllLeases() override;
  StatusOr<ReleasedHolds> ReleaseUnorderedHolds(
      std::span<const std::string> ordered_destinations) override;

 private:
  PostgresDeliveryStore(pg::Connection& conn, const Clock& clock,
                        std::map<std::string, int> destination_concurrency);

  // The cap of `destination`, or nullopt for none.
  std::optional<int> CapOf(const std::string& destination) const;

  pg::Connection& conn_;
  const Clock& clock_;
  const std::map<std::string, int> concurrency_;
  // Per destination: the ids the last ClaimDue held or claimed (in flight on this node), for
  // NextDue, which the port gives no `held`.
  std::map<std::string, std::vector<int64_t>> in_flight_;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_POSTGRES_DELIVERY_STORE_H_
