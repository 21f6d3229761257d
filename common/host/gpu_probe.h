// Which NVIDIA GPUs this machine has, found without CUDA at build time.
//
// First NVML (libnvidia-ml.so.1, loaded with dlopen at run time when the driver is installed), else the
// driver's /proc/driver/nvidia/gpus/<bus id>/information files, else none. Probing never fails: a
// missing or broken NVML just falls through to the next source.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/environment.h"

namespace accel::common {

struct GpuDevice {
  int index = 0;
  std::string name;           // "NVIDIA H200"
  uint64_t memory_bytes = 0;  // 0 when the source does not say
  std::string bus_id;
  // CUDA compute capability (9.0 for an H100); 0.0 when the source does not say (procfs).
  int compute_major = 0;
  int compute_minor = 0;
};

struct GpuInventory {
  enum class Source { kNone, kNvml, kProcfs };
  Source source = Source::kNone;
  std::vector<GpuDevice> devices;
  std::string driver_version;  // empty when unknown

  int count() const { return static_cast<int>(devices.size()); }
};

struct GpuProbeOptions {
  std::string nvml_library = "libnvidia-ml.so.1";
  std::filesystem::path proc_gpus_dir = "/proc/driver/nvidia/gpus";
};

/// Options from the environment: ACCEL_NVML_LIBRARY and ACCEL_PROC_NVIDIA_GPUS override the two
/// locations (for unusual installs and for tests); otherwise the defaults.
GpuProbeOptions GpuProbeOptionsFromEnv(const Environment& env);

GpuInventory ProbeGpus(const GpuProbeOptions& options);

}  // namespace accel::common
