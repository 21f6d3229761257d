// Scrape time with 1,000 workers' series: WorkerMetrics::Collect + RenderText (what /metrics does),
// the same families through prometheus-cpp's TextSerializer for comparison, and a whole HTTP GET
// /metrics on loopback. Target: < 5 ms per scrape. `--quick`: fewer rounds (the ctest smoke run).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "agent/metrics/node_metrics.h"
#include "agent/metrics/text_renderer.h"
#include "agent/metrics/worker_metrics.h"
#include "prometheus/text_serializer.h"
#include "tests/metrics/http_get.h"
#include "tests/support/ports.h"

namespace {

struct Stats {
  double p50_ms;
  double p99_ms;
  double max_ms;
};

Stats Time(int rounds, const std::function<size_t()>& fn, size_t* bytes) {
  std::vector<double> ms;
  for (int i = 0; i < rounds; ++i) {
    const auto start = std::chrono::steady_clock::now();
    *bytes = fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back()};
}

void Publish(accel::common::WorkerStatsSink& sink, int workers) {
  constexpr int kPerNode = 8;
  for (int node = 0; node < workers / kPerNode; ++node) {
    accel::common::GroupStats stats;
    stats.job = "job-20260101-0001";
    stats.node = "gpu" + std::to_string(node);
    stats.restart_count = 1;
    for (int local = 0; local < kPerNode; ++local) {
      const int rank = node * kPerNode + local;
      stats.workers.push_back({.rank = rank, .local_rank = local, .pid = 1000 + rank,
                               .state = accel::common::WorkerState::kRunning, .cpu_seconds = 1234.56 + rank,
                               .resident_bytes = 8'000'000'000ULL + static_cast<uint64_t>(rank) * 4096,
                               .seconds_since_output = 0.5});
      sink.RecordExit({.job = stats.job, .node = stats.node, .rank = rank, .local_rank = local, .exit_code = 1});
    }
    sink.Publish(stats);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int rounds = quick ? 20 : 500;
  constexpr int kWorkers = 1000;

  accel::metrics::WorkerMetrics metrics;
  Publish(metrics, kWorkers);
  size_t series = 0;
  for (const auto& family : metrics.Collect()) series += family.metric.size();

  size_t bytes = 0;
  std::printf("%-44s %9s %9s %9s %10s\n", "scrape of 1,000 workers", "p50 ms", "p99 ms", "max ms", "bytes");
  auto row = [&](const char* name, const Stats& s) {
    std::printf("%-44s %9.3f %9.3f %9.3f %10zu\n", name, s.p50_ms, s.p99_ms, s.max_ms, bytes);
  };
  const Stats collect = Time(rounds, [&] { return metrics.Collect().size(); }, &bytes);
  row("Collect (snapshot -> families)", collect);
  const Stats render = Time(rounds, [&] {
    std::string out;
    accel::metrics::RenderText(metrics.Collect(), &out);
    return out.size();
  }, &bytes);
  row("Collect + RenderText (what /metrics does)", render);
  const Stats prom = Time(rounds, [&] { return prometheus::TextSerializer().Serialize(metrics.Collect()).size(); }, &bytes);
  row("Collect + prometheus-cpp TextSerializer", prom);

  auto node = accel::metrics::NodeMetrics::Start(
      {.node = "bench", .server = {.port = accel::testing::FreeTcpPort()}, .nvml_library = ""});
  if (!node.ok()) {
    std::fprintf(stderr, "metrics_bench: %s\n", std::string(node.status().message()).c_str());
    return 1;
  }
  Publish((*node)->workers(), kWorkers);
  const Stats http = Time(rounds, [&] { return accel::testing::HttpGet((*node)->port(), "/metrics").body.size(); }, &bytes);
  row("HTTP GET /metrics on loopback (whole node)", http);
  std::printf("series: %zu; target: < 5 ms per scrape (p50 of the /metrics path)\n", series);
  if (bytes == 0) return 1;
  return 0;
}
