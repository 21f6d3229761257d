#include "agent/posix_process_launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/strings.h"
#include "common/unique_fd.h"

namespace accel::agent {
namespace {

using common::UniqueFd;

constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

// Reported when another part of the process reaped our child and its real status is unknown.
constexpr int kLostStatusExitCode = 255;

// What the child reports through the close-on-exec pipe when it cannot reach (or pass) execve().
// EOF on the pipe means execve() succeeded.
enum ChildStage : int32_t { kSetsid = 1, kPdeathsig, kRedirect, kChdir, kExec, kCredentials };
struct ChildReport {
  int32_t stage;
  int32_t err;
};

// Everything the child needs, computed before the clone: the child shares the launcher's memory and
// may only make async-signal-safe calls that write nothing but its own stack (another thread may hold
// the malloc lock, and anything the child wrote to the heap would be the launcher's).
struct ChildPlan {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* working_dir;  // nullptr: keep the launcher's.
  int stdout_fd;
  int stderr_fd;
  const int* pass_fds;
  size_t pass_fd_count;
  pid_t launcher_pid;
  int report_fd;
  const RunAs* run_as;  // nullptr: keep the launcher's account
};

[[noreturn]] void ChildFail(const ChildPlan& plan, ChildStage stage) {
  const ChildReport report{stage, errno};
  [[maybe_unused]] ssize_t n = ::write(plan.report_fd, &report, sizeof(report));
  ::_exit(kSpawnFailureExitCode);
}

[[noreturn]] void RunChild(const ChildPlan& plan) {
  if (::setsid() < 0) ChildFail(plan, kSetsid);
  // Drop to the job's account first: a credential change clears PR_SET_PDEATHSIG, so it goes before.
  // Raw system calls, never glibc's setuid()/setgid()/setgroups(): to apply the change to every thread,
  // those walk and mark the thread list of the process they believe they run in, under a lock. This
  // child shares the launcher's memory, so that is the launcher's list, and the lock may be held by a
  // launcher thread that cannot run until the child execs. The kernel changes only the calling task's
  // credentials, which here is exactly the child.
  if (plan.run_as != nullptr) {
    if (::syscall(SYS_setgroups, plan.run_as->groups.size(), plan.run_as->groups.data()) != 0 ||
        ::syscall(SYS_setgid, plan.run_as->gid) != 0 || ::syscall(SYS_setuid, plan.run_as->uid) != 0) {
      ChildFail(plan, kCredentials);
    }
  }
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ChildFail(plan, kPdeathsig);
  // The launcher may have died between clone() and prctl(); then no death signal will ever come.
  if (::getppid() != plan.launcher_pid) ::_exit(kSpawnFailureExitCode);

  // Ignored signals survive execve() (handled ones are reset by it), and the mask is inherited: the
  // launcher's loop thread blocks the signals it reads through signalfd. The launcher's handlers must
  // be gone before the mask opens (Launch() blocked everything): one of them running here would run
  // on the launcher's memory.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::sigaction(sig, &default_action, nullptr);  // EINVAL for libc-reserved signals is fine.
  }
  sigset_t empty;
  ::sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);

  // dup2() clears close-on-exec on the target, so these survive the sweep below.
  if (plan.stdout_fd >= 0 && plan.stdout_fd != STDOUT_FILENO &&
      ::dup2(plan.stdout_fd, STDOUT_FILENO) < 0) {
    ChildFail(plan, kRedirect);
  }
  if (plan.stderr_fd >= 0 && plan.stderr_fd != STDERR_FILENO &&
      ::dup2(plan.stderr_fd, STDERR_FILENO) < 0) {
    ChildFail(plan, kRedirect);
  }
  // Descriptors opened elsewhere in the launcher without O_CLOEXEC (other threads, libraries) must not
  // leak into workers: a leaked pipe write end would keep another worker's output open forever.
  // ENOSYS (kernel < 5.11) is tolerated: our own descriptors are close-on-exec anyway.
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  for (size_t i = 0; i < plan.pass_fd_count; ++i) {
    if (plan.pass_fds[i] > STDERR_FILENO) ::fcntl(plan.pass_fds[i], F_SETFD, 0);
  }

  if (plan.working_dir != nullptr && ::chdir(plan.working_dir) != 0) ChildFail(plan, kChdir);
  ::execve(plan.path, plan.argv, plan.envp);
  ChildFail(plan, kExec);
}

int ChildEntry(void* plan) { RunChild(*static_cast<const ChildPlan*>(plan)); }

// The stack the child runs on until execve(). CLONE_VFORK keeps the launching thread suspended until
// then, so the stack can go as soon as clone() returns. The lowest page is a guard.
class ChildStack {
 public:
  static constexpr size_t kSize = 256 * 1024;

  ChildStack()
      : base_(::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) {
    if (base_ != MAP_FAILED) ::mprotect(base_, static_cast<size_t>(::getpagesize()), PROT_NONE);
  }
  ~ChildStack() {
    if (base_ != MAP_FAILED) ::munmap(base_, kSize);
  }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;

  bool ok() const { return base_ != MAP_FAILED; }
  void* top() const { return static_cast<char*>(base_) + kSize; }  // stacks grow down on every Linux ABI we build for

 private:
  void* const base_;
};

// Blocks every signal on this thread for its lifetime, so that none is delivered to the child while it
// still has the launcher's handlers and memory.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~AllSignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  sigset_t saved_;
};

std::string DescribeReport(const ChildReport& report, const std::string& path,
                           const std::string& working_dir) {
  const char* error = std::strerror(report.err);
  switch (report.stage) {
    case kSetsid:
      return common::StrCat("setsid: ", error);
    case kPdeathsig:
      return common::StrCat("prctl(PR_SET_PDEATHSIG): ", error);
    case kRedirect:
      return common::StrCat("dup2 of stdout/stderr: ", error);
    case kChdir:
      return common::StrCat("chdir(", working_dir, "): ", error);
    case kExec:
      return common::StrCat("execve(", path, "): ", error);
    case kCredentials:
      return common::StrCat("switching to the job's user (setgroups/setgid/setuid): ", error);
    default:
      return common::StrCat("unknown child failure stage ", report.stage, ": ", error);
  }
}

class PosixChildProcess final : public ChildProcess {
 public:
  PosixChildProcess(pid_t pid, UniqueFd pidfd, UniqueFd report_fd, std::string path,
                    std::string working_dir)
      : pid_(pid),
        pidfd_(std::move(pidfd)),
        report_fd_(std::move(report_fd)),
        path_(std::move(path)),
        working_dir_(std::move(working_dir)) {}

  ~PosixChildProcess() override {
    if (reaped_elsewhere_) return;  // The pid may already belong to someone else.
    // Safe even after the child exited: it is still an unreaped zombie, so its pid (= its process
    // group id) cannot have been reused. This also kills grandchildren left in the group.
    ::kill(-pid_, SIGKILL);
    if (!status_.has_value()) ::kill(pid_, SIGKILL);  // In case it died before setsid() took effect.
    siginfo_t info{};
    while (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED) != 0 && errno == EINTR) {
    }
  }

  pid_t pid() const override { return pid_; }
  int exit_fd() const override { return pidfd_.get(); }

  absl::Status SignalGroup(int signal) override {
    if (::kill(-pid_, signal) == 0) return absl::OkStatus();
    if (errno != ESRCH) {
      return absl::InternalError(common::StrCat("kill(-", pid_, ", ", SignalName(signal), "): ",
                                              std::strerror(errno)));
    }
    // No such group: either everything in it is gone, or the child has not run setsid() yet (it was
    // started a moment ago). Signal the child itself so the request is not lost; it stays pending
    // across execve() until the child unblocks it.
    if (!status_.has_value()) ::kill(pid_, signal);
    return absl::OkStatus();
  }

  std::optional<ExitStatus> TryWait() override {
    if (status_.has_value()) return status_;
    siginfo_t info{};
    // WNOWAIT: leave the zombie in place so the pid stays reserved until the destructor.
    if (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
      if (errno != ECHILD) return std::nullopt;
      // Someone else in this process reaped our child (waitpid(-1) elsewhere): the status is lost, but
      // the worker is certainly gone; report it rather than wait forever.
      reaped_elsewhere_ = true;
      status_ = ExitStatus::Exited(kLostStatusExitCode);
      status_->error = "exit status lost: the process was reaped by other code in the launcher";
      return status_;
    }
    if (info.si_pid == 0) return std::nullopt;
    ExitStatus status = info.si_code == CLD_EXITED ? ExitStatus::Exited(info.si_status)
                                                   : ExitStatus::Killed(info.si_status);
    ChildReport report{};
    // The child wrote its report (if any) before exiting, so a non-blocking read sees it.
    if (::read(report_fd_.get(), &report, sizeof(report)) == static_cast<ssize_t>(sizeof(report))) {
      status.error = DescribeReport(report, path_, working_dir_);
    }
    report_fd_.Reset();
    status_ = status;
    return status_;
  }

 private:
  const pid_t pid_;
  const UniqueFd pidfd_;
  UniqueFd report_fd_;
  const std::string path_;
  const std::string working_dir_;
  std::optional<ExitStatus> status_;
  bool reaped_elsewhere_ = false;
};

bool IsExecutableFile(const std::string& path, bool* exists) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  *exists = true;
  return ::access(path.c_str(), X_OK) == 0;
}

std::vector<char*> ToCharPointers(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  // execve() takes char* const[] for historical reasons; it does not modify the strings.
  for (const std::string& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

absl::StatusOr<std::string> ResolveExecutable(const std::string& program,
                                              const std::vector<std::string>& env,
                                              const std::string& working_dir) {
  if (program.empty()) return absl::InvalidArgumentError("empty program name (argv[0])");
  auto relative_to_workdir = [&](const std::string& path) {
    if (path.empty() || path[0] == '/' || working_dir.empty()) return path;
    return common::StrCat(working_dir, "/", path);
  };
  if (program.find('/') != std::string::npos) {
    bool exists = false;
    if (IsExecutableFile(relative_to_workdir(program), &exists)) return program;
    if (exists) return absl::PermissionDeniedError(common::StrCat(program, ": not executable"));
    return absl::NotFoundError(common::StrCat(program, ": no such file"));
  }

  std::string_view search_path = kDefaultPath;
  for (const std::string& entry : env) {
    if (entry.rfind("PATH=", 0) == 0) search_path = std::string_view(entry).substr(5);
  }
  bool found_not_executable = false;
  for (std::string_view dir : common::StrSplit(search_path, ':')) {
    // An empty PATH entry means the current directory, as for execvp().
    const std::string candidate = dir.empty() ? program : common::StrCat(dir, "/", program);
    bool exists = false;
    if (IsExecutableFile(relative_to_workdir(candidate), &exists)) {
      return candidate.find('/') == std::string::npos ? common::StrCat("./", candidate) : candidate;
    }
    found_not_executable |= exists;
  }
  if (found_not_executable) {
    return absl::PermissionDeniedError(
        common::StrCat(program, ": found on PATH but not executable (PATH=", search_path, ")"));
  }
  return absl::NotFoundError(common::StrCat(program, ": command not found (PATH=", search_path, ")"));
}

absl::StatusOr<std::unique_ptr<ChildProcess>> PosixProcessLauncher::Launch(const ProcessSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("empty argv");
  auto path = ResolveExecutable(spec.argv[0], spec.env, spec.working_dir);
  if (!path.ok()) return path.status();

  const std::vector<char*> argv = ToCharPointers(spec.argv);
  const std::vector<char*> envp = ToCharPointers(spec.env);
  int report_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::ResourceExhaustedError(common::StrCat("pipe2: ", std::strerror(errno)));
  }
  UniqueFd report_read(report_pipe[0]);
  UniqueFd report_write(report_pipe[1]);
  // The write end must block: the child's one small write must not be dropped.
  ::fcntl(report_write.get(), F_SETFL, 0);

  const ChildPlan plan{path->c_str(),
                       argv.data(),
                       envp.data(),
                       spec.working_dir.empty() ? nullptr : spec.working_dir.c_str(),
                       spec.stdout_fd,
                       spec.stderr_fd,
                       spec.pass_fds.data(),
                       spec.pass_fds.size(),
                       ::getpid(),
                       report_write.get(),
                       spec.run_as ? &*spec.run_as : nullptr};
  // clone(CLONE_VM | CLONE_VFORK), as posix_spawn() does, rather than fork(): the child borrows the
  // launcher's address space until execve(), so nothing is copied. fork() copies the page tables of a
  // launcher that maps dozens of libraries and then takes a copy-on-write fault (and a TLB shootdown
  // across the loop threads) for every page either side touches; that was most of the cost of
  // starting 64 workers. CLONE_PIDFD hands back the pidfd atomically. The first child's calls through
  // the PLT bind those symbols for the launcher too (the GOT is shared); the lazy binder takes no lock
  // that the suspended thread could be holding, so this cannot deadlock.
  ChildStack stack;
  if (!stack.ok()) return absl::ResourceExhaustedError(common::StrCat("mmap of the child stack: ", std::strerror(errno)));
  int pidfd_number = -1;
  pid_t pid = -1;
  {
    AllSignalsBlocked blocked;
    pid = ::clone(ChildEntry, stack.top(), CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
                  const_cast<ChildPlan*>(&plan), &pidfd_number);
  }
  if (pid < 0) {
    return absl::ResourceExhaustedError(common::StrCat("clone: ", std::strerror(errno)));
  }
  report_write.Reset();
  UniqueFd pidfd(pidfd_number);
  return std::unique_ptr<ChildProcess>(new PosixChildProcess(
      pid, std::move(pidfd), std::move(report_read), *std::move(path), spec.working_dir));
}

}  // namespace accel::agent
