#include "agent/metrics/gpu_metrics.h"

#include <dlfcn.h>

#include <string>

#include "agent/metrics/families.h"

namespace accel::metrics {
namespace {

// The slice of nvml.h used here (stable NVML ABI), so building needs no CUDA headers.
using NvmlReturn = int;
using NvmlDevice = struct NvmlDeviceOpaque*;
struct NvmlMemory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
struct NvmlUtilization {
  unsigned int gpu;
  unsigned int memory;
};

template <typename Fn>
Fn* Symbol(void* handle, const char* name) {
  return reinterpret_cast<Fn*>(::dlsym(handle, name));
}

}  // namespace

struct GpuMetrics::Nvml {
  void* handle = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  NvmlReturn (*get_count)(unsigned int*) = nullptr;
  NvmlReturn (*get_handle)(unsigned int, NvmlDevice*) = nullptr;
  NvmlReturn (*get_utilization)(NvmlDevice, NvmlUtilization*) = nullptr;
  NvmlReturn (*get_memory)(NvmlDevice, NvmlMemory*) = nullptr;

  ~Nvml() {
    if (shutdown != nullptr) shutdown();
    if (handle != nullptr) ::dlclose(handle);
  }
};

GpuMetrics::GpuMetrics(std::string node, const std::string& nvml_library) : node_(std::move(node)) {
  if (nvml_library.empty()) return;
  auto nvml = std::make_unique<Nvml>();
  nvml->handle = ::dlopen(nvml_library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (nvml->handle == nullptr) return;
  auto* init = Symbol<NvmlReturn()>(nvml->handle, "nvmlInit_v2");
  nvml->get_count = Symbol<NvmlReturn(unsigned int*)>(nvml->handle, "nvmlDeviceGetCount_v2");
  nvml->get_handle = Symbol<NvmlReturn(unsigned int, NvmlDevice*)>(nvml->handle, "nvmlDeviceGetHandleByIndex_v2");
  nvml->get_utilization = Symbol<NvmlReturn(NvmlDevice, NvmlUtilization*)>(nvml->handle, "nvmlDeviceGetUtilizationRates");
  nvml->get_memory = Symbol<NvmlReturn(NvmlDevice, NvmlMemory*)>(nvml->handle, "nvmlDeviceGetMemoryInfo");
  auto* shutdown = Symbol<NvmlReturn()>(nvml->handle, "nvmlShutdown");
  if (init == nullptr || shutdown == nullptr || nvml->get_count == nullptr || nvml->get_handle == nullptr ||
      nvml->get_utilization == nullptr || nvml->get_memory == nullptr || init() != 0) {
    return;  // ~Nvml closes the library; shutdown stays unset since init did not succeed
  }
  nvml->shutdown = shutdown;
  nvml_ = std::move(nvml);
}

GpuMetrics::~GpuMetrics() = default;

std::vector<prometheus::MetricFamily> GpuMetrics::Collect() const {
  if (nvml_ == nullptr) return {};
  absl::MutexLock lock(&mu_);
  unsigned int count = 0;
  if (nvml_->get_count(&count) != 0 || count == 0) return {};
  prometheus::MetricFamily utilization =
      Family("accel_gpu_utilization_ratio", "Fraction of the last sample period in which the GPU was busy (NVML).",
             prometheus::MetricType::Gauge);
  prometheus::MetricFamily used = Family("accel_gpu_memory_used_bytes", "GPU memory in use (NVML).",
                                         prometheus::MetricType::Gauge);
  prometheus::MetricFamily total = Family("accel_gpu_memory_total_bytes", "GPU memory installed (NVML).",
                                          prometheus::MetricType::Gauge);
  for (unsigned int index = 0; index < count; ++index) {
    NvmlDevice device = nullptr;
    if (nvml_->get_handle(index, &device) != 0) continue;
    const Labels labels = {{"node", node_}, {"gpu", std::to_string(index)}};
    NvmlUtilization rates{};
    if (nvml_->get_utilization(device, &rates) == 0) AddGauge(utilization, labels, rates.gpu / 100.0);
    NvmlMemory memory{};
    if (nvml_->get_memory(device, &memory) == 0) {
      AddGauge(used, labels, static_cast<double>(memory.used));
      AddGauge(total, labels, static_cast<double>(memory.total));
    }
  }
  return {std::move(utilization), std::move(used), std::move(total)};
}

}  // namespace accel::metrics
