// Supervisor: the run across attempts. Creates the log layout, runs a WorkerGroup per attempt, restarts
// the whole local group after a failure while restarts remain (torchrun's elastic agent, contract 4.3),
// forwards launcher signals, and produces the RunResult.
//
//   Start ─► [before_attempt hook] ─► WorkerGroup running ─► succeeded ─────────────────► done(0)
//                 ▲                        │ worker failed ─► on_group_failure ─┬─ restarts left ─► backoff ─┐
//                 └────────────────────────┼──────────────────────────────────────────────────────────────────┘
//                                          │                                  └─ none left ─► done(root cause)
//                                          └ launcher signal ─► stop (forward signal, grace, SIGKILL) ─► done(128+sig)
//
// Thread: loop thread only; it reports through `done` exactly once. Lifetime: must outlive every
// callback it posted, i.e. destroy it only after the loop stopped running. Destroying it while workers
// run SIGKILLs and reaps them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "agent/console_sink.h"
#include "agent/orphan_reaper.h"
#include "agent/process_launcher.h"
#include "agent/run_directory.h"
#include "agent/run_result.h"
#include "agent/supervisor_options.h"
#include "agent/worker_group.h"
#include "common/event_loop.h"
#include "common/metrics/worker_stats.h"

namespace accel::agent {

class Supervisor {
 public:
  using DoneCallback = std::function<void(RunResult)>;

  /// `launcher` and `console` must outlive the supervisor. `reaper` may be null (no subreaper).
  /// `stats` (may be null) receives worker statistics and must outlive the supervisor.
  Supervisor(common::EventLoop& loop, ProcessLauncher& launcher, ConsoleSink& console, OrphanReaper* reaper,
             SupervisorOptions options, WorkerCommandFactory factory, AgentHooks hooks, DoneCallback done,
             common::WorkerStatsSink* stats = nullptr);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  /// Validates the options, creates the run directory and starts attempt 0. Errors end the run at once
  /// (through `done`, never inside Start()).
  void Start();
  /// The launcher got `signal`: forward it to every worker, stop them (grace, then SIGKILL) and finish
  /// with 128 + signal. A second call kills the workers at once.
  void OnLauncherSignal(int signal);
  /// Stop the group (SIGTERM, grace, SIGKILL) and start a new attempt if restarts remain; otherwise
  /// finish with exit code 1 and a FailedPrecondition status carrying `reason`.
  void RequestRestart(std::string reason);

  bool done() const { return finished_; }
  int restart_count() const { return restart_count_; }
  /// The running group, or null between attempts. For inspection in tests.
  const WorkerGroup* group() const { return group_.get(); }

 private:
  void BeginAttempt();
  void OnGroupDone(WorkerGroup::Outcome outcome);
  void HandleGroupDone(WorkerGroup::Outcome outcome);
  void ScheduleRestart();
  void OnMonitorTick();
  // Marks workers silent for hang_timeout as hung (and fails them with hang_restart).
  void CheckHangs();
  // Sends the current workers' statistics to stats_ (no-op without a sink).
  void PublishStats();
  // Records the exits of the group that just ended in stats_.
  void RecordExits(const WorkerGroup& group);
  const std::string& job_label() const { return options_.metrics_job.empty() ? options_.run_id : options_.metrics_job; }
  void Finish(absl::Status status);
  void PostSelf(std::function<void()> fn);

  common::EventLoop& loop_;
  ProcessLauncher& launcher_;
  ConsoleSink& console_;
  OrphanReaper* const reaper_;
  const SupervisorOptions options_;
  const WorkerCommandFactory factory_;
  const AgentHooks hooks_;
  DoneCallback done_;
  common::WorkerStatsSink* const stats_;

  std::set<int> hung_;  // local ranks marked hung in the current attempt
  absl::Duration last_stats_ = -absl::InfiniteDuration();
  std::optional<RunDirectory> run_directory_;
  AttemptInfo attempt_;
  int restart_count_ = 0;
  std::unique_ptr<WorkerGroup> group_;
  std::optional<common::EventLoop::TimerId> restart_timer_;
  std::optional<common::EventLoop::TimerId> monitor_timer_;
  int launcher_signal_ = 0;
  std::optional<std::string> restart_reason_;
  bool finished_ = false;
  const absl::Duration run_started_ = common::EventLoop::MonotonicNow();
  RunResult result_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace accel::agent
