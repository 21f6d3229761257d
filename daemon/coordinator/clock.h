// Clock: the coordinator's source of time. Wall time for job records and one-shot timers for
// heartbeats, last call and join timeouts, behind one interface so tests drive time by hand
// (tests/fakes/fake_clock.h), as Envoy's TimeSource and Ray's injected get_time do.
//
// TODO(coordinator): move to common/clock.h once the agent side wants the same seam.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/time/time.h"
#include "common/event_loop.h"

namespace accel::daemon {

class Clock {
 public:
  using TimerId = uint64_t;
  virtual ~Clock() = default;

  /// Wall-clock time (for records and messages).
  virtual absl::Time Now() const = 0;
  /// Runs `callback` once, `delay` from now, on the owner's loop thread. Loop thread only.
  virtual TimerId AddTimer(absl::Duration delay, std::function<void()> callback) = 0;
  /// Cancels a pending timer; a no-op for a fired or unknown id. Loop thread only.
  virtual void CancelTimer(TimerId id) = 0;
};

/// The real clock: absl::Now() and the EventLoop's monotonic timers. Loop thread only (like the
/// loop's own timer methods); the loop must outlive it.
class LoopClock final : public Clock {
 public:
  explicit LoopClock(common::EventLoop& loop) : loop_(loop) {}
  absl::Time Now() const override { return absl::Now(); }
  TimerId AddTimer(absl::Duration delay, std::function<void()> callback) override {
    return loop_.AddTimer(delay, std::move(callback));
  }
  void CancelTimer(TimerId id) override { loop_.CancelTimer(id); }

 private:
  common::EventLoop& loop_;
};

}  // namespace accel::daemon
