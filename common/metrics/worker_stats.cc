#include "common/metrics/worker_stats.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace accel::common {

std::string_view ToString(WorkerState state) {
  switch (state) {
    case WorkerState::kRunning:
      return "running";
    case WorkerState::kHung:
      return "hung";
    case WorkerState::kExited:
      return "exited";
    case WorkerState::kFailed:
      return "failed";
  }
  return "unknown";
}

namespace {

// Reads a small /proc file into `buffer`; returns the length or -1.
ssize_t ReadSmallFile(const char* path, char* buffer, size_t size) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const ssize_t n = ::read(fd, buffer, size - 1);
  ::close(fd);
  if (n >= 0) buffer[n] = '\0';
  return n;
}

}  // namespace

bool ReadProcessUsage(pid_t pid, double* cpu_seconds, uint64_t* resident_bytes) {
  if (pid <= 0) return false;
  char path[64];
  char buffer[1024];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  if (ReadSmallFile(path, buffer, sizeof(buffer)) <= 0) return false;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const char* fields = std::strrchr(buffer, ')');
  if (fields == nullptr) return false;
  // Field 3 is the state; utime and stime are fields 14 and 15.
  const char* p = fields + 2;
  for (int field = 3; field < 14 && *p != '\0'; ++field) {
    p = std::strchr(p, ' ');
    if (p == nullptr) return false;
    ++p;
  }
  char* end = nullptr;
  const unsigned long long utime = std::strtoull(p, &end, 10);
  const unsigned long long stime = std::strtoull(end, nullptr, 10);
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  *cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);

  std::snprintf(path, sizeof(path), "/proc/%d/statm", static_cast<int>(pid));
  if (ReadSmallFile(path, buffer, sizeof(buffer)) <= 0) return false;
  unsigned long long size = 0;
  unsigned long long resident = 0;
  if (std::sscanf(buffer, "%llu %llu", &size, &resident) != 2) return false;
  static const long page = ::sysconf(_SC_PAGESIZE);
  *resident_bytes = resident * static_cast<uint64_t>(page > 0 ? page : 4096);
  return true;
}

}  // namespace accel::common
