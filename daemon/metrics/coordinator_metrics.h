// CoordinatorCollector: the coordinator's families, read on the coordinator's loop thread at scrape
// time (the loop owns the state; the HTTP thread posts and waits for a copy).
//
//   accel_coordinator_jobs{state}                         gauge    jobs by state (pending ... cancelled)
//   accel_coordinator_nodes_registered                    gauge    nodes alive now
//   accel_coordinator_nodes_lost                          gauge    known nodes not alive now
//   accel_coordinator_nodes_lost_total                    counter  node losses
//   accel_coordinator_jobs_submitted_total                counter
//   accel_coordinator_job_restarts_total                  counter
//   accel_coordinator_rendezvous_duration_seconds         histogram submission/restart -> attempt started
#pragma once

#include <functional>

#include "daemon/coordinator/coordinator.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace accel::daemon {

class CoordinatorCollector final : public prometheus::Collectable {
 public:
  /// Runs a function on the coordinator's loop thread and waits; false when the loop is gone
  /// (CoordinatorServer::RunOnLoop). The function must own whatever it touches.
  using RunOnLoop = std::function<bool(const std::function<void(Coordinator&)>&)>;

  explicit CoordinatorCollector(RunOnLoop run_on_loop) : run_on_loop_(std::move(run_on_loop)) {}

  /// Nothing when the coordinator's loop no longer runs.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const RunOnLoop run_on_loop_;
};

}  // namespace accel::daemon
