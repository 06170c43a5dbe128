// PostgresEventLog: the EventLog on the PostgreSQL write connection of one node; any number of
// nodes append to one database at once.
//
// Durability: Append returns results only after COMMIT returned with synchronous_commit = on
// (the connection sets it), so a returned AppendResult names an event that survives a crash of
// the node and of the server. Any failure rolls back the whole batch: nothing of it is stored.
// A COMMIT whose answer was lost is reported as kUnavailable (its clients retry; if it did
// commit, each retry is a duplicate answering the original).
//
// One batch, two round trips:
//  1. No lock: the batch's idempotency keys are looked up (point lookups through the primary
//     key, pipelined). Found keys are duplicates answering the original's id and seq; a key
//     repeated within the batch is resolved here too (the first submitted is the original).
//     It writes nothing, so when the connection died while idle it is redone once on a new one.
//  2. One transaction, pipelined, every parameter encoded before the first is sent: BEGIN; the
//     request-log rows (they need no seq); the seq counter row and the batch's new events in
//     one statement (write_sql.h kInsertEvents: the counter's lock, which every node's batch
//     takes in turn and holds to COMMIT, so seq is gap-free and in commit order across nodes,
//     is taken only once the whole batch arrived); their keys and their deliveries, one
//     statement each whatever the batch's size (each column bound as one array: what every
//     node waits for stays short); one NOTIFY hookvault_events with the last seq; COMMIT.
//     The writer session's lock_timeout and statement_timeout (PostgresStores::Open) bound the
//     wait behind a stalled node or a stuck database: kUnavailable, nothing stored.
//  Keys are inserted only while the batch holds the counter row, so no node ever waits for
//  another's uncommitted key. A key that another node committed between the two round trips
//  fails the insert with 23505: the transaction rolls back (its seq values are given back) and
//  the batch is redone from round trip 1, where the key is now a duplicate.
#ifndef HOOKVAULT_STORAGE_POSTGRES_EVENT_LOG_H_
#define HOOKVAULT_STORAGE_POSTGRES_EVENT_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "storage/clock.h"
#include "storage/event_log.h"
#include "storage/id_generator.h"
#include "storage/postgres/connection.h"

namespace hookvault::storage {

// Thread-safety: not thread-safe; called by the writer thread only, like its connection.
class PostgresEventLog final : public EventLog {
 public:
  // How many times a batch is redone after another node committed one of its keys first; then
  // Append gives up with kUnavailable (the clients retry).
  static constexpr int kMaxRounds = 5;

  // Prepares the event log's statements on `conn`, which must outlive the log (as must
  // `clock`). Returns kUnavailable if they cannot be prepared.
  static StatusOr<std::unique_ptr<PostgresEventLog>> Create(pg::Connection& conn,
                                                            const Clock& clock);

  // Returns kInternal for a batch the database refuses for one of its records (a NUL byte in a
  // text field, a destination named twice): the GroupCommitWriter then splits the batch so that
  // the record fails alone. kUnavailable for the connection, a full disk or a conflict that
  // kept coming back.
  StatusOr<std::vector<std::optional<AppendResult>>> Append(
      std::span<const IngestRecord> records) override;
  Status Probe() override;

  // Batches redone because another node committed one of their keys first (round trip 2 failed
  // with 23505). For tests and metrics.
  int64_t redone_batches() const { return redone_batches_; }

  // Sets what to call between round trips 1 and 2 of each batch: tests commit a key on another
  // node there to force the conflict path.
  void set_between_round_trips_for_test(std::function<void()> hook) {
    between_round_trips_ = std::move(hook);
  }

 private:
  struct Plan;
  PostgresEventLog(pg::Connection& conn, const Clock& clock);

  // Append's rounds: plans and writes the batch, and redoes it after a key race.
  StatusOr<std::vector<std::optional<AppendResult>>> AppendRounds(
      std::span<const IngestRecord> records);
  // Round trip 1: looks the batch's keys up and decides which records store new events.
  StatusOr<Plan> PlanBatch(std::span<const IngestRecord> records);
  // Round trip 2: writes the plan in one transaction and fills in the seq values.
  Status WriteBatch(std::span<const IngestRecord> records, Plan& plan);

  pg::Connection& conn_;
  const Clock& clock_;
  IdGenerator ids_;
  int64_t redone_batches_ = 0;
  std::function<void()> between_round_trips_;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_POSTGRES_EVENT_LOG_H_
