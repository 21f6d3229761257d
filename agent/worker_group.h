// WorkerGroup: one attempt of the local workers, from fork to the last exit.
//
// State machine (named outcomes, reported once through the done callback):
//
//   kNotStarted --Start()--> kRunning --all exited 0-------------------------------> kDone(kSucceeded)
//                               |  \--a worker failed--> kStopping --all gone------> kDone(kWorkerFailed)
//                               \--Stop(sig)-----------> kStopping --all gone------> kDone(kStopped)
//
// Stopping sends the signal (SIGTERM for failures, the launcher's own signal for forwarded stops) to
// every worker's process group, waits up to `stop_grace` for the workers to exit, then SIGKILLs the
// groups that remain. When every worker has exited, each group gets a final SIGKILL so grandchildren
// a worker left behind cannot outlive the attempt (each worker's pid is kept reserved as a zombie until
// the group is destroyed, so this never hits an unrelated process).
//
// A worker "failed" when it exited non-zero, died by a signal, or could not be started (exit code
// 127) while the group was running. Workers that die after the group began stopping were stopped by
// us and are not failures. When the first failure is seen, every other worker is polled once, so
// workers that failed at the same moment are reported too.
//
// Exits are seen at once through each child's pidfd on the EventLoop; Poll() is a cheap backstop.
//
// Thread: loop thread only. Lifetime: the owner must not destroy the group inside the done callback
// (defer it, e.g. with EventLoop::Post); destroying a group that still runs SIGKILLs and reaps every
// worker.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/console_sink.h"
#include "agent/log_tee.h"
#include "agent/process_launcher.h"
#include "agent/run_result.h"
#include "agent/std_spec.h"
#include "agent/supervisor_options.h"
#include "common/event_loop.h"

namespace accel::agent {

/// One worker of one attempt, fully resolved by the supervisor.
struct WorkerLaunch {
  int local_rank = 0;
  WorkerCommand command;
  RankOutputTargets targets;
  std::string stdout_log;   // Log file for kFile / kTee stdout; "" when logs are disabled.
  std::string stderr_log;
  std::string error_file;   // Where the worker may leave error.json; "" when disabled.
  std::string line_prefix;  // Console prefix for framed lines.
  bool frame_lines = true;  // false: console bytes pass through unchanged (single worker, no prefix).
};

struct WorkerGroupConfig {
  int base_rank = 0;
  std::string host;
  absl::Duration stop_grace = absl::Seconds(30);
  bool capture_output = true;
  absl::Duration output_idle_flush = absl::Seconds(1);
};

class WorkerGroup {
 public:
  enum class State { kNotStarted, kRunning, kStopping, kDone };
  enum class Outcome {
    kSucceeded,     // Every worker exited 0.
    kWorkerFailed,  // At least one worker failed (see failures()); the others were stopped.
    kStopped,       // Stop() ended the group before it finished, and no worker had failed.
  };
  using DoneCallback = std::function<void(Outcome)>;

  /// `launcher` and `console` must outlive the group.
  WorkerGroup(common::EventLoop& loop, ProcessLauncher& launcher, ConsoleSink& console,
              WorkerGroupConfig config, DoneCallback done);
  ~WorkerGroup();
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  /// Starts every worker, in local-rank order. A worker that cannot be started fails the group (exit
  /// code 127, the reason in WorkerFailure::message) and the remaining ranks are not started. The done
  /// callback never runs inside Start().
  void Start(std::vector<WorkerLaunch> workers);
  /// Sends `signal` to every worker's process group and, unless already stopping, starts the grace
  /// period after which survivors get SIGKILL. No-op once done.
  void Stop(int signal);
  /// SIGKILLs every worker's process group now (a second Ctrl-C). No-op once done.
  void Kill();
  /// Backstop for exit detection: checks every running worker without blocking.
  void Poll();

  State state() const { return state_; }
  int running() const { return running_; }
  /// Failures so far, root cause (earliest) first once the group is done.
  const std::vector<WorkerFailure>& failures() const { return failures_; }
  /// How each started worker ended (valid once done).
  std::vector<WorkerExit> Exits() const;
  /// Pids of started workers (each is also its session and process-group id).
  std::vector<pid_t> Pids() const;

  /// One worker as the supervisor's health pass sees it.
  struct WorkerView {
    int local_rank = 0;
    pid_t pid = -1;                   // -1: never started
    std::optional<ExitStatus> status;  // set once exited
    // Monotonic time of its last stdout/stderr byte (a log file's mtime when the stream goes only to a
    // file), or of its start when it printed nothing yet.
    absl::Duration last_output = absl::InfiniteDuration();
  };
  /// Every worker of the attempt, in local-rank order.
  std::vector<WorkerView> Workers() const;
  /// Marks running worker `local_rank` as failed with `message` (its exit is reported as the signal
  /// that stops it, SIGTERM) and stops the group, as if it had failed by itself: the hang-restart path.
  /// No-op unless the group is running and that worker has not exited.
  void FailWorker(int local_rank, std::string message);

  // Monotonic timestamps (EventLoop::MonotonicNow()); InfiniteDuration() when not reached.
  absl::Duration started_at() const { return started_at_; }
  absl::Duration all_launched_at() const { return all_launched_at_; }
  absl::Duration stop_began_at() const { return stop_began_at_; }
  absl::Duration ended_at() const { return ended_at_; }

 private:
  struct Worker {
    WorkerLaunch launch;
    std::unique_ptr<ChildProcess> process;  // Null if never started.
    std::optional<common::EventLoop::WatchId> exit_watch;
    std::optional<ExitStatus> status;
    std::unique_ptr<LogTee> stdout_tee;
    std::unique_ptr<LogTee> stderr_tee;
    absl::Duration launched_at = absl::InfiniteDuration();
  };

  // Launches worker `index`; returns the reason on failure.
  absl::Status LaunchWorker(size_t index);
  // Creates the fd the child gets for one stream (and its LogTee when captured). -1: inherit.
  absl::StatusOr<common::UniqueFd> SetUpStream(Worker& worker, StdStream stream,
                                               std::unique_ptr<LogTee>* tee);
  void OnExitReadable(size_t index);
  // Records the exit of worker `index`; returns true if it counts as a failure.
  bool MarkExited(size_t index, const ExitStatus& status);
  void RecordFailure(size_t index, const ExitStatus& status);
  void BeginStop(int signal);
  void SignalAll(int signal);
  void MaybeFinish();
  void Finish();
  void PostSelf(std::function<void()> fn);

  common::EventLoop& loop_;
  ProcessLauncher& launcher_;
  ConsoleSink& console_;
  const WorkerGroupConfig config_;
  DoneCallback done_;

  State state_ = State::kNotStarted;
  bool stop_requested_ = false;
  std::vector<Worker> workers_;
  int running_ = 0;
  std::vector<WorkerFailure> failures_;
  std::optional<common::EventLoop::TimerId> grace_timer_;
  absl::Duration started_at_ = absl::InfiniteDuration();
  absl::Duration all_launched_at_ = absl::InfiniteDuration();
  absl::Duration stop_began_at_ = absl::InfiniteDuration();
  absl::Duration ended_at_ = absl::InfiniteDuration();
  // Guards callbacks posted to the loop against running after this group is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace accel::agent
