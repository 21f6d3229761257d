// NodeMetrics: everything a node serves on /metrics, set up the same way by acceld and by an
// embedded `accelctl launch --metrics_port`: the agent's info and uptime, its workers
// (WorkerMetrics, fed by the supervisors through common::WorkerStatsSink), its GPUs (NVML, when it
// loads), and a prometheus-cpp Registry for anything with static labels (acceld's RPC counters).
//
//   accel_agent_info{node,version,role}  gauge  always 1
//   accel_agent_uptime_seconds{node}     gauge
//
// Thread-safe. Lifetime: must outlive every LocalAgent / NodeAgent that publishes to workers().
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/metrics/metrics_server.h"
#include "agent/metrics/worker_metrics.h"
#include "common/metrics/worker_stats.h"
#include "prometheus/registry.h"

namespace accel::metrics {

struct NodeMetricsOptions {
  std::string node;
  std::string role = "agent";  // agent, coordinator, both, launch
  MetricsServerOptions server;
  absl::Duration retention = absl::Minutes(5);
  std::string nvml_library = "libnvidia-ml.so.1";  // empty: no GPU families
};

class NodeMetrics {
 public:
  /// Starts the HTTP endpoint. Unavailable when it cannot bind.
  static absl::StatusOr<std::unique_ptr<NodeMetrics>> Start(const NodeMetricsOptions& options,
                                                            MetricsServer::HealthCheck health = {});
  ~NodeMetrics();

  common::WorkerStatsSink& workers() { return *workers_; }
  /// For metrics with static labels; rendered on every scrape.
  prometheus::Registry& registry() { return *registry_; }
  /// The endpoint; only until StopServing().
  MetricsServer& server() { return *server_; }
  int port() const { return port_; }
  /// Stops the HTTP endpoint (joins its threads); workers() stays usable. Idempotent.
  void StopServing() { server_.reset(); }

 private:
  NodeMetrics() = default;
  std::shared_ptr<WorkerMetrics> workers_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<MetricsServer> server_;  // last: stops serving before the sources go
  int port_ = 0;
};

}  // namespace accel::metrics
