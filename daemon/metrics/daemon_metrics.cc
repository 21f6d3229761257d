#include "daemon/metrics/daemon_metrics.h"

namespace accel::daemon {

absl::StatusOr<std::unique_ptr<DaemonMetrics>> DaemonMetrics::Start(const metrics::NodeMetricsOptions& options) {
  std::unique_ptr<DaemonMetrics> daemon(new DaemonMetrics());
  auto node = metrics::NodeMetrics::Start(options, [raw = daemon.get()] { return raw->Health(); });
  if (!node.ok()) return node.status();
  daemon->node_ = *std::move(node);
  daemon->rpc_ = std::make_unique<RpcMetrics>(daemon->node_->registry());
  return daemon;
}

void DaemonMetrics::AttachCoordinator(CoordinatorCollector::RunOnLoop run_on_loop) {
  node_->server().Add(std::make_shared<CoordinatorCollector>(run_on_loop));
  AddHealthCheck([run_on_loop] {
    return run_on_loop([](Coordinator&) {}) ? absl::OkStatus() : absl::UnavailableError("coordinator loop not running");
  });
}

void DaemonMetrics::AddHealthCheck(std::function<absl::Status()> check) {
  absl::MutexLock lock(&mu_);
  checks_.push_back(std::move(check));
}

void DaemonMetrics::StopServing() { node_->StopServing(); }

absl::Status DaemonMetrics::Health() const {
  std::vector<std::function<absl::Status()>> checks;
  {
    absl::MutexLock lock(&mu_);
    checks = checks_;
  }
  for (const auto& check : checks) {
    if (absl::Status status = check(); !status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace accel::daemon
