// Unit tests of accel::metrics: the text renderer, WorkerMetrics' values and retention, /proc usage,
// the HTTP endpoint (/metrics, /healthz), the optional GPU families, and `promtool check metrics` on a
// full rendering.
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <vector>

#include "agent/metrics/gpu_metrics.h"
#include "agent/metrics/metrics_server.h"
#include "agent/metrics/node_metrics.h"
#include "agent/metrics/text_renderer.h"
#include "agent/metrics/worker_metrics.h"
#include "common/metrics/worker_stats.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "tests/metrics/http_get.h"
#include "tests/support/ports.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Render(const prometheus::Collectable& collectable) {
  std::string out;
  RenderText(collectable.Collect(), &out);
  return out;
}

common::GroupStats TwoWorkers() {
  common::GroupStats stats;
  stats.job = "job-1";
  stats.node = "n0";
  stats.restart_count = 2;
  stats.workers.push_back({.rank = 4, .local_rank = 0, .pid = 100, .state = common::WorkerState::kRunning,
                           .cpu_seconds = 1.5, .resident_bytes = 1048576, .seconds_since_output = 3});
  stats.workers.push_back({.rank = 5, .local_rank = 1, .pid = 101, .state = common::WorkerState::kHung,
                           .cpu_seconds = 0.25, .resident_bytes = 2048, .seconds_since_output = 40});
  return stats;
}

TEST(TextRendererTest, FamiliesHaveHelpTypeAndEscapedLabels) {
  prometheus::MetricFamily family{"accel_x_total", "Help with \\ and\nnewline.", prometheus::MetricType::Counter, {}};
  prometheus::ClientMetric metric;
  metric.label = {{"job", "a\"b\\c\nd"}};
  metric.counter.value = 3;
  family.metric.push_back(metric);
  prometheus::MetricFamily empty{"accel_empty", "No samples.", prometheus::MetricType::Gauge, {}};
  std::string out;
  RenderText({family, empty}, &out);
  EXPECT_EQ(out,
            "# HELP accel_x_total Help with \\\\ and\\nnewline.\n"
            "# TYPE accel_x_total counter\n"
            "accel_x_total{job=\"a\\\"b\\\\c\\nd\"} 3\n");
}

TEST(TextRendererTest, HistogramHasCumulativeBucketsSumAndCount) {
  prometheus::MetricFamily family{"accel_h_seconds", "h", prometheus::MetricType::Histogram, {}};
  prometheus::ClientMetric metric;
  metric.histogram.bucket = {{1, 0.5}, {3, 1}};
  metric.histogram.sample_count = 4;
  metric.histogram.sample_sum = 7.25;
  family.metric.push_back(metric);
  std::string out;
  RenderText({family}, &out);
  EXPECT_EQ(out,
            "# HELP accel_h_seconds h\n# TYPE accel_h_seconds histogram\n"
            "accel_h_seconds_bucket{le=\"0.5\"} 1\naccel_h_seconds_bucket{le=\"1\"} 3\n"
            "accel_h_seconds_bucket{le=\"+Inf\"} 4\naccel_h_seconds_sum 7.25\naccel_h_seconds_count 4\n");
}

TEST(WorkerMetricsTest, RendersEveryWorkerSeriesWithItsValues) {
  absl::Duration now = absl::Seconds(100);
  WorkerMetrics metrics({.retention = absl::Seconds(60), .now = [&] { return now; }});
  metrics.Publish(TwoWorkers());
  metrics.RecordExit({.job = "job-1", .node = "n0", .rank = 5, .local_rank = 1, .exit_code = -1, .signal = 9});
  metrics.RecordExit({.job = "job-1", .node = "n0", .rank = 5, .local_rank = 1, .exit_code = -1, .signal = 9});
  metrics.RecordHang("job-1", "n0", 5, 1);
  metrics.RecordRendezvous(0.3);
  now += absl::Seconds(2);  // running workers' silence grows between publications
  const std::string out = Render(metrics);
  EXPECT_THAT(out, HasSubstr("accel_workers{job=\"job-1\",node=\"n0\",state=\"running\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("accel_workers{job=\"job-1\",node=\"n0\",state=\"hung\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("accel_workers{job=\"job-1\",node=\"n0\",state=\"failed\"} 0\n"));
  EXPECT_THAT(out, HasSubstr("accel_worker_restarts_total{job=\"job-1\",node=\"n0\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("accel_worker_cpu_seconds_total{job=\"job-1\",node=\"n0\",rank=\"4\",local_rank=\"0\"} 1.5\n"));
  EXPECT_THAT(out, HasSubstr("accel_worker_resident_memory_bytes{job=\"job-1\",node=\"n0\",rank=\"4\",local_rank=\"0\"} 1048576\n"));
  EXPECT_THAT(out, HasSubstr("accel_worker_seconds_since_output{job=\"job-1\",node=\"n0\",rank=\"4\",local_rank=\"0\"} 5\n"));
  EXPECT_THAT(out, HasSubstr("accel_worker_seconds_since_output{job=\"job-1\",node=\"n0\",rank=\"5\",local_rank=\"1\"} 42\n"));
  EXPECT_THAT(out, HasSubstr("accel_worker_hung{job=\"job-1\",node=\"n0\",rank=\"5\",local_rank=\"1\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("accel_worker_hung{job=\"job-1\",node=\"n0\",rank=\"4\",local_rank=\"0\"} 0\n"));
  EXPECT_THAT(out, HasSubstr("accel_worker_exits_total{job=\"job-1\",node=\"n0\",rank=\"5\",local_rank=\"1\",exit_code=\"-1\",signal=\"9\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("accel_worker_hangs_total{job=\"job-1\",node=\"n0\",rank=\"5\",local_rank=\"1\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("accel_rendezvous_duration_seconds_bucket{le=\"0.5\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("accel_rendezvous_duration_seconds_count 1\n"));
}

TEST(WorkerMetricsTest, FinishedJobsDisappearAfterRetention) {
  absl::Duration now = absl::Seconds(100);
  WorkerMetrics metrics({.retention = absl::Seconds(60), .now = [&] { return now; }});
  metrics.Publish(TwoWorkers());
  metrics.RecordExit({.job = "job-1", .node = "n0", .rank = 4, .local_rank = 0, .exit_code = 0, .signal = 0});
  metrics.Finish("job-1", "n0");
  now += absl::Seconds(30);
  std::string out = Render(metrics);
  EXPECT_THAT(out, HasSubstr("accel_worker_exits_total{job=\"job-1\""));
  EXPECT_THAT(out, HasSubstr("accel_worker_restarts_total{job=\"job-1\""));
  EXPECT_THAT(out, Not(HasSubstr("accel_worker_cpu_seconds_total{job=\"job-1\"")));  // per-process series end with it
  now += absl::Seconds(31);
  out = Render(metrics);
  EXPECT_THAT(out, Not(HasSubstr("job-1")));
  // A new attempt of the job brings it back.
  metrics.Publish(TwoWorkers());
  EXPECT_THAT(Render(metrics), HasSubstr("accel_worker_cpu_seconds_total{job=\"job-1\""));
}

TEST(ProcessUsageTest, ReadsThisProcess) {
  std::vector<char> touched(8 << 20, 1);  // make sure there is resident memory to see
  double cpu = -1;
  uint64_t rss = 0;
  ASSERT_TRUE(common::ReadProcessUsage(::getpid(), &cpu, &rss));
  EXPECT_GE(cpu, 0);
  EXPECT_GT(rss, touched.size());
  EXPECT_FALSE(common::ReadProcessUsage(-1, &cpu, &rss));
}

TEST(GpuMetricsTest, WithoutNvmlTheFamiliesAreAbsent) {
  GpuMetrics gpus("n0", "/nonexistent/libnvidia-ml.so.1");
  EXPECT_FALSE(gpus.available());
  EXPECT_TRUE(gpus.Collect().empty());
}

TEST(MetricsServerTest, ServesMetricsAndHealthOnLoopback) {
  std::atomic<bool> healthy{true};
  auto node = NodeMetrics::Start({.node = "n0", .server = {.port = accel::testing::FreeTcpPort()}, .nvml_library = ""},
                                 [&] { return healthy ? absl::OkStatus() : absl::UnavailableError("loop stuck"); });
  ASSERT_TRUE(node.ok()) << node.status();
  (*node)->workers().Publish(TwoWorkers());
  prometheus::BuildCounter().Name("accel_test_total").Help("t").Register((*node)->registry()).Add({}).Increment(7);

  const auto metrics = accel::testing::HttpGet((*node)->port(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("accel_agent_info{node=\"n0\",role=\"agent\",version=\""));
  EXPECT_THAT(metrics.body, HasSubstr("# TYPE accel_agent_uptime_seconds gauge"));
  EXPECT_THAT(metrics.body, HasSubstr("accel_worker_cpu_seconds_total{job=\"job-1\",node=\"n0\",rank=\"4\",local_rank=\"0\"} 1.5"));
  EXPECT_THAT(metrics.body, HasSubstr("accel_test_total 7"));
  EXPECT_THAT(metrics.body, Not(HasSubstr("accel_gpu_")));

  EXPECT_EQ(accel::testing::HttpGet((*node)->port(), "/healthz").status, 200);
  healthy = false;
  const auto unhealthy = accel::testing::HttpGet((*node)->port(), "/healthz");
  EXPECT_EQ(unhealthy.status, 503);
  EXPECT_THAT(unhealthy.body, HasSubstr("loop stuck"));
}

TEST(MetricsServerTest, BusyPortIsAnError) {
  auto first = MetricsServer::Start({.port = accel::testing::FreeTcpPort()});
  ASSERT_TRUE(first.ok());
  auto second = MetricsServer::Start({.port = (*first)->port()});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST(PromtoolTest, FullRenderingPassesCheckMetrics) {
  if (::access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool missing: run scripts/install-deps.sh";
  auto node = NodeMetrics::Start({.node = "n0", .server = {.port = accel::testing::FreeTcpPort()}, .nvml_library = ""});
  ASSERT_TRUE(node.ok()) << node.status();
  (*node)->workers().Publish(TwoWorkers());
  (*node)->workers().RecordExit({.job = "job-1", .node = "n0", .rank = 4, .local_rank = 0, .exit_code = 3});
  (*node)->workers().RecordHang("job-1", "n0", 5, 1);
  accel::testing::TempDir dir;
  const auto path = dir.path() / "scrape.txt";
  std::ofstream(path) << accel::testing::HttpGet((*node)->port(), "/metrics").body;
  const auto result = accel::testing::RunProcess({"/bin/sh", "-c", "promtool check metrics < " + path.string()}, {});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out + result.err, "") << "promtool lint findings";
}

}  // namespace
}  // namespace accel::metrics
