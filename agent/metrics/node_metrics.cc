#include "agent/metrics/node_metrics.h"

#include "agent/metrics/families.h"
#include "agent/metrics/gpu_metrics.h"
#include "common/event_loop.h"
#include "common/version.h"

namespace accel::metrics {
namespace {

class AgentInfo final : public prometheus::Collectable {
 public:
  AgentInfo(std::string node, std::string role) : node_(std::move(node)), role_(std::move(role)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily info =
        Family("accel_agent_info", "The accel agent on this node (always 1).", prometheus::MetricType::Gauge);
    AddGauge(info, {{"node", node_}, {"role", role_}, {"version", ACCEL_VERSION}}, 1);
    prometheus::MetricFamily uptime =
        Family("accel_agent_uptime_seconds", "Seconds since the agent started.", prometheus::MetricType::Gauge);
    AddGauge(uptime, {{"node", node_}}, absl::ToDoubleSeconds(common::EventLoop::MonotonicNow() - started_));
    return {std::move(info), std::move(uptime)};
  }

 private:
  const std::string node_;
  const std::string role_;
  const absl::Duration started_ = common::EventLoop::MonotonicNow();
};

}  // namespace

absl::StatusOr<std::unique_ptr<NodeMetrics>> NodeMetrics::Start(const NodeMetricsOptions& options,
                                                                 MetricsServer::HealthCheck health) {
  std::unique_ptr<NodeMetrics> metrics(new NodeMetrics());
  metrics->workers_ = std::make_shared<WorkerMetrics>(WorkerMetricsOptions{.retention = options.retention});
  metrics->registry_ = std::make_shared<prometheus::Registry>();
  auto server = MetricsServer::Start(options.server, std::move(health));
  if (!server.ok()) return server.status();
  metrics->server_ = *std::move(server);
  metrics->port_ = metrics->server_->port();
  metrics->server_->Add(std::make_shared<AgentInfo>(options.node, options.role));
  metrics->server_->Add(metrics->workers_);
  auto gpus = std::make_shared<GpuMetrics>(options.node, options.nvml_library);
  if (gpus->available()) metrics->server_->Add(std::move(gpus));
  metrics->server_->Add(metrics->registry_);
  return metrics;
}

NodeMetrics::~NodeMetrics() { server_.reset(); }

}  // namespace accel::metrics
