// Facts about this machine that launch defaults and `accelctl env` need.
//
// Each fact is read fresh on every call (no caching, no global state); every function is cheap (a
// few small /proc or /sys reads) and safe to call from any thread. None of them fails: an unreadable
// source gives the documented fallback.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace accel::common {

/// Physical cores (distinct core ids per package), as psutil.cpu_count(logical=False); falls back to
/// the logical CPU count when the topology cannot be read.
int PhysicalCoreCount();

/// Online logical CPUs (sysconf(_SC_NPROCESSORS_ONLN)), at least 1.
int LogicalCpuCount();

/// Total RAM in bytes (MemTotal of /proc/meminfo); 0 when unknown.
uint64_t TotalMemoryBytes();

/// Python's platform.platform() form: "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36".
std::string PlatformString();

/// This machine's host name (gethostname), "localhost" if that fails.
std::string HostName();

// The same facts from explicit sources, for tests and unusual roots.

/// psutil's algorithm: the number of distinct `topology/core_cpus_list` (else `thread_siblings_list`)
/// files' contents under `sys_cpu_dir`/cpu<N>/; else, from `proc_cpuinfo`, the sum of "cpu cores" over
/// distinct "physical id"s. 0 when neither source gives an answer.
int CountPhysicalCores(const std::filesystem::path& sys_cpu_dir, const std::filesystem::path& proc_cpuinfo);

/// MemTotal (kB in the file) of a /proc/meminfo-format file, in bytes; 0 when absent or malformed.
uint64_t ReadMemTotalBytes(const std::filesystem::path& proc_meminfo);

/// platform.platform()'s assembly and clean-up of uname fields: the non-empty parts joined with '-',
/// characters unsafe in file names replaced, "unknown" dropped, "--" folded. `libc_version` empty
/// leaves out the "-with-glibc<version>" suffix.
std::string FormatPlatformString(std::string_view system, std::string_view release, std::string_view machine,
                                 std::string_view libc_version);

}  // namespace accel::common
