// DeliveryStore: what the forwarding scheduler reads and writes: claims with a lease, attempt
// records, the backlog.
//
// Fencing (every implementation keeps it): each claim gives the delivery a new lease token, and
// an attempt's outcome is applied only while the delivery still holds the token and the lease
// of the claim that produced it. Anything that came in between — a later claim of the same
// delivery, a reprocess (which ends the lease), the release of all leases at start, or the
// outcome of another attempt — makes the outcome stale: it is refused, changes nothing, and no
// attempt row is written for it. So a result written late (the store was full for a while) can
// never overwrite a newer state, such as "succeeded" going back to "pending" or "failed".
// Whatever puts a delivery back to pending (OperatorStore::Reprocess) must end its lease and
// record when it did so, for Pending().
//
// Ordering (destination "ordering", migration 0007): a delivery created with an ordering key
// (NewEvent::order_keys) belongs to the key (destination, order_key). Per key at most one open
// (pending or failed) delivery is not held: the key's head; the others are held, in seq order.
// Every implementation keeps it: an ordered delivery is inserted held when its key has an open
// delivery (in the store or earlier in the same batch); ClaimDue and NextDue never see a held
// delivery; a head that ends succeeded (RecordAttempts) or skipped (OperatorStore::Skip)
// releases the lowest-seq held delivery of its key in the same transaction; a head that ends
// failed releases nothing, so its key waits for an operator. A reprocessed ordered delivery is
// held when its key has another open delivery that is not held. Unordered deliveries are never
// held.
#ifndef HOOKVAULT_STORAGE_DELIVERY_STORE_H_
#define HOOKVAULT_STORAGE_DELIVERY_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storage/status.h"

namespace hookvault::storage {

// A delivery claimed for an attempt, with what the request needs.
struct DueDelivery {
  int64_t delivery_id = 0;
  int64_t lease_token = 0;  // this claim's token; its AttemptRecord must carry it
  int attempt = 0;  // the number of this attempt: 1 + attempts since creation or reprocessing
  std::string destination;
  std::string event_id;
  std::string source;
  std::string event_type;
  std::string body;  // the raw stored body
  int64_t received_at = 0;
};

// How an attempt ended and what happens to its delivery next.
struct AttemptRecord {
  enum class Next { kSucceeded, kRetry, kFailed };

  int64_t delivery_id = 0;
  int64_t lease_token = 0;  // DueDelivery::lease_token of the claim this attempt was made under
  int number = 0;
  int64_t started_at = 0;  // microseconds since the epoch
  int64_t duration_us = 0;
  int http_status = 0;  // 0: no response
  std::string error;    // set when no response arrived
  std::string response_excerpt;
  Next next = Next::kRetry;
  int64_t next_attempt_at = 0;  // for kRetry
};

// The backlog of deliveries not yet succeeded or failed, for /metrics.
struct PendingSummary {
  int64_t count = 0;
  std::map<std::string, int64_t> by_destination;
  // Since when the longest-waiting pending delivery has been pending: when it was created, or
  // when an operator last reprocessed it if that came later. Retries do not reset it. In
  // microseconds since the epoch; none when nothing is pending.
  std::optional<int64_t> oldest_pending_since;
};

// What RecordAttempts did with a batch.
struct RecordedAttempts {
  int applied = 0;
  std::vector<int64_t> stale;  // delivery ids of the records refused as stale, in batch order
};

// What ReleaseUnorderedHolds released, per destination.
struct ReleasedHolds {
  std::map<std::string, int> by_destination;  // destination -> deliveries released (> 0)
  // The store is shared with other nodes (PostgreSQL), whose config may still order these
  // destinations: the caller should say so loudly.
  bool shared = false;
  int total() const {
    int n = 0;
    for (const auto& [destination, count] : by_destination) n += count;
    return n;
  }
};

// Thread-safety: calls must not overlap (they are writes like any other); the scheduler makes
// each a task of its WriteSerializer (storage/write_serializer.h).
class DeliveryStore {
 public:
  DeliveryStore() = default;
  DeliveryStore(const DeliveryStore&) = delete;
  DeliveryStore& operator=(const DeliveryStore&) = delete;
  virtual ~DeliveryStore() = default;

  // Claims up to `limit` pending deliveries of `destination` that are due at `now` (next
  // attempt due, and no lease or an expired one), oldest due first, and leases them until
  // `lease_until` with a new lease token each, in one transaction. Deliveries listed in `held`
  // (those the caller still has in flight or whose outcome it has not written yet) are never
  // claimed, even if their lease has expired by `now`: a wall-clock step must not make the
  // caller send its own in-flight deliveries a second time. Returns kUnavailable if the store
  // cannot commit.
  virtual StatusOr<std::vector<DueDelivery>> ClaimDue(const std::string& destination, int limit,
                                                      int64_t now, int64_t lease_until,
                                                      std::span<const int64_t> held = {}) = 0;

  // Returns when the next delivery of `destination` falls due (its next attempt, or the end
  // of its lease while it is in flight), or nullopt when none is pending.
  virtual StatusOr<std::optional<int64_t>> NextDue(const std::string& destination) = 0;

  // Records the attempts and applies their outcomes in one transaction: the attempt rows, the
  // delivery's status, count, next attempt and lease, and the status of each event touched
  // ("failed" when any of its deliveries failed, else "delivered" when all succeeded, else
  // "pending"). A record whose delivery no longer holds the record's lease token and lease
  // (see "Fencing" above) is stale: it is refused and listed in the result, and nothing of it
  // is written. Returns kUnavailable if the store cannot commit; then nothing is recorded.
  virtual StatusOr<RecordedAttempts> RecordAttempts(std::span<const AttemptRecord> attempts) = 0;

  // Returns how many deliveries are pending and since when the longest-waiting of them has
  // been pending (PendingSummary::oldest_pending_since).
  virtual StatusOr<PendingSummary> Pending() = 0;

  // Releases every lease (the process that held them is gone): run once at start, before the
  // scheduler claims. Returns the number of deliveries released.
  virtual StatusOr<int> ReleaseAllLeases() = 0;

  // Releases every held delivery of a destination not named in `ordered_destinations` (those
  // configured with ordering now): a destination whose ordering was removed from the config
  // would otherwise keep them waiting for ever. Run once at start, before the scheduler claims.
  // Returns what it released; kUnavailable if the store cannot commit. On a shared store
  // (PostgreSQL) each key's ordering lock is taken first, so that a release does not interleave
  // with a node releasing or storing that key's deliveries.
  virtual StatusOr<ReleasedHolds> ReleaseUnorderedHolds(
      std::span<const std::string> ordered_destinations) = 0;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_DELIVERY_STORE_H_
