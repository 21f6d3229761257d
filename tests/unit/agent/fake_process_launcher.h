// FakeProcessLauncher: a ProcessLauncher whose "processes" exit when the test says so.
//
// Each fake child has a real eventfd as its exit_fd, so a real EventLoop sees exits exactly as it sees
// pidfds. Signals are recorded; by default SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGKILL "kill" the child on
// the spot (it exits with that signal), unless the test marked it as ignoring SIGTERM-like signals.
//
// Thread: the test thread, which also runs the EventLoop. Not thread-safe.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "agent/console_sink.h"
#include "agent/process_launcher.h"
#include "common/unique_fd.h"

namespace accel::agent::testing {

class FakeProcessLauncher;

struct FakeChildState {
  pid_t pid = 0;
  ProcessSpec spec;
  common::UniqueFd exit_event;
  std::optional<ExitStatus> status;
  std::vector<int> signals;  // Every SignalGroup() call, in order.
  bool ignore_term = false;  // Survives everything but SIGKILL.
  bool destroyed = false;    // The ChildProcess object is gone (the supervisor "reaped" it).
  int id = 0;                // Launch order, from 0.
  // The child's ends of its stdout/stderr (duplicates of what the launcher was given), as a real
  // child would hold them; closed when the child "exits".
  common::UniqueFd stdout_fd;
  common::UniqueFd stderr_fd;
};

class FakeChildProcess final : public ChildProcess {
 public:
  explicit FakeChildProcess(std::shared_ptr<FakeChildState> state) : state_(std::move(state)) {}
  ~FakeChildProcess() override {
    if (!state_->status) state_->status = ExitStatus::Killed(SIGKILL);
    state_->destroyed = true;
  }
  pid_t pid() const override { return state_->pid; }
  int exit_fd() const override { return state_->exit_event.get(); }
  absl::Status SignalGroup(int signal) override {
    state_->signals.push_back(signal);
    if (state_->status) return absl::OkStatus();
    const bool fatal = signal == SIGKILL || (!state_->ignore_term && (signal == SIGTERM || signal == SIGINT ||
                                                                      signal == SIGHUP || signal == SIGQUIT));
    if (fatal) Exit(*state_, ExitStatus::Killed(signal));
    return absl::OkStatus();
  }
  std::optional<ExitStatus> TryWait() override { return state_->status; }

  static void Exit(FakeChildState& state, ExitStatus status) {
    if (state.status) return;
    state.status = std::move(status);
    state.stdout_fd.Reset();
    state.stderr_fd.Reset();
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(state.exit_event.get(), &one, sizeof(one));
  }

 private:
  std::shared_ptr<FakeChildState> state_;
};

class FakeProcessLauncher final : public ProcessLauncher {
 public:
  absl::StatusOr<std::unique_ptr<ChildProcess>> Launch(const ProcessSpec& spec) override {
    const int id = static_cast<int>(children_.size());
    if (auto it = launch_errors_.find(id); it != launch_errors_.end()) {
      children_.push_back(nullptr);
      return it->second;
    }
    auto state = std::make_shared<FakeChildState>();
    state->pid = next_pid_++;
    state->spec = spec;
    state->exit_event = common::UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    state->ignore_term = ignore_term_ids_.count(id) > 0;
    state->id = id;
    if (spec.stdout_fd >= 0) state->stdout_fd = common::UniqueFd(::fcntl(spec.stdout_fd, F_DUPFD_CLOEXEC, 0));
    if (spec.stderr_fd >= 0) state->stderr_fd = common::UniqueFd(::fcntl(spec.stderr_fd, F_DUPFD_CLOEXEC, 0));
    children_.push_back(state);
    return std::unique_ptr<ChildProcess>(new FakeChildProcess(state));
  }

  /// The `id`-th launch (counting across attempts) fails with `error`.
  void FailLaunch(int id, absl::Status error) { launch_errors_[id] = std::move(error); }
  /// The `id`-th launched child ignores SIGTERM-like signals (only SIGKILL stops it).
  void IgnoreTerm(int id) { ignore_term_ids_.insert({id, true}); }

  /// Makes the `id`-th launched child exit now.
  void Exit(int id, ExitStatus status) { FakeChildProcess::Exit(*children_.at(static_cast<size_t>(id)), status); }

  /// Writes `text` to the `id`-th child's stdout (or stderr), as the child would.
  void Write(int id, StdStream stream, std::string_view text) {
    const FakeChildState& state = *children_.at(static_cast<size_t>(id));
    const int fd = stream == StdStream::kStdout ? state.stdout_fd.get() : state.stderr_fd.get();
    [[maybe_unused]] ssize_t n = ::write(fd, text.data(), text.size());
  }

  int launches() const { return static_cast<int>(children_.size()); }
  /// Null for launches that failed.
  const std::shared_ptr<FakeChildState>& child(int id) const { return children_.at(static_cast<size_t>(id)); }

 private:
  pid_t next_pid_ = 1000;
  std::vector<std::shared_ptr<FakeChildState>> children_;
  std::map<int, absl::Status> launch_errors_;
  std::map<int, bool> ignore_term_ids_;
};

}  // namespace accel::agent::testing
