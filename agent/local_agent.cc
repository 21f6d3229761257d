#include "agent/local_agent.h"

#include <signal.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/status/status.h"
#include "common/strings.h"
#include "agent/orphan_reaper.h"
#include "agent/posix_process_launcher.h"
#include "agent/supervisor.h"
#include "spdlog/spdlog.h"

namespace accel::agent {

LocalAgent::LocalAgent(SupervisorOptions options, WorkerCommandFactory factory, AgentHooks hooks,
                       ConsoleSink* console, common::WorkerStatsSink* stats)
    : options_(std::move(options)),
      factory_(std::move(factory)),
      hooks_(std::move(hooks)),
      console_(console),
      stats_(stats) {}

LocalAgent::~LocalAgent() = default;

RunResult LocalAgent::Run() {
  RunResult result;
  // A fresh thread per run: PR_SET_PDEATHSIG follows the forking thread, so it must not be a thread
  // that could exit (or be reused) while workers live. It ends only after every worker is reaped.
  std::thread loop_thread([this, &result] { result = RunOnLoopThread(); });
  loop_thread.join();
  return result;
}

RunResult LocalAgent::RunOnLoopThread() {
  RunResult result;
  auto fail = [&result](absl::Status status) {
    result.exit_code = 1;
    result.status = std::move(status);
    return result;
  };

  // Inherited by workers only until they reset their mask; SIGPIPE is blocked so that a closed console
  // makes write() fail with EPIPE instead of killing the launcher.
  sigset_t blocked;
  ::sigemptyset(&blocked);
  ::sigaddset(&blocked, SIGPIPE);
  ::sigaddset(&blocked, SIGCHLD);
  if (options_.handle_signals) {
    for (int sig : ForwardedSignals()) ::sigaddset(&blocked, sig);
  }
  ::pthread_sigmask(SIG_BLOCK, &blocked, nullptr);

  auto loop = common::EventLoop::Create();
  if (!loop.ok()) return fail(loop.status());

  if (options_.child_subreaper && ::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    spdlog::warn("PR_SET_CHILD_SUBREAPER failed ({}); orphaned grandchildren will go to init",
                 std::strerror(errno));
  }
  // The guard kills workers' descendants should this process die without cleaning up (SIGKILL).
  std::unique_ptr<SessionGuard> guard;
  if (options_.child_subreaper) {
    auto started = SessionGuard::Start();
    if (started.ok()) {
      guard = *std::move(started);
    } else {
      spdlog::warn("no session guard ({}); workers' children may outlive a killed launcher", started.status().message());
    }
  }
  OrphanReaper reaper(guard.get());
  OrphanReaper* reaper_ptr = options_.child_subreaper ? &reaper : nullptr;
  PosixProcessLauncher launcher;
  FdConsoleSink default_console;
  ConsoleSink& console = console_ != nullptr ? *console_ : default_console;

  Supervisor supervisor(**loop, launcher, console, reaper_ptr, options_, factory_, hooks_,
                        [&result, &loop](RunResult r) {
                          result = std::move(r);
                          (*loop)->Stop();
                        },
                        stats_);

  std::unique_ptr<SignalWatcher> signals;
  if (options_.handle_signals) {
    std::vector<int> watched = ForwardedSignals();
    watched.push_back(SIGCHLD);
    auto watcher = SignalWatcher::Create(**loop, std::move(watched), [&supervisor, reaper_ptr](int sig) {
      if (sig == SIGCHLD) {
        if (reaper_ptr != nullptr) reaper_ptr->ReapZombies();
        return;
      }
      supervisor.OnLauncherSignal(sig);
    });
    if (!watcher.ok()) return fail(watcher.status());
    signals = *std::move(watcher);
  }

  int pending_signal = 0;
  {
    absl::MutexLock lock(&mu_);
    loop_ = loop->get();
    supervisor_ = &supervisor;
    pending_signal = std::exchange(pending_stop_signal_, 0);
  }
  supervisor.Start();
  if (pending_signal != 0) supervisor.OnLauncherSignal(pending_signal);
  (*loop)->Run();
  {
    absl::MutexLock lock(&mu_);
    loop_ = nullptr;
    supervisor_ = nullptr;
  }
  // The supervisor (declared after the loop) is destroyed first; it reaped everything already.
  return result;
}

void LocalAgent::RequestStop(int signal) {
  absl::MutexLock lock(&mu_);
  if (loop_ == nullptr) {
    if (pending_stop_signal_ == 0) pending_stop_signal_ = signal;
    return;
  }
  Supervisor* supervisor = supervisor_;
  // Safe: the loop runs queued work only while Run() is active, i.e. while the supervisor lives.
  loop_->Post([supervisor, signal] { supervisor->OnLauncherSignal(signal); });
}

void LocalAgent::RequestRestart(std::string reason, std::optional<int> only_restart_count) {
  absl::MutexLock lock(&mu_);
  if (loop_ == nullptr) return;
  Supervisor* supervisor = supervisor_;
  loop_->Post([supervisor, reason = std::move(reason), only_restart_count]() mutable {
    if (only_restart_count && *only_restart_count != supervisor->restart_count()) return;
    supervisor->RequestRestart(std::move(reason));
  });
}

}  // namespace accel::agent
