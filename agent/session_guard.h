// SessionGuard: a small process that outlives the launcher just long enough to kill what the launcher
// could not, when it dies without cleaning up (SIGKILL, OOM kill, a crash).
//
// Why: workers die with the launcher through PR_SET_PDEATHSIG, but their own children (DataLoader
// workers, compilers, shells' background jobs) do not; once the launcher is gone they are reparented to
// init and keep holding GPUs. Nothing in a dead process can run, so the cleanup has to live in another
// one. The guard is forked once per run, sits in its own session with every fd but one closed, and reads
// worker session ids from a socket. When the socket reaches EOF (the launcher closed it, or died), it
// SIGKILLs every process in those sessions (each worker is a session leader, so its descendants share
// its session id unless they called setsid() themselves) and exits.
//
// The child runs only async-signal-safe system calls on memory allocated before fork(), so forking from
// a multi-threaded process (acceld, with gRPC threads) is safe.
//
// Thread: one owner thread (the launcher's loop thread).
#pragma once

#include <sys/types.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace accel::agent {

class SessionGuard {
 public:
  /// Sessions the guard can remember; further ones are not guarded (a warning says so).
  static constexpr size_t kMaxSessions = 65536;

  /// Forks the guard. Fails (and nothing runs) when the socket or fork fails.
  static absl::StatusOr<std::unique_ptr<SessionGuard>> Start();

  /// Closes the socket and waits for the guard, which kills anything still in the watched sessions.
  ~SessionGuard();
  SessionGuard(const SessionGuard&) = delete;
  SessionGuard& operator=(const SessionGuard&) = delete;

  /// Adds a worker's session (its pid: workers call setsid()). Cheap: one send of 4 bytes.
  void Watch(pid_t session);

  pid_t pid() const { return pid_; }

 private:
  SessionGuard(pid_t pid, common::UniqueFd socket) : pid_(pid), socket_(std::move(socket)) {}

  pid_t pid_;
  common::UniqueFd socket_;
  size_t watched_ = 0;
};

}  // namespace accel::agent
