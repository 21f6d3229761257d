#include "agent/supervisor.h"

#include <signal.h>

#include <cassert>

#include "absl/status/status.h"
#include "common/strings.h"
#include "spdlog/spdlog.h"

namespace accel::agent {

using common::EventLoop;

namespace {

// Upper bound for killing and reaping leftover grandchildren at the end of a run.
constexpr absl::Duration kOrphanKillTimeout = absl::Seconds(2);

}  // namespace

Supervisor::Supervisor(EventLoop& loop, ProcessLauncher& launcher, ConsoleSink& console, OrphanReaper* reaper,
                       SupervisorOptions options, WorkerCommandFactory factory, AgentHooks hooks,
                       DoneCallback done, common::WorkerStatsSink* stats)
    : loop_(loop),
      launcher_(launcher),
      console_(console),
      reaper_(reaper),
      options_(std::move(options)),
      factory_(std::move(factory)),
      hooks_(std::move(hooks)),
      done_(std::move(done)),
      stats_(stats) {}

Supervisor::~Supervisor() {
  *alive_ = false;
  if (restart_timer_) loop_.CancelTimer(*restart_timer_);
  if (monitor_timer_) loop_.CancelTimer(*monitor_timer_);
  group_.reset();
}

void Supervisor::PostSelf(std::function<void()> fn) {
  loop_.Post([alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)] {
    if (auto token = alive.lock(); token && *token) fn();
  });
}

void Supervisor::Start() {
  assert(loop_.IsLoopThread());
  if (absl::Status valid = ValidateSupervisorOptions(options_); !valid.ok()) {
    Finish(valid);
    return;
  }
  if (!factory_) {
    Finish(absl::InvalidArgumentError("no worker command factory"));
    return;
  }
  restart_count_ = options_.first_restart_count;
  auto dir = options_.run_dir.empty() ? RunDirectory::Create(options_.log_root, options_.run_id, options_.tmp_dir)
                                      : RunDirectory::AtPath(options_.run_dir);
  if (!dir.ok()) {
    Finish(dir.status());
    return;
  }
  run_directory_ = *std::move(dir);
  monitor_timer_ = loop_.AddTimer(options_.monitor_interval, [this] { OnMonitorTick(); });
  BeginAttempt();
}

void Supervisor::BeginAttempt() {
  attempt_ = AttemptInfo{};
  attempt_.restart_count = restart_count_;
  auto attempt_dir = run_directory_->PrepareAttempt(restart_count_, options_.local_world_size);
  if (!attempt_dir.ok()) {
    Finish(attempt_dir.status());
    return;
  }
  attempt_.attempt_dir = *attempt_dir;
  if (hooks_.before_attempt) {
    if (absl::Status ready = hooks_.before_attempt(attempt_); !ready.ok()) {
      Finish(absl::Status(ready.code(), common::StrCat("before attempt ", restart_count_, ": ", ready.message())));
      return;
    }
  }

  const bool frame_lines =
      options_.local_world_size > 1 || !options_.line_prefix_template.empty() || options_.unprefixed_lines;
  std::vector<WorkerLaunch> launches;
  launches.reserve(static_cast<size_t>(options_.local_world_size));
  for (int rank = 0; rank < options_.local_world_size; ++rank) {
    WorkerLaunch launch;
    launch.local_rank = rank;
    launch.command = factory_(rank, attempt_);
    if (!options_.output_targets.empty()) launch.targets = options_.output_targets[static_cast<size_t>(rank)];
    if (run_directory_->enabled()) {
      launch.stdout_log = common::StrCat(attempt_.RankDir(rank), "/stdout.log");
      launch.stderr_log = common::StrCat(attempt_.RankDir(rank), "/stderr.log");
    }
    launch.error_file = attempt_.ErrorFile(rank);
    if (!options_.unprefixed_lines) {
      launch.line_prefix =
          ExpandLinePrefix(options_.line_prefix_template, options_.role, options_.base_rank + rank, rank);
    }
    launch.frame_lines = frame_lines;
    launches.push_back(std::move(launch));
  }

  WorkerGroupConfig config;
  config.base_rank = options_.base_rank;
  config.host = options_.host;
  config.stop_grace = options_.stop_grace;
  config.capture_output = options_.capture_output;
  config.output_idle_flush = options_.output_idle_flush;
  hung_.clear();
  group_ = std::make_unique<WorkerGroup>(loop_, launcher_, console_, std::move(config),
                                         [this](WorkerGroup::Outcome outcome) { OnGroupDone(outcome); });
  group_->Start(std::move(launches));
  if (reaper_ != nullptr) {
    for (pid_t pid : group_->Pids()) reaper_->AddSession(pid);
  }
  PublishStats();
  // A first monitor pass at once: whoever waits for every worker to run (acceld's coordinator) learns
  // it now, not a monitor_interval later. Launch() returns after the worker's execve(), so "running"
  // already means the programs are in place.
  if (hooks_.on_monitor && group_->state() == WorkerGroup::State::kRunning) hooks_.on_monitor(group_->running());
}

void Supervisor::OnGroupDone(WorkerGroup::Outcome outcome) {
  // Called from inside the group: destroy it only after its call stack has unwound.
  PostSelf([this, outcome] { HandleGroupDone(outcome); });
}

void Supervisor::HandleGroupDone(WorkerGroup::Outcome outcome) {
  AttemptRecord record;
  record.restart_count = restart_count_;
  record.started = group_->started_at() - run_started_;
  record.all_launched = group_->all_launched_at() - run_started_;
  record.stop_began = group_->stop_began_at() == absl::InfiniteDuration()
                          ? absl::InfiniteDuration()
                          : group_->stop_began_at() - run_started_;
  record.ended = group_->ended_at() - run_started_;
  record.succeeded = outcome == WorkerGroup::Outcome::kSucceeded;
  result_.attempts.push_back(record);
  result_.failures = group_->failures();
  result_.final_exits = group_->Exits();
  RecordExits(*group_);
  PublishStats();
  group_.reset();  // Reaps every worker of the attempt.
  if (reaper_ != nullptr) reaper_->ReapZombies();

  if (launcher_signal_ != 0) {
    Finish(absl::OkStatus());
    return;
  }
  if (outcome == WorkerGroup::Outcome::kSucceeded) {
    result_.failures.clear();
    Finish(absl::OkStatus());
    return;
  }
  if (outcome == WorkerGroup::Outcome::kWorkerFailed && hooks_.on_group_failure) {
    hooks_.on_group_failure(attempt_, result_.failures);
  }
  const int remaining = options_.max_restarts - (restart_count_ - options_.first_restart_count);
  if (remaining > 0) {
    const std::string why = outcome == WorkerGroup::Outcome::kWorkerFailed
                                ? common::StrCat("local rank ", result_.failures.front().local_rank, " failed")
                                : common::StrCat("restart requested: ", restart_reason_.value_or(""));
    spdlog::warn("worker group failed ({}); {}/{} restarts left, restarting the group", why, remaining,
                 options_.max_restarts);
    ScheduleRestart();
    return;
  }
  if (outcome == WorkerGroup::Outcome::kWorkerFailed) {
    Finish(absl::OkStatus());
    return;
  }
  Finish(absl::FailedPreconditionError(common::StrCat("restart requested (", restart_reason_.value_or(""),
                                                    ") but all max_restarts=", options_.max_restarts,
                                                    " restarts are used up")));
}

void Supervisor::ScheduleRestart() {
  ++restart_count_;
  result_.restarts = restart_count_;
  restart_reason_.reset();
  restart_timer_ = loop_.AddTimer(options_.restart_backoff, [this] {
    restart_timer_.reset();
    BeginAttempt();
  });
}

void Supervisor::OnLauncherSignal(int signal) {
  assert(loop_.IsLoopThread());
  if (finished_) return;
  if (launcher_signal_ != 0) {
    spdlog::warn("received {} while stopping; killing the workers now", SignalName(signal));
    if (group_) group_->Kill();
    return;
  }
  launcher_signal_ = signal;
  spdlog::warn("received {}; forwarding it to the workers", SignalName(signal));
  if (group_) {
    group_->Stop(signal);  // HandleGroupDone finishes the run once the group is gone.
    return;
  }
  Finish(absl::OkStatus());  // Between attempts: nothing to stop.
}

void Supervisor::RequestRestart(std::string reason) {
  assert(loop_.IsLoopThread());
  if (finished_ || launcher_signal_ != 0 || !group_ || group_->state() != WorkerGroup::State::kRunning) {
    return;  // Finished, stopping anyway, or a restart is already on its way.
  }
  spdlog::warn("restart requested: {}", reason);
  restart_reason_ = std::move(reason);
  group_->Stop(SIGTERM);
}

void Supervisor::OnMonitorTick() {
  monitor_timer_.reset();
  if (finished_) return;
  if (group_) group_->Poll();
  if (reaper_ != nullptr) reaper_->ReapZombies();
  if (hooks_.on_monitor && group_ && group_->state() == WorkerGroup::State::kRunning) {
    hooks_.on_monitor(group_->running());
  }
  CheckHangs();
  if (EventLoop::MonotonicNow() - last_stats_ >= options_.stats_interval) PublishStats();
  monitor_timer_ = loop_.AddTimer(options_.monitor_interval, [this] { OnMonitorTick(); });
}

void Supervisor::Finish(absl::Status status) {
  if (finished_) return;
  finished_ = true;
  if (restart_timer_) loop_.CancelTimer(*restart_timer_);
  restart_timer_.reset();
  if (monitor_timer_) loop_.CancelTimer(*monitor_timer_);
  monitor_timer_.reset();
  group_.reset();
  if (reaper_ != nullptr) {
    if (const int killed = reaper_->KillAll(kOrphanKillTimeout); killed > 0) {
      spdlog::warn("killed {} leftover process(es) that workers had started", killed);
    }
  }

  if (stats_ != nullptr) stats_->Finish(job_label(), options_.host);
  result_.status = std::move(status);
  result_.launcher_signal = launcher_signal_;
  result_.restarts = restart_count_;
  if (launcher_signal_ != 0) {
    result_.exit_code = 128 + launcher_signal_;
  } else if (!result_.status.ok()) {
    result_.exit_code = 1;
  } else if (!result_.failures.empty()) {
    result_.exit_code = result_.failures.front().ShellExitCode();
  } else {
    result_.exit_code = 0;
  }
  if (run_directory_ && !run_directory_->temporary()) result_.run_dir = run_directory_->run_dir();
  run_directory_.reset();  // Removes a temporary log root.
  // Start() must not report synchronously, and the caller may destroy us inside `done`.
  PostSelf([this] { done_(std::move(result_)); });
}

void Supervisor::CheckHangs() {
  if (options_.hang_timeout <= absl::ZeroDuration() || !group_ || group_->state() != WorkerGroup::State::kRunning) {
    return;
  }
  const absl::Duration now = EventLoop::MonotonicNow();
  for (const WorkerGroup::WorkerView& worker : group_->Workers()) {
    if (worker.status || worker.pid < 0 || worker.last_output == absl::InfiniteDuration()) continue;
    const absl::Duration silent = now - worker.last_output;
    if (silent < options_.hang_timeout || !hung_.insert(worker.local_rank).second) continue;
    const int rank = options_.base_rank + worker.local_rank;
    spdlog::warn("rank {} (local rank {}, pid {}) printed nothing for {:.0f} s (hang_timeout {:.0f} s): marked hung{}",
                 rank, worker.local_rank, worker.pid, absl::ToDoubleSeconds(silent),
                 absl::ToDoubleSeconds(options_.hang_timeout), options_.hang_restart ? "; restarting the group" : "");
    if (stats_ != nullptr) stats_->RecordHang(job_label(), options_.host, rank, worker.local_rank);
    if (hooks_.on_worker_hung) hooks_.on_worker_hung(worker.local_rank, silent);
    if (options_.hang_restart && group_) {
      group_->FailWorker(worker.local_rank,
                         common::StrCat("hung: no output for ", static_cast<int64_t>(absl::ToDoubleSeconds(silent)),
                                        " s (hang_timeout)"));
    }
  }
  if (!hung_.empty()) PublishStats();
}

void Supervisor::PublishStats() {
  const absl::Duration now = EventLoop::MonotonicNow();
  last_stats_ = now;
  if (stats_ == nullptr || !group_) return;
  common::GroupStats stats;
  stats.job = job_label();
  stats.node = options_.host;
  stats.restart_count = restart_count_;
  for (const WorkerGroup::WorkerView& worker : group_->Workers()) {
    common::WorkerStats entry;
    entry.rank = options_.base_rank + worker.local_rank;
    entry.local_rank = worker.local_rank;
    entry.pid = worker.pid;
    if (worker.status) {
      entry.state = worker.status->success() ? common::WorkerState::kExited : common::WorkerState::kFailed;
    } else if (worker.pid < 0) {
      entry.state = common::WorkerState::kFailed;
    } else {
      entry.state = hung_.contains(worker.local_rank) ? common::WorkerState::kHung : common::WorkerState::kRunning;
      common::ReadProcessUsage(worker.pid, &entry.cpu_seconds, &entry.resident_bytes);
    }
    if (worker.last_output != absl::InfiniteDuration()) {
      entry.seconds_since_output = absl::ToDoubleSeconds(std::max(now - worker.last_output, absl::ZeroDuration()));
    }
    stats.workers.push_back(entry);
  }
  stats_->Publish(stats);
}

void Supervisor::RecordExits(const WorkerGroup& group) {
  if (stats_ == nullptr) return;
  for (const WorkerExit& exit : group.Exits()) {
    stats_->RecordExit(common::WorkerExitRecord{.job = job_label(), .node = options_.host,
                                                .rank = options_.base_rank + exit.local_rank,
                                                .local_rank = exit.local_rank, .exit_code = exit.status.exit_code,
                                                .signal = exit.status.signal});
  }
}

}  // namespace accel::agent
