#include "daemon/metrics/coordinator_metrics.h"

#include <cctype>
#include <cmath>
#include <memory>

namespace accel::daemon {
namespace {

struct Snapshot {
  std::map<common::JobState, int> jobs;
  int nodes_alive = 0;
  int nodes_lost = 0;
  CoordinatorMetrics metrics;
};

// A family of one unlabelled gauge or counter.
prometheus::MetricFamily Single(prometheus::MetricType type, std::string name, std::string help, double value) {
  prometheus::MetricFamily family{std::move(name), std::move(help), type, {}};
  prometheus::ClientMetric metric;
  (type == prometheus::MetricType::Counter ? metric.counter.value : metric.gauge.value) = value;
  family.metric.push_back(std::move(metric));
  return family;
}

prometheus::MetricFamily Gauge(std::string name, std::string help, double value) {
  return Single(prometheus::MetricType::Gauge, std::move(name), std::move(help), value);
}

prometheus::MetricFamily Counter(std::string name, std::string help, double value) {
  return Single(prometheus::MetricType::Counter, std::move(name), std::move(help), value);
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
  prometheus::MetricFamily jobs{"accel_coordinator_jobs", "Jobs known to the coordinator, by state.",
                                prometheus::MetricType::Gauge, {}};
  for (common::JobState state : {common::JobState::kPending, common::JobState::kRunning, common::JobState::kRestarting,
                                 common::JobState::kSucceeded, common::JobState::kFailed, common::JobState::kCancelled}) {
    prometheus::ClientMetric metric;
    std::string name(common::ToString(state));  // "RUNNING" -> "running", like accel_workers{state}
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    metric.label = {{"state", std::move(name)}};
    metric.gauge.value = snapshot->jobs[state];
    jobs.metric.push_back(std::move(metric));
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

  prometheus::MetricFamily rendezvous{"accel_coordinator_rendezvous_duration_seconds",
                                      "Seconds from a job's submission or restart until its attempt started.",
                                      prometheus::MetricType::Histogram, {}};
  prometheus::ClientMetric histogram;
  uint64_t cumulative = 0;
  const common::HistogramCounts& counts = m.rendezvous_seconds;
  for (size_t i = 0; i < counts.bounds.size(); ++i) {
    cumulative += counts.counts[i];
    histogram.histogram.bucket.push_back({cumulative, counts.bounds[i]});
  }
  histogram.histogram.bucket.push_back({counts.count, INFINITY});
  histogram.histogram.sample_count = counts.count;
  histogram.histogram.sample_sum = counts.sum;
  rendezvous.metric.push_back(std::move(histogram));
  families.push_back(std::move(rendezvous));
  return families;
}

}  // namespace accel::daemon
