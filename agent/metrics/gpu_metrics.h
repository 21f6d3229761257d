// GpuMetrics: per-device utilisation and memory from NVML, loaded with dlopen at start (no CUDA at
// build time). Without NVML (no driver, a CPU node, a broken library) Collect() returns nothing, so
// the families are simply absent from the scrape.
//
//   accel_gpu_utilization_ratio{node,gpu}     gauge  busy fraction of the last sample period (0..1)
//   accel_gpu_memory_used_bytes{node,gpu}     gauge
//   accel_gpu_memory_total_bytes{node,gpu}    gauge
//
// Thread-safe: NVML is; a mutex serialises collections anyway (scrapes are rare).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace accel::metrics {

class GpuMetrics final : public prometheus::Collectable {
 public:
  /// Loads `nvml_library` and initialises NVML (tens of ms, once). Never fails: available() says
  /// whether it worked.
  GpuMetrics(std::string node, const std::string& nvml_library);
  ~GpuMetrics() override;
  GpuMetrics(const GpuMetrics&) = delete;
  GpuMetrics& operator=(const GpuMetrics&) = delete;

  bool available() const { return nvml_ != nullptr; }
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Nvml;
  const std::string node_;
  mutable absl::Mutex mu_;
  std::unique_ptr<Nvml> nvml_;
};

}  // namespace accel::metrics
