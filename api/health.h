// HealthHandler: the probes. GET /healthz answers 200 while the process serves. GET /readyz
// answers 200 only while ingest accepts, the writer's last transaction did not fail for want of
// storage, and a recent durable probe write (64 KiB, undone) succeeded; else 503, so that a
// load balancer sends webhooks elsewhere.
//
// /readyz is public, so it must cost no write per call: the probe's outcome is cached and a new
// probe is written at most once per ready_interval while ready (once per unready_interval while
// not, so that readiness returns soon after space does), whoever calls and however often. An
// idle gateway that nobody asks writes no probe at all. Callers that arrive while a probe is
// under way wait for it (at most max_waiters of them; the rest get the last known answer). A
// probe under way longer than max_probe_micros means a stuck store: callers then get 503 at
// once, and so do those parked on it, rather than hang until the store answers.
//
// /readyz is public, so its detail never carries the store's message (it may name the
// database's host and port): that goes to on_probe_failure, for the operator's log.
#ifndef HOOKVAULT_API_HEALTH_H_
#define HOOKVAULT_API_HEALTH_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "api/http.h"
#include "api/ingest.h"
#include "storage/clock.h"
#include "storage/event_writer.h"
#include "storage/status.h"

namespace hookvault::api {

struct ReadinessOptions {
  int64_t ready_interval_micros = 5'000'000;    // a cached success is believed this long
  int64_t unready_interval_micros = 1'000'000;  // a cached failure is believed this long
  size_t max_waiters = 256;                     // callers parked on one probe
  int64_t max_probe_micros = 3'000'000;         // a probe longer than this is a stuck store
  // Called (from the thread that finished the probe) with a failed probe's status; may be empty.
  std::function<void(const storage::Status&)> on_probe_failure;
};

// Public routes: nothing to authorize.
//
// Thread-safety: every method may be called from many threads at once; mu_ guards the cached
// probe. Callers parked on a probe are answered from the writer's thread.
class HealthHandler {
 public:
  // All three must outlive this object.
  HealthHandler(storage::EventWriter& writer, const IngestHandler& ingest,
                const storage::Clock& clock, ReadinessOptions options = {})
      : writer_(writer), ingest_(ingest), clock_(clock), options_(options) {}
  HealthHandler(const HealthHandler&) = delete;
  HealthHandler& operator=(const HealthHandler&) = delete;

  void Health(const ApiRequest& req, Responder respond) const;
  void Readiness(const ApiRequest& req, Responder respond);

 private:
  // Answers from `probe` and the writer's health.
  void Answer(const storage::Status& probe, const std::string& path, const Responder& respond);
  // Records a probe's outcome and answers everyone who waited for it.
  void ProbeDone(const storage::Status& status);

  storage::EventWriter& writer_;
  const IngestHandler& ingest_;
  const storage::Clock& clock_;
  const ReadinessOptions options_;

  std::mutex mu_;
  std::optional<storage::Status> last_probe_;  // guarded by mu_; nullopt before the first
  int64_t probed_at_ = 0;                      // guarded by mu_; when last_probe_ was taken
  bool probing_ = false;                       // guarded by mu_
  int64_t probe_started_at_ = 0;               // guarded by mu_; when the probe under way began
  struct Waiter {
    std::string path;
    Responder respond;
  };
  std::vector<Waiter> waiters_;  // guarded by mu_; parked on the probe under way
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_HEALTH_H_
