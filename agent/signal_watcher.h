// SignalWatcher: process signals as ordinary loop events (signalfd), instead of async handlers.
//
// A signalfd only sees signals that are blocked in every thread that could otherwise take them: a
// process-directed signal goes to any one thread that does not block it. So the program must block
// them everywhere: call BlockSupervisorSignals() first thing in main(), before creating any thread
// (threads inherit the mask). The watcher also blocks them in its own (loop) thread.
//
// Thread: created, used and destroyed on the loop thread.
#pragma once

#include <signal.h>

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/event_loop.h"
#include "common/unique_fd.h"

namespace accel::agent {

/// SIGINT, SIGTERM, SIGHUP, SIGQUIT: forwarded to the workers (torch's TORCHELASTIC_SIGNALS_TO_HANDLE).
const std::vector<int>& ForwardedSignals();

/// Blocks the forwarded signals and SIGCHLD in the calling thread. Call it in main() before any thread
/// exists, so that every thread inherits the mask and only the agent's signalfd receives them. Without
/// it, SIGTERM may be taken by a thread where its default action kills the launcher at once, skipping
/// the workers' graceful stop.
absl::Status BlockSupervisorSignals();

class SignalWatcher {
 public:
  using Handler = std::function<void(int signal)>;

  /// Blocks `signals` in the calling thread and watches them on `loop`; `handler` runs on the loop
  /// thread once per received signal (standard signals that arrive together may coalesce).
  static absl::StatusOr<std::unique_ptr<SignalWatcher>> Create(common::EventLoop& loop, std::vector<int> signals,
                                                               Handler handler);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  SignalWatcher(common::EventLoop& loop, common::UniqueFd fd, Handler handler);
  void OnReadable();

  common::EventLoop& loop_;
  common::UniqueFd fd_;
  Handler handler_;
  common::EventLoop::WatchId watch_ = 0;
};

}  // namespace accel::agent
