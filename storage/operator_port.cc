#include "storage/operator_port.h"

#include <string>
#include <utility>

namespace hookvault::storage {

// A real reprocess between its chunks; owned by the task that writes its next chunk.
struct SerializedOperatorPort::Run {
  ReprocessSpec spec;
  AuditActor who;
  ReprocessDone done;
  bool bulk = false;  // holds bulk_running_
  ReprocessProgress progress;
  int64_t started = 0;    // Clock::MonotonicMicros() when the run was queued
  bool answered = false;  // `done` was called early (ReprocessResult::running)
};

Status SerializedOperatorPort::Reprocess(ReprocessSpec spec, AuditActor who, ReprocessDone done) {
  if (spec.dry_run) return DryRun(std::move(spec), std::move(who), std::move(done));
  if (auto filters = ReprocessFilters(spec); !filters.ok()) return filters.status();
  auto run = std::make_shared<Run>();
  // One bulk run at a time: two would walk the same deliveries, each counting what the other
  // requeued as not matched. The reprocess of one event is a chunk of a few rows and waits for
  // nothing.
  run->bulk = !spec.filter.event_id.has_value();
  if (run->bulk && bulk_running_.exchange(true)) {
    return Status::AlreadyExists(
        "a bulk reprocess is already running; try again when it has answered");
  }
  run->spec = std::move(spec);
  run->who = std::move(who);
  run->done = std::move(done);
  run->started = clock_.MonotonicMicros();
  // The first chunk comes from a request: refused when the writer is saturated. The chunks after
  // it are queued unbounded, so a run once started is not cut short by load.
  Status queued = serializer_.SubmitRequestTask([this, run] { Step(run); });
  if (!queued.ok() && run->bulk) bulk_running_.store(false);
  return queued;
}

Status SerializedOperatorPort::DryRun(ReprocessSpec spec, AuditActor who, ReprocessDone done) {
  auto filters = ReprocessFilters(spec);
  if (!filters.ok()) return filters.status();
  // A read, beside the writer: the count does not hold up ingest, however many deliveries
  // match. Only the audit row goes through the serializer.
  auto matched = queries_.CountDeliveries(*filters);
  if (!matched.ok()) return matched.status();
  return serializer_.SubmitRequestTask([this, spec = std::move(spec), who = std::move(who),
                                        done = std::move(done), matched = *matched] {
    auto audit = store_.AuditDryRun(spec, who, matched, clock_.NowMicros());
    if (!audit.ok()) return done(audit.status());
    done(ReprocessResult{matched, 0, *audit});
  });
}

namespace {

// The error that ends a run part-way: the chunk that failed (or could not be queued) changed
// nothing, those before it stay done.
Status Interrupted(const ReprocessProgress& progress, const Status& cause) {
  if (!progress.cursor) return cause;  // nothing written yet
  return Status::Unavailable("reprocess stopped part-way (" + std::to_string(progress.requeued) +
                             " deliveries requeued, audit row " +
                             std::to_string(progress.started_audit_id) + "): " + cause.message() +
                             "; run it again to requeue the rest");
}

}  // namespace

void SerializedOperatorPort::Step(const std::shared_ptr<Run>& run) {
  auto next =
      store_.ReprocessChunk(run->spec, run->who, run->progress, chunk_rows_, clock_.NowMicros());
  if (!next.ok()) return Finish(*run, Interrupted(run->progress, next.status()));
  bool requeued = next->requeued > run->progress.requeued;
  run->progress = *next;
  if (requeued && on_requeued_) on_requeued_();
  if (run->progress.done) {
    return Finish(*run, ReprocessResult{run->progress.matched, run->progress.requeued,
                                        run->progress.audit_id});
  }
  if (!run->answered && clock_.MonotonicMicros() - run->started >= answer_after_micros_) {
    run->answered = true;
    run->done(ReprocessResult{run->progress.matched, run->progress.requeued,
                              run->progress.started_audit_id, /*running=*/true});
  }
  // Behind the ingest batches and tasks queued while this chunk ran.
  Status queued = serializer_.SubmitTask([this, run] { Step(run); });
  if (!queued.ok()) Finish(*run, Interrupted(run->progress, queued));
}

void SerializedOperatorPort::Finish(Run& run, StatusOr<ReprocessResult> result) {
  // Released before `done`, so that an answer never precedes the end of the exclusion.
  if (run.bulk) bulk_running_.store(false);
  // Answered early: the audit log has the outcome (the totals, or a `_started` row alone).
  if (!run.answered) run.done(std::move(result));
}

Status SerializedOperatorPort::AckConsumer(std::string name, int64_t seq, AckDone done) {
  return serializer_.SubmitRequestTask([this, name = std::move(name), seq, done = std::move(done)] {
    done(store_.AckConsumer(name, seq, clock_.NowMicros()));
  });
}

Status SerializedOperatorPort::AuditAction(AuditActor who, std::string action,
                                           std::string target_json, AuditDone done) {
  return serializer_.SubmitRequestTask([this, who = std::move(who), action = std::move(action),
                                        target_json = std::move(target_json),
                                        done = std::move(done)] {
    done(store_.AuditAction(who, action, target_json, clock_.NowMicros()));
  });
}

Status SerializedOperatorPort::Skip(int64_t delivery_id, AuditActor who, std::string target_json,
                                    SkipDone done) {
  return serializer_.SubmitRequestTask([this, delivery_id, who = std::move(who),
                                        target_json = std::move(target_json),
                                        done = std::move(done)] {
    auto skipped = store_.Skip(delivery_id, who, target_json, clock_.NowMicros());
    const bool woke = skipped.ok() && skipped->outcome == SkipResult::Outcome::kSkipped;
    done(std::move(skipped));
    if (woke && on_requeued_) on_requeued_();
  });
}

}  // namespace hookvault::storage
