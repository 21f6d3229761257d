#include "daemon/node/node_agent.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "agent/launch_runner.h"
#include "agent/local_agent.h"
#include "common/config/cluster_config.h"
#include "common/files.h"
#include "common/launch/launch_options.h"
#include "common/launch/launch_plan.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "daemon/node/run_as.h"
#include "spdlog/spdlog.h"

namespace accel::daemon {
namespace {

const char* KindName(common::GroupEvent::Kind kind) {
  switch (kind) {
    case common::GroupEvent::Kind::kStarted:
      return "all workers running";
    case common::GroupEvent::Kind::kSucceeded:
      return "succeeded";
    case common::GroupEvent::Kind::kFailed:
      return "failed";
    case common::GroupEvent::Kind::kStopped:
      return "stopped";
    case common::GroupEvent::Kind::kLog:
      return "log";
  }
  return "?";
}

int64_t NowUnixMs() { return absl::ToUnixMillis(absl::Now()); }

absl::StatusOr<std::optional<common::ClusterConfig>> ConfigFromSpec(const common::JobSpec& spec) {
  if (spec.config_text.empty()) return std::optional<common::ClusterConfig>();
  const std::string name = spec.config_name.empty() ? "submitted config" : spec.config_name;
  ASSIGN_OR_RETURN(auto loaded, common::ParseClusterConfig(spec.config_text, name));
  return std::optional<common::ClusterConfig>(std::move(loaded.config));
}

// Plans the node's workers: the job's own launch line and config, with the placement the
// coordinator chose. Workers per node come from the line as written for the job's largest size, so
// a job that shrinks to fewer nodes keeps its per-node layout.
absl::StatusOr<common::LaunchPlan> PlanOnNode(const common::JobSpec& spec, const common::Assignment& assignment,
                                              const common::HostFacts& host) {
  const common::ArgParser parser = common::MakeLaunchParser("accelctl launch");
  ASSIGN_OR_RETURN(common::LaunchArgs args, common::ParseLaunchArgs(parser, spec.launch_args));
  ASSIGN_OR_RETURN(const auto config, ConfigFromSpec(spec));
  auto place = [&](common::LaunchArgs placed, int machines, std::optional<int> processes) {
    placed.ns["num_machines"] = machines;
    placed.ns["machine_rank"] = assignment.machine_rank < machines ? assignment.machine_rank : 0;
    placed.ns["main_process_ip"] = assignment.master_addr;
    placed.ns["main_process_port"] = assignment.master_port;
    if (processes) placed.ns["num_processes"] = *processes;
    return common::PlanLaunch(std::move(placed), config, host);
  };
  ASSIGN_OR_RETURN(const common::LaunchPlan as_written, place(args, std::max(spec.max_nodes, 1), std::nullopt));
  return place(std::move(args), assignment.num_machines, as_written.nproc_per_node * assignment.num_machines);
}

// Turns console text into one log event per line, labelled with the worker's global rank.
class EventConsoleSink final : public agent::ConsoleSink {
 public:
  EventConsoleSink(std::function<void(const common::GroupEvent&)> emit, common::Assignment assignment,
                   std::string node, int base_rank)
      : emit_(std::move(emit)), assignment_(std::move(assignment)), node_(std::move(node)), base_rank_(base_rank) {}

  void Write(int local_rank, agent::StdStream stream, std::string_view text) override {
    for (std::string_view line : common::StrSplit(text, '\n')) {
      if (line.empty()) continue;  // the split after the final newline
      common::GroupEvent event;
      event.kind = common::GroupEvent::Kind::kLog;
      event.job_id = assignment_.job_id;
      event.attempt = assignment_.attempt;
      event.node = node_;
      event.log = common::LogLine{.job_id = assignment_.job_id, .attempt = assignment_.attempt,
                                  .rank = base_rank_ + local_rank, .local_rank = local_rank, .node = node_,
                                  .stream = stream == agent::StdStream::kStderr ? common::LogStream::kStderr
                                                                                : common::LogStream::kStdout,
                                  .text = std::string(line)};
      emit_(event);
    }
  }

 private:
  const std::function<void(const common::GroupEvent&)> emit_;
  const common::Assignment assignment_;
  const std::string node_;
  const int base_rank_;
};

}  // namespace

// One attempt of one job on this node: a LocalAgent running on its own thread.
class NodeAgent::Attempt {
 public:
  Attempt(common::LaunchPlan plan, agent::SupervisorOptions options, common::Assignment assignment, std::string node,
          std::function<void(const common::GroupEvent&)> emit, std::vector<std::string> allocations,
          common::WorkerStatsSink* stats)
      : plan_(std::move(plan)),
        allocations_(std::move(allocations)),
        assignment_(std::move(assignment)),
        node_(std::move(node)),
        emit_(std::move(emit)),
        // Every node runs the plan's nproc_per_node workers, so ranks follow from the machine rank
        // (torchrun's contiguous blocks), whatever the coordinator assumed.
        layout_(agent::LayoutFromPlan(plan_)),
        console_(emit_, assignment_, node_, layout_.base_rank) {
    agent::AgentHooks hooks;
    hooks.on_monitor = [this](int running) {
      if (!started_reported_ && running == plan_.nproc_per_node) {
        started_reported_ = true;
        emit_(Event(common::GroupEvent::Kind::kStarted));
      }
    };
    // A hung worker is reported in the job's stream, as a line of that rank's stderr.
    hooks.on_worker_hung = [this](int local_rank, absl::Duration silent) {
      console_.Write(local_rank, agent::StdStream::kStderr,
                     common::StrCat("accel: rank ", layout_.base_rank + local_rank, " on ", node_, " printed nothing for ",
                                    static_cast<int64_t>(absl::ToDoubleSeconds(silent)), " s: marked hung",
                                    plan_.hang_restart ? "; restarting the job\n" : "\n"));
    };
    agent_ = std::make_unique<agent::LocalAgent>(
        std::move(options),
        [this](int local_rank, const agent::AttemptInfo& attempt) {
          agent::WorkerCommand command = agent::WorkerCommandFor(plan_, layout_, local_rank, attempt);
          command.working_dir = working_dir_;
          command.run_as = run_as_;
          if (run_as_ && !attempt.ErrorFile(local_rank).empty()) {
            if (auto created = CreateOwnedFile(attempt.ErrorFile(local_rank), *run_as_); !created.ok()) {
              spdlog::warn("{}", created.message());
            }
          }
          return command;
        },
        std::move(hooks), &console_, stats);
  }

  /// The account the workers run as; call before Start().
  void SetRunAs(std::optional<agent::RunAs> run_as) { run_as_ = std::move(run_as); }

  void Start(std::string working_dir) {
    working_dir_ = std::move(working_dir);
    thread_ = std::thread([this] { Run(); });
  }

  /// Stops the workers and joins the thread. Idempotent.
  void Stop(int signal) {
    RequestStop(signal);
    absl::MutexLock lock(&join_mu_);
    if (thread_.joinable()) thread_.join();
  }

  /// Signals the workers without waiting; a second call while they stop kills them.
  void RequestStop(int signal) {
    stop_requested_ = true;
    agent_->RequestStop(signal);
  }

  /// True once Run() has returned (every worker gone), waiting at most `timeout`.
  bool WaitDone(absl::Duration timeout) { return done_.WaitForNotificationWithTimeout(timeout); }

  int attempt() const { return assignment_.attempt; }

  /// The allocations (batch job ids) this attempt belongs to.
  bool BelongsTo(const std::string& allocation) const {
    return std::find(allocations_.begin(), allocations_.end(), allocation) != allocations_.end();
  }

 private:
  common::GroupEvent Event(common::GroupEvent::Kind kind) const {
    common::GroupEvent event;
    event.kind = kind;
    event.job_id = assignment_.job_id;
    event.attempt = assignment_.attempt;
    event.node = node_;
    return event;
  }

  void Run() {
    const agent::RunResult result = agent_->Run();
    done_.Notify();
    common::GroupEvent event = Event(common::GroupEvent::Kind::kSucceeded);
    if (stop_requested_ && result.exit_code != 0) {
      event.kind = common::GroupEvent::Kind::kStopped;
    } else if (result.exit_code != 0 || !result.status.ok()) {
      event.kind = common::GroupEvent::Kind::kFailed;
      event.message = result.status.ok() ? "" : std::string(result.status.message());
      for (const agent::WorkerFailure& failure : result.failures) {
        event.exits.push_back(common::RankExit{.rank = failure.global_rank, .local_rank = failure.local_rank,
                                               .node = node_, .exit_code = failure.ShellExitCode(),
                                               .signal = failure.signal, .time_unix_ms = absl::ToUnixMillis(failure.time),
                                               .message = failure.message});
      }
      if (event.exits.empty()) {
        event.exits.push_back(common::RankExit{.rank = layout_.base_rank, .node = node_,
                                               .exit_code = result.exit_code == 0 ? 1 : result.exit_code,
                                               .time_unix_ms = NowUnixMs(), .message = event.message});
      }
    }
    emit_(event);
  }

  const common::LaunchPlan plan_;
  const std::vector<std::string> allocations_;
  const common::Assignment assignment_;
  const std::string node_;
  const std::function<void(const common::GroupEvent&)> emit_;
  const agent::GroupLayout layout_;
  EventConsoleSink console_;
  std::unique_ptr<agent::LocalAgent> agent_;
  std::string working_dir_;
  std::optional<agent::RunAs> run_as_;
  bool started_reported_ = false;  // loop thread only
  std::atomic<bool> stop_requested_{false};
  absl::Notification done_;
  absl::Mutex join_mu_;
  std::thread thread_;
};

NodeAgent::NodeAgent(NodeAgentOptions options, common::WorkerStatsSink* stats)
    : options_(std::move(options)), stats_(stats), allocation_(LoadAllocation()) {
  if (allocation_) {
    spdlog::info("allocation of job {} ({}) restored from {}", allocation_->job_id, allocation_->user,
                 options_.allocation_file);
  }
}

std::optional<common::Allocation> NodeAgent::LoadAllocation() const {
  if (options_.allocation_file.empty()) return std::nullopt;
  const absl::StatusOr<std::string> text = common::ReadFile(options_.allocation_file);
  if (!text.ok() && text.status().code() == absl::StatusCode::kNotFound) return std::nullopt;  // not allocated
  absl::StatusOr<common::Allocation> allocation = text.ok() ? common::AllocationFromJson(*text) : text.status();
  if (!allocation.ok()) {
    // Not fatal: the node then runs as unallocated, and the next Prolog writes a good file.
    spdlog::error("ignoring the allocation file {}: {}", options_.allocation_file, allocation.status().message());
    return std::nullopt;
  }
  return *std::move(allocation);
}

NodeAgent::~NodeAgent() {
  std::map<std::string, std::shared_ptr<Attempt>> attempts;
  {
    absl::MutexLock lock(&mu_);
    attempts.swap(attempts_);
  }
  for (auto& [job, attempt] : attempts) attempt->Stop(SIGTERM);
}

absl::StatusOr<int> NodeAgent::StartGroup(const common::JobSpec& submitted, const common::Assignment& assignment) {
  // Whose workers these are: the owner the coordinator authenticated, this node's policy on top.
  std::optional<AllocationOwner> owner;
  if (auto allocation = CurrentAllocation()) owner = AllocationOwner{allocation->job_id, allocation->uid, allocation->user};
  const uid_t daemon_uid = options_.daemon_uid >= 0 ? static_cast<uid_t>(options_.daemon_uid) : ::geteuid();
  ASSIGN_OR_RETURN(RunAsDecision who,
                   DecideRunAs(submitted, daemon_uid, options_.slurm_integration, owner, options_.node_name));
  common::JobSpec spec = submitted;
  if (who.account) SetAccountEnvironment(*who.account, spec.env);
  const common::HostFacts host = agent::CollectHostFacts(common::Environment(spec.env), spec.working_dir);
  ASSIGN_OR_RETURN(common::LaunchPlan plan, PlanOnNode(spec, assignment, host));
  ASSIGN_OR_RETURN(agent::SupervisorOptions options, agent::SupervisorOptionsFor(plan, host.env));
  options.host = options_.node_name;
  options.max_restarts = 0;  // the coordinator restarts jobs, on every node at once
  options.first_restart_count = assignment.attempt;
  options.run_dir = common::StrCat(options_.log_root, "/", assignment.job_id);
  if (who.run_as) {
    // The job's logs: readable by its owner's group, writable by acceld only (the worker writes only
    // its error file, created for it below).
    std::error_code error;
    std::filesystem::create_directories(options.run_dir, error);
    if (::chown(options.run_dir.c_str(), 0, who.run_as->gid) != 0 || ::chmod(options.run_dir.c_str(), 0750) != 0) {
      return absl::InternalError(common::StrCat("cannot prepare ", options.run_dir, " for ", spec.user));
    }
  }
  options.capture_output = true;  // every line goes to the coordinator
  options.unprefixed_lines = true;
  options.handle_signals = false;  // acceld handles its own signals
  options.metrics_job = assignment.job_id;
  const int local_world_size = plan.nproc_per_node;

  absl::MutexLock lock(&mu_);
  if (auto it = attempts_.find(assignment.job_id); it != attempts_.end()) {
    return absl::FailedPreconditionError(common::StrCat("job ", assignment.job_id, " already runs attempt ",
                                                        it->second->attempt(), " on ", options_.node_name));
  }
  // The group belongs to the node's allocation and to the batch job it was submitted from.
  std::vector<std::string> allocations;
  if (allocation_) allocations.push_back(allocation_->job_id);
  if (auto it = spec.env.find("SLURM_JOB_ID"); it != spec.env.end() && !it->second.empty()) {
    allocations.push_back(it->second);
  }
  auto attempt = std::make_shared<Attempt>(std::move(plan), std::move(options), assignment, options_.node_name,
                                           [this](const common::GroupEvent& event) { Emit(event); },
                                           std::move(allocations), stats_);
  attempts_[assignment.job_id] = attempt;
  attempt->SetRunAs(who.run_as);
  attempt->Start(spec.working_dir);
  spdlog::info("job {} attempt {}: starting {} worker(s) as machine rank {} of {}", assignment.job_id,
               assignment.attempt, local_world_size, assignment.machine_rank, assignment.num_machines);
  return local_world_size;
}

absl::Status NodeAgent::StopGroup(const std::string& job_id, int signal) {
  std::shared_ptr<Attempt> attempt;
  {
    absl::MutexLock lock(&mu_);
    auto it = attempts_.find(job_id);
    if (it == attempts_.end()) return absl::OkStatus();
    attempt = it->second;
  }
  attempt->Stop(signal == 0 ? SIGTERM : signal);
  absl::MutexLock lock(&mu_);
  if (auto it = attempts_.find(job_id); it != attempts_.end() && it->second == attempt) attempts_.erase(it);
  return absl::OkStatus();
}

void NodeAgent::Emit(const common::GroupEvent& event) {
  // Every change of an attempt in the daemon's log as well as in the job's stream: the log is what an
  // admin has when a client is gone.
  if (event.kind != common::GroupEvent::Kind::kLog) {
    spdlog::info("job {} attempt {}: {}{}{}", event.job_id, event.attempt, KindName(event.kind),
                 event.message.empty() ? "" : ": ", event.message);
  }
  const bool ended = event.kind == common::GroupEvent::Kind::kSucceeded ||
                     event.kind == common::GroupEvent::Kind::kFailed || event.kind == common::GroupEvent::Kind::kStopped;
  if (ended && event.kind != common::GroupEvent::Kind::kStopped) {
    // The attempt ended by itself: forget it (its thread is ending; join it off this thread).
    std::shared_ptr<Attempt> finished;
    {
      absl::MutexLock lock(&mu_);
      auto it = attempts_.find(event.job_id);
      if (it != attempts_.end() && it->second->attempt() == event.attempt) {
        finished = it->second;
        attempts_.erase(it);
      }
    }
    if (finished) std::thread([finished] { finished->Stop(SIGTERM); }).detach();
  }
  std::vector<EventSink> sinks;
  {
    absl::MutexLock lock(&watch_mu_);
    if (event.kind != common::GroupEvent::Kind::kLog) {
      auto [it, inserted] = last_state_.insert_or_assign(event.job_id, event);
      if (inserted) last_state_order_.push_back(event.job_id);
      if (last_state_order_.size() > kRememberedJobs) {
        last_state_.erase(last_state_order_.front());
        last_state_order_.pop_front();
      }
    }
    for (const auto& [id, watcher] : watchers_) {
      if (watcher.job_id == event.job_id) sinks.push_back(watcher.sink);
    }
  }
  for (const auto& sink : sinks) sink(event);
}

int NodeAgent::Watch(const std::string& job_id, EventSink sink) {
  absl::MutexLock lock(&watch_mu_);
  const int id = next_watch_id_++;
  // Replayed under the lock: an Emit() that runs later records and delivers its newer event after this.
  if (auto it = last_state_.find(job_id); it != last_state_.end()) sink(it->second);
  watchers_[id] = Watcher{job_id, std::move(sink)};
  return id;
}

void NodeAgent::Unwatch(int watch_id) {
  absl::MutexLock lock(&watch_mu_);
  watchers_.erase(watch_id);
}

std::map<std::string, int> NodeAgent::RunningGroups() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, int> running;
  for (const auto& [job, attempt] : attempts_) running[job] = attempt->attempt();
  return running;
}

absl::Status NodeAgent::SetAllocation(common::Allocation allocation) {
  absl::MutexLock lock(&mu_);
  if (allocation_ && allocation_->job_id != allocation.job_id) {
    return absl::FailedPreconditionError(common::StrCat(
        options_.node_name, " is allocated to job ", allocation_->job_id, " of ", allocation_->user,
        "; cannot also take job ", allocation.job_id, " (accel needs whole nodes: --exclusive)"));
  }
  if (allocation.begin_unix_ms == 0) allocation.begin_unix_ms = NowUnixMs();
  if (!options_.allocation_file.empty()) {
    const std::filesystem::path path = options_.allocation_file;
    std::error_code error;
    std::filesystem::create_directories(path.parent_path(), error);
    RETURN_IF_ERROR(common::WriteFileAtomically(path, common::AllocationToJson(allocation).dump() + "\n", 0600));
  }
  allocation_ = std::move(allocation);
  return absl::OkStatus();
}

common::AllocationEnd NodeAgent::EndAllocation(const std::string& job_id, absl::Duration grace) {
  common::AllocationEnd end;
  std::vector<std::shared_ptr<Attempt>> stopping;
  {
    absl::MutexLock lock(&mu_);
    if (allocation_ && allocation_->job_id == job_id) {
      allocation_.reset();
      end.was_current = true;
      std::error_code error;
      if (!options_.allocation_file.empty() && !std::filesystem::remove(options_.allocation_file, error) && error) {
        spdlog::error("cannot remove the allocation file {}: {}", options_.allocation_file, error.message());
      }
    }
    for (auto it = attempts_.begin(); it != attempts_.end();) {
      if (it->second->BelongsTo(job_id)) {
        end.stopped_jobs.push_back(it->first);
        stopping.push_back(it->second);
        it = attempts_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& attempt : stopping) attempt->RequestStop(SIGTERM);
  const absl::Time deadline = absl::Now() + grace;
  for (auto& attempt : stopping) {
    if (!attempt->WaitDone(std::max(deadline - absl::Now(), absl::ZeroDuration()))) attempt->RequestStop(SIGKILL);
  }
  for (auto& attempt : stopping) attempt->Stop(SIGKILL);
  return end;
}

std::optional<common::Allocation> NodeAgent::CurrentAllocation() const {
  absl::MutexLock lock(&mu_);
  return allocation_;
}

}  // namespace accel::daemon
