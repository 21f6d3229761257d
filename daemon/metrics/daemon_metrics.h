// DaemonMetrics: acceld's /metrics and /healthz. The node's families (NodeMetrics: agent info,
// workers, GPUs), the gRPC calls (RpcMetrics, through a server interceptor) and, on a coordinator,
// the coordinator's families (CoordinatorCollector).
//
// Thread-safe. Lifetime: create before the NodeAgent (its workers publish here), and call
// StopServing() before the coordinator goes (a scrape reaches into its loop).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/metrics/node_metrics.h"
#include "daemon/metrics/coordinator_metrics.h"
#include "daemon/metrics/rpc_metrics.h"

namespace accel::daemon {

class DaemonMetrics {
 public:
  /// Binds the endpoint; Unavailable when it cannot.
  static absl::StatusOr<std::unique_ptr<DaemonMetrics>> Start(const metrics::NodeMetricsOptions& options);

  common::WorkerStatsSink& workers() { return node_->workers(); }
  RpcMetrics& rpc() { return *rpc_; }
  int port() const { return node_->port(); }

  /// Adds the coordinator's families and makes /healthz check that its loop answers.
  void AttachCoordinator(CoordinatorCollector::RunOnLoop run_on_loop);
  /// Adds a /healthz condition (all must be OK).
  void AddHealthCheck(std::function<absl::Status()> check);
  /// Stops the HTTP endpoint (joins its threads); workers() stays usable.
  void StopServing();

 private:
  DaemonMetrics() = default;
  absl::Status Health() const;

  mutable absl::Mutex mu_;
  std::vector<std::function<absl::Status()>> checks_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<RpcMetrics> rpc_;
  std::unique_ptr<metrics::NodeMetrics> node_;
};

}  // namespace accel::daemon
