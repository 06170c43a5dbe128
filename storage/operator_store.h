// OperatorStore: the few writes of the REST API — reprocessing deliveries (audited) and moving
// consumer cursors — as a store implements them, synchronously.
//
// A reprocess may match millions of deliveries, and every write of the store waits for the one
// before it (ingest included), so a reprocess is written in bounded chunks: ReprocessChunk
// changes at most `max_rows` deliveries in one short transaction, and the caller (the
// SerializedOperatorPort of storage/operator_port.h) queues the next chunk behind whatever was
// submitted meanwhile. A dry run changes nothing: its count is a read (QueryStore::
// CountDeliveries with ReprocessFilters) and its only write is its audit row (AuditDryRun).
#ifndef HOOKVAULT_STORAGE_OPERATOR_STORE_H_
#define HOOKVAULT_STORAGE_OPERATOR_STORE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
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
  int64_t audit_id = 0;  // the audit row that records the whole action
  // Set when the run goes on after this answer (SerializedOperatorPort answers a run that
  // outlasts its answer_after early): the counts are those so far, and `audit_id` is the
  // `_started` row; the totals come in a later audit row of the same action.
  bool running = false;
};

// What Skip did.
struct SkipResult {
  enum class Outcome {
    kSkipped,    // the failed delivery is now skipped (and audited)
    kNotFound,   // no delivery with that id
    kNotFailed,  // refused: only a failed delivery can be skipped; `status` says what it is
  };
  Outcome outcome = Outcome::kNotFound;
  std::string status;    // the delivery's status before the call (empty when not found)
  int64_t audit_id = 0;  // kSkipped: the audit row
};

// Where a reprocess stands between its chunks. Start with a default-constructed value and pass
// each chunk's result to the next call, until `done`.
struct ReprocessProgress {
  // The walk goes through the matching deliveries by descending id and continues below this
  // id; unset before the first chunk, which sets it just above the highest id then stored, so
  // deliveries created during the run are not matched, and a delivery is looked at once per
  // run however its status changes meanwhile.
  std::optional<int64_t> cursor = std::nullopt;
  int64_t matched = 0;
  int64_t requeued = 0;
  // The "<action>_started" audit row of a run that needs more than one chunk (0: none).
  int64_t started_audit_id = 0;
  int64_t audit_id = 0;  // the final audit row, once done
  bool done = false;
};

// Returns the delivery filters a reprocess matches, one per (status, destination) it covers;
// they never overlap, so their counts add up. An unset status means both final ones; a
// "pending" status matches nothing (no filter). Returns kInvalidArgument for any other status.
StatusOr<std::vector<DeliveryFilter>> ReprocessFilters(const ReprocessSpec& spec);

// Thread-safety: calls must not overlap (they are writes like any other); the server makes each
// a task of its WriteSerializer through SerializedOperatorPort (storage/operator_port.h).
class OperatorStore {
 public:
  OperatorStore() = default;
  OperatorStore(const OperatorStore&) = delete;
  OperatorStore& operator=(const OperatorStore&) = delete;
  virtual ~OperatorStore() = default;

  // Runs the next chunk of a reprocess in one transaction: looks at no more than `max_rows`
  // deliveries beyond `progress`, sets those that match back to pending, due at `now`, with
  // their attempt count at 0 (their earlier attempts stay in history), and refreshes their
  // events' status. Audits in the same transaction: a run done in its first chunk appends one
  // row (spec.action, with the counts); a longer one appends "<spec.action>_started" (counts 0)
  // with its first chunk and spec.action with the totals with its last, so every change is
  // covered by an audit row committed with it or before it. A dry run walks the same way and
  // writes only its final audit row (the server counts dry runs on a reader instead, with
  // AuditDryRun; this one serves tests and tools, and cross-checks that count). Returns the
  // progress after the chunk. Returns kInvalidArgument for an unknown status, kUnavailable if
  // the store cannot commit; then the chunk changed nothing and `progress` still describes the
  // store.
  virtual StatusOr<ReprocessProgress> ReprocessChunk(const ReprocessSpec& spec,
                                                     const AuditActor& who,
                                                     const ReprocessProgress& progress,
                                                     size_t max_rows, int64_t now) = 0;

  // Appends the audit row of a dry run that counted `matched` deliveries; returns its id.
  // Returns kUnavailable if the store cannot commit.
  virtual StatusOr<int64_t> AuditDryRun(const ReprocessSpec& spec, const AuditActor& who,
                                        int64_t matched, int64_t now) = 0;

  // Appends the audit row of an operator action that changes nothing stored (a test event sent
  // to a destination): `action`, `target_json` (a JSON object), counts 0; returns its id.
  // Returns kUnavailable if the store cannot commit.
  virtual StatusOr<int64_t> AuditAction(const AuditActor& who, const std::string& action,
                                        const std::string& target_json, int64_t now) = 0;

  // Gives up on a failed delivery: it becomes "skipped" (its event's status counts it as
  // failed), the next held delivery of its ordering key is released (storage/delivery_store.h,
  // "Ordering"), and an audit row (action "delivery.skip", `target_json`, matched 1) is
  // appended, all in one transaction. Anything but a failed delivery is left as it is
  // (kNotFailed), as is an unknown id (kNotFound); neither is audited. Returns kUnavailable if
  // the store cannot commit.
  virtual StatusOr<SkipResult> Skip(int64_t delivery_id, const AuditActor& who,
                                    const std::string& target_json, int64_t now) = 0;

  // Moves the consumer's cursor to `seq` unless it is already there or beyond (a cursor never
  // moves backwards); creates the consumer on its first ack. Returns the cursor afterwards.
  // Returns kUnavailable if the store cannot commit.
  virtual StatusOr<int64_t> AckConsumer(const std::string& name, int64_t seq, int64_t now) = 0;

  // Runs a whole reprocess on the calling thread, chunk after chunk, with nothing else
  // written between them: for tests and offline tools (the server yields between chunks through
  // SerializedOperatorPort). The errors of ReprocessChunk; a failure leaves the chunks before it
  // committed.
  StatusOr<ReprocessResult> Reprocess(const ReprocessSpec& spec, const AuditActor& who, int64_t now,
                                      size_t max_rows = 1000);
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_OPERATOR_STORE_H_
