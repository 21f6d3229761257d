#include "common/host/gpu_probe.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <string_view>
#include <system_error>

#include "common/host/runtime_probe.h"
#include "common/strings.h"

namespace accel::common {
namespace {

// The slice of nvml.h this file needs, declared here so that building needs no CUDA headers. The
// layouts are NVML's stable ABI (the versioned entry points below never change their structs).
using NvmlReturn = int;  // nvmlReturn_t; NVML_SUCCESS == 0
constexpr NvmlReturn kNvmlSuccess = 0;
using NvmlDevice = struct NvmlDeviceOpaque*;  // nvmlDevice_t
struct NvmlMemory {                          // nvmlMemory_t (v1)
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
struct NvmlPciInfo {  // nvmlPciInfo_t, the layout nvmlDeviceGetPciInfo_v3 fills
  char bus_id_legacy[16];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pci_device_id;
  unsigned int pci_subsystem_id;
  char bus_id[32];
};
constexpr unsigned int kNvmlNameBufferSize = 96;           // NVML_DEVICE_NAME_V2_BUFFER_SIZE
constexpr unsigned int kNvmlDriverVersionBufferSize = 80;  // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE

// A loaded NVML whose nvmlInit succeeded; nvmlShutdown runs when this goes away, so every exit path
// of the probe releases NVML's reference on the driver.
class NvmlSession {
 public:
  static std::optional<NvmlSession> Open(const std::string& library_name) {
    auto library = DynamicLibrary::Open(library_name);
    if (!library.ok()) return std::nullopt;
    NvmlSession session(*std::move(library));
    if (!session.ResolveSymbols()) return std::nullopt;
    if (session.init_() != kNvmlSuccess) return std::nullopt;
    session.initialized_ = true;
    return session;
  }

  NvmlSession(NvmlSession&& other) noexcept
      : library_(std::move(other.library_)),
        init_(other.init_),
        shutdown_(other.shutdown_),
        get_count_(other.get_count_),
        get_handle_(other.get_handle_),
        get_name_(other.get_name_),
        get_memory_(other.get_memory_),
        get_pci_(other.get_pci_),
        get_driver_version_(other.get_driver_version_),
        get_capability_(other.get_capability_),
        initialized_(std::exchange(other.initialized_, false)) {}
  NvmlSession& operator=(NvmlSession&&) = delete;
  NvmlSession(const NvmlSession&) = delete;
  NvmlSession& operator=(const NvmlSession&) = delete;
  ~NvmlSession() {
    if (initialized_) shutdown_();
  }

  std::optional<GpuInventory> Inventory() const {
    unsigned int count = 0;
    if (get_count_(&count) != kNvmlSuccess) return std::nullopt;
    GpuInventory inventory;
    inventory.source = GpuInventory::Source::kNvml;
    for (unsigned int i = 0; i < count; ++i) {
      NvmlDevice handle = nullptr;
      if (get_handle_(i, &handle) != kNvmlSuccess) return std::nullopt;
      GpuDevice device;
      device.index = static_cast<int>(i);
      char name[kNvmlNameBufferSize] = {};
      if (get_name_(handle, name, sizeof(name) - 1) == kNvmlSuccess) device.name = name;
      NvmlMemory memory{};
      if (get_memory_(handle, &memory) == kNvmlSuccess) device.memory_bytes = memory.total;
      NvmlPciInfo pci{};
      if (get_pci_ != nullptr && get_pci_(handle, &pci) == kNvmlSuccess) {
        device.bus_id = std::string(pci.bus_id, strnlen(pci.bus_id, sizeof(pci.bus_id)));
      }
      if (get_capability_ != nullptr) get_capability_(handle, &device.compute_major, &device.compute_minor);
      inventory.devices.push_back(std::move(device));
    }
    char version[kNvmlDriverVersionBufferSize] = {};
    if (get_driver_version_(version, sizeof(version) - 1) == kNvmlSuccess) inventory.driver_version = version;
    return inventory;
  }

 private:
  explicit NvmlSession(DynamicLibrary library) : library_(std::move(library)) {}

  bool ResolveSymbols() {
    init_ = library_.Symbol<NvmlReturn()>("nvmlInit_v2");
    shutdown_ = library_.Symbol<NvmlReturn()>("nvmlShutdown");
    get_count_ = library_.Symbol<NvmlReturn(unsigned int*)>("nvmlDeviceGetCount_v2");
    get_handle_ = library_.Symbol<NvmlReturn(unsigned int, NvmlDevice*)>("nvmlDeviceGetHandleByIndex_v2");
    get_name_ = library_.Symbol<NvmlReturn(NvmlDevice, char*, unsigned int)>("nvmlDeviceGetName");
    get_memory_ = library_.Symbol<NvmlReturn(NvmlDevice, NvmlMemory*)>("nvmlDeviceGetMemoryInfo");
    get_pci_ = library_.Symbol<NvmlReturn(NvmlDevice, NvmlPciInfo*)>("nvmlDeviceGetPciInfo_v3");  // optional
    get_driver_version_ = library_.Symbol<NvmlReturn(char*, unsigned int)>("nvmlSystemGetDriverVersion");
    get_capability_ = library_.Symbol<NvmlReturn(NvmlDevice, int*, int*)>("nvmlDeviceGetCudaComputeCapability");  // optional
    return init_ != nullptr && shutdown_ != nullptr && get_count_ != nullptr && get_handle_ != nullptr &&
           get_name_ != nullptr && get_memory_ != nullptr && get_driver_version_ != nullptr;
  }

  DynamicLibrary library_;
  NvmlReturn (*init_)() = nullptr;
  NvmlReturn (*shutdown_)() = nullptr;
  NvmlReturn (*get_count_)(unsigned int*) = nullptr;
  NvmlReturn (*get_handle_)(unsigned int, NvmlDevice*) = nullptr;
  NvmlReturn (*get_name_)(NvmlDevice, char*, unsigned int) = nullptr;
  NvmlReturn (*get_memory_)(NvmlDevice, NvmlMemory*) = nullptr;
  NvmlReturn (*get_pci_)(NvmlDevice, NvmlPciInfo*) = nullptr;
  NvmlReturn (*get_driver_version_)(char*, unsigned int) = nullptr;
  NvmlReturn (*get_capability_)(NvmlDevice, int*, int*) = nullptr;
  bool initialized_ = false;
};

// The driver's procfs files are small; anything larger is not one of them.
constexpr std::streamsize kMaxProcFileBytes = 64 * 1024;

std::string ReadSmallFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string text(static_cast<size_t>(kMaxProcFileBytes), '\0');
  in.read(text.data(), kMaxProcFileBytes);
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

// "Model: \t\t NVIDIA H200" -> {"Model", "NVIDIA H200"}, for each "key: value" line of an
// information file. Lines without a colon are skipped.
std::optional<std::string> InformationField(std::string_view text, std::string_view key) {
  for (std::string_view line : StrSplit(text, '\n')) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (StripWhitespace(line.substr(0, colon)) != key) continue;
    return std::string(StripWhitespace(line.substr(colon + 1)));
  }
  return std::nullopt;
}

// The first word of /proc/driver/nvidia/version's "NVRM version:" line that looks like a version
// number ("550.54.15"). The line's wording differs between the proprietary and the open kernel module
// ("... Kernel Module  550.54.15  Tue Mar ..." / "... Open Kernel Module for x86_64  550.54.15 ..."), so
// the number is found by its shape rather than by its position.
std::string DriverVersionFromProcfs(const std::filesystem::path& version_file) {
  const std::string text = ReadSmallFile(version_file);
  for (std::string_view line : StrSplit(text, '\n')) {
    if (!line.starts_with("NVRM version:")) continue;
    for (std::string_view word : StrSplit(line.substr(13), ' ')) {
      word = StripWhitespace(word);
      const bool shaped = !word.empty() && word.front() >= '0' && word.front() <= '9' &&
                          word.find('.') != std::string_view::npos &&
                          std::all_of(word.begin(), word.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
      if (shaped) return std::string(word);
    }
  }
  return "";
}

std::optional<GpuInventory> ProbeProcfs(const std::filesystem::path& gpus_dir) {
  std::error_code error;
  if (!std::filesystem::is_directory(gpus_dir, error)) return std::nullopt;
  // One directory per GPU, named by its PCI bus id. Sorting by that name gives the order NVML and
  // `nvidia-smi` use (PCI bus order).
  std::vector<std::filesystem::path> gpu_dirs;
  std::filesystem::directory_iterator it(gpus_dir, error), end;
  for (; !error && it != end; it.increment(error)) {
    std::error_code entry_error;
    if (it->is_directory(entry_error)) gpu_dirs.push_back(it->path());
  }
  if (error) return std::nullopt;
  std::sort(gpu_dirs.begin(), gpu_dirs.end());

  GpuInventory inventory;
  inventory.source = GpuInventory::Source::kProcfs;
  for (const auto& dir : gpu_dirs) {
    // A directory with a missing or garbled information file is still a GPU the driver knows about;
    // it is counted with whatever could be read.
    const std::string information = ReadSmallFile(dir / "information");
    GpuDevice device;
    device.index = inventory.count();
    device.name = InformationField(information, "Model").value_or("");
    device.bus_id = InformationField(information, "Bus Location").value_or(dir.filename().string());
    inventory.devices.push_back(std::move(device));
  }
  // `<gpus_dir>/../version`; lexically_normal + the parent of a trailing-slash path keeps "gpus/"
  // and "gpus" equivalent.
  std::filesystem::path normal = gpus_dir.lexically_normal();
  if (!normal.has_filename()) normal = normal.parent_path();
  inventory.driver_version = DriverVersionFromProcfs(normal.parent_path() / "version");
  return inventory;
}

}  // namespace

GpuProbeOptions GpuProbeOptionsFromEnv(const Environment& env) {
  GpuProbeOptions options;
  if (auto library = env.GetNonEmpty("ACCEL_NVML_LIBRARY")) options.nvml_library = *library;
  if (auto dir = env.GetNonEmpty("ACCEL_PROC_NVIDIA_GPUS")) options.proc_gpus_dir = *dir;
  return options;
}

GpuInventory ProbeGpus(const GpuProbeOptions& options) {
  if (!options.nvml_library.empty()) {
    if (auto session = NvmlSession::Open(options.nvml_library)) {
      if (auto inventory = session->Inventory()) return *std::move(inventory);
    }
  }
  if (auto inventory = ProbeProcfs(options.proc_gpus_dir)) return *std::move(inventory);
  return {};
}

}  // namespace accel::common
