#include "daemon/systemd_notifier.h"

#include <systemd/sd-daemon.h>

#include <string>

#include "spdlog/spdlog.h"

namespace accel::daemon {

SystemdNotifier::~SystemdNotifier() { StopWatchdog(); }

bool SystemdNotifier::Ready(std::string_view status) {
  const std::string message = "READY=1\nSTATUS=" + std::string(status);
  const int sent = sd_notify(0, message.c_str());
  if (sent < 0) spdlog::warn("sd_notify READY=1 failed: {}", sent);
  return sent > 0;
}

void SystemdNotifier::Stopping() {
  StopWatchdog();
  sd_notify(0, "STOPPING=1");
}

std::optional<absl::Duration> SystemdNotifier::WatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return absl::Microseconds(static_cast<int64_t>(usec));
}

bool SystemdNotifier::StartWatchdog(std::function<bool()> healthy) {
  const std::optional<absl::Duration> interval = WatchdogInterval();
  if (!interval) return false;
  absl::MutexLock lock(&mu_);
  if (watchdog_.joinable() || stop_.HasBeenNotified()) return false;
  const absl::Duration period = *interval / 2;
  spdlog::info("systemd watchdog: pinging every {} ms", absl::ToInt64Milliseconds(period));
  watchdog_ = std::thread([this, period, healthy = std::move(healthy)] {
    do {
      if (healthy()) sd_notify(0, "WATCHDOG=1");
    } while (!stop_.WaitForNotificationWithTimeout(period));
  });
  return true;
}

void SystemdNotifier::StopWatchdog() {
  absl::MutexLock lock(&mu_);
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (watchdog_.joinable()) watchdog_.join();
}

}  // namespace accel::daemon
