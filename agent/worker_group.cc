#include "agent/worker_group.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "common/strings.h"
#include "agent/error_file.h"
#include "spdlog/spdlog.h"

namespace accel::agent {

using common::EventLoop;
using common::UniqueFd;

namespace {

absl::StatusOr<UniqueFd> OpenLogFile(const std::string& path) {
  // No path means logs are disabled (log_root /dev/null): the stream still must go somewhere.
  const char* target = path.empty() ? "/dev/null" : path.c_str();
  UniqueFd fd(::open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return absl::InternalError(common::StrCat("cannot open ", target, ": ", std::strerror(errno)));
  return fd;
}

}  // namespace

WorkerGroup::WorkerGroup(EventLoop& loop, ProcessLauncher& launcher, ConsoleSink& console,
                         WorkerGroupConfig config, DoneCallback done)
    : loop_(loop), launcher_(launcher), console_(console), config_(std::move(config)), done_(std::move(done)) {}

WorkerGroup::~WorkerGroup() {
  *alive_ = false;
  if (grace_timer_) loop_.CancelTimer(*grace_timer_);
  for (Worker& worker : workers_) {
    if (worker.exit_watch) loop_.RemoveWatch(*worker.exit_watch);
    worker.stdout_tee.reset();
    worker.stderr_tee.reset();
  }
  // ChildProcess destructors SIGKILL each process group and reap each worker.
  workers_.clear();
}

void WorkerGroup::PostSelf(std::function<void()> fn) {
  loop_.Post([alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)] {
    if (auto token = alive.lock(); token && *token) fn();
  });
}

std::vector<WorkerExit> WorkerGroup::Exits() const {
  std::vector<WorkerExit> exits;
  for (const Worker& worker : workers_) {
    if (!worker.status) continue;
    exits.push_back(WorkerExit{worker.launch.local_rank, worker.process ? worker.process->pid() : -1,
                               *worker.status});
  }
  return exits;
}

std::vector<pid_t> WorkerGroup::Pids() const {
  std::vector<pid_t> pids;
  for (const Worker& worker : workers_) {
    if (worker.process) pids.push_back(worker.process->pid());
  }
  return pids;
}

namespace {

// Monotonic time of the last change of a log file the worker writes itself; Infinite when unknown.
absl::Duration FileLastWrite(const std::string& path) {
  struct stat info;
  if (path.empty() || ::stat(path.c_str(), &info) != 0) return absl::InfiniteDuration();
  const absl::Duration age = absl::Now() - absl::TimeFromTimespec(info.st_mtim);
  return EventLoop::MonotonicNow() - std::max(age, absl::ZeroDuration());
}

}  // namespace

std::vector<WorkerGroup::WorkerView> WorkerGroup::Workers() const {
  std::vector<WorkerView> views;
  views.reserve(workers_.size());
  for (const Worker& worker : workers_) {
    WorkerView view;
    view.local_rank = worker.launch.local_rank;
    view.pid = worker.process ? worker.process->pid() : -1;
    view.status = worker.status;
    // Its start, or the latest byte on either stream: through our tee, or in the file it writes itself.
    // (Tees exist only once the worker started, so `last` is finite whenever one has output.)
    absl::Duration last = worker.launched_at;
    const struct {
      const LogTee* tee;
      StreamTarget target;
      const std::string& log;
    } streams[] = {{worker.stdout_tee.get(), worker.launch.targets.stdout_target, worker.launch.stdout_log},
                   {worker.stderr_tee.get(), worker.launch.targets.stderr_target, worker.launch.stderr_log}};
    for (const auto& stream : streams) {
      const absl::Duration written = stream.tee != nullptr               ? stream.tee->last_output()
                                     : stream.target == StreamTarget::kFile ? FileLastWrite(stream.log)
                                                                            : absl::InfiniteDuration();
      if (written != absl::InfiniteDuration() && last != absl::InfiniteDuration()) last = std::max(last, written);
    }
    view.last_output = last;
    views.push_back(std::move(view));
  }
  return views;
}

void WorkerGroup::FailWorker(int local_rank, std::string message) {
  assert(loop_.IsLoopThread());
  if (state_ != State::kRunning) return;
  for (size_t index = 0; index < workers_.size(); ++index) {
    Worker& worker = workers_[index];
    if (worker.launch.local_rank != local_rank || worker.status || !worker.process) continue;
    ExitStatus status = ExitStatus::Killed(SIGTERM);
    status.error = std::move(message);
    RecordFailure(index, status);
    BeginStop(SIGTERM);
    return;
  }
}

void WorkerGroup::Start(std::vector<WorkerLaunch> launches) {
  assert(loop_.IsLoopThread());
  assert(state_ == State::kNotStarted);
  state_ = State::kRunning;
  started_at_ = EventLoop::MonotonicNow();
  workers_.reserve(launches.size());
  for (WorkerLaunch& launch : launches) workers_.push_back(Worker{std::move(launch), {}, {}, {}, {}, {}, {}});

  for (size_t i = 0; i < workers_.size(); ++i) {
    absl::Status launched = LaunchWorker(i);
    if (launched.ok()) continue;
    spdlog::error("local rank {}: could not start {}: {}", workers_[i].launch.local_rank,
                  workers_[i].launch.command.argv.empty() ? "<empty argv>" : workers_[i].launch.command.argv[0],
                  launched.message());
    ExitStatus status = ExitStatus::Exited(kSpawnFailureExitCode);
    status.error = std::string(launched.message());
    workers_[i].status = status;
    RecordFailure(i, status);
    break;  // The group is failing; starting more ranks would only mean stopping them again.
  }
  all_launched_at_ = EventLoop::MonotonicNow();
  if (!failures_.empty()) BeginStop(SIGTERM);
  // Finishing here would run the done callback inside Start(); let the loop do it.
  if (running_ == 0) PostSelf([this] { MaybeFinish(); });
}

absl::StatusOr<UniqueFd> WorkerGroup::SetUpStream(Worker& worker, StdStream stream,
                                                  std::unique_ptr<LogTee>* tee) {
  const bool is_stdout = stream == StdStream::kStdout;
  const StreamTarget target = is_stdout ? worker.launch.targets.stdout_target : worker.launch.targets.stderr_target;
  const std::string& log_path = is_stdout ? worker.launch.stdout_log : worker.launch.stderr_log;

  if (target == StreamTarget::kConsole && !config_.capture_output) return UniqueFd();  // Inherit.
  if (target == StreamTarget::kFile) return OpenLogFile(log_path);  // The worker writes the file itself.

  UniqueFd file;
  if (target == StreamTarget::kTee && !log_path.empty()) {
    auto opened = OpenLogFile(log_path);
    if (!opened.ok()) return opened.status();
    file = *std::move(opened);
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(common::StrCat("pipe2: ", std::strerror(errno)));
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  LineFramer framer =
      worker.launch.frame_lines ? LineFramer(worker.launch.line_prefix) : LineFramer::Passthrough();
  *tee = std::make_unique<LogTee>(loop_, std::move(read_end), std::move(file), &console_, std::move(framer),
                                  LogTee::Options{worker.launch.local_rank, stream, config_.output_idle_flush});
  return write_end;
}

absl::Status WorkerGroup::LaunchWorker(size_t index) {
  Worker& worker = workers_[index];
  std::unique_ptr<LogTee> out_tee;
  std::unique_ptr<LogTee> err_tee;
  auto out = SetUpStream(worker, StdStream::kStdout, &out_tee);
  if (!out.ok()) return out.status();
  auto err = SetUpStream(worker, StdStream::kStderr, &err_tee);
  if (!err.ok()) return err.status();

  ProcessSpec spec;
  spec.argv = worker.launch.command.argv;
  spec.env = worker.launch.command.env;
  spec.working_dir = worker.launch.command.working_dir;
  spec.pass_fds = worker.launch.command.pass_fds;
  spec.run_as = worker.launch.command.run_as;
  spec.stdout_fd = out->valid() ? out->get() : -1;
  spec.stderr_fd = err->valid() ? err->get() : -1;
  auto process = launcher_.Launch(spec);
  if (!process.ok()) return process.status();
  // `out` and `err` (our copies of the child's ends) close when this returns, so each pipe reaches EOF
  // once every process holding the child's end has exited.
  worker.process = *std::move(process);
  worker.launched_at = EventLoop::MonotonicNow();
  ++running_;

  for (auto* tee : {&out_tee, &err_tee}) {
    if (*tee == nullptr) continue;
    if (absl::Status watched = (*tee)->Start(); !watched.ok()) {
      spdlog::warn("local rank {}: output will not be captured: {}", worker.launch.local_rank, watched.message());
      tee->reset();  // Closing the read end: the worker gets EPIPE rather than blocking on a full pipe.
    }
  }
  worker.stdout_tee = std::move(out_tee);
  worker.stderr_tee = std::move(err_tee);

  auto watch = loop_.WatchFd(worker.process->exit_fd(), EPOLLIN, [this, index](uint32_t) { OnExitReadable(index); });
  if (!watch.ok()) {
    // Without the pidfd watch the exit is still found by Poll() on the next monitor pass.
    spdlog::warn("local rank {}: exit watch failed ({}); relying on the monitor pass", worker.launch.local_rank,
                 watch.status().message());
  } else {
    worker.exit_watch = *watch;
  }
  return absl::OkStatus();
}

void WorkerGroup::OnExitReadable(size_t index) {
  Worker& worker = workers_[index];
  if (worker.status || !worker.process) return;
  std::optional<ExitStatus> status = worker.process->TryWait();
  if (!status) return;  // Spurious wake-up.
  const bool failed = MarkExited(index, *status);
  if (state_ == State::kRunning && failed) {
    RecordFailure(index, *status);
    // Workers that died at the same moment are failures too, not victims of our SIGTERM.
    for (size_t other = 0; other < workers_.size(); ++other) {
      Worker& w = workers_[other];
      if (w.status || !w.process) continue;
      if (std::optional<ExitStatus> other_status = w.process->TryWait()) {
        if (MarkExited(other, *other_status)) RecordFailure(other, *other_status);
      }
    }
    BeginStop(SIGTERM);
  }
  MaybeFinish();
}

bool WorkerGroup::MarkExited(size_t index, const ExitStatus& status) {
  Worker& worker = workers_[index];
  worker.status = status;
  --running_;
  if (worker.exit_watch) loop_.RemoveWatch(*worker.exit_watch);  // The pidfd stays readable.
  worker.exit_watch.reset();
  // Its last output is already in the pipe; show it before any failure report.
  if (worker.stdout_tee) worker.stdout_tee->Drain();
  if (worker.stderr_tee) worker.stderr_tee->Drain();
  if (!status.success()) {
    spdlog::log(state_ == State::kRunning ? spdlog::level::warn : spdlog::level::debug,
                "local rank {} (pid {}) ended: {}", worker.launch.local_rank, worker.process->pid(),
                status.ToString());
  }
  return !status.success();
}

void WorkerGroup::RecordFailure(size_t index, const ExitStatus& status) {
  const Worker& worker = workers_[index];
  WorkerFailure failure;
  failure.local_rank = worker.launch.local_rank;
  failure.global_rank = config_.base_rank + worker.launch.local_rank;
  failure.host = config_.host;
  failure.pid = worker.process ? worker.process->pid() : -1;
  failure.exit_code = status.exit_code;
  failure.signal = status.signal;
  failure.time = absl::Now();
  failure.error_file = worker.launch.error_file;
  failure.message = status.error;
  if (!failure.error_file.empty()) {
    auto contents = ReadErrorFile(failure.error_file);
    if (contents.ok()) {
      failure.error_file_found = true;
      if (!contents->message.empty()) failure.message = contents->message;
      failure.traceback = contents->traceback;
      if (contents->timestamp) failure.time = *contents->timestamp;
    } else if (!absl::IsNotFound(contents.status())) {
      spdlog::warn("local rank {}: {}", failure.local_rank, contents.status().message());
    }
  }
  failures_.push_back(std::move(failure));
}

void WorkerGroup::SignalAll(int signal) {
  for (Worker& worker : workers_) {
    if (!worker.process) continue;
    // Exited workers too: grandchildren may still run in their groups.
    if (absl::Status sent = worker.process->SignalGroup(signal); !sent.ok()) {
      spdlog::warn("local rank {}: {}", worker.launch.local_rank, sent.message());
    }
  }
}

void WorkerGroup::BeginStop(int signal) {
  if (state_ != State::kRunning) return;
  state_ = State::kStopping;
  stop_began_at_ = EventLoop::MonotonicNow();
  SignalAll(signal);
  if (running_ == 0) return;  // MaybeFinish() (called by our caller or posted by Start) ends it.
  if (config_.stop_grace <= absl::ZeroDuration()) {
    Kill();
    return;
  }
  grace_timer_ = loop_.AddTimer(config_.stop_grace, [this] {
    grace_timer_.reset();
    if (running_ > 0) {
      spdlog::warn("{} worker(s) still running {} after the stop signal; sending SIGKILL", running_,
                   absl::FormatDuration(config_.stop_grace));
    }
    Kill();
  });
}

void WorkerGroup::Stop(int signal) {
  assert(loop_.IsLoopThread());
  if (state_ == State::kDone || state_ == State::kNotStarted) return;
  stop_requested_ = true;
  if (state_ == State::kStopping) {
    SignalAll(signal);  // Already stopping (a failure): still let the workers see the launcher's signal.
    return;
  }
  BeginStop(signal);
  MaybeFinish();
}

void WorkerGroup::Kill() {
  assert(loop_.IsLoopThread());
  if (state_ == State::kDone || state_ == State::kNotStarted) return;
  if (state_ == State::kRunning) {
    stop_requested_ = true;
    state_ = State::kStopping;
    stop_began_at_ = EventLoop::MonotonicNow();
  }
  if (grace_timer_) loop_.CancelTimer(*grace_timer_);
  grace_timer_.reset();
  SignalAll(SIGKILL);
}

void WorkerGroup::Poll() {
  assert(loop_.IsLoopThread());
  if (state_ != State::kRunning && state_ != State::kStopping) return;
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (state_ == State::kDone) return;
    if (!workers_[i].status && workers_[i].process) OnExitReadable(i);
  }
}

void WorkerGroup::MaybeFinish() {
  if (state_ == State::kDone || running_ > 0) return;
  if (state_ == State::kRunning || state_ == State::kStopping) Finish();
}

void WorkerGroup::Finish() {
  if (grace_timer_) loop_.CancelTimer(*grace_timer_);
  grace_timer_.reset();
  // Every worker has exited; whatever is left in their process groups is an orphan of this attempt.
  SignalAll(SIGKILL);
  for (Worker& worker : workers_) {
    if (worker.stdout_tee) worker.stdout_tee->Close();
    if (worker.stderr_tee) worker.stderr_tee->Close();
  }
  // Root cause first. Error-file timestamps have one-second resolution, so compare whole seconds and
  // keep detection order (exits are seen at once) within the same second.
  std::stable_sort(failures_.begin(), failures_.end(), [](const WorkerFailure& a, const WorkerFailure& b) {
    return absl::ToUnixSeconds(a.time) < absl::ToUnixSeconds(b.time);
  });
  state_ = State::kDone;
  ended_at_ = EventLoop::MonotonicNow();
  Outcome outcome = Outcome::kSucceeded;
  if (!failures_.empty()) {
    outcome = Outcome::kWorkerFailed;
  } else if (stop_requested_) {
    outcome = Outcome::kStopped;
  }
  done_(outcome);  // Last statement: the owner may schedule our destruction.
}

}  // namespace accel::agent
