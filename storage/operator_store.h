// OperatorStore: the few writes of the REST API — reprocessing deliveries (audited) and moving
// consumer cursors — as a store implements them, synchronously.
#ifndef HOOKVAULT_STORAGE_OPERATOR_STORE_H_
#define HOOKVAULT_STORAGE_OPERATOR_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "storage/query_store.h"
#include "storage/status.h"

namespace hookvault::storage {

// Who did an operator action, and why; the rest of the audit row is filled by the store.
struct AuditActor {
  std::string actor;
  std::string role;
  std::string reason;
};

// Which deliveries to put back to pending. Deliveries that are pending already are never
// touched (they are still being tried).
struct ReprocessSpec {
  DeliveryFilter filter;  // filter.status: "failed", "succeeded", or unset for both
  std::vector<std::string> destinations;  // when not empty, only these (by name)
  bool dry_run = false;                   // count only: change nothing
  std::string action;                     // the audit action: "reprocess_event" | "reprocess_bulk"
  std::string target_json;                // the audit target, as the caller describes it
};

struct ReprocessResult {
  int64_t matched = 0;
  int64_t requeued = 0;  // 0 on a dry run
  int64_t audit_id = 0;
};

// Thread-safety: calls must not overlap (they are writes like any other); the server makes each
// a task of its WriteSerializer through SerializedOperatorPort (storage/operator_port.h).
class OperatorStore {
 public:
  OperatorStore() = default;
  OperatorStore(const OperatorStore&) = delete;
  OperatorStore& operator=(const OperatorStore&) = delete;
  virtual ~OperatorStore() = default;

  // In one transaction: sets the matching deliveries back to pending, due at `now`, with
  // their attempt count at 0 (their earlier attempts stay in history), refreshes their events'
  // status, and appends the action to the audit chain (dry runs too). Returns kUnavailable if
  // the store cannot commit; then nothing changed and nothing was audited.
  virtual StatusOr<ReprocessResult> Reprocess(const ReprocessSpec& spec, const AuditActor& who,
                                              int64_t now) = 0;

  // Moves the consumer's cursor to `seq` unless it is already there or beyond (a cursor never
  // moves backwards); creates the consumer on its first ack. Returns the cursor afterwards.
  // Returns kUnavailable if the store cannot commit.
  virtual StatusOr<int64_t> AckConsumer(const std::string& name, int64_t seq, int64_t now) = 0;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_OPERATOR_STORE_H_
