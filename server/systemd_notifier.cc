#include "server/systemd_notifier.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <memory>

namespace hookvault::server {

SystemdNotifier::SystemdNotifier(ProbeSubmitter submit_probe)
    : submit_probe_(std::move(submit_probe)) {}

SystemdNotifier::~SystemdNotifier() { StopWatchdog(); }

void SystemdNotifier::Ready(const std::string& status) {
  std::string message = "READY=1\nSTATUS=" + status;
  if (int rc = sd_notify(0, message.c_str()); rc < 0) {
    spdlog::warn("sd_notify READY=1: {}", strerror(-rc));
  }
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    spdlog::info("systemd watchdog: {} ms; pinging every {} ms while the writer runs tasks",
                 usec / 1000, usec / 2000);
    watchdog_ = std::thread([this, usec] { WatchdogLoop(std::chrono::microseconds(usec)); });
  }
}

void SystemdNotifier::Stopping() {
  StopWatchdog();
  sd_notify(0, "STOPPING=1\nSTATUS=draining");
}

void SystemdNotifier::StopWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

void SystemdNotifier::WatchdogLoop(std::chrono::microseconds interval) {
  // The probe pings when it runs, on the writer thread: a ping then vouches for a writer that
  // ran a moment ago, not for one that ran up to a round before, so a stall shorter than about
  // three quarters of WatchdogSec never misses systemd's deadline. Shared with the probes: one
  // may still be queued when this thread ends, and must not ping after STOPPING=1.
  struct Shared {
    std::atomic<bool> ran{false};
    std::atomic<bool> stopped{false};
  };
  auto shared = std::make_shared<Shared>();
  sd_notify(0, "WATCHDOG=1");  // just started
  bool in_flight = false;  // a probe is queued and has not run yet
  auto in_flight_since = std::chrono::steady_clock::now();
  bool warned = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (in_flight && shared->ran.exchange(false)) {
      in_flight = false;
      warned = false;
    } else if (in_flight && !warned &&
               std::chrono::steady_clock::now() - in_flight_since >= interval / 2) {
      spdlog::error("systemd watchdog: the writer has not run a task for {} ms: no ping",
                    interval.count() / 2000);
      warned = true;
    }
    // One probe at a time; one that could not be queued (stopping) is tried again next round.
    if (!in_flight) {
      storage::Status queued = submit_probe_([shared] {
        if (shared->stopped.load()) return;
        sd_notify(0, "WATCHDOG=1");
        shared->ran.store(true);
      });
      in_flight = queued.ok();
      in_flight_since = std::chrono::steady_clock::now();
      if (!queued.ok()) spdlog::warn("systemd watchdog: probe not queued: {}", queued.ToString());
    }
    stop_cv_.wait_for(lock, interval / 4, [this] { return stop_; });
  }
  shared->stopped.store(true);
}

}  // namespace hookvault::server
