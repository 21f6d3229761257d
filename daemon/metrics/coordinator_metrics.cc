#include "daemon/metrics/coordinator_metrics.h"

#include <cctype>
#include <memory>

#include "agent/metrics/families.h"

namespace accel::daemon {
namespace {

struct Snapshot {
  std::map<common::JobState, int> jobs;
  int nodes_alive = 0;
  int nodes_lost = 0;
  CoordinatorMetrics metrics;
};

// A family of one unlabelled gauge or counter.
prometheus::MetricFamily Gauge(std::string name, std::string help, double value) {
  prometheus::MetricFamily family = metrics::Family(std::move(name), std::move(help), prometheus::MetricType::Gauge);
  metrics::AddGauge(family, {}, value);
  return family;
}

prometheus::MetricFamily Counter(std::string name, std::string help, double value) {
  prometheus::MetricFamily family = metrics::Family(std::move(name), std::move(help), prometheus::MetricType::Counter);
  metrics::AddCounter(family, {}, value);
  return family;
}

}  // namespace

std::vector<prometheus::MetricFamily> CoordinatorCollector::Collect() const {
  auto snapshot = std::make_shared<Snapshot>();
  const bool ran = run_on_loop_([snapshot](Coordinator& coordinator) {
    for (const common::JobRecord& job : coordinator.ListJobs()) ++snapshot->jobs[job.state];
    for (const common::NodeInfo& node : coordinator.ListNodes()) ++(node.alive ? snapshot->nodes_alive : snapshot->nodes_lost);
    snapshot->metrics = coordinator.metrics();
  });
  if (!ran) return {};

  std::vector<prometheus::MetricFamily> families;
  prometheus::MetricFamily jobs = metrics::Family("accel_coordinator_jobs", "Jobs known to the coordinator, by state.",
                                                   prometheus::MetricType::Gauge);
  for (common::JobState state : {common::JobState::kPending, common::JobState::kRunning, common::JobState::kRestarting,
                                 common::JobState::kSucceeded, common::JobState::kFailed, common::JobState::kCancelled}) {
    std::string name(common::ToString(state));  // "RUNNING" -> "running", like accel_workers{state}
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    metrics::AddGauge(jobs, {{"state", std::move(name)}}, snapshot->jobs[state]);
  }
  families.push_back(std::move(jobs));
  families.push_back(Gauge("accel_coordinator_nodes_registered", "Nodes registered and alive.", snapshot->nodes_alive));
  families.push_back(Gauge("accel_coordinator_nodes_lost", "Known nodes whose heartbeats stopped.", snapshot->nodes_lost));
  const CoordinatorMetrics& m = snapshot->metrics;
  families.push_back(Counter("accel_coordinator_nodes_lost_total", "Times a node was declared lost.",
                             static_cast<double>(m.nodes_lost_total)));
  families.push_back(Counter("accel_coordinator_jobs_submitted_total", "Jobs submitted.",
                             static_cast<double>(m.jobs_submitted_total)));
  families.push_back(Counter("accel_coordinator_job_restarts_total", "Job restarts on every node.",
                             static_cast<double>(m.jobs_restarted_total)));

  prometheus::MetricFamily rendezvous =
      metrics::Family("accel_coordinator_rendezvous_duration_seconds",
                      "Seconds from a job's submission or restart until its attempt started.",
                      prometheus::MetricType::Histogram);
  metrics::AddHistogram(rendezvous, m.rendezvous_seconds);
  families.push_back(std::move(rendezvous));
  return families;
}

}  // namespace accel::daemon
