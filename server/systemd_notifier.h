// SystemdNotifier: tells systemd (a Type=notify unit, scripts/deploy/hookvault.service) when
// hookvault is ready, that it is stopping, and, under WatchdogSec=, that it is still healthy.
// Outside systemd (no $NOTIFY_SOCKET) every call does nothing.
#ifndef HOOKVAULT_SERVER_SYSTEMD_NOTIFIER_H_
#define HOOKVAULT_SERVER_SYSTEMD_NOTIFIER_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "storage/status.h"

namespace hookvault::server {

// Healthy means the writer thread runs tasks: every acknowledgement waits for it, so a writer
// wedged for WatchdogSec (a hung disk, a deadlock) is a gateway that only answers 503, and
// systemd's restart is the better outcome. The watchdog thread queues a probe on the writer
// every quarter of the interval systemd asked for (one at a time), and the probe sends
// WATCHDOG=1 when it runs: a writer stalled for about three quarters of WatchdogSec or more
// misses systemd's deadline; a shorter stall only delays a ping.
//
// Thread-safety: Ready() and Stopping() from one thread (main); the watchdog thread is
// internal. The probe callback runs on whatever thread the submitter runs it on.
class SystemdNotifier {
 public:
  // Queues `on_run` to run on the thread whose health the pings vouch for; returns non-OK when
  // it cannot be queued (then no ping is sent for that round).
  using ProbeSubmitter = std::function<storage::Status(std::function<void()> on_run)>;

  explicit SystemdNotifier(ProbeSubmitter submit_probe);
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;
  ~SystemdNotifier();  // stops the watchdog thread

  // Sends READY=1 with `status` as STATUS=, once the listener is up, and starts the watchdog
  // thread when systemd asked for pings ($WATCHDOG_USEC).
  void Ready(const std::string& status);
  // Sends STOPPING=1 and stops the watchdog pings (the drain may take longer than WatchdogSec;
  // TimeoutStopSec bounds it).
  void Stopping();

 private:
  void WatchdogLoop(std::chrono::microseconds interval);
  void StopWatchdog();

  ProbeSubmitter submit_probe_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread watchdog_;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_SYSTEMD_NOTIFIER_H_
