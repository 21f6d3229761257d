// OrphanReaper: reaps (and at the end kills) grandchildren of our workers that were reparented to the
// launcher because it is a child subreaper.
//
// Why not waitpid(-1): that would also reap the workers themselves (whose status the WorkerGroup reads
// through their pidfds) and children that other code in the launcher process waits for. Instead only
// children that are provably descendants of our workers are touched: they sit in a session that one of
// our workers leads (every worker calls setsid(), so its session id is its pid) but are not the session
// leader themselves. A descendant that started its own session (a daemon that called setsid()) cannot
// be told apart from unrelated children, and is left alone.
//
// Thread: loop thread only (the thread that owns the workers).
#pragma once

#include <sys/types.h>

#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "agent/session_guard.h"

namespace accel::agent {

class OrphanReaper {
 public:
  /// `guard` (optional, must outlive this) also learns every session, to kill its processes should the
  /// launcher die before it could.
  explicit OrphanReaper(SessionGuard* guard = nullptr) : guard_(guard) {}

  /// Records a worker's pid (= its session id); its descendants become ours to reap.
  void AddSession(pid_t worker_pid) {
    sessions_.insert(worker_pid);
    if (guard_ != nullptr) guard_->Watch(worker_pid);
  }

  /// Reaps exited orphans without blocking. Returns how many were reaped. Call on SIGCHLD and from the
  /// periodic monitor pass (SIGCHLD may be consumed by another thread that does not block it).
  int ReapZombies();

  /// Sends SIGKILL to every orphan still running and reaps them all, waiting at most `timeout`. Returns
  /// how many orphans were found. For the end of a run: nothing of ours may outlive it.
  int KillAll(absl::Duration timeout);

 private:
  struct Orphan {
    pid_t pid;
    bool zombie;
  };
  std::vector<Orphan> FindOrphans() const;

  SessionGuard* guard_;
  absl::flat_hash_set<pid_t> sessions_;
};

/// Children of this process (all threads), from /proc/self/task/*/children, falling back to scanning
/// /proc when the kernel lacks CONFIG_PROC_CHILDREN.
std::vector<pid_t> ListChildProcesses();

}  // namespace accel::agent
