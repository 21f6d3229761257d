// What a supervised run produced: exit code, failures (root cause first), restarts, and a report.
//
// Plain values; any thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/process_launcher.h"

namespace accel::agent {

/// A worker that failed on its own (not one the supervisor stopped).
struct WorkerFailure {
  int local_rank = 0;
  int global_rank = 0;
  std::string host;
  pid_t pid = -1;         // -1 when the process could not be started at all.
  int exit_code = 0;      // -1 if signalled.
  int signal = 0;         // 0 if it exited.
  absl::Time time;        // From the error file when it has a timestamp, else when the exit was seen.
  std::string error_file;  // Path the worker was told to write (TORCHELASTIC_ERROR_FILE); may not exist.
  bool error_file_found = false;
  std::string message;    // Error-file message, the spawn error, or empty.
  std::string traceback;  // Error-file py_callstack, or empty.

  /// 128 + signal, or the exit code.
  int ShellExitCode() const { return signal != 0 ? 128 + signal : exit_code; }
};

/// How each worker of the final attempt ended (failed, succeeded or stopped by the supervisor).
struct WorkerExit {
  int local_rank = 0;
  pid_t pid = -1;
  ExitStatus status;
};

/// Timing of one attempt, for logs and benchmarks. Monotonic offsets from the start of Run().
struct AttemptRecord {
  int restart_count = 0;
  absl::Duration started;           // Just before the first worker was forked.
  absl::Duration all_launched;      // After the last worker was forked.
  absl::Duration stop_began;        // First SIGTERM sent (InfiniteDuration if the group ended by itself).
  absl::Duration ended;             // Every worker gone.
  bool succeeded = false;
};

struct RunResult {
  /// 0 on success; the root-cause worker's exit code (or 128 + signal); 128 + signal when the launcher
  /// itself was signalled; 1 when the run could not proceed (see `status`).
  int exit_code = 0;
  /// Failures of the final attempt, root cause (earliest) first.
  std::vector<WorkerFailure> failures;
  int restarts = 0;
  /// The signal that stopped the launcher (SIGTERM, SIGINT, ...), or 0.
  int launcher_signal = 0;
  /// Not OK when the run stopped for a reason other than worker exits: invalid options, unusable log
  /// directory, a failed before-attempt hook, a restart request with no restarts left.
  absl::Status status;
  /// <log_root>/<run_id>_<random>, or empty when logs went to a temporary root that is now removed.
  std::string run_dir;
  std::vector<WorkerExit> final_exits;
  std::vector<AttemptRecord> attempts;
};

/// The torchrun-style failure block: a rule, "<entrypoint> FAILED", the other failures, and the root
/// cause, each with time (ISO, local time), host, global and local rank, exit code or signal name,
/// pid, error file and message / traceback. Empty string when there are no failures.
std::string FormatFailureSummary(const RunResult& result, std::string_view entrypoint);

/// The root cause in one line, for `--quiet`: the workers' own tracebacks are already on the console.
std::string FormatFailureLine(const RunResult& result, std::string_view entrypoint);

}  // namespace accel::agent
