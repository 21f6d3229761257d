// SystemdNotifier: acceld's side of systemd's notify protocol (Type=notify, WatchdogSec=), through
// libsystemd's sd_notify. READY=1 once acceld serves, WATCHDOG=1 every half of WATCHDOG_USEC while
// the health probe answers, STOPPING=1 on shutdown. Inert when acceld does not run under systemd
// (no NOTIFY_SOCKET), so the same binary runs by hand, under SLURM's Prolog, or in tests.
//
// Thread-safe. The watchdog thread ends in Stopping() or the destructor, whichever comes first;
// the health probe must stay callable until then.
#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace accel::daemon {

class SystemdNotifier {
 public:
  SystemdNotifier() = default;
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  /// READY=1 with a STATUS= line. Returns false when no service manager listens.
  bool Ready(std::string_view status);
  /// Stops the watchdog thread, then STOPPING=1.
  void Stopping();

  /// The watchdog period systemd asked for (WATCHDOG_USEC, for this pid); nullopt when none.
  static std::optional<absl::Duration> WatchdogInterval();

  /// When systemd asked for a watchdog, starts a thread that sends WATCHDOG=1 every half interval,
  /// each time after `healthy` returned true (a hung probe means no ping, and systemd restarts us).
  /// Returns whether the thread was started.
  bool StartWatchdog(std::function<bool()> healthy);

 private:
  void StopWatchdog();

  absl::Mutex mu_;
  std::thread watchdog_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
};

}  // namespace accel::daemon
