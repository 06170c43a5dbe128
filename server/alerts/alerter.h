// Alerter: hookvault's operational alerts (config "alerts"), stored and delivered as events.
//
// An alert is an event of source kAlertsName ("_hookvault") whose type is its kind
// (delivery.exhausted, destination.paused, destination.resumed, storage.unavailable,
// storage.recovered), submitted through the EventWriter with the one destination kAlertsName:
// from the commit on, the scheduler delivers it like any webhook (signed with the alerts
// signing_secret, retried with backoff, listed in GET /api/v1/events?source=_hookvault). So an
// alert is as durable as a webhook, and a receiver that is down gets it later.
//
// Rate limit, per (kind, destination): the first occurrence is sent at once; later ones within
// min_interval_ms of the last alert of that pair are counted and folded into ONE summary alert,
// built when the interval ends (count, first and last occurrence: error, time, event and
// delivery ids). So an outage of thousands of failures gives a handful of alerts.
//
// Storage: the writer's health (EventWriter::healthy) is polled. While the store is not
// writable no alert can be stored, so none is submitted: they wait in memory (at most one per
// (kind, destination), what comes meanwhile is folded into it or into the next summary) and the
// alerter sends a small durable probe write now and then, so that recovery is seen even when no
// webhook arrives. Once the writer accepts again, storage.unavailable (since, until, the 503
// answers meanwhile) is stored, right before storage.recovered.
//
// Memory is bounded: one slot per (kind, configured destination) plus the two storage kinds;
// notices about other destinations are dropped, and those about kAlertsName itself are only
// logged (an alert about alerts could only loop).
//
// Thread-safety: every method may be called from any thread. Notify() never blocks on I/O (it
// takes mu_ briefly and wakes the alerter's thread, which submits). Write callbacks run on the
// writer's thread and take mu_; mu_ is never held while calling into the writer.
#ifndef HOOKVAULT_SERVER_ALERTS_ALERTER_H_
#define HOOKVAULT_SERVER_ALERTS_ALERTER_H_

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "server/delivery/scheduler.h"
#include "storage/clock.h"
#include "storage/event_writer.h"

namespace hookvault::server {

enum class AlertKind {
  kDeliveryExhausted,
  kDestinationPaused,
  kDestinationResumed,
  kStorageUnavailable,
  kStorageRecovered,
};

// Every kind's event type, indexed by AlertKind.
inline constexpr std::array<std::string_view, 5> kAlertTypes = {
    "delivery.exhausted", "destination.paused", "destination.resumed", "storage.unavailable",
    "storage.recovered"};

inline std::string_view AlertType(AlertKind kind) { return kAlertTypes[static_cast<size_t>(kind)]; }

struct AlerterOptions {
  // The alerts' source and destination (config.h kAlertsName).
  std::string name = "_hookvault";
  // The configured destinations: notices about any other are dropped (memory stays bounded).
  std::vector<std::string> destinations;
  // At most one alert per (kind, destination) per interval; the rest are folded into a summary.
  int64_t min_interval_ms = 60000;
  // Named in every alert and in its idempotency key (several nodes may share a PostgreSQL store).
  std::string node;
  // How often the thread looks at the writer's health and at summaries that are due.
  int64_t poll_ms = 250;
  // While the store is unavailable: how often a probe write checks whether it is back.
  int64_t probe_interval_ms = 1000;
  // Returns how many ingest requests were answered 503 so far; storage.unavailable reports the
  // difference over the outage. Unset: not reported.
  std::function<uint64_t()> unavailable_answers;
};

// One kind's counters since the process started.
struct AlertCounts {
  uint64_t stored = 0;      // alerts stored (so on their way to the alerts destination)
  uint64_t suppressed = 0;  // occurrences folded into a summary instead of an alert of their own
};

class Alerter {
 public:
  // `writer` and `clock` must outlive the alerter. Nothing runs until Start().
  Alerter(storage::EventWriter& writer, const storage::Clock& clock, AlerterOptions options);
  Alerter(const Alerter&) = delete;
  Alerter& operator=(const Alerter&) = delete;
  // Calls Stop().
  ~Alerter();

  // Starts the thread ("hv-alerts") that calls RunOnce() every poll_ms and whenever a notice
  // arrives. Call once the writer accepts submissions (and its commit listener is set).
  void Start();

  // Joins the thread, then builds the summaries still folded and submits what waits, once.
  // Logs every alert that could not be submitted (it is lost: it was never stored). Call before
  // the writer stops: a submitted alert is stored by the writer's own Stop(). Idempotent.
  void Stop();

  // Takes a scheduler's notice (SchedulerOptions::notify): never blocks.
  void Notify(const DeliveryNotice& notice);

  // One round: looks at the writer's health (an outage begins or ends), builds the summaries
  // that are due, and submits the alerts waiting to be stored, oldest first. The thread calls
  // it; tests call it instead of Start().
  void RunOnce();

  // Returns each kind's counters, by event type (every kind is present).
  std::map<std::string, AlertCounts> counts() const;
  // Returns how many (kind, destination) slots are held (bounded; for tests).
  size_t slots() const;
  // Returns how many alerts wait to be stored, submitted or not.
  size_t unstored() const;

 private:
  // What one notice (or one storage outage) contributes to an alert.
  struct Occurrence {
    int64_t at = 0;  // wall-clock µs
    std::string error;
    std::string event_id;
    int64_t delivery_id = 0;
    int attempts = 0;
    uint64_t consecutive_failures = 0;
    int64_t paused_us = 0;
    // Storage outages: when it began and ended (wall µs) and the 503 answers meanwhile.
    int64_t since = 0;
    int64_t until = 0;
    std::optional<uint64_t> answers;
  };
  // Occurrences not yet in an alert.
  struct Folded {
    uint64_t count = 0;
    Occurrence first, last;
    std::optional<uint64_t> answers;  // storage outages: the 503 answers of all of them
  };
  using SlotKey = std::pair<AlertKind, std::string>;
  struct Slot {
    std::optional<int64_t> last_built;  // monotonic µs of its last alert
    Folded folded;
    bool unstored = false;  // an alert of this slot waits to be stored
  };
  struct Alert {
    uint64_t serial = 0;
    SlotKey slot;
    storage::NewEvent event;
    bool submitted = false;  // handed to the writer, its callback still to come
  };

  // Counts `o` for (kind, destination): an alert at once, or folded. Requires mu_.
  void RecordLocked(AlertKind kind, const std::string& destination, Occurrence o);
  // Queues an alert of `slot` holding `folded`. Requires mu_.
  void BuildLocked(const SlotKey& key, Slot& slot, const Folded& folded, bool summary);
  // Builds the summaries whose interval has ended (all of them if `all`). Requires mu_.
  void BuildDueLocked(bool all);
  // Submits every waiting alert not yet submitted (without mu_ held while submitting).
  void SubmitWaiting();
  void Stored(uint64_t serial, const storage::Status& status);
  void Run();

  storage::EventWriter& writer_;
  const storage::Clock& clock_;
  const AlerterOptions options_;
  const std::set<std::string> destinations_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<SlotKey, Slot> slots_;  // guarded by mu_
  std::deque<Alert> waiting_;      // built, not yet stored, oldest first; guarded by mu_
  uint64_t next_serial_ = 1;       // guarded by mu_
  std::array<AlertCounts, kAlertTypes.size()> counts_{};  // guarded by mu_
  // The storage outage under way: when it began (wall µs) and the 503 count then.
  std::optional<std::pair<int64_t, uint64_t>> outage_;  // guarded by mu_
  int64_t next_probe_ = 0;                              // monotonic µs; guarded by mu_
  uint64_t answers_base_ = 0;  // the 503 count at the last healthy round; guarded by mu_
  bool wake_ = false;          // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  bool stopped_ = false;       // guarded by mu_
  std::thread thread_;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_ALERTS_ALERTER_H_
