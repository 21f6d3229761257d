// FakeClock: a daemon::Clock whose time moves only when the test says so (Envoy's simulated time).
//
// Advance() moves time forward and runs every timer that falls due, in deadline order, each at its
// own deadline (Now() returns the deadline while it runs), including timers added by those timers.
// Thread: the test thread only.
#pragma once

#include <map>
#include <utility>

#include "daemon/coordinator/clock.h"

namespace accel::testing {

class FakeClock final : public daemon::Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}

  absl::Time Now() const override { return now_; }
  TimerId AddTimer(absl::Duration delay, std::function<void()> callback) override {
    if (delay < absl::ZeroDuration()) delay = absl::ZeroDuration();
    const TimerId id = next_id_++;
    timers_.emplace(std::make_pair(now_ + delay, id), std::move(callback));
    return id;
  }
  void CancelTimer(TimerId id) override {
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->first.second == id) {
        timers_.erase(it);
        return;
      }
    }
  }

  /// Moves time forward by `delta`, running the timers that fall due.
  void Advance(absl::Duration delta) {
    const absl::Time target = now_ + delta;
    while (!timers_.empty() && timers_.begin()->first.first <= target) {
      auto node = timers_.extract(timers_.begin());
      now_ = node.key().first;
      node.mapped()();
    }
    now_ = target;
  }
  size_t pending_timers() const { return timers_.size(); }

 private:
  absl::Time now_;
  TimerId next_id_ = 1;
  std::map<std::pair<absl::Time, TimerId>, std::function<void()>> timers_;
};

}  // namespace accel::testing
