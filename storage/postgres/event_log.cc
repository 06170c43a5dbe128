#include "storage/postgres/event_log.h"

#include <exception>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "storage/postgres/write_pipeline.h"
#include "storage/postgres/write_sql.h"

namespace hookvault::storage {

using pg::Annotated;
using pg::BinaryArray;
using pg::Params;
using pg::WritePipeline;

struct PostgresEventLog::Plan {
  // One per record: filled in for every record with an event; the seq of new events (and of
  // their duplicates within the batch) once the batch committed.
  std::vector<std::optional<AppendResult>> results;
  // Per record: the index into `fresh` of the new event it stores or duplicates within the
  // batch; -1 for a log-only record or a key found in the database.
  std::vector<int> fresh_of;
  // The records that store a new event, in submission order (their seq order).
  std::vector<size_t> fresh;
  // Distinct keys of the batch found in the database: a redo that finds no more of them than
  // the failed round did was not racing another node.
  int stored_keys = 0;
};

StatusOr<std::unique_ptr<PostgresEventLog>> PostgresEventLog::Create(pg::Connection& conn,
                                                                     const Clock& clock) {
  const std::pair<const char*, std::string_view> statements[] = {
      {pgsql::kPreparedSelectKey, pgsql::kSelectKey},
      {pgsql::kPreparedInsertRequestLogs, pgsql::kInsertRequestLogs},
      {pgsql::kPreparedInsertEvents, pgsql::kInsertEvents},
      {pgsql::kPreparedInsertKeys, pgsql::kInsertKeys},
      {pgsql::kPreparedInsertDeliveries, pgsql::kInsertDeliveries},
      {pgsql::kPreparedLockBatchOrderKeys, pgsql::kLockBatchOrderKeys},
      {pgsql::kPreparedNotifyEvents, pgsql::kNotifyEvents},
      {pgsql::kPreparedUpsertProbe, pgsql::kUpsertProbe},
      {pgsql::kPreparedDeleteProbe, pgsql::kDeleteProbe},
  };
  for (const auto& [name, sql] : statements) {
    if (Status s = conn.Prepare(name, sql); !s.ok()) {
      return Status::Unavailable("prepare event log statements: " + s.message());
    }
  }
  return std::unique_ptr<PostgresEventLog>(new PostgresEventLog(conn, clock));
}

PostgresEventLog::PostgresEventLog(pg::Connection& conn, const Clock& clock)
    : conn_(conn), clock_(clock), ids_(clock) {}

StatusOr<PostgresEventLog::Plan> PostgresEventLog::PlanBatch(
    std::span<const IngestRecord> records) {
  Plan plan;
  plan.results.resize(records.size());
  plan.fresh_of.assign(records.size(), -1);

  // Each distinct (source, key) once, in the order of its first record.
  std::map<std::pair<std::string_view, std::string_view>, size_t> lookup_of;
  std::vector<size_t> lookup_records;
  for (size_t i = 0; i < records.size(); ++i) {
    if (!records[i].event) continue;
    const NewEvent& e = *records[i].event;
    if (lookup_of.try_emplace({e.source, e.idempotency_key}, lookup_records.size()).second) {
      lookup_records.push_back(i);
    }
  }

  std::vector<std::optional<AppendResult>> stored(lookup_records.size());
  if (!lookup_records.empty()) {
    auto look_up = [&]() -> StatusOr<std::vector<pg::Result>> {
      auto pipeline = WritePipeline::Start(conn_, WritePipeline::Mode::kRead);
      if (!pipeline.ok()) return Annotated(pipeline.status(), "look up idempotency keys");
      for (size_t i : lookup_records) {
        const NewEvent& e = *records[i].event;
        Params params;
        params.Add(e.source);
        params.Add(e.idempotency_key);
        if (Status s = pipeline->Queue(pgsql::kPreparedSelectKey, params); !s.ok()) break;
      }
      return pipeline->Finish("look up idempotency keys");
    };
    auto found = look_up();
    // The lookup writes nothing: when the connection died while idle (a terminated backend, a
    // restart, a pooler's timeout) it is redone once on a new one (Start reconnects), rather than
    // failing the batch with a 503 that only the next batch would heal.
    if (!found.ok() && found.status().code() == StatusCode::kUnavailable && conn_.broken()) {
      found = look_up();
    }
    if (!found.ok()) return found.status();
    for (size_t k = 0; k < found->size(); ++k) {
      const pg::Result& r = (*found)[k];
      if (r.rows() == 0) continue;
      stored[k] = AppendResult{r.GetString(0, 0), r.GetInt64(0, 1), /*duplicate=*/true};
      ++plan.stored_keys;
    }
  }

  // Per distinct key not stored yet: the index into `fresh` of its first record.
  std::vector<int> fresh_of_lookup(lookup_records.size(), -1);
  for (size_t i = 0; i < records.size(); ++i) {
    if (!records[i].event) continue;
    const NewEvent& e = *records[i].event;
    size_t k = lookup_of.at({e.source, e.idempotency_key});
    if (stored[k]) {
      plan.results[i] = stored[k];
    } else if (fresh_of_lookup[k] >= 0) {
      plan.fresh_of[i] = fresh_of_lookup[k];
      plan.results[i] = AppendResult{std::string(), 0, /*duplicate=*/true};
    } else {
      fresh_of_lookup[k] = static_cast<int>(plan.fresh.size());
      plan.fresh_of[i] = fresh_of_lookup[k];
      plan.fresh.push_back(i);
      plan.results[i] = AppendResult{ids_.Next(), 0, /*duplicate=*/false};
    }
  }
  return plan;
}

Status PostgresEventLog::WriteBatch(std::span<const IngestRecord> records, Plan& plan) {
  // The request-log rows: a stored event's row names the new event, a duplicate's the original.
  static const std::string kDuplicate = "duplicate";
  BinaryArray log_received_at(BinaryArray::kInt8), log_source(BinaryArray::kText),
      log_remote_addr(BinaryArray::kText), log_status(BinaryArray::kInt8),
      log_reason(BinaryArray::kText), log_event_id(BinaryArray::kText),
      log_body_bytes(BinaryArray::kInt8), log_body(BinaryArray::kBytea);
  for (size_t i = 0; i < records.size(); ++i) {
    if (!records[i].log) continue;
    const RequestLogEntry& log = *records[i].log;
    std::optional<std::string> event_id = log.event_id;
    const std::string* reason = &log.reason;
    if (const std::optional<AppendResult>& r = plan.results[i]) {
      const int f = plan.fresh_of[i];
      event_id = f >= 0 ? plan.results[plan.fresh[f]]->id : r->id;
      if (r->duplicate) reason = &kDuplicate;
    }
    log_received_at.Add(log.received_at);
    log_source.Add(log.source);
    log_remote_addr.Add(log.remote_addr);
    log_status.Add(static_cast<int64_t>(log.status));
    log_reason.Add(*reason);
    if (event_id) {
      log_event_id.Add(*event_id);
    } else {
      log_event_id.AddNull();
    }
    log_body_bytes.Add(log.body_bytes);
    if (log.body) {
      log_body.Add(*log.body);
    } else {
      log_body.AddNull();  // not kept
    }
  }
  const int64_t n = static_cast<int64_t>(plan.fresh.size());
  if (n == 0 && log_source.size() == 0) return Status::Ok();  // only duplicates: nothing to write

  // Every parameter is encoded before anything is queued: once the transaction's first bytes
  // are on their way, the rest follows without a pause of this node's making.
  Params logs;
  if (log_source.size() > 0) {
    for (const BinaryArray* a : {&log_received_at, &log_source, &log_remote_addr, &log_status,
                                 &log_reason, &log_event_id, &log_body_bytes, &log_body}) {
      logs.AddBytes(a->Encode());
    }
  }
  const int64_t now = clock_.NowMicros();
  Params events, keys, deliveries, order_locks;
  if (n > 0) {
    BinaryArray id(BinaryArray::kText), source(BinaryArray::kText), event_type(BinaryArray::kText),
        key(BinaryArray::kText), received_at(BinaryArray::kInt8), remote_addr(BinaryArray::kText),
        headers(BinaryArray::kText), body(BinaryArray::kBytea), status(BinaryArray::kText),
        delivery_event(BinaryArray::kInt8), delivery_destination(BinaryArray::kText),
        delivery_order_key(BinaryArray::kText), lock_destination(BinaryArray::kText),
        lock_order_key(BinaryArray::kText);
    for (int64_t k = 0; k < n; ++k) {
      const NewEvent& e = *records[plan.fresh[k]].event;
      id.Add(plan.results[plan.fresh[k]]->id);
      source.Add(e.source);
      event_type.Add(e.event_type);
      key.Add(e.idempotency_key);
      received_at.Add(e.received_at);
      remote_addr.Add(e.remote_addr);
      headers.Add(e.headers_json);
      body.Add(e.body);
      status.Add(std::string_view(e.destinations.empty() ? "delivered" : "pending"));
      for (const std::string& destination : e.destinations) {
        delivery_event.Add(k + 1);
        delivery_destination.Add(destination);
        if (auto key = e.order_keys.find(destination); key != e.order_keys.end()) {
          delivery_order_key.Add(key->second);
          lock_destination.Add(destination);
          lock_order_key.Add(key->second);
        } else {
          delivery_order_key.AddNull();  // not ordered
        }
      }
    }
    events.Add(n);
    for (const BinaryArray* a :
         {&id, &source, &event_type, &key, &received_at, &remote_addr, &headers, &body, &status}) {
      events.AddBytes(a->Encode());
    }
    keys.Add(n).Add(now);
    if (delivery_event.size() > 0) {
      deliveries.Add(n).AddBytes(delivery_event.Encode());
      deliveries.AddBytes(delivery_destination.Encode()).Add(now);
      deliveries.AddBytes(delivery_order_key.Encode());
    }
    if (lock_destination.size() > 0) {
      order_locks.AddBytes(lock_destination.Encode()).AddBytes(lock_order_key.Encode());
    }
  }

  auto pipeline = WritePipeline::Start(conn_, WritePipeline::Mode::kTransaction);
  if (!pipeline.ok()) return Annotated(pipeline.status(), "append batch");
  int queued = 0;
  auto queue = [&](const char* name, const Params& params) {
    (void)pipeline->Queue(name, params);  // a failure to queue fails Finish()
    ++queued;
  };
  // The log rows first: they need no seq, so they are written before the counter's lock.
  if (log_source.size() > 0) queue(pgsql::kPreparedInsertRequestLogs, logs);
  int take_seq = -1;  // the index of kInsertEvents' result (the counter's new last_seq)
  if (n > 0) {
    // The ordering keys' locks before the counter's (write_sql.h, "Ordering"): a batch that
    // waits for a key here holds nothing another node's batch needs.
    if (order_locks.size() > 0) queue(pgsql::kPreparedLockBatchOrderKeys, order_locks);
    // From kInsertEvents to COMMIT every other node's batch waits: only these few statements.
    take_seq = queued;
    queue(pgsql::kPreparedInsertEvents, events);
    queue(pgsql::kPreparedInsertKeys, keys);
    if (deliveries.size() > 0) queue(pgsql::kPreparedInsertDeliveries, deliveries);
    queue(pgsql::kPreparedNotifyEvents, Params());
  }

  auto results = pipeline->Finish("append batch");
  if (!results.ok()) return results.status();
  if (n == 0) return Status::Ok();
  if (static_cast<int>(results->size()) != queued || (*results)[take_seq].rows() != 1) {
    return Status::Internal("append batch: the seq counter returned no row");
  }
  const int64_t last_seq = (*results)[take_seq].GetInt64(0, 0);
  for (int64_t k = 0; k < n; ++k) plan.results[plan.fresh[k]]->seq = last_seq - n + k + 1;
  for (size_t i = 0; i < records.size(); ++i) {
    const int f = plan.fresh_of[i];
    if (f >= 0 && plan.results[i]->duplicate) {
      plan.results[i]->id = plan.results[plan.fresh[f]]->id;
      plan.results[i]->seq = plan.results[plan.fresh[f]]->seq;
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<std::optional<AppendResult>>> PostgresEventLog::Append(
    std::span<const IngestRecord> records) {
  try {
    return AppendRounds(records);
  } catch (const std::exception& e) {
    // Not the database's (no memory for a batch's parameters): nothing was committed (an open
    // pipeline is abandoned and rolled back as it unwinds), and the writer thread must live on.
    return Status::Internal(std::string("append batch: ") + e.what());
  }
}

StatusOr<std::vector<std::optional<AppendResult>>> PostgresEventLog::AppendRounds(
    std::span<const IngestRecord> records) {
  Status conflict;
  int conflicting_round_keys = -1;
  for (int round = 0; round < kMaxRounds; ++round) {
    auto plan = PlanBatch(records);
    if (!plan.ok()) return plan.status();
    if (round > 0) {
      // A key race shows as a key found now that the failed round did not find. Otherwise the
      // 23505 was the batch's own (a destination named twice, a clashing event id): redoing it
      // cannot help, and the writer must split the batch to isolate the record.
      if (plan->stored_keys <= conflicting_round_keys) {
        return Status::Internal(conflict.message());
      }
      ++redone_batches_;
    }
    if (between_round_trips_) between_round_trips_();
    Status written = WriteBatch(records, *plan);
    if (written.ok()) return std::move(plan->results);
    if (written.code() != StatusCode::kAlreadyExists) return written;
    conflict = written;
    conflicting_round_keys = plan->stored_keys;
  }
  return Status::Unavailable("append batch: other nodes kept committing this batch's keys first (" +
                             std::to_string(kMaxRounds) + " rounds): " + conflict.message());
}

Status PostgresEventLog::Probe() {
  auto pipeline = WritePipeline::Start(conn_, WritePipeline::Mode::kTransaction);
  if (!pipeline.ok()) return Annotated(pipeline.status(), "write probe");
  (void)pipeline->Queue(pgsql::kPreparedUpsertProbe,
                        Params().Add(static_cast<int64_t>(pgsql::kProbeBytes)));
  (void)pipeline->Queue(pgsql::kPreparedDeleteProbe, Params());
  auto done = pipeline->Finish("write probe");
  if (!done.ok()) {
    // A probe proves the store can take events now; any failure means it cannot.
    return done.status().code() == StatusCode::kUnavailable
               ? done.status()
               : Status::Unavailable(done.status().message());
  }
  return Status::Ok();
}

}  // namespace hookvault::storage
