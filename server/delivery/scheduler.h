// Scheduler: forwards every stored event to its destinations. It claims due deliveries with a
// lease, sends them through the HttpClient, and records each attempt and its outcome (retry
// with backoff, succeeded, failed) through the writer, in batches.
//
// Durability: a delivery is never stranded. A claim leases it (lease = timeout + margin); its
// outcome clears the lease in the same transaction as the attempt row. At start every lease
// left by a previous process is released (SQLite; on PostgreSQL, where the other nodes' leases
// are live, ReleaseAllLeases releases nothing and they expire), and a lease that expires is
// claimable again, so a delivery in flight at a crash is attempted again (at-least-once;
// receivers dedupe on webhook-id).
//
// No re-sends of its own: an outcome is applied only under the lease that produced it (the
// store's fence, storage/delivery_store.h), so a late one never overwrites a newer state. The
// scheduler never claims a delivery it still holds (in flight, or finished but not yet
// written), whatever the wall clock says about its lease. And while finished attempts wait
// because the store cannot write them (full disk, max_db_bytes), it claims nothing: the
// deliveries stay leased and unsent, and what waits to be written is bounded by the attempts
// that were in flight when the writes began to fail (at most global_concurrency).
//
// Circuit breaker (OutboundDestination::circuit), per destination and in memory (each node of
// a cluster has its own): after `failures` consecutive failed attempts the destination is
// paused: nothing of it is claimed, so its deliveries keep their place and their attempt count,
// and nothing is failed early; a Wake() does not change that. After open_ms it is probing:
// exactly one delivery is claimed and sent. Its success makes the destination active again
// (kResumed), its failure pauses it for open_ms more (no second kPaused for the same outage).
// Attempts in flight when it opens finish and are recorded as usual, but their outcomes no
// longer move the circuit (each attempt carries the circuit epoch it started in).
//
// Rate limit (OutboundDestination::rate_limit), per destination and node: a claim takes at most
// what the RateLimiter allows now; when it allows nothing the thread waits (with its timed wait,
// never a sleep) until the next slot frees.
//
// Time: stored times (due times, leases, attempt timestamps) are wall-clock; durations and
// in-process pauses (retrying the store, the stop grace) use the monotonic clock, so a
// wall-clock step changes neither.
#ifndef HOOKVAULT_SERVER_DELIVERY_SCHEDULER_H_
#define HOOKVAULT_SERVER_DELIVERY_SCHEDULER_H_

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "server/delivery/destination.h"
#include "server/delivery/http_client.h"
#include "server/delivery/rate_limiter.h"
#include "server/delivery/webhook_signature.h"
#include "storage/clock.h"
#include "storage/delivery_store.h"
#include "storage/write_serializer.h"

namespace hookvault::server {

// Something an operator should hear about, for the alerts (server/alerts/).
struct DeliveryNotice {
  enum class Kind {
    kExhausted,  // a delivery ended failed (its attempts ran out, or the receiver refused it)
    kPaused,     // the destination's circuit opened: no attempts until a probe succeeds
    kResumed,    // a probe succeeded: the destination is attempted again
  };
  Kind kind = Kind::kExhausted;
  std::string destination;
  int64_t at = 0;  // wall-clock microseconds
  // kExhausted: the delivery, its event and its last attempt.
  int64_t delivery_id = 0;
  std::string event_id;
  int attempts = 0;
  // kExhausted: the last attempt's error; kPaused: the last failed attempt's
  // (AttemptErrorText).
  std::string error;
  // kPaused: consecutive failed attempts; kResumed: how long the destination was paused (µs).
  uint64_t consecutive_failures = 0;
  int64_t paused_us = 0;
};

struct SchedulerOptions {
  int global_concurrency = 64;                 // attempts in flight over all destinations
  int64_t lease_margin_ms = 30000;             // a lease lasts the destination's timeout plus this
  std::chrono::milliseconds stop_grace{5000};  // Stop() waits this long for attempts in flight
  std::string user_agent = "hookvault";
  // Computes the webhook-signature header (tests replace it to make signing fail).
  std::function<storage::StatusOr<std::string>(std::string_view key, std::string_view msg_id,
                                               int64_t timestamp_seconds, std::string_view body)>
      sign = SignWebhook;
  // Told of each DeliveryNotice, after the outcome that caused it is written (kExhausted) or as
  // the circuit changes (kPaused, kResumed). Called without the scheduler's lock held, from its
  // thread; must not block. Unset: nobody is told.
  std::function<void(const DeliveryNotice&)> notify;
};

// Upper bounds (ms) of the attempt latency histogram; the last bucket is +Inf.
inline constexpr std::array<double, 10> kAttemptLatencyBucketsMs = {5,   10,  25,   50,   100,
                                                                    250, 500, 1000, 2500, 5000};

// Most bytes of DestinationStats::last_error: one short line per destination, whatever a
// receiver answers.
inline constexpr size_t kLastErrorBytes = 200;

// The circuit breaker's state of a destination.
enum class CircuitState {
  kActive,   // closed: attempts as usual
  kPaused,   // open: nothing is claimed until paused_until
  kProbing,  // half-open: one delivery is claimed and sent; its outcome decides
};

// "active", "paused" or "probing" (the API's and the console's words).
const char* CircuitStateName(CircuitState state);

// Counters and health of one destination, for /metrics and /api/v1/stats.
struct DestinationStats {
  uint64_t attempts = 0;
  uint64_t succeeded = 0;  // deliveries delivered
  uint64_t failed = 0;     // deliveries parked as failed
  uint64_t retried = 0;    // failed attempts that will be tried again
  uint64_t stale = 0;      // outcomes refused by the store's fence (their lease had ended)
  int in_flight = 0;
  std::array<uint64_t, kAttemptLatencyBucketsMs.size() + 1> latency_buckets{};  // not cumulative
  double latency_sum_ms = 0;
  // Health, from the attempts' outcomes as they complete (before they are written).
  uint64_t consecutive_failures = 0;  // failed attempts since the last success
  // The last failed attempt: "HTTP 500: <start of the body>" or the transport error, at most
  // kLastErrorBytes; empty when none failed.
  std::string last_error;
  int64_t last_error_at = 0;    // wall-clock microseconds; 0: never
  int64_t last_success_at = 0;  // wall-clock microseconds; 0: never
  // The circuit breaker.
  CircuitState circuit = CircuitState::kActive;
  int64_t paused_since = 0;    // wall-clock microseconds when it opened; 0 while active
  int64_t paused_until = 0;    // wall-clock microseconds when the probe is due; 0 while active
  uint64_t circuit_opens = 0;  // times the circuit opened (a failed probe does not count)
  // Claims the rate limit cut short (due deliveries held back for a later slot).
  uint64_t rate_limited = 0;
};

// Returns the DestinationStats::last_error text of a failed attempt's response: "HTTP <status>"
// and the start of its body on one line, or the transport error, cut to kLastErrorBytes (at a
// UTF-8 character boundary).
std::string AttemptErrorText(const OutboundResponse& response);

// Thread-safety: Start(), Stop() from the owning thread; Wake() and stats() from any thread.
// Runs one thread of its own; HTTP completions arrive on the HttpClient's thread.
class Scheduler {
 public:
  // Borrowed references must outlive the scheduler; the HttpClient must stay alive until
  // after Stop() (its late completions are accepted and dropped, their leases released at the
  // next start). `random` supplies the jitter.
  Scheduler(std::vector<OutboundDestination> destinations, storage::WriteSerializer& writer,
            storage::DeliveryStore& store, HttpClient& http, const storage::Clock& clock,
            std::function<uint64_t()> random, SchedulerOptions options = {});
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  ~Scheduler();  // calls Stop()

  // Releases leases left by a previous process and starts the thread. Returns the store's
  // error if the leases cannot be released (then nothing is started).
  storage::Status Start();

  // Makes the scheduler look for due deliveries now: after a commit that added deliveries,
  // after a reprocess, or after the clock moved (tests).
  void Wake();

  // Stops claiming, waits up to stop_grace for attempts in flight, records what finished, and
  // joins the thread. Idempotent.
  void Stop();

  std::map<std::string, DestinationStats> stats() const;
  // How many times the scheduler thread has gone to sleep with nothing left to do at once. A
  // test that calls Wake() and then sees this grow knows a whole round after the wake is over
  // (what it claimed has been sent), rather than guessing with a sleep.
  uint64_t idle_waits() const;

 private:
  struct Destination {
    OutboundDestination config;
    std::string signing_key;          // decoded; empty: unsigned
    int in_flight = 0;                // guarded by mu_
    bool dirty = true;                // the store may hold due deliveries we have not looked at
    std::optional<int64_t> next_due;  // when not dirty: the earliest due time, if any
    DestinationStats stats;           // guarded by mu_
    RateLimiter limiter{0};           // guarded by mu_
    // The circuit, guarded by mu_ (its state, times and opens are in `stats`).
    uint64_t circuit_failures = 0;  // consecutive failed attempts of the current epoch
    uint64_t circuit_epoch = 0;     // bumped at each opening: older attempts no longer count
    int64_t paused_at_mono = 0;     // monotonic microseconds: when this outage began
    int64_t probe_at_mono = 0;      // monotonic microseconds: when the probe may be claimed
    bool probe_in_flight = false;
  };

  void Run();
  // Logs pending deliveries whose destination is no longer configured (they would wait for
  // ever without a word).
  void WarnAboutUnknownDestinations();
  // Claims and sends for one destination. Called with `lock` held; releases it while waiting
  // for the writer and while handing requests to the client. Returns false if the store failed.
  // `rate_limited`: the rate limit made `free` smaller than the free slots.
  bool Dispatch(Destination& d, int free, bool rate_limited, std::unique_lock<std::mutex>& lock);
  // Builds the request and posts it; if it cannot be signed, completes the attempt as failed
  // without sending anything. Called without mu_ held.
  void Send(Destination& d, storage::DueDelivery delivery, uint64_t epoch);
  // Takes the outcome of one attempt: counts it and queues its record for Flush(). Called
  // without mu_ held, from the HttpClient's thread or from Send().
  void Complete(Destination* d, const storage::DueDelivery& delivery, int64_t started_at,
                const OutboundResponse& response, uint64_t epoch);
  // Moves the circuit for the outcome of an attempt started in `epoch`; queues the notice of an
  // opening or a resumption. Returns the log line of a change (for the caller to write once it
  // has released mu_), or "". Called with mu_ held.
  std::string UpdateCircuit(Destination& d, bool succeeded, uint64_t epoch,
                            const std::string& error);
  // How many deliveries of `d` may be claimed now, given `free` slots, its circuit and its rate
  // limit; sets *wake_mono to when that may change (monotonic microseconds) when it is 0 for
  // those reasons, and *rate_cut when the rate limit allows fewer than the circuit would.
  // Moves a paused circuit whose open_ms has passed to probing. Called with mu_ held.
  int Claimable(Destination& d, int free, bool due, std::optional<int64_t>* wake_mono,
                bool* rate_cut);
  // Tells options_.notify of the queued circuit notices. Called with `lock` held; releases it
  // while telling.
  void Notify(std::unique_lock<std::mutex>& lock);
  // Writes the log line of one attempt: debug when delivered, warn when it will be retried,
  // error when the delivery is parked as failed.
  static void LogAttempt(const std::string& destination, const storage::DueDelivery& delivery,
                         const OutboundResponse& response, storage::AttemptRecord::Next next,
                         int64_t next_attempt_at);
  storage::AttemptRecord Decide(const Destination& d, const storage::DueDelivery& delivery,
                                int64_t started_at, const OutboundResponse& response);
  // Writes the finished attempts, unless a failed write asked to wait. Called with `lock` held;
  // releases it while writing.
  void Flush(std::unique_lock<std::mutex>& lock);
  // Returns true while finished attempts wait because writing them failed: no claims then.
  // Called with mu_ held.
  bool ResultsWaiting() const { return !finished_.empty() && flush_retry_at_ > 0; }
  // Returns true when finished attempts wait and may be written now. Called with mu_ held.
  bool FlushReady() const { return !finished_.empty() && flush_retry_at_ == 0; }

  std::vector<Destination> destinations_;
  storage::WriteSerializer& writer_;
  storage::DeliveryStore& store_;
  HttpClient& http_;
  const storage::Clock& clock_;
  std::function<uint64_t()> random_;  // guarded by mu_
  const SchedulerOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Finished {
    Destination* destination;
    storage::AttemptRecord record;
    std::string event_id;    // for a DeliveryNotice
    std::string error_text;  // AttemptErrorText of a failed attempt; empty on success
  };
  std::vector<Finished> finished_;  // guarded by mu_
  int total_in_flight_ = 0;         // guarded by mu_
  // kPaused and kResumed notices waiting for Notify() on the scheduler's thread. Guarded by mu_.
  std::vector<DeliveryNotice> circuit_notices_;
  // Deliveries claimed and not yet written (in flight or in finished_): never claimed again
  // while here. Guarded by mu_.
  std::set<int64_t> held_;
  // After a failed Flush: when to try again (monotonic microseconds); 0 otherwise. Guarded by
  // mu_.
  int64_t flush_retry_at_ = 0;
  bool woken_ = false;              // guarded by mu_
  uint64_t idle_waits_ = 0;         // guarded by mu_
  bool stopping_ = false;           // guarded by mu_
  bool accept_completions_ = true;  // guarded by mu_
  std::thread thread_;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_SCHEDULER_H_
