// WorkerMetrics: the Prometheus side of common::WorkerStatsSink. Keeps the latest snapshot of every
// job's workers on this node plus the exit / hang counters, and renders them at scrape time:
//
//   accel_workers{job,node,state}                                   gauge    workers by state
//   accel_worker_restarts_total{job,node}                           counter  group restarts (TORCHELASTIC_RESTART_COUNT)
//   accel_worker_exits_total{job,node,rank,local_rank,exit_code,signal}  counter
//   accel_worker_hangs_total{job,node,rank,local_rank}              counter  times marked hung
//   accel_worker_hung{job,node,rank,local_rank}                     gauge    1 while marked hung
//   accel_worker_cpu_seconds_total{job,node,rank,local_rank}        counter  /proc user+system time
//   accel_worker_resident_memory_bytes{job,node,rank,local_rank}    gauge    /proc RSS
//   accel_worker_seconds_since_output{job,node,rank,local_rank}     gauge    the hang signal
//   accel_rendezvous_duration_seconds                               histogram
//
// A job's series disappear `retention` after its run on this node finished (Finish()); a new attempt
// of the same job (acceld starts one run per attempt) brings them back.
//
// Thread-safe: supervisors' loop threads publish, HTTP threads collect; one mutex guards the state.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics/histogram.h"
#include "common/metrics/worker_stats.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace accel::metrics {

struct WorkerMetricsOptions {
  absl::Duration retention = absl::Minutes(5);  // how long finished jobs' series stay
  // Monotonic clock (tests inject one); default common::EventLoop::MonotonicNow.
  std::function<absl::Duration()> now;
};

class WorkerMetrics final : public common::WorkerStatsSink, public prometheus::Collectable {
 public:
  explicit WorkerMetrics(WorkerMetricsOptions options = {});

  void Publish(const common::GroupStats& stats) override;
  void RecordExit(const common::WorkerExitRecord& exit) override;
  void RecordHang(const std::string& job, const std::string& node, int rank, int local_rank) override;
  void RecordRendezvous(double seconds) override;
  void Finish(const std::string& job, const std::string& node) override;

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  using Key = std::pair<std::string, std::string>;  // job, node
  using WorkerKey = std::tuple<std::string, std::string, int, int>;  // job, node, rank, local_rank
  struct Group {
    common::GroupStats stats;
    absl::Duration published_at;
    int max_restart_count = 0;
    absl::Duration finished_at = absl::InfiniteDuration();
  };
  // Drops groups (and their counters) finished longer than `retention` ago.
  void Expire(absl::Duration now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WorkerMetricsOptions options_;
  mutable absl::Mutex mu_;
  mutable std::map<Key, Group> groups_ ABSL_GUARDED_BY(mu_);
  mutable std::map<std::tuple<std::string, std::string, int, int, int, int>, uint64_t> exits_ ABSL_GUARDED_BY(mu_);
  mutable std::map<WorkerKey, uint64_t> hangs_ ABSL_GUARDED_BY(mu_);
  common::HistogramCounts rendezvous_ ABSL_GUARDED_BY(mu_);
};

/// Labels {job, node, rank, local_rank} in that order.
std::vector<prometheus::ClientMetric::Label> WorkerLabels(const std::string& job, const std::string& node, int rank,
                                                          int local_rank);

}  // namespace accel::metrics
