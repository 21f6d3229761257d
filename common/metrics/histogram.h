// HistogramCounts: a plain fixed-bucket histogram for domain code that must not depend on a metrics
// library (the coordinator). Its owner observes on its own thread; a metrics collector copies it on
// that same thread (EventLoop::Post) and renders it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace accel::common {

struct HistogramCounts {
  std::vector<double> bounds;    // upper bounds, ascending; +Inf is implied
  std::vector<uint64_t> counts;  // per bucket (bounds.size() + 1, the last for +Inf), not cumulative
  uint64_t count = 0;
  double sum = 0;

  explicit HistogramCounts(std::vector<double> upper_bounds = {})
      : bounds(std::move(upper_bounds)), counts(bounds.size() + 1, 0) {}

  void Observe(double value) {
    counts[static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin())] += 1;
    ++count;
    sum += value;
  }
};

/// Bucket bounds, in seconds, of the rendezvous histograms (the agent's and the coordinator's): from
/// 10 ms on one machine up to torchrun's 900 s default join window.
inline std::vector<double> RendezvousSecondsBounds() { return {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900}; }

}  // namespace accel::common
