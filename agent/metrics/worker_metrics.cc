#include "agent/metrics/worker_metrics.h"

#include <algorithm>
#include <string>

#include "agent/metrics/families.h"
#include "common/event_loop.h"

namespace accel::metrics {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::vector<ClientMetric::Label> WorkerLabels(const std::string& job, const std::string& node, int rank,
                                              int local_rank) {
  return {{"job", job}, {"node", node}, {"rank", std::to_string(rank)}, {"local_rank", std::to_string(local_rank)}};
}


WorkerMetrics::WorkerMetrics(WorkerMetricsOptions options)
    : options_(std::move(options)), rendezvous_(common::RendezvousSecondsBounds()) {}

void WorkerMetrics::Publish(const common::GroupStats& stats) {
  const absl::Duration now = options_.now ? options_.now() : common::EventLoop::MonotonicNow();
  absl::MutexLock lock(&mu_);
  Group& group = groups_[{stats.job, stats.node}];
  group.stats = stats;
  group.published_at = now;
  group.max_restart_count = std::max(group.max_restart_count, stats.restart_count);
  group.finished_at = absl::InfiniteDuration();
}

void WorkerMetrics::RecordExit(const common::WorkerExitRecord& exit) {
  absl::MutexLock lock(&mu_);
  ++exits_[{exit.job, exit.node, exit.rank, exit.local_rank, exit.exit_code, exit.signal}];
}

void WorkerMetrics::RecordHang(const std::string& job, const std::string& node, int rank, int local_rank) {
  absl::MutexLock lock(&mu_);
  ++hangs_[{job, node, rank, local_rank}];
}

void WorkerMetrics::RecordRendezvous(double seconds) {
  absl::MutexLock lock(&mu_);
  rendezvous_.Observe(seconds);
}

void WorkerMetrics::Finish(const std::string& job, const std::string& node) {
  const absl::Duration now = options_.now ? options_.now() : common::EventLoop::MonotonicNow();
  absl::MutexLock lock(&mu_);
  auto it = groups_.find({job, node});
  if (it == groups_.end()) {
    it = groups_.emplace(Key{job, node}, Group{}).first;
    it->second.stats.job = job;
    it->second.stats.node = node;
  }
  it->second.finished_at = now;
}

void WorkerMetrics::Expire(absl::Duration now) const {
  for (auto it = groups_.begin(); it != groups_.end();) {
    if (it->second.finished_at == absl::InfiniteDuration() || now - it->second.finished_at < options_.retention) {
      ++it;
      continue;
    }
    const auto& [job, node] = it->first;
    std::erase_if(exits_, [&](const auto& entry) { return std::get<0>(entry.first) == job && std::get<1>(entry.first) == node; });
    std::erase_if(hangs_, [&](const auto& entry) { return std::get<0>(entry.first) == job && std::get<1>(entry.first) == node; });
    it = groups_.erase(it);
  }
}

std::vector<MetricFamily> WorkerMetrics::Collect() const {
  const absl::Duration now = options_.now ? options_.now() : common::EventLoop::MonotonicNow();
  MetricFamily by_state = Family("accel_workers", "Workers of each job on this node, by state.", MetricType::Gauge);
  MetricFamily restarts = Family("accel_worker_restarts_total",
                                 "Restarts of the job's worker group (TORCHELASTIC_RESTART_COUNT of the latest attempt).",
                                 MetricType::Counter);
  MetricFamily exits = Family("accel_worker_exits_total", "Worker exits, by exit code (-1 when signalled) and signal (0 when exited).",
                              MetricType::Counter);
  MetricFamily hangs = Family("accel_worker_hangs_total", "Times a worker was marked hung (no output for --hang_timeout).",
                              MetricType::Counter);
  MetricFamily hung = Family("accel_worker_hung", "1 while the worker is marked hung, else 0.", MetricType::Gauge);
  MetricFamily cpu = Family("accel_worker_cpu_seconds_total", "User and system CPU time of the worker process.",
                            MetricType::Counter);
  MetricFamily memory = Family("accel_worker_resident_memory_bytes", "Resident memory of the worker process.",
                               MetricType::Gauge);
  MetricFamily silent = Family("accel_worker_seconds_since_output",
                               "Seconds since the worker last wrote to stdout or stderr (hang signal).", MetricType::Gauge);
  MetricFamily rendezvous = Family("accel_rendezvous_duration_seconds",
                                   "Time from the start of a rendezvous until every machine joined.", MetricType::Histogram);

  absl::MutexLock lock(&mu_);
  Expire(now);
  for (const auto& [key, group] : groups_) {
    const auto& [job, node] = key;
    AddCounter(restarts, {{"job", job}, {"node", node}}, group.max_restart_count);
    int counts[std::size(common::kAllWorkerStates)] = {};
    const bool finished = group.finished_at != absl::InfiniteDuration();
    const double age = absl::ToDoubleSeconds(now - group.published_at);
    for (const common::WorkerStats& worker : group.stats.workers) {
      ++counts[static_cast<size_t>(worker.state)];
      if (finished) continue;  // only counters and state counts outlive the run
      const bool alive = worker.state == common::WorkerState::kRunning || worker.state == common::WorkerState::kHung;
      auto labels = WorkerLabels(job, node, worker.rank, worker.local_rank);
      AddGauge(hung, labels, worker.state == common::WorkerState::kHung ? 1 : 0);
      AddCounter(cpu, labels, worker.cpu_seconds);
      AddGauge(memory, labels, static_cast<double>(worker.resident_bytes));
      AddGauge(silent, std::move(labels), worker.seconds_since_output + (alive ? age : 0));
    }
    for (common::WorkerState state : common::kAllWorkerStates) {
      AddGauge(by_state, {{"job", job}, {"node", node}, {"state", std::string(common::ToString(state))}},
               counts[static_cast<size_t>(state)]);
    }
  }
  for (const auto& [key, count] : exits_) {
    const auto& [job, node, rank, local_rank, code, signal] = key;
    auto labels = WorkerLabels(job, node, rank, local_rank);
    labels.push_back({"exit_code", std::to_string(code)});
    labels.push_back({"signal", std::to_string(signal)});
    AddCounter(exits, std::move(labels), static_cast<double>(count));
  }
  for (const auto& [key, count] : hangs_) {
    const auto& [job, node, rank, local_rank] = key;
    AddCounter(hangs, WorkerLabels(job, node, rank, local_rank), static_cast<double>(count));
  }
  AddHistogram(rendezvous, rendezvous_);

  std::vector<MetricFamily> families;
  for (MetricFamily* family : {&by_state, &restarts, &exits, &hangs, &hung, &cpu, &memory, &silent, &rendezvous}) {
    families.push_back(std::move(*family));
  }
  return families;
}

}  // namespace accel::metrics
