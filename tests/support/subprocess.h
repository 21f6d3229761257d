// Real child processes for tests: run to completion with captured output, or start in the background
// and signal / wait later. Output goes to files, so a chatty child never blocks on a full pipe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace accel::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by a signal; -1 on timeout
  std::string out;
  std::string err;
  bool timed_out = false;
};

/// The test process's environment with `overrides` applied (an empty value removes the variable).
std::map<std::string, std::string> EnvWith(const std::map<std::string, std::string>& overrides);

/// A child started in the background. The destructor SIGKILLs and reaps it if still running.
class Subprocess {
 public:
  Subprocess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
             const std::filesystem::path& cwd = {}, const std::string& stdin_text = "");
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signal) const;
  /// Waits up to `timeout`; the result has timed_out set (and the child still running) on timeout.
  ProcessResult Wait(std::chrono::milliseconds timeout);
  std::string Out() const;
  std::string Err() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::filesystem::path out_path_;
  std::filesystem::path err_path_;
};

/// Runs to completion (killed after `timeout`).
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60), const std::filesystem::path& cwd = {},
                  const std::string& stdin_text = "");

/// True while `pid` exists and is not a zombie.
bool ProcessAlive(pid_t pid);

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns its last value.
template <typename Condition>
bool WaitFor(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    struct timespec pause = {0, 10'000'000};
    ::nanosleep(&pause, nullptr);
  }
}

/// Path of a built program (build/bin/<name>).
std::string BinaryPath(const std::string& name);
/// Path inside the source tree.
std::string SourcePath(const std::string& relative);

}  // namespace accel::testing
