// Helpers for agent tests that use real processes and files.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/console_sink.h"

namespace accel::agent::testing {

/// A fresh directory under /tmp, removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/accel_agent_test_XXXXXX";
    if (::mkdtemp(name) != nullptr) path_ = name;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0644) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ::chmod(path.c_str(), mode);
}

/// Polls `condition` every millisecond until it holds or `timeout` passes. For waiting on other
/// processes (files they write, their exit), never for ordering threads of this process.
inline bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

/// 'R', 'S', 'Z', ... from /proc/<pid>/stat, or nullopt when the process is gone.
inline std::optional<char> ProcessState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return std::nullopt;
  const size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return std::nullopt;
  return text[close + 2];
}

/// True while `pid` exists and is not a zombie (i.e. it still runs code).
inline bool IsRunning(pid_t pid) {
  std::optional<char> state = ProcessState(pid);
  return state.has_value() && *state != 'Z' && *state != 'X';
}

/// Reads everything from `fd` until EOF (blocking).
inline std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

/// Collects console output in memory. Written on the loop thread, read after the loop stopped.
class CapturingConsoleSink final : public ConsoleSink {
 public:
  void Write(int local_rank, StdStream stream, std::string_view text) override {
    (stream == StdStream::kStdout ? stdout_text : stderr_text).append(text);
    writes.push_back({local_rank, stream, std::string(text)});
  }
  struct Chunk {
    int local_rank;
    StdStream stream;
    std::string text;
  };
  std::string stdout_text;
  std::string stderr_text;
  std::vector<Chunk> writes;
};

}  // namespace accel::agent::testing
