// ProcessTable: the node's processes as the allocation sweep sees them (the SLURM Epilog's "no worker
// of this job is left"). An interface so the sweep runs against a fake in tests; ProcProcessTable
// reads /proc.
#pragma once

#include <sys/types.h>

#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace accel::agent {

struct ProcessEntry {
  pid_t pid = 0;
  std::string command;  // argv joined by spaces, for messages
};

class ProcessTable {
 public:
  virtual ~ProcessTable() = default;
  /// Live processes (zombies excluded) whose environment has `name`=`value`. Processes whose
  /// environment cannot be read (another user's, without privilege) are skipped.
  virtual std::vector<ProcessEntry> FindByEnv(std::string_view name, std::string_view value) = 0;
  /// The parent of `pid`; 0 when unknown.
  virtual pid_t ParentOf(pid_t pid) = 0;
  /// kill(2); errors (the process is already gone) are ignored.
  virtual void Signal(pid_t pid, int signal) = 0;
};

/// Reads `<proc_root>/<pid>/{environ,stat,cmdline}`. Thread-compatible.
class ProcProcessTable final : public ProcessTable {
 public:
  explicit ProcProcessTable(std::string proc_root = "/proc") : proc_root_(std::move(proc_root)) {}
  std::vector<ProcessEntry> FindByEnv(std::string_view name, std::string_view value) override;
  pid_t ParentOf(pid_t pid) override;
  void Signal(pid_t pid, int signal) override;

 private:
  const std::string proc_root_;
};

struct SweepOptions {
  absl::Duration grace = absl::Seconds(5);      // after SIGTERM, before SIGKILL
  absl::Duration kill_wait = absl::Seconds(5);  // after SIGKILL, before giving up
  absl::Duration poll = absl::Milliseconds(50);
  pid_t self = 0;                               // never signalled, nor its ancestors (the Epilog)
  std::function<void(absl::Duration)> sleep;    // default: absl::SleepFor
};

/// Stops every process whose environment has `name`=`value` (but `self` and its ancestors):
/// SIGTERM, up to `grace` for them to go, SIGKILL, up to `kill_wait`. Returns the ones still alive
/// (empty: none is left).
std::vector<ProcessEntry> SweepProcesses(ProcessTable& table, std::string_view name, std::string_view value,
                                         const SweepOptions& options);

}  // namespace accel::agent
