#include "server/alerts/alerter.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace hookvault::server {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(JsonWriter& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

void Str(JsonWriter& w, std::string_view key, std::string_view value) {
  Key(w, key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void Time(JsonWriter& w, std::string_view key, int64_t micros) {
  Str(w, key, storage::FormatRfc3339(micros));
}

std::string Seconds(int64_t micros) {
  return fmt::format("{:.1f} s", static_cast<double>(micros) / 1e6);
}

}  // namespace

Alerter::Alerter(storage::EventWriter& writer, const storage::Clock& clock, AlerterOptions options)
    : writer_(writer),
      clock_(clock),
      options_(std::move(options)),
      destinations_(options_.destinations.begin(), options_.destinations.end()) {}

Alerter::~Alerter() { Stop(); }

void Alerter::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void Alerter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // What is folded would otherwise be lost with the process: its summary goes now.
  {
    std::lock_guard<std::mutex> lock(mu_);
    BuildDueLocked(/*all=*/true);
  }
  SubmitWaiting();
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  if (outage_) {
    spdlog::error(
        "alerts: storage unavailable since {} at shutdown: storage.unavailable was "
        "never stored",
        storage::FormatRfc3339(outage_->first));
  }
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->submitted) {  // the writer's Stop() stores it; Stored() reports a failure
      ++it;
      continue;
    }
    spdlog::error("alerts: {} lost at shutdown, never stored (the store did not accept it): {}",
                  it->event.event_type, it->event.body);
    it = waiting_.erase(it);
  }
  for (const auto& [key, slot] : slots_) {
    if (slot.folded.count == 0) continue;
    spdlog::error("alerts: {} of destination '{}': {} occurrences lost at shutdown, never stored",
                  AlertType(key.first), key.second, slot.folded.count);
  }
}

void Alerter::Notify(const DeliveryNotice& notice) {
  if (notice.destination == options_.name) {
    // An alert about the alerts destination would go to that same destination: only the log
    // can tell.
    switch (notice.kind) {
      case DeliveryNotice::Kind::kExhausted:
        spdlog::error(
            "alerts: an alert could not be delivered: delivery {} of event {} to {} "
            "failed after {} attempts: {}",
            notice.delivery_id, notice.event_id, notice.destination, notice.attempts, notice.error);
        break;
      case DeliveryNotice::Kind::kPaused:
        spdlog::error(
            "alerts: the alerts destination {} is paused after {} consecutive failed "
            "attempts: {}",
            notice.destination, notice.consecutive_failures, notice.error);
        break;
      case DeliveryNotice::Kind::kResumed:
        spdlog::warn("alerts: the alerts destination {} is resumed", notice.destination);
        break;
    }
    return;
  }
  if (!destinations_.contains(notice.destination)) {
    spdlog::warn("alerts: notice about unknown destination '{}' dropped", notice.destination);
    return;
  }
  Occurrence o;
  o.at = notice.at;
  o.error = notice.error;
  o.event_id = notice.event_id;
  o.delivery_id = notice.delivery_id;
  o.attempts = notice.attempts;
  o.consecutive_failures = notice.consecutive_failures;
  o.paused_us = notice.paused_us;
  AlertKind kind = AlertKind::kDeliveryExhausted;
  switch (notice.kind) {
    case DeliveryNotice::Kind::kExhausted:
      kind = AlertKind::kDeliveryExhausted;
      break;
    case DeliveryNotice::Kind::kPaused:
      kind = AlertKind::kDestinationPaused;
      break;
    case DeliveryNotice::Kind::kResumed:
      kind = AlertKind::kDestinationResumed;
      break;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) {
      spdlog::error("alerts: {} of destination '{}' after shutdown, never stored", AlertType(kind),
                    notice.destination);
      return;
    }
    RecordLocked(kind, notice.destination, std::move(o));
    wake_ = true;
  }
  cv_.notify_one();
}

void Alerter::RecordLocked(AlertKind kind, const std::string& destination, Occurrence o) {
  SlotKey key{kind, destination};
  Slot& slot = slots_[key];
  const int64_t now = clock_.MonotonicMicros();
  const bool interval_over =
      !slot.last_built || now - *slot.last_built >= options_.min_interval_ms * 1000;
  if (interval_over && !slot.unstored && slot.folded.count == 0) {
    BuildLocked(key, slot, Folded{1, o, o, o.answers}, /*summary=*/false);
    return;
  }
  if (slot.folded.count == 0) slot.folded.first = o;
  if (o.answers) slot.folded.answers = slot.folded.answers.value_or(0) + *o.answers;
  slot.folded.last = std::move(o);
  ++slot.folded.count;
  ++counts_[static_cast<size_t>(kind)].suppressed;
}

void Alerter::BuildDueLocked(bool all) {
  const int64_t now = clock_.MonotonicMicros();
  for (auto& [key, slot] : slots_) {
    if (slot.folded.count == 0 || slot.unstored) continue;
    if (!all && slot.last_built && now - *slot.last_built < options_.min_interval_ms * 1000) {
      continue;
    }
    Folded folded = std::move(slot.folded);
    slot.folded = Folded{};
    BuildLocked(key, slot, folded, /*summary=*/true);
  }
}

void Alerter::BuildLocked(const SlotKey& key, Slot& slot, const Folded& f, bool summary) {
  const AlertKind kind = key.first;
  const std::string& destination = key.second;
  const std::string_view type = AlertType(kind);
  const int64_t now = clock_.NowMicros();
  const uint64_t serial = next_serial_++;

  // One occurrence's details, by kind.
  auto occurrence = [&](JsonWriter& w, const Occurrence& o) {
    w.StartObject();
    switch (kind) {
      case AlertKind::kDeliveryExhausted:
        Time(w, "at", o.at);
        Str(w, "event_id", o.event_id);
        Key(w, "delivery_id");
        w.Int64(o.delivery_id);
        Key(w, "attempts");
        w.Int(o.attempts);
        Str(w, "error", o.error);
        break;
      case AlertKind::kDestinationPaused:
        Time(w, "at", o.at);
        Key(w, "consecutive_failures");
        w.Uint64(o.consecutive_failures);
        Str(w, "error", o.error);
        break;
      case AlertKind::kDestinationResumed:
        Time(w, "at", o.at);
        Key(w, "paused_ms");
        w.Int64(o.paused_us / 1000);
        break;
      case AlertKind::kStorageUnavailable:
      case AlertKind::kStorageRecovered:
        Time(w, "since", o.since);
        Time(w, "until", o.until);
        Key(w, "unavailable_ms");
        w.Int64((o.until - o.since) / 1000);
        if (o.answers) {
          Key(w, "answered_503");
          w.Uint64(*o.answers);
        }
        break;
    }
    w.EndObject();
  };

  std::string message;
  std::string link;
  switch (kind) {
    case AlertKind::kDeliveryExhausted:
      message = summary ? fmt::format(
                              "destination {}: {} more deliveries failed (out of "
                              "attempts or refused); last error: {}",
                              destination, f.count, f.last.error)
                        : fmt::format(
                              "destination {}: delivery {} of event {} failed after {} "
                              "attempts: {}",
                              destination, f.first.delivery_id, f.first.event_id, f.first.attempts,
                              f.first.error);
      link = summary ? "/console/#/failed" : "/console/#/events/" + f.first.event_id;
      break;
    case AlertKind::kDestinationPaused:
      message = summary ? fmt::format("destination {}: paused {} more times; last error: {}",
                                      destination, f.count, f.last.error)
                        : fmt::format(
                              "destination {}: paused after {} consecutive failed "
                              "attempts: {}",
                              destination, f.first.consecutive_failures, f.first.error);
      link = "/console/#/destinations";
      break;
    case AlertKind::kDestinationResumed:
      message = summary ? fmt::format("destination {}: resumed {} more times", destination, f.count)
                        : fmt::format("destination {}: resumed after {} paused", destination,
                                      Seconds(f.first.paused_us));
      link = "/console/#/destinations";
      break;
    case AlertKind::kStorageUnavailable:
      message = fmt::format("storage was unavailable {} times from {} to {} (ingest answered 503)",
                            f.count, storage::FormatRfc3339(f.first.since),
                            storage::FormatRfc3339(f.last.until));
      if (!summary) {
        message = fmt::format("storage was unavailable from {} to {} ({}; ingest answered 503)",
                              storage::FormatRfc3339(f.first.since),
                              storage::FormatRfc3339(f.first.until),
                              Seconds(f.first.until - f.first.since));
      }
      link = "/console/#/overview";
      break;
    case AlertKind::kStorageRecovered:
      message =
          fmt::format("storage is writable again since {}", storage::FormatRfc3339(f.last.until));
      link = "/console/#/overview";
      break;
  }

  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Str(w, "type", type);
  Str(w, "node", options_.node);
  Time(w, "at", now);
  if (!destination.empty()) Str(w, "destination", destination);
  Key(w, "summary");
  w.Bool(summary);
  Key(w, "count");
  w.Uint64(f.count);
  if (summary) {
    Key(w, "interval_ms");
    w.Int64(options_.min_interval_ms);
  }
  if (kind == AlertKind::kStorageUnavailable || kind == AlertKind::kStorageRecovered) {
    Time(w, "since", f.first.since);
    Time(w, "until", f.last.until);
  }
  if (kind == AlertKind::kStorageUnavailable) {
    // Over every outage of this alert; the count /metrics keeps as well.
    if (f.answers) {
      Key(w, "answered_503");
      w.Uint64(*f.answers);
    }
  }
  Str(w, "message", message);
  Str(w, "link", link);
  Key(w, "first");
  occurrence(w, f.first);
  Key(w, "last");
  occurrence(w, f.last);
  w.EndObject();

  Alert alert;
  alert.serial = serial;
  alert.slot = key;
  alert.event.source = options_.name;
  alert.event.event_type = std::string(type);
  // Unique per alert and node; the same on every submission of this alert, so a retry after a
  // failed commit cannot store it twice.
  alert.event.idempotency_key = fmt::format(
      "{}:{}:{}:{}:{}", type, destination.empty() ? "-" : destination, options_.node, now, serial);
  alert.event.received_at = now;
  alert.event.headers_json = "{}";
  alert.event.body.assign(buffer.GetString(), buffer.GetSize());
  alert.event.destinations = {options_.name};
  waiting_.push_back(std::move(alert));
  slot.last_built = clock_.MonotonicMicros();
  slot.unstored = true;
}

void Alerter::RunOnce() {
  // Outside mu_: it reads the metrics' own counters. Before healthy(): the writer marks itself
  // unhealthy before it answers 503, so a count taken while healthy holds none of the outage's.
  const std::optional<uint64_t> answers =
      options_.unavailable_answers ? std::optional<uint64_t>(options_.unavailable_answers())
                                   : std::nullopt;
  const bool healthy = writer_.healthy();
  bool probe = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t wall = clock_.NowMicros();
    if (!healthy && !outage_) {
      // The answers counted at the last healthy round: the 503s of the failed transaction that
      // turned the writer unhealthy came after it.
      outage_ = {wall, answers_base_};
      spdlog::warn("alerts: storage unavailable; alerts wait in memory until it is writable");
    } else if (healthy && outage_) {
      Occurrence o;
      o.at = wall;
      o.since = outage_->first;
      o.until = wall;
      if (answers) o.answers = *answers - std::min(*answers, outage_->second);
      outage_.reset();
      RecordLocked(AlertKind::kStorageUnavailable, "", o);
      RecordLocked(AlertKind::kStorageRecovered, "", std::move(o));
    }
    if (healthy && answers) answers_base_ = *answers;
    const int64_t now = clock_.MonotonicMicros();
    if (!healthy && now >= next_probe_) {
      probe = true;
      next_probe_ = now + options_.probe_interval_ms * 1000;
    }
    BuildDueLocked(/*all=*/false);
  }
  // Its outcome shows in healthy(): a committed probe makes the writer healthy again.
  if (probe) (void)writer_.SubmitProbe([](const storage::Status&) {});
  if (healthy) SubmitWaiting();
}

void Alerter::SubmitWaiting() {
  if (!writer_.healthy()) return;  // it would only fail; a probe finds out when it can work
  std::vector<std::pair<uint64_t, storage::NewEvent>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Alert& a : waiting_) {
      if (a.submitted) continue;
      a.submitted = true;
      batch.emplace_back(a.serial, a.event);
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    const uint64_t serial = batch[i].first;
    storage::IngestRecord record;
    record.event = std::move(batch[i].second);
    storage::Status queued = writer_.SubmitEvent(
        std::move(record),
        [this, serial](const storage::Status& status, const storage::AppendResult&) {
          Stored(serial, status);
        });
    if (queued.ok()) continue;
    // Full or stopping: this one and the rest wait for the next round, in order.
    std::lock_guard<std::mutex> lock(mu_);
    for (Alert& a : waiting_) {
      for (size_t j = i; j < batch.size(); ++j) {
        if (a.serial == batch[j].first) a.submitted = false;
      }
    }
    break;
  }
}

void Alerter::Stored(uint64_t serial, const storage::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(waiting_.begin(), waiting_.end(),
                         [&](const Alert& a) { return a.serial == serial; });
  if (it == waiting_.end()) return;
  const AlertKind kind = it->slot.first;
  if (status.ok()) {
    ++counts_[static_cast<size_t>(kind)].stored;
    if (it->slot.second.empty()) {
      spdlog::info("alerts: {} stored", AlertType(kind));
    } else {
      spdlog::info("alerts: {} stored for destination '{}'", AlertType(kind), it->slot.second);
    }
    auto slot = slots_.find(it->slot);
    if (slot != slots_.end()) slot->second.unstored = false;
    waiting_.erase(it);
    wake_ = true;  // a summary of this slot may be due
    cv_.notify_one();
    return;
  }
  if (stopped_) {
    spdlog::error("alerts: {} lost at shutdown, its write failed ({}): {}", AlertType(kind),
                  status.ToString(), it->event.body);
    waiting_.erase(it);
    return;
  }
  // Stays first in line; the next round submits it again (once the writer is healthy).
  it->submitted = false;
}

void Alerter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_ = false;
    lock.unlock();
    RunOnce();
    lock.lock();
    cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_ms),
                 [this] { return stopping_ || wake_; });
  }
}

std::map<std::string, AlertCounts> Alerter::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, AlertCounts> out;
  for (size_t i = 0; i < kAlertTypes.size(); ++i) out[std::string(kAlertTypes[i])] = counts_[i];
  return out;
}

size_t Alerter::slots() const {
  std::lock_guard<std::mutex> lock(mu_);
  return slots_.size();
}

size_t Alerter::unstored() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_.size();
}

}  // namespace hookvault::server
