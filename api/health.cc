#include "api/health.h"

#include <string>
#include <utility>

#include "api/problem.h"

namespace hookvault::api {

void HealthHandler::Health(const ApiRequest&, Responder respond) const {
  respond(JsonOk("{\"status\":\"ok\"}"));
}

void HealthHandler::Answer(const storage::Status& probe, const std::string& path,
                           const Responder& respond) {
  if (!probe.ok()) {
    // Not the probe's message: it may name the database's host and port (logged instead).
    return respond(Problem(ProblemKind::kUnavailable, "storage is not writable", path));
  }
  if (!writer_.healthy()) {
    return respond(Problem(ProblemKind::kUnavailable,
                           "database is not writable: the last transaction failed", path));
  }
  respond(JsonOk("{\"status\":\"ready\"}"));
}

void HealthHandler::Readiness(const ApiRequest& req, Responder respond) {
  const std::string& path = req.path;
  if (!ingest_.accepting()) {  // draining: tell load balancers to go elsewhere
    return respond(Problem(ProblemKind::kUnavailable, "shutting down", path));
  }
  int64_t now = clock_.NowMicros();
  storage::Status cached;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (last_probe_) {
      bool ready = last_probe_->ok() && writer_.healthy();
      int64_t age = now - probed_at_;
      int64_t believed = ready ? options_.ready_interval_micros : options_.unready_interval_micros;
      if (age >= 0 && age < believed) {
        cached = *last_probe_;
        lock.unlock();
        return Answer(cached, path, respond);
      }
    }
    if (probing_ && now - probe_started_at_ >= options_.max_probe_micros) {
      // The store has not answered a small write for seconds: not ready. Those parked on the
      // probe are answered too, so that no caller hangs for as long as the store does.
      std::vector<Waiter> parked;
      parked.swap(waiters_);
      lock.unlock();
      const storage::Status stuck =
          storage::Status::Unavailable("the readiness probe is taking too long");
      for (const Waiter& w : parked) Answer(stuck, w.path, w.respond);
      return Answer(stuck, path, respond);
    }
    if (probing_ && waiters_.size() >= options_.max_waiters) {
      // Parking more would let callers grow the list: answer from what is known.
      cached = last_probe_.value_or(storage::Status::Unavailable("no probe has finished yet"));
      lock.unlock();
      return Answer(cached, path, respond);
    }
    waiters_.push_back(Waiter{path, std::move(respond)});
    if (probing_) return;  // answered with the probe under way
    probing_ = true;
    probe_started_at_ = now;
  }
  storage::Status queued =
      writer_.SubmitProbe([this](const storage::Status& status) { ProbeDone(status); });
  if (!queued.ok()) ProbeDone(queued);
}

void HealthHandler::ProbeDone(const storage::Status& status) {
  if (!status.ok() && options_.on_probe_failure) options_.on_probe_failure(status);
  std::vector<Waiter> waiters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_probe_ = status;
    probed_at_ = clock_.NowMicros();
    probing_ = false;
    waiters.swap(waiters_);
  }
  for (const Waiter& w : waiters) Answer(status, w.path, w.respond);
}

}  // namespace hookvault::api
