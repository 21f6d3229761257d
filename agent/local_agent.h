// LocalAgent: the node-local worker supervisor, as one blocking call. Used in-process by
// `accelctl launch` and, later, inside acceld.
//
// Usage:
//   int main(int argc, char** argv) {
//     if (auto s = accel::agent::BlockSupervisorSignals(); !s.ok()) ...;  // before any thread exists
//     accel::agent::SupervisorOptions options;  options.local_world_size = 8;  ...
//     accel::agent::LocalAgent agent(options, [&](int local_rank, const accel::agent::AttemptInfo& a) {
//       return accel::agent::WorkerCommand{argv_for(local_rank), env_for(local_rank, a), ""};
//     });
//     accel::agent::RunResult result = agent.Run();
//     std::cerr << accel::agent::FormatFailureSummary(result, "train.py");
//     return result.exit_code;
//   }
//
// Threading: Run() starts a dedicated loop thread that owns all state, forks every worker and lives
// until Run() returns; PR_SET_PDEATHSIG in the workers is tied to that thread, so workers die with the
// run even if the launcher is SIGKILLed. The loop thread blocks SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGCHLD
// and reads them through a signalfd (SupervisorOptions::handle_signals); for that to work, every other
// thread must block them too: call BlockSupervisorSignals() at the top of main(). RequestStop() and
// RequestRestart() may be called from any thread, before, during or after Run().
//
// Process-wide effects: the process becomes a child subreaper (SupervisorOptions::child_subreaper) and
// stays one after Run() (undoing it could pull the attribute from under another LocalAgent running in
// the same process). Only children in our workers' sessions are reaped, so other code may keep waiting
// for its own children, but nothing else may call waitpid(-1) or wait() while Run() is active: it
// would steal the workers' exit statuses.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/console_sink.h"
#include "agent/run_result.h"
#include "agent/signal_watcher.h"
#include "agent/supervisor_options.h"
#include "common/event_loop.h"
#include "common/metrics/worker_stats.h"

namespace accel::agent {

class Supervisor;

class LocalAgent {
 public:
  /// `console` receives captured console output; nullptr means the launcher's fds 1 and 2. It must
  /// outlive Run(). `factory` and `hooks` run on the loop thread.
  /// `stats` (may be null) receives worker statistics (thread-safe; must outlive Run()).
  LocalAgent(SupervisorOptions options, WorkerCommandFactory factory, AgentHooks hooks = {},
             ConsoleSink* console = nullptr, common::WorkerStatsSink* stats = nullptr);
  ~LocalAgent();
  LocalAgent(const LocalAgent&) = delete;
  LocalAgent& operator=(const LocalAgent&) = delete;

  /// Runs workers until they all succeed, restarts are used up, or a stop is requested; blocks. Every
  /// worker (and every orphan in their sessions) is gone when it returns. Call from one thread at a
  /// time.
  RunResult Run();

  /// Thread-safe: forwards `signal` to every worker's process group, waits stop_grace, SIGKILLs the
  /// rest and makes Run() return 128 + signal. Called while Run() is not active, it applies to the
  /// next Run() as soon as that starts (so a stop that races with the start is never lost).
  void RequestStop(int signal);
  /// Thread-safe: stops the group (SIGTERM, grace, SIGKILL) and starts a new attempt if restarts remain
  /// (for when a peer machine failed). Ignored when no group is running, and, when
  /// `only_restart_count` is given, unless the running group is that attempt: a restart pushed for
  /// an attempt that already ended must not hit the next one.
  void RequestRestart(std::string reason, std::optional<int> only_restart_count = std::nullopt);

 private:
  RunResult RunOnLoopThread();

  const SupervisorOptions options_;
  const WorkerCommandFactory factory_;
  const AgentHooks hooks_;
  ConsoleSink* const console_;
  common::WorkerStatsSink* const stats_;

  absl::Mutex mu_;
  // Set while Run() is active; requests are posted to it.
  common::EventLoop* loop_ ABSL_GUARDED_BY(mu_) = nullptr;
  Supervisor* supervisor_ ABSL_GUARDED_BY(mu_) = nullptr;
  int pending_stop_signal_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace accel::agent
