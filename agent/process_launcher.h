// The seam between worker supervision and the operating system: start a process, learn when it
// exits, signal it, and never leave it behind.
//
// This header stays free of implementation includes so that WorkerGroup and its tests depend only on
// the interface; PosixProcessLauncher (posix_process_launcher.h) is the real one and tests use a fake.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace accel::agent {

/// How a process ended: exactly one of `exit_code` (normal exit) or `signal` (killed) is meaningful.
struct ExitStatus {
  int exit_code = 0;  // -1 when the process was killed by a signal.
  int signal = 0;     // 0 when the process exited normally.
  // Set when the child never reached execve() (bad working dir, exec failure; exit_code is then 127),
  // or when its real status was lost (exit_code 255).
  std::string error;

  static ExitStatus Exited(int code) { return ExitStatus{code, 0, {}}; }
  static ExitStatus Killed(int sig) { return ExitStatus{-1, sig, {}}; }

  bool success() const { return signal == 0 && exit_code == 0; }
  /// The shell convention: the exit code, or 128 + signal number.
  int ShellExitCode() const { return signal != 0 ? 128 + signal : exit_code; }
  /// "exit code 7", "signal 9 (SIGKILL)", or "exit code 127 (<error>)".
  std::string ToString() const;
};

/// Exit code reported for a worker that could not be started at all (program not found, not
/// executable, bad working directory, fork failure). Matches the shell's "command not found".
inline constexpr int kSpawnFailureExitCode = 127;

/// "SIGKILL" for 9 etc.; "SIG<n>" for numbers without a name.
std::string SignalName(int signal);

/// The account a process runs as (acceld running as root starts each job's workers as its owner).
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (from getgrouplist), set with setgroups()
};

/// Everything needed to start one process.
struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] without '/' is looked up on the PATH found in `env`.
  std::vector<std::string> env;   // The complete environment, "KEY=VALUE".
  std::string working_dir;        // Empty: inherit the launcher's.
  // Descriptors for the child's stdout / stderr (borrowed; the launcher dup2()s them), or -1 to
  // inherit the launcher's own.
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Descriptors (borrowed) that the child keeps at the same numbers. Every other descriptor above 2
  // is closed on exec, whatever its close-on-exec flag.
  std::vector<int> pass_fds;
  // Set: the child drops to this account (setgroups, setgid, setuid, in that order) before anything
  // else that the account's permissions should govern (chdir, execve). Needs the launcher to be root.
  std::optional<RunAs> run_as;
};

/// One started process, and the promise that it does not outlive this object.
///
/// Thread: the thread that launched it (the supervisor's loop thread). Not thread-safe.
/// Invariant: from Launch() until destruction the child's pid stays reserved (a zombie is reaped only
/// by the destructor), so signalling its process group can never hit an unrelated process.
class ChildProcess {
 public:
  /// Kills the child's whole process group with SIGKILL if anything in it may still run, and reaps the
  /// child. Blocks until the child is gone (normally microseconds after SIGKILL).
  virtual ~ChildProcess() = default;

  virtual pid_t pid() const = 0;
  /// Readable (EPOLLIN) once the child has exited; for EventLoop::WatchFd. Owned by this object.
  virtual int exit_fd() const = 0;
  /// Sends `signal` to the child's process group (the child leads its own group). OK when the group is
  /// already empty.
  virtual absl::Status SignalGroup(int signal) = 0;
  /// Non-blocking: the exit status once the child has exited, nullopt while it runs. The child stays
  /// a zombie (its pid reserved) until destruction. Repeated calls return the same status.
  virtual std::optional<ExitStatus> TryWait() = 0;
};

/// Starts processes. Thread: whichever thread must own the children (see PosixProcessLauncher).
class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  /// Starts `spec`. Errors: NotFound (program not on PATH), PermissionDenied (not executable),
  /// Internal / ResourceExhausted (pipe, fork or pidfd failure). Failures that happen inside the child
  /// after fork (chdir, execve) are not errors here: the child exits 127 and TryWait() reports them
  /// in ExitStatus::error.
  virtual absl::StatusOr<std::unique_ptr<ChildProcess>> Launch(const ProcessSpec& spec) = 0;
};

}  // namespace accel::agent
