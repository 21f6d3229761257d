// Inputs of a supervised run: options, the per-worker command factory, and the hooks for multi-machine
// use. Plain values, validated once (ValidateSupervisorOptions) and then read-only.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/process_launcher.h"
#include "agent/run_result.h"
#include "agent/std_spec.h"

namespace accel::agent {

/// What one local worker runs for one attempt.
struct WorkerCommand {
  std::vector<std::string> argv;  // argv[0] is looked up on the PATH found in `env` when it has no '/'.
  std::vector<std::string> env;   // The complete environment, "KEY=VALUE".
  std::string working_dir;        // Empty: inherit the launcher's.
  // Launcher descriptors the worker keeps at the same numbers (everything else above 2 is closed).
  // They must stay open until Run() returns.
  std::vector<int> pass_fds;
  // The account the worker runs as (see ProcessSpec::run_as); unset: the launcher's own.
  std::optional<RunAs> run_as;
};

struct AttemptInfo {
  int restart_count = 0;    // 0 on the first attempt, +1 per group restart (TORCHELASTIC_RESTART_COUNT).
  std::string attempt_dir;  // <run_dir>/attempt_<n>; empty when logs are disabled (log_root /dev/null).

  /// <attempt_dir>/<local_rank>/error.json (TORCHELASTIC_ERROR_FILE), or "" when logs are disabled.
  std::string ErrorFile(int local_rank) const;
  /// <attempt_dir>/<local_rank>.
  std::string RankDir(int local_rank) const;
};

/// Builds a worker's command. Called on the loop thread for every local rank at every (re)start, after
/// AgentHooks::before_attempt.
using WorkerCommandFactory = std::function<WorkerCommand(int local_rank, const AttemptInfo&)>;

/// Hooks for the multi-machine layer (rendezvous). All run on the loop thread; keep them short, since
/// nothing else (signals, output) is handled while they run.
struct AgentHooks {
  /// Before every attempt, before the factory is called. An error aborts the run: exit code 1,
  /// RunResult::status carries the error.
  std::function<absl::Status(const AttemptInfo&)> before_attempt;
  /// When the local group failed (after it was stopped, before any restart). `failures` is root cause
  /// first.
  std::function<void(const AttemptInfo&, const std::vector<WorkerFailure>&)> on_group_failure;
  /// Every monitor_interval while workers run: a cheap health / metrics pass.
  std::function<void(int running_workers)> on_monitor;
  /// A worker printed nothing for hang_timeout (once per worker and attempt), before any hang restart.
  std::function<void(int local_rank, absl::Duration silent)> on_worker_hung;
};

struct SupervisorOptions {
  int local_world_size = 1;
  int base_rank = 0;  // Global rank of local rank 0 (for the summary and ${rank}).
  std::string host;   // This machine's name (for the summary).
  std::string role = "default";
  int max_restarts = 0;
  absl::Duration monitor_interval = absl::Milliseconds(100);  // Periodic health pass.
  absl::Duration stop_grace = absl::Seconds(30);              // SIGTERM -> grace -> SIGKILL.
  absl::Duration restart_backoff = absl::ZeroDuration();      // Wait before a restart.

  // Logs. log_root empty: a fresh temporary root "<tmp_dir>/accel_XXXXXX", removed when the run ends
  // (error files still work during the run). log_root "/dev/null": no files at all, error files
  // disabled. Otherwise torchrun's layout <log_root>/<run_id>_<random>/attempt_<n>/<local_rank>/.
  std::string log_root;
  std::string run_id = "none";
  // When set, attempts go exactly under this directory (created if missing) instead of a fresh
  // <log_root>/<run_id>_<random>: a job that is started one attempt at a time (acceld) keeps one run
  // directory.
  std::string run_dir;
  // The restart count of the first attempt (acceld starts attempt N of a job as a fresh run).
  // max_restarts counts from here.
  int first_restart_count = 0;
  std::string tmp_dir = "/tmp";  // The caller's $TMPDIR (library code does not read the environment).

  // Per local rank; empty means every stream is kConsole. See ResolveOutputTargets().
  std::vector<RankOutputTargets> output_targets;
  // false: kConsole streams are the launcher's own stdout/stderr, inherited directly (the
  // single-process "simple launcher"); kFile and kTee streams are unaffected.
  bool capture_output = true;
  // Console line prefix template (TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE) with ${role_name}, ${rank},
  // ${local_rank}. Empty: "[${role_name}${local_rank}]:". Lines are prefixed when local_world_size > 1
  // or a template is given; a single worker without a template passes its bytes through unchanged.
  std::string line_prefix_template;
  // Give the console sink whole lines without any prefix, even from a single worker (acceld, whose
  // sink labels lines with their rank itself).
  bool unprefixed_lines = false;
  absl::Duration output_idle_flush = absl::Seconds(1);  // Partial console lines wait at most this long.

  // Read SIGINT/SIGTERM/SIGHUP/SIGQUIT (and SIGCHLD) through a signalfd on the loop thread and stop the
  // workers with them. Turn off when the embedding program handles signals itself (the daemon) and
  // calls LocalAgent::RequestStop().
  bool handle_signals = true;
  // Make the process a child subreaper so orphaned grandchildren of workers are reparented to it and
  // reaped (and killed when the run ends) instead of escaping to init.
  bool child_subreaper = true;

  // Health and metrics. hang_timeout > 0: a running worker that wrote nothing to stdout/stderr for
  // that long is marked hung (a warning, AgentHooks::on_worker_hung, the hung state in its stats);
  // with hang_restart it is also failed, which restarts the group while restarts remain. Detection
  // needs the worker's output captured or in a log file (kFile streams are judged by the file's mtime).
  absl::Duration hang_timeout = absl::ZeroDuration();
  bool hang_restart = false;
  // How often worker statistics (/proc CPU and memory, seconds since output) go to the stats sink.
  absl::Duration stats_interval = absl::Seconds(1);
  // The job label of the metrics; empty: run_id.
  std::string metrics_job;
};

/// InvalidArgument naming the first bad field ("local_world_size=0: must be >= 1").
absl::Status ValidateSupervisorOptions(const SupervisorOptions& options);

/// The console prefix for a rank after substituting the template (see line_prefix_template).
std::string ExpandLinePrefix(std::string_view templ, std::string_view role, int rank, int local_rank);

}  // namespace accel::agent
