#include "common/host/host_info.h"

#include <gnu/libc-version.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <vector>

#include "common/strings.h"

namespace accel::common {
namespace {

// Reads at most `limit` bytes: every file read here is a small kernel-generated one, and a huge or
// endless file (a FIFO put there by a test, say) must not stall the caller.
std::string ReadSmallFile(const std::filesystem::path& path, size_t limit = 1 << 20) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string text(limit, '\0');
  in.read(text.data(), static_cast<std::streamsize>(limit));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

bool IsCpuDirName(std::string_view name) {
  if (!name.starts_with("cpu") || name.size() == 3) return false;
  // psutil globs cpu[0-9]*; "cpufreq" and "cpuidle" sit in the same directory.
  return name[3] >= '0' && name[3] <= '9';
}

int CountFromTopology(const std::filesystem::path& sys_cpu_dir) {
  // Two CPUs are the same core exactly when they list the same sibling set, whatever the
  // package/die/core numbering of the machine (core ids repeat across packages and are sparse).
  for (const char* file : {"core_cpus_list", "thread_siblings_list"}) {
    std::set<std::string> cores;
    std::error_code error;
    std::filesystem::directory_iterator it(sys_cpu_dir, error), end;
    for (; !error && it != end; it.increment(error)) {
      if (!IsCpuDirName(it->path().filename().string())) continue;
      const std::string siblings = ReadSmallFile(it->path() / "topology" / file, 4096);
      if (auto text = StripWhitespace(siblings); !text.empty()) cores.emplace(text);
    }
    if (!cores.empty()) return static_cast<int>(cores.size());
  }
  return 0;
}

int CountFromCpuinfo(const std::filesystem::path& proc_cpuinfo) {
  // psutil: one "processor" block per logical CPU; sum "cpu cores" over distinct "physical id"s.
  std::map<int64_t, int64_t> cores_per_package;
  std::optional<int64_t> package;
  std::optional<int64_t> cores;
  auto end_block = [&] {
    if (package && cores) cores_per_package[*package] = *cores;
    package.reset();
    cores.reset();
  };
  const std::string cpuinfo = ReadSmallFile(proc_cpuinfo);  // outlives the views into it
  for (std::string_view line : StrSplit(cpuinfo, '\n')) {
    line = StripWhitespace(line);
    if (line.empty()) {
      end_block();
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string key = AsciiToLower(StripWhitespace(line.substr(0, colon)));
    const auto value = ParseInt64(StripWhitespace(line.substr(colon + 1)));
    if (key == "physical id") package = value;
    if (key == "cpu cores") cores = value;
  }
  end_block();
  int64_t total = 0;
  for (const auto& [id, count] : cores_per_package) total += count;
  return total > 0 && total < (1 << 20) ? static_cast<int>(total) : 0;
}

std::string CleanPlatformString(std::string text) {
  for (char& c : text) {
    switch (c) {
      case ' ':
        c = '_';
        break;
      case '/':
      case '\\':
      case ':':
      case ';':
      case '"':
      case '(':
      case ')':
        c = '-';
        break;
      default:
        break;
    }
  }
  for (size_t at; (at = text.find("unknown")) != std::string::npos;) text.erase(at, 7);
  for (size_t at; (at = text.find("--")) != std::string::npos;) text.erase(at, 1);
  while (!text.empty() && text.back() == '-') text.pop_back();
  return text;
}

}  // namespace

int LogicalCpuCount() {
  const long count = ::sysconf(_SC_NPROCESSORS_ONLN);
  return count >= 1 ? static_cast<int>(count) : 1;
}

int CountPhysicalCores(const std::filesystem::path& sys_cpu_dir, const std::filesystem::path& proc_cpuinfo) {
  if (const int cores = CountFromTopology(sys_cpu_dir); cores > 0) return cores;
  return CountFromCpuinfo(proc_cpuinfo);
}

int PhysicalCoreCount() {
  const int cores = CountPhysicalCores("/sys/devices/system/cpu", "/proc/cpuinfo");
  return cores > 0 ? cores : LogicalCpuCount();
}

uint64_t ReadMemTotalBytes(const std::filesystem::path& proc_meminfo) {
  const std::string meminfo = ReadSmallFile(proc_meminfo);  // outlives the views into it
  for (std::string_view line : StrSplit(meminfo, '\n')) {
    if (!line.starts_with("MemTotal:")) continue;
    std::string_view rest = StripWhitespace(line.substr(9));
    // "32874448 kB": the kernel always reports kibibytes here.
    if (rest.ends_with("kB")) rest = StripWhitespace(rest.substr(0, rest.size() - 2));
    const auto kib = ParseInt64(rest);
    if (!kib || *kib < 0 || *kib > static_cast<int64_t>(UINT64_MAX / 1024)) return 0;
    return static_cast<uint64_t>(*kib) * 1024;
  }
  return 0;
}

uint64_t TotalMemoryBytes() { return ReadMemTotalBytes("/proc/meminfo"); }

std::string FormatPlatformString(std::string_view system, std::string_view release, std::string_view machine,
                                 std::string_view libc_version) {
  // platform.platform() also joins uname's "processor", but drops it when it equals the machine
  // (Ubuntu, Fedora) or is "unknown" (Debian), which covers Linux in practice; it is left out here.
  std::vector<std::string_view> parts;
  for (std::string_view part : {system, release, machine}) {
    if (part = StripWhitespace(part); !part.empty()) parts.push_back(part);
  }
  std::string text = StrJoin(parts, "-");
  if (!libc_version.empty()) text += StrCat("-with-glibc", StripWhitespace(libc_version));
  return CleanPlatformString(std::move(text));
}

std::string PlatformString() {
  utsname names{};
  if (::uname(&names) != 0) return "Linux";
  return FormatPlatformString(names.sysname, names.release, names.machine, ::gnu_get_libc_version());
}

std::string HostName() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof(buffer) - 1) != 0) return "localhost";
  return buffer;
}

}  // namespace accel::common
