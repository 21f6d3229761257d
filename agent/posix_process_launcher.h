// PosixProcessLauncher: clone(CLONE_VM | CLONE_VFORK) + execve with everything a supervised worker
// needs.
//
// Each child:
//   * leads its own session and process group (setsid), so the whole tree below it can be signalled
//     as a unit and a terminal Ctrl-C reaches only the launcher, which forwards it;
//   * gets PR_SET_PDEATHSIG = SIGKILL and then checks that its parent is still the launcher, so it
//     dies if the launcher dies, even by SIGKILL (closing the race where the launcher died before
//     prctl ran);
//   * starts with default signal dispositions and an empty signal mask (the launcher blocks and
//     ignores signals that a worker must see normally);
//   * inherits only stdin/stdout/stderr and ProcessSpec::pass_fds.
// Exits are observed through a pidfd, so they are seen at once by an epoll loop.
//
// Threading: PR_SET_PDEATHSIG fires when the *thread* that started the child exits, not the process.
// Call Launch() only from a thread that lives as long as the children (the LocalAgent loop thread).
// Launch() itself is stateless and may run on several threads, each owning its own children.
//
// Nothing else in the process may reap these children (waitpid(-1, ...) elsewhere would steal their
// exit status); see OrphanReaper for how grandchildren are reaped safely.
#pragma once

#include <memory>

#include "agent/process_launcher.h"

namespace accel::agent {

class PosixProcessLauncher final : public ProcessLauncher {
 public:
  absl::StatusOr<std::unique_ptr<ChildProcess>> Launch(const ProcessSpec& spec) override;
};

/// Resolves argv[0] the way execvpe() would, but before the clone (so the child only calls async-signal-safe
/// functions): a name containing '/' is used as given (relative to `working_dir` when that is set),
/// otherwise each PATH entry from `env` is tried (PATH unset: "/usr/local/bin:/usr/bin:/bin"). Returns
/// the path to execve(). NotFound / PermissionDenied name the program and the PATH searched.
absl::StatusOr<std::string> ResolveExecutable(const std::string& program,
                                              const std::vector<std::string>& env,
                                              const std::string& working_dir);

}  // namespace accel::agent
