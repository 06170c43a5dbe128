#include "server/delivery/scheduler.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include "server/delivery/backoff.h"
#include "server/delivery/outbound_request.h"
#include "server/delivery/retry_after.h"
#include "server/delivery/webhook_signature.h"

namespace hookvault::server {
namespace {

// How long to wait before trying the store again after it failed (disk full, I/O error).
constexpr int64_t kStoreRetryMicros = 1'000'000;

}  // namespace

const char* CircuitStateName(CircuitState state) {
  switch (state) {
    case CircuitState::kActive:
      return "active";
    case CircuitState::kPaused:
      return "paused";
    case CircuitState::kProbing:
      return "probing";
  }
  return "active";
}

std::string AttemptErrorText(const OutboundResponse& response) {
  std::string text;
  if (response.status > 0) {
    text = "HTTP " + std::to_string(response.status);
    // The body's start often says why ("maintenance", "invalid signature"): one line of it.
    std::string reason;
    for (char c : response.body_excerpt) {
      unsigned char u = static_cast<unsigned char>(c);
      bool space = u < 0x20 || u == 0x7f || c == ' ';
      if (space) {
        if (!reason.empty() && reason.back() != ' ') reason += ' ';
      } else {
        reason += c;
      }
      if (reason.size() > kLastErrorBytes) break;
    }
    while (!reason.empty() && reason.back() == ' ') reason.pop_back();
    if (!reason.empty()) text += ": " + reason;
  } else {
    text = response.error.empty() ? "no response" : response.error;
  }
  if (text.size() > kLastErrorBytes) {
    size_t cut = kLastErrorBytes;
    // Back to the first byte of a UTF-8 character (continuation bytes are 10xxxxxx).
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text.resize(cut);
  }
  return text;
}

Scheduler::Scheduler(std::vector<OutboundDestination> destinations,
                     storage::WriteSerializer& writer, storage::DeliveryStore& store,
                     HttpClient& http, const storage::Clock& clock,
                     std::function<uint64_t()> random, SchedulerOptions options)
    : writer_(writer),
      store_(store),
      http_(http),
      clock_(clock),
      random_(std::move(random)),
      options_(std::move(options)) {
  for (OutboundDestination& config : destinations) {
    Destination d;
    if (!config.signing_secret.empty()) {
      // The config loader has validated the secret; a failure here leaves it unsigned loudly.
      auto key = DecodeSigningSecret(config.signing_secret);
      if (key.ok()) {
        d.signing_key = *key;
      } else {
        spdlog::error("destination {}: signing secret unusable: {}", config.name,
                      key.status().message());
      }
    }
    d.limiter = RateLimiter(config.rate_limit.per_second);
    d.config = std::move(config);
    destinations_.push_back(std::move(d));
  }
}

Scheduler::~Scheduler() { Stop(); }

storage::Status Scheduler::Start() {
  auto released = storage::RunSerialized(writer_, [this] { return store_.ReleaseAllLeases(); });
  if (!released.ok()) return released.status();
  if (*released > 0) {
    spdlog::warn("released {} delivery leases of a previous run: attempting them again", *released);
  }
  // Deliveries held back for an ordering key of a destination configured without ordering now
  // would wait for ever (storage/delivery_store.h, "Ordering").
  std::vector<std::string> ordered;
  for (const Destination& d : destinations_) {
    if (d.config.ordering) ordered.push_back(d.config.name);
  }
  auto unheld = storage::RunSerialized(
      writer_, [this, &ordered] { return store_.ReleaseUnorderedHolds(ordered); });
  if (!unheld.ok()) return unheld.status();
  for (const auto& [destination, count] : unheld->by_destination) {
    if (unheld->shared) {
      // Other nodes on the database may still order it: all nodes must share the ordering
      // config, or this node has just let that destination's keys go out of order.
      spdlog::error(
          "destination {}: a node without `ordering` released {} held deliveries of a "
          "destination other nodes may order (all nodes must share the ordering "
          "config)",
          destination, count);
    } else {
      spdlog::warn(
          "destination {}: released {} deliveries held for ordering keys: the "
          "destination is now configured without ordering",
          destination, count);
    }
  }
  WarnAboutUnknownDestinations();
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "hv-scheduler");
    Run();
  });
  return storage::Status::Ok();
}

void Scheduler::WarnAboutUnknownDestinations() {
  auto pending = storage::RunSerialized(writer_, [this] { return store_.Pending(); });
  if (!pending.ok()) return;  // only a warning; the scheduler works without it
  for (const auto& [name, count] : pending->by_destination) {
    // An init-capture, not [&]: clang before 16 cannot capture a structured binding.
    bool known = std::any_of(
        destinations_.begin(), destinations_.end(),
        [&wanted = name](const Destination& d) { return d.config.name == wanted; });
    if (!known) {
      spdlog::warn(
          "{} deliveries to destination \"{}\" are pending, but no destination of that name is "
          "configured: they will not be attempted",
          count, name);
    }
  }
}

void Scheduler::Wake() {
  // Without destinations there is never anything to claim: a commit need not wake the thread
  // (destinations_ is set in the constructor and never changes).
  if (destinations_.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  // Late completions are dropped from here on; their leases are released at the next start
  // (SQLite) or expire (PostgreSQL, whose ReleaseAllLeases releases nothing).
  std::lock_guard<std::mutex> lock(mu_);
  accept_completions_ = false;
}

uint64_t Scheduler::idle_waits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_waits_;
}

std::map<std::string, DestinationStats> Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, DestinationStats> out;
  for (const Destination& d : destinations_) {
    DestinationStats s = d.stats;
    s.in_flight = d.in_flight;
    out[d.config.name] = s;
  }
  return out;
}

void Scheduler::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  int64_t store_retry_at = 0;  // after a failed claim: when to claim again (monotonic)
  while (!stopping_) {
    if (woken_) {
      woken_ = false;
      for (Destination& d : destinations_) d.dirty = true;
    }
    Flush(lock);
    if (!circuit_notices_.empty()) Notify(lock);
    int64_t now = clock_.NowMicros();
    std::optional<int64_t> wake_at;   // wall clock: the earliest known due time
    std::optional<int64_t> retry_at;  // monotonic: when to try the store again
    std::optional<int64_t> limit_at;  // monotonic: a probe falls due or a rate-limit slot frees
    bool again = false;
    if (ResultsWaiting()) {
      // Claim nothing while outcomes cannot be written: more requests would only add outcomes
      // that cannot be written either.
      retry_at = flush_retry_at_;
    } else if (clock_.MonotonicMicros() < store_retry_at) {
      retry_at = store_retry_at;
    } else {
      for (Destination& d : destinations_) {
        int free = std::min(d.config.concurrency - d.in_flight,
                            options_.global_concurrency - total_in_flight_);
        if (free <= 0) continue;
        bool due = d.dirty || (d.next_due && *d.next_due <= now);
        bool claim_failed = false;
        // The circuit and the rate limit may allow fewer (or none) now.
        bool rate_cut = false;
        const int claimable = Claimable(d, free, due, &limit_at, &rate_cut);
        if (due && claimable > 0) {
          if (!Dispatch(d, claimable, rate_cut, lock)) {
            store_retry_at = clock_.MonotonicMicros() + kStoreRetryMicros;
            retry_at = store_retry_at;
            claim_failed = true;
          }
          if (stopping_) break;
        }
        // Still due with free slots (more due than one claim took): go round again at once,
        // unless the circuit or the rate limit holds it back (then limit_at says when).
        if (d.dirty && !claim_failed) {
          int left = std::min(d.config.concurrency - d.in_flight,
                              options_.global_concurrency - total_in_flight_);
          bool cut = false;
          if (left > 0 && Claimable(d, left, true, &limit_at, &cut) > 0) again = true;
        }
        if (!d.dirty && d.next_due) wake_at = std::min(wake_at.value_or(*d.next_due), *d.next_due);
      }
      if (retry_at) again = false;
    }
    if (again || stopping_) continue;
    auto ready = [this] {
      return stopping_ || woken_ || FlushReady() || !circuit_notices_.empty();
    };
    std::optional<int64_t> wait_us;
    if (wake_at) wait_us = *wake_at - clock_.NowMicros();
    if (retry_at) {
      int64_t retry_us = *retry_at - clock_.MonotonicMicros();
      wait_us = std::min(wait_us.value_or(retry_us), retry_us);
    }
    if (limit_at) {
      int64_t limit_us = *limit_at - clock_.MonotonicMicros();
      wait_us = std::min(wait_us.value_or(limit_us), limit_us);
    }
    if (!ready()) ++idle_waits_;
    if (wait_us) {
      cv_.wait_for(lock, std::chrono::microseconds(std::max<int64_t>(0, *wait_us)), ready);
    } else {
      cv_.wait(lock, ready);
    }
  }
  // Stopping: give attempts in flight a grace period, then record what finished.
  auto deadline = std::chrono::steady_clock::now() + options_.stop_grace;
  while (total_in_flight_ > 0 &&
         cv_.wait_until(lock, deadline, [this] { return FlushReady() || total_in_flight_ == 0; })) {
    Flush(lock);
  }
  flush_retry_at_ = 0;  // one last try, whatever failed before
  Flush(lock);
  if (!circuit_notices_.empty()) Notify(lock);
  if (total_in_flight_ > 0) {
    spdlog::warn("stopping with {} delivery attempts in flight; they will be attempted again",
                 total_in_flight_);
  }
}

int Scheduler::Claimable(Destination& d, int free, bool due, std::optional<int64_t>* wake_mono,
                         bool* rate_cut) {
  if (free <= 0) return 0;
  const int64_t mono = clock_.MonotonicMicros();
  auto wake = [wake_mono](int64_t at) { *wake_mono = std::min(wake_mono->value_or(at), at); };
  if (d.stats.circuit == CircuitState::kPaused) {
    if (mono < d.probe_at_mono) {
      // Whatever is due waits: a Wake() (a new commit) finds it here too.
      wake(d.probe_at_mono);
      return 0;
    }
    // open_ms has passed, but the probe is a delivery: with nothing due (every delivery ended,
    // or no traffic) the circuit stays paused, waiting for one, rather than "probing" nothing
    // for ever. What falls due (a commit, a retry) wakes the thread and finds it here.
    if (!due) return 0;
    d.stats.circuit = CircuitState::kProbing;
  }
  if (d.stats.circuit == CircuitState::kProbing) {
    // One probe at a time; its completion wakes the thread.
    if (d.probe_in_flight) return 0;
    free = 1;
  }
  int allowed = d.limiter.Allowed(mono, free);
  *rate_cut = allowed < free;
  // Every slot held by an attempt in flight: its end wakes the thread.
  if (allowed == 0 && due && d.limiter.NextFree() > 0) wake(d.limiter.NextFree());
  return allowed;
}

bool Scheduler::Dispatch(Destination& d, int free, bool rate_limited,
                         std::unique_lock<std::mutex>& lock) {
  int64_t now = clock_.NowMicros();
  int64_t lease_until = now + (d.config.timeout_ms + options_.lease_margin_ms) * 1000;
  const std::string name = d.config.name;
  const std::vector<int64_t> held(held_.begin(), held_.end());
  lock.unlock();
  auto claimed = storage::RunSerialized(
      writer_, [&] { return store_.ClaimDue(name, free, now, lease_until, held); });
  std::optional<int64_t> next;
  bool know_next = false;
  if (claimed.ok() && static_cast<int>(claimed->size()) < free) {
    // Everything due now is claimed: learn when the next one falls due.
    auto next_due = storage::RunSerialized(writer_, [&] { return store_.NextDue(name); });
    if (next_due.ok()) {
      next = *next_due;
      know_next = true;
    }
  }
  lock.lock();
  if (!claimed.ok()) {
    spdlog::error("destination {}: claiming deliveries failed: {}", name,
                  claimed.status().ToString());
    d.dirty = true;
    d.next_due.reset();
    return false;
  }
  // A Wake() that came in meanwhile (a new commit) keeps the destination dirty.
  d.dirty = !know_next || woken_;
  d.next_due = next;
  if (claimed->empty()) {
    // Due by a wake, but nothing to probe with: paused again (probe_at has passed, so the
    // next delivery due is the probe).
    if (d.stats.circuit == CircuitState::kProbing && !d.probe_in_flight) {
      d.stats.circuit = CircuitState::kPaused;
    }
    return true;
  }
  // A full claim that the rate limit cut short left due deliveries behind for a later slot.
  if (rate_limited && static_cast<int>(claimed->size()) == free) ++d.stats.rate_limited;
  d.limiter.Started(static_cast<int>(claimed->size()));
  if (d.stats.circuit == CircuitState::kProbing) d.probe_in_flight = true;
  const uint64_t epoch = d.circuit_epoch;
  d.in_flight += static_cast<int>(claimed->size());
  total_in_flight_ += static_cast<int>(claimed->size());
  for (const storage::DueDelivery& delivery : *claimed) held_.insert(delivery.delivery_id);
  lock.unlock();
  for (storage::DueDelivery& delivery : *claimed) Send(d, std::move(delivery), epoch);
  lock.lock();
  return true;
}

void Scheduler::Send(Destination& d, storage::DueDelivery delivery, uint64_t epoch) {
  int64_t started_at = clock_.NowMicros();
  auto request = BuildOutboundRequest(
      d.config, d.signing_key,
      {delivery.event_id, delivery.source, delivery.event_type, delivery.attempt, delivery.body},
      started_at / 1'000'000, options_.user_agent, options_.sign);
  if (!request.ok()) {
    // Never unsigned, never with an empty header: the attempt fails here, is recorded with the
    // reason, and is retried like any other failure.
    OutboundResponse unsent;
    unsent.error = request.status().message();
    Complete(&d, delivery, started_at, unsent, epoch);
    return;
  }
  Destination* dest = &d;
  http_.Post(std::move(request).value(), [this, dest, delivery = std::move(delivery), started_at,
                                          epoch](OutboundResponse response) {
    Complete(dest, delivery, started_at, response, epoch);
  });
}

void Scheduler::Complete(Destination* dest, const storage::DueDelivery& delivery,
                         int64_t started_at, const OutboundResponse& response, uint64_t epoch) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!accept_completions_) return;
  storage::AttemptRecord record = Decide(*dest, delivery, started_at, response);
  const storage::AttemptRecord::Next next = record.next;
  const int64_t next_attempt_at = record.next_attempt_at;
  DestinationStats& s = dest->stats;
  ++s.attempts;
  double ms = static_cast<double>(response.duration_us) / 1000.0;
  s.latency_sum_ms += ms;
  size_t bucket = 0;
  while (bucket < kAttemptLatencyBucketsMs.size() && ms > kAttemptLatencyBucketsMs[bucket]) {
    ++bucket;
  }
  ++s.latency_buckets[bucket];
  std::string error_text;
  if (next == storage::AttemptRecord::Next::kSucceeded) {
    s.consecutive_failures = 0;
    s.last_success_at = clock_.NowMicros();
  } else {
    ++s.consecutive_failures;
    error_text = AttemptErrorText(response);
    s.last_error = error_text;
    s.last_error_at = clock_.NowMicros();
  }
  std::string circuit_log =
      UpdateCircuit(*dest, next == storage::AttemptRecord::Next::kSucceeded, epoch, error_text);
  dest->limiter.Ended(clock_.MonotonicMicros());
  finished_.push_back(Finished{dest, std::move(record), delivery.event_id, std::move(error_text)});
  --dest->in_flight;
  --total_in_flight_;
  cv_.notify_one();
  lock.unlock();
  LogAttempt(dest->config.name, delivery, response, next, next_attempt_at);
  if (!circuit_log.empty()) spdlog::warn("destination {}: {}", dest->config.name, circuit_log);
}

std::string Scheduler::UpdateCircuit(Destination& d, bool succeeded, uint64_t epoch,
                                     const std::string& error) {
  // Started before the circuit last opened: it says nothing about the receiver now (and an
  // outage's in-flight failures must not pause it again or make the pause longer).
  if (epoch != d.circuit_epoch) return "";
  DestinationStats& s = d.stats;
  const int64_t mono = clock_.MonotonicMicros();
  const int64_t now = clock_.NowMicros();
  auto pause = [&] {
    ++d.circuit_epoch;
    d.circuit_failures = 0;
    d.probe_in_flight = false;
    d.probe_at_mono = mono + d.config.circuit.open_ms * 1000;
    s.circuit = CircuitState::kPaused;
    s.paused_until = now + d.config.circuit.open_ms * 1000;
  };
  switch (s.circuit) {
    case CircuitState::kActive:
      if (succeeded) {
        d.circuit_failures = 0;
        return "";
      }
      if (++d.circuit_failures < static_cast<uint64_t>(std::max(1, d.config.circuit.failures))) {
        return "";
      }
      {
        DeliveryNotice n;
        n.kind = DeliveryNotice::Kind::kPaused;
        n.destination = d.config.name;
        n.at = now;
        n.consecutive_failures = d.circuit_failures;
        n.error = error;
        circuit_notices_.push_back(std::move(n));
      }
      {
        std::string log = std::to_string(d.circuit_failures) +
                          " consecutive attempts failed (last: " + error + "); paused for " +
                          std::to_string(d.config.circuit.open_ms) + " ms, then one probe";
        pause();
        ++s.circuit_opens;
        d.paused_at_mono = mono;
        s.paused_since = now;
        return log;
      }
    case CircuitState::kProbing:
      if (succeeded) {
        DeliveryNotice n;
        n.kind = DeliveryNotice::Kind::kResumed;
        n.destination = d.config.name;
        n.at = now;
        n.paused_us = mono - d.paused_at_mono;
        circuit_notices_.push_back(std::move(n));
        std::string log = "the probe succeeded; resumed after " +
                          std::to_string(n.paused_us / 1000) + " ms paused";
        ++d.circuit_epoch;
        d.circuit_failures = 0;
        d.probe_in_flight = false;
        s.circuit = CircuitState::kActive;
        s.paused_since = 0;
        s.paused_until = 0;
        d.dirty = true;  // what waited is due now
        return log;
      }
      // The same outage goes on: paused again, without a second notice.
      pause();
      return "the probe failed (" + error + "); paused for " +
             std::to_string(d.config.circuit.open_ms) + " ms more";
    case CircuitState::kPaused:
      // Nothing of this epoch is in flight while paused (the opening bumped it).
      return "";
  }
  return "";
}

void Scheduler::Notify(std::unique_lock<std::mutex>& lock) {
  std::vector<DeliveryNotice> notices;
  notices.swap(circuit_notices_);
  if (!options_.notify) return;
  lock.unlock();
  for (const DeliveryNotice& n : notices) options_.notify(n);
  lock.lock();
}

void Scheduler::LogAttempt(const std::string& destination, const storage::DueDelivery& delivery,
                           const OutboundResponse& response, storage::AttemptRecord::Next next,
                           int64_t next_attempt_at) {
  std::string outcome =
      response.status > 0 ? "HTTP " + std::to_string(response.status) : response.error;
  switch (next) {
    case storage::AttemptRecord::Next::kSucceeded:
      spdlog::debug("delivered event {} to {} on attempt {}", delivery.event_id, destination,
                    delivery.attempt);
      break;
    case storage::AttemptRecord::Next::kRetry:
      spdlog::warn("attempt {} of event {} to {} failed ({}); next attempt at {}", delivery.attempt,
                   delivery.event_id, destination, outcome,
                   storage::FormatRfc3339(next_attempt_at));
      break;
    case storage::AttemptRecord::Next::kFailed:
      spdlog::error("delivery of event {} to {} failed for good after attempt {} ({})",
                    delivery.event_id, destination, delivery.attempt, outcome);
      break;
  }
}

storage::AttemptRecord Scheduler::Decide(const Destination& d, const storage::DueDelivery& delivery,
                                         int64_t started_at, const OutboundResponse& response) {
  storage::AttemptRecord r;
  r.delivery_id = delivery.delivery_id;
  r.lease_token = delivery.lease_token;
  r.number = delivery.attempt;
  r.started_at = started_at;
  r.duration_us = response.duration_us;
  r.http_status = response.status;
  r.error = response.error;
  r.response_excerpt = response.body_excerpt;
  // An AMQP attempt has no status: the broker's confirm is its success (and its failures,
  // like a request that got no response, are retried).
  AttemptVerdict verdict =
      response.acknowledged ? AttemptVerdict::kSucceeded : Classify(response.status);
  if (verdict == AttemptVerdict::kSucceeded) {
    r.next = storage::AttemptRecord::Next::kSucceeded;
  } else if (verdict == AttemptVerdict::kFailNow || delivery.attempt >= d.config.max_attempts) {
    r.next = storage::AttemptRecord::Next::kFailed;
  } else {
    int64_t now = clock_.NowMicros();
    std::optional<int64_t> retry_after;
    if ((response.status == 429 || response.status == 503) && response.retry_after) {
      retry_after = ParseRetryAfterMs(*response.retry_after, now / 1'000'000);
    }
    int64_t delay_ms = NextDelayMs(d.config.backoff, delivery.attempt, retry_after, random_());
    r.next = storage::AttemptRecord::Next::kRetry;
    r.next_attempt_at = now + delay_ms * 1000;
  }
  return r;
}

void Scheduler::Flush(std::unique_lock<std::mutex>& lock) {
  if (finished_.empty()) return;
  if (flush_retry_at_ > clock_.MonotonicMicros()) return;
  std::vector<Finished> batch;
  batch.swap(finished_);
  std::vector<storage::AttemptRecord> records;
  records.reserve(batch.size());
  for (const Finished& f : batch) records.push_back(f.record);
  lock.unlock();
  storage::StatusOr<storage::RecordedAttempts> written =
      storage::RunSerialized(writer_, [&] { return store_.RecordAttempts(records); });
  lock.lock();
  if (!written.ok()) {
    // Keep them (their leases hold the deliveries, and held_ keeps them from being claimed
    // again) and try again; Run() claims nothing meanwhile. A crash meanwhile only means the
    // attempts are made once more.
    spdlog::error("recording {} delivery attempts failed: {}; sending nothing more until they "
                  "are written",
                  batch.size(), written.status().ToString());
    finished_.insert(finished_.begin(), batch.begin(), batch.end());
    flush_retry_at_ = clock_.MonotonicMicros() + kStoreRetryMicros;
    return;
  }
  flush_retry_at_ = 0;
  const std::set<int64_t> stale(written->stale.begin(), written->stale.end());
  std::vector<DeliveryNotice> notices;
  for (const Finished& f : batch) {
    held_.erase(f.record.delivery_id);
    // Its lease has ended: on a shared store a claim that found the destination's cluster-wide
    // concurrency taken (NextDue then names the first lease end) can now take that slot.
    f.destination->dirty = true;
    DestinationStats& s = f.destination->stats;
    if (stale.contains(f.record.delivery_id)) {
      ++s.stale;
      spdlog::warn("destination {}: the outcome of attempt {} of delivery {} came after its lease "
                   "ended (a newer claim, a reprocess, or a restart); dropped, not recorded",
                   f.destination->config.name, f.record.number, f.record.delivery_id);
      continue;
    }
    switch (f.record.next) {
      case storage::AttemptRecord::Next::kSucceeded:
        ++s.succeeded;
        break;
      case storage::AttemptRecord::Next::kFailed: {
        ++s.failed;
        DeliveryNotice n;
        n.kind = DeliveryNotice::Kind::kExhausted;
        n.destination = f.destination->config.name;
        n.at = clock_.NowMicros();
        n.delivery_id = f.record.delivery_id;
        n.event_id = f.event_id;
        n.attempts = f.record.number;
        n.error = f.error_text;
        notices.push_back(std::move(n));
        break;
      }
      case storage::AttemptRecord::Next::kRetry: {
        ++s.retried;
        Destination& d = *f.destination;
        if (!d.next_due || *d.next_due > f.record.next_attempt_at) {
          d.next_due = f.record.next_attempt_at;
        }
        break;
      }
    }
  }
  if (!notices.empty() && options_.notify) {
    lock.unlock();
    for (const DeliveryNotice& n : notices) options_.notify(n);
    lock.lock();
  }
}

}  // namespace hookvault::server
