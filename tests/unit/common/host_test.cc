// common/host: GPU probe, machine facts and runtime-library lookup, against real files in a temp dir
// (a fake /proc/driver/nvidia tree, fake sysfs topology, a hand-built ld.so.cache) and against this
// machine where the answer is known to be sane.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/environment.h"
#include "common/host/gpu_probe.h"
#include "common/host/host_info.h"
#include "common/host/runtime_probe.h"
#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace accel::common {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

void WriteFile(const fs::path& path, std::string_view text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(::testing::TempDir()) / "host_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code error;
    fs::remove_all(dir_, error);
  }
  fs::path dir_;
};

// ---------------------------------------------------------------------------------------------------
// GPU probe

constexpr std::string_view kH200Information =
    "Model: \t\t NVIDIA H200\n"
    "IRQ:   \t\t 180\n"
    "GPU UUID: \t GPU-5f0c7a4e-0000-0000-0000-000000000000\n"
    "Video BIOS: \t 96.00.99.00.01\n"
    "Bus Type: \t PCIe\n"
    "DMA Size: \t 52 bits\n"
    "DMA Mask: \t 0xfffffffffffff\n"
    "Bus Location: \t 0000:19:00.0\n"
    "Device Minor: \t 0\n"
    "GPU Excluded:\t No\n";

class GpuProbeTest : public TempDirTest {
 protected:
  fs::path GpusDir() const { return dir_ / "nvidia" / "gpus"; }

  void AddGpu(std::string_view bus_id, std::string_view model) {
    std::string text(kH200Information);
    text.replace(text.find("NVIDIA H200"), 11, model);
    text.replace(text.find("0000:19:00.0"), 12, bus_id);
    WriteFile(GpusDir() / bus_id / "information", text);
  }

  GpuProbeOptions Options() const {
    // A path that cannot load, so NVML is skipped even on a machine with a real driver.
    return GpuProbeOptions{.nvml_library = (dir_ / "no-such-libnvidia-ml.so.1").string(), .proc_gpus_dir = GpusDir()};
  }
};

TEST_F(GpuProbeTest, ProcfsTreeGivesCountNamesBusIdsAndDriverVersion) {
  // Created out of order: the probe reports PCI bus order, as nvidia-smi does.
  AddGpu("0000:3b:00.0", "NVIDIA H100 80GB HBM3");
  AddGpu("0000:19:00.0", "NVIDIA H200");
  WriteFile(dir_ / "nvidia" / "version",
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
            "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n");

  const GpuInventory gpus = ProbeGpus(Options());
  EXPECT_EQ(gpus.source, GpuInventory::Source::kProcfs);
  ASSERT_EQ(gpus.count(), 2);
  EXPECT_EQ(gpus.devices[0].name, "NVIDIA H200");
  EXPECT_EQ(gpus.devices[0].bus_id, "0000:19:00.0");
  EXPECT_EQ(gpus.devices[0].index, 0);
  EXPECT_EQ(gpus.devices[1].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(gpus.devices[1].bus_id, "0000:3b:00.0");
  EXPECT_EQ(gpus.devices[1].index, 1);
  EXPECT_EQ(gpus.devices[1].memory_bytes, 0u);  // procfs does not say
  EXPECT_EQ(gpus.driver_version, "550.54.15");
}

TEST_F(GpuProbeTest, OpenKernelModuleVersionLineAndTrailingSlash) {
  AddGpu("0000:19:00.0", "NVIDIA H200");
  WriteFile(dir_ / "nvidia" / "version",
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  560.35.03  Release Build  "
            "(dvs-builder@U16-I3-B03-4-3)  Fri Aug 16 21:21:48 UTC 2024\n");
  GpuProbeOptions options = Options();
  options.proc_gpus_dir = GpusDir().string() + "/";
  const GpuInventory gpus = ProbeGpus(options);
  EXPECT_EQ(gpus.count(), 1);
  EXPECT_EQ(gpus.driver_version, "560.35.03");
}

TEST_F(GpuProbeTest, MalformedFilesAreCountedWithoutNamesAndNeverCrash) {
  AddGpu("0000:19:00.0", "NVIDIA H200");
  // No colon anywhere, binary junk with NULs, an empty file, no information file at all, and a
  // directory where the file should be.
  WriteFile(GpusDir() / "0000:1a:00.0" / "information", "this is not a key value file\n\n\n");
  WriteFile(GpusDir() / "0000:1b:00.0" / "information", std::string("\0\xff\xfe:\x01Model\0:", 12));
  WriteFile(GpusDir() / "0000:1c:00.0" / "information", "");
  fs::create_directories(GpusDir() / "0000:1d:00.0");
  fs::create_directories(GpusDir() / "0000:1e:00.0" / "information");
  WriteFile(GpusDir() / "stray-file", "Model: not a GPU directory\n");
  WriteFile(dir_ / "nvidia" / "version", "NVRM version: garbage without a number\n");

  const GpuInventory gpus = ProbeGpus(Options());
  EXPECT_EQ(gpus.source, GpuInventory::Source::kProcfs);
  ASSERT_EQ(gpus.count(), 6);
  EXPECT_EQ(gpus.devices[0].name, "NVIDIA H200");
  for (int i = 1; i < 6; ++i) EXPECT_EQ(gpus.devices[i].name, "") << i;
  EXPECT_EQ(gpus.devices[4].bus_id, "0000:1d:00.0");  // from the directory name when the file says nothing
  EXPECT_EQ(gpus.driver_version, "");
}

TEST_F(GpuProbeTest, MissingDirectoryMeansNoGpus) {
  const GpuInventory gpus = ProbeGpus(Options());
  EXPECT_EQ(gpus.source, GpuInventory::Source::kNone);
  EXPECT_EQ(gpus.count(), 0);
  EXPECT_EQ(gpus.driver_version, "");
}

TEST_F(GpuProbeTest, EnvironmentOverridesBothLocationsAndBadNvmlFallsThroughToProcfs) {
  AddGpu("0000:19:00.0", "NVIDIA H200");
  AddGpu("0000:3b:00.0", "NVIDIA H200");
  Environment env({{"ACCEL_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1"},
                   {"ACCEL_PROC_NVIDIA_GPUS", GpusDir().string()}});
  const GpuProbeOptions options = GpuProbeOptionsFromEnv(env);
  EXPECT_EQ(options.nvml_library, "/nonexistent/libnvidia-ml.so.1");
  EXPECT_EQ(options.proc_gpus_dir, GpusDir());
  const GpuInventory gpus = ProbeGpus(options);
  EXPECT_EQ(gpus.source, GpuInventory::Source::kProcfs);
  EXPECT_EQ(gpus.count(), 2);

  const GpuProbeOptions defaults = GpuProbeOptionsFromEnv(Environment());
  EXPECT_EQ(defaults.nvml_library, "libnvidia-ml.so.1");
  EXPECT_EQ(defaults.proc_gpus_dir, fs::path("/proc/driver/nvidia/gpus"));
}

TEST_F(GpuProbeTest, LibraryWithoutNvmlSymbolsFallsThroughToProcfs) {
  // A real, loadable library that is not NVML: the symbol lookup fails and the probe moves on.
  AddGpu("0000:19:00.0", "NVIDIA H200");
  GpuProbeOptions options = Options();
  options.nvml_library = "libm.so.6";
  const GpuInventory gpus = ProbeGpus(options);
  EXPECT_EQ(gpus.source, GpuInventory::Source::kProcfs);
  EXPECT_EQ(gpus.count(), 1);
}

// ---------------------------------------------------------------------------------------------------
// Machine facts

TEST(HostInfoTest, ThisMachineHasSaneValues) {
  const int physical = PhysicalCoreCount();
  EXPECT_GE(physical, 1);
  EXPECT_LE(physical, LogicalCpuCount());
  EXPECT_GT(TotalMemoryBytes(), 64ull << 20);  // more than 64 MiB: the kB -> bytes conversion happened
  const std::string platform = PlatformString();
  EXPECT_THAT(platform, StartsWith("Linux-"));
  EXPECT_THAT(platform, HasSubstr("-with-glibc"));
  EXPECT_EQ(platform.find(' '), std::string::npos);
  EXPECT_FALSE(HostName().empty());
}

class HostFilesTest : public TempDirTest {};

TEST_F(HostFilesTest, PhysicalCoresAreDistinctSiblingSets) {
  // Two packages, two cores each, hyperthreaded: 8 logical CPUs, 4 cores. Core ids repeat across
  // packages, which a count of distinct core ids alone would get wrong.
  const fs::path cpus = dir_ / "cpu";
  const char* siblings[] = {"0,4", "1,5", "2,6", "3,7", "0,4", "1,5", "2,6", "3,7"};
  for (int cpu = 0; cpu < 8; ++cpu) {
    WriteFile(cpus / ("cpu" + std::to_string(cpu)) / "topology" / "core_cpus_list", std::string(siblings[cpu]) + "\n");
  }
  fs::create_directories(cpus / "cpufreq");
  fs::create_directories(cpus / "cpuidle");
  EXPECT_EQ(CountPhysicalCores(cpus, dir_ / "no-cpuinfo"), 4);
}

TEST_F(HostFilesTest, OlderKernelsUseThreadSiblingsList) {
  const fs::path cpus = dir_ / "cpu";
  WriteFile(cpus / "cpu0" / "topology" / "thread_siblings_list", "0-1\n");
  WriteFile(cpus / "cpu1" / "topology" / "thread_siblings_list", "0-1\n");
  WriteFile(cpus / "cpu2" / "topology" / "thread_siblings_list", "2-3\n");
  EXPECT_EQ(CountPhysicalCores(cpus, dir_ / "no-cpuinfo"), 2);
}

TEST_F(HostFilesTest, CpuinfoFallbackSumsCoresPerPackage) {
  std::string cpuinfo;
  for (int cpu = 0; cpu < 16; ++cpu) {
    cpuinfo += "processor\t: " + std::to_string(cpu) + "\nvendor_id\t: GenuineIntel\nphysical id\t: " +
               std::to_string(cpu / 8) + "\nsiblings\t: 8\ncpu cores\t: 4\nflags\t\t: fpu vme\n\n";
  }
  WriteFile(dir_ / "cpuinfo", cpuinfo);
  EXPECT_EQ(CountPhysicalCores(dir_ / "no-sysfs", dir_ / "cpuinfo"), 8);
  // Nothing readable: 0, and PhysicalCoreCount() would fall back to the logical count.
  EXPECT_EQ(CountPhysicalCores(dir_ / "no-sysfs", dir_ / "no-cpuinfo"), 0);
  WriteFile(dir_ / "garbage", "physical id: x\ncpu cores: many\n");
  EXPECT_EQ(CountPhysicalCores(dir_ / "no-sysfs", dir_ / "garbage"), 0);
}

TEST_F(HostFilesTest, MemTotalIsReadInKibibytes) {
  WriteFile(dir_ / "meminfo", "MemFree:         1000 kB\nMemTotal:       32874448 kB\nMemAvailable:   2 kB\n");
  EXPECT_EQ(ReadMemTotalBytes(dir_ / "meminfo"), 32874448ull * 1024);
  WriteFile(dir_ / "bad", "MemTotal: lots\n");
  EXPECT_EQ(ReadMemTotalBytes(dir_ / "bad"), 0u);
  EXPECT_EQ(ReadMemTotalBytes(dir_ / "missing"), 0u);
}

TEST(PlatformStringTest, MatchesPythonPlatformCleanup) {
  EXPECT_EQ(FormatPlatformString("Linux", "6.1.0-18-amd64", "x86_64", "2.36"),
            "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36");
  // Python's platform._platform('Linux', '5.4 (custom)', 'x86_64', '', 'with', 'glibc2.36').
  EXPECT_EQ(FormatPlatformString("Linux", "5.4 (custom)", "x86_64", "2.36"), "Linux-5.4_-custom-x86_64-with-glibc2.36");
  EXPECT_EQ(FormatPlatformString("Linux", "6.1.0-unknown-1", "x86_64", "2.36"), "Linux-6.1.0-1-x86_64-with-glibc2.36");
  EXPECT_EQ(FormatPlatformString("Linux", "6.8.0", "aarch64", ""), "Linux-6.8.0-aarch64");
}

// ---------------------------------------------------------------------------------------------------
// Runtime libraries

TEST(RuntimeProbeTest, VersionEncodings) {
  EXPECT_EQ(FormatCudaVersion(12040), "12.4");
  EXPECT_EQ(FormatCudaVersion(13000), "13.0");
  EXPECT_EQ(FormatCudaVersion(11080), "11.8");
  EXPECT_EQ(FormatNcclVersion(22803), "2.28.3");
  EXPECT_EQ(FormatNcclVersion(21805), "2.18.5");
  EXPECT_EQ(FormatNcclVersion(2708), "2.7.8");  // pre-2.9 encoding
}

TEST(RuntimeProbeTest, MissingOrForeignLibrariesAreReportedNotFatal) {
  EXPECT_EQ(ProbeNccl("/nonexistent/libnccl.so.2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ProbeCudaDriver("/nonexistent/libcuda.so.1").status().code(), absl::StatusCode::kNotFound);
  // Loadable, but not the library asked for.
  EXPECT_EQ(ProbeCudaDriver("libm.so.6").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ProbeNccl("libm.so.6").status().code(), absl::StatusCode::kUnavailable);
}

TEST(RuntimeProbeTest, DynamicLibraryResolvesSymbolsAndItsPath) {
  auto libm = DynamicLibrary::Open("libm.so.6");
  ASSERT_TRUE(libm.ok()) << libm.status();
  auto* cosine = libm->Symbol<double(double)>("cos");
  ASSERT_NE(cosine, nullptr);
  EXPECT_DOUBLE_EQ(cosine(0.0), 1.0);
  EXPECT_EQ(libm->Symbol<void()>("no_such_symbol_anywhere"), nullptr);
  EXPECT_THAT(libm->LoadedPath(), HasSubstr("libm.so.6"));
  DynamicLibrary moved = *std::move(libm);
  EXPECT_NE(moved.Symbol<double(double)>("cos"), nullptr);
}

class LibrarySearchTest : public TempDirTest {
 protected:
  // A file the search accepts: any ELF object of this process's class and machine, e.g. a copy of
  // this test binary. It is never loaded.
  void WriteElf(const fs::path& path) {
    fs::create_directories(path.parent_path());
    fs::copy_file("/proc/self/exe", path, fs::copy_options::overwrite_existing);
  }

  // A glibc-ld.so.cache1.1 file with one entry per {soname, path}.
  void WriteLdCache(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& entries) {
    constexpr size_t kHeader = 48, kEntry = 24;
    std::string strings;
    std::vector<std::pair<uint32_t, uint32_t>> offsets;
    const size_t strings_start = kHeader + entries.size() * kEntry;
    for (const auto& [key, value] : entries) {
      const auto key_at = static_cast<uint32_t>(strings_start + strings.size());
      strings += key + '\0';
      const auto value_at = static_cast<uint32_t>(strings_start + strings.size());
      strings += value + '\0';
      offsets.emplace_back(key_at, value_at);
    }
    std::string data(kHeader, '\0');
    std::memcpy(data.data(), "glibc-ld.so.cache1.1", 20);
    const auto nlibs = static_cast<uint32_t>(entries.size());
    const auto len_strings = static_cast<uint32_t>(strings.size());
    std::memcpy(data.data() + 20, &nlibs, 4);
    std::memcpy(data.data() + 24, &len_strings, 4);
    for (const auto& [key_at, value_at] : offsets) {
      std::string entry(kEntry, '\0');
      const int32_t flags = 0x0303;  // ELF libc6, x86-64
      std::memcpy(entry.data(), &flags, 4);
      std::memcpy(entry.data() + 4, &key_at, 4);
      std::memcpy(entry.data() + 8, &value_at, 4);
      data += entry;
    }
    data += strings;
    WriteFile(path, data);
  }
};

TEST_F(LibrarySearchTest, LdLibraryPathFirstAndNonElfFilesSkipped) {
  WriteFile(dir_ / "a" / "libfoo.so", "not an ELF file");
  WriteElf(dir_ / "b" / "libfoo.so");
  WriteElf(dir_ / "c" / "libfoo.so");
  LibrarySearchOptions options{
      .ld_library_path = StrCat((dir_ / "missing").string(), ":", (dir_ / "a").string(), "::",
                                (dir_ / "b").string(), ":", (dir_ / "c").string()),
      .ld_so_cache = "",
      .default_dirs = {}};
  auto found = FindSharedLibrary("libfoo.so", options);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, dir_ / "b" / "libfoo.so");

  options.ld_library_path = (dir_ / "a").string();
  EXPECT_EQ(FindSharedLibrary("libfoo.so", options).status().code(), absl::StatusCode::kNotFound);
  options.default_dirs = {dir_ / "c"};
  EXPECT_EQ(*FindSharedLibrary("libfoo.so", options), dir_ / "c" / "libfoo.so");
}

TEST_F(LibrarySearchTest, LdSoCacheEntriesAreUsedBeforeDefaultDirs) {
  WriteElf(dir_ / "cached" / "libbar.so.1");
  WriteElf(dir_ / "default" / "libbar.so.1");
  WriteLdCache(dir_ / "ld.so.cache", {{"libother.so", (dir_ / "default" / "libbar.so.1").string()},
                                      {"libbar.so.1", (dir_ / "gone" / "libbar.so.1").string()},
                                      {"libbar.so.1", (dir_ / "cached" / "libbar.so.1").string()}});
  LibrarySearchOptions options{.ld_library_path = "", .ld_so_cache = dir_ / "ld.so.cache", .default_dirs = {dir_ / "default"}};
  auto found = FindSharedLibrary("libbar.so.1", options);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, dir_ / "cached" / "libbar.so.1");

  // A truncated or foreign cache is ignored, not trusted.
  WriteFile(dir_ / "ld.so.cache", std::string("glibc-ld.so.cache1.1\xff\xff\xff\x7f", 24));
  EXPECT_EQ(*FindSharedLibrary("libbar.so.1", options), dir_ / "default" / "libbar.so.1");
}

TEST_F(LibrarySearchTest, LibtorchVersionFromItsDistributionOrWheel) {
  // The C++ distribution (libtorch-*.zip): <root>/build-version next to <root>/lib.
  WriteElf(dir_ / "libtorch" / "lib" / "libtorch_cpu.so");
  WriteFile(dir_ / "libtorch" / "build-version", "2.5.1+cu124\n");
  auto found = FindLibtorch(Environment({{"LD_LIBRARY_PATH", (dir_ / "libtorch" / "lib").string()}}));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->version, "2.5.1+cu124");
  EXPECT_EQ(found->path, dir_ / "libtorch" / "lib" / "libtorch_cpu.so");

  // The Python wheel: torch/version.py next to torch/lib.
  WriteElf(dir_ / "site-packages" / "torch" / "lib" / "libtorch_cpu.so");
  WriteFile(dir_ / "site-packages" / "torch" / "version.py",
            "from typing import Optional\n__all__ = ['__version__']\n__version__ = '2.11.0+cu130'\ncuda = '13.0'\n");
  found = FindLibtorch(Environment({{"LD_LIBRARY_PATH", (dir_ / "site-packages" / "torch" / "lib").string()}}));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->version, "2.11.0+cu130");
}

}  // namespace
}  // namespace accel::common
