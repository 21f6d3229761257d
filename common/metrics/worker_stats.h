// What the node-local supervision reports for metrics: plain snapshots of one job's workers on this
// node, pushed to a WorkerStatsSink. The agent layer knows nothing about Prometheus; accel::metrics
// (agent/metrics/) implements the sink and renders the snapshots at scrape time.
//
// Labels stay bounded: job, node, rank and local_rank (plus exit code / signal for exits, state for
// counts by state). Nothing per line or per attempt becomes a label.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace accel::common {

enum class WorkerState {
  kRunning,  // started and not yet exited
  kHung,     // running, but printed nothing for longer than the hang timeout
  kExited,   // exited 0
  kFailed,   // exited non-zero or by a signal (including stopped by the supervisor)
};
std::string_view ToString(WorkerState state);
inline constexpr WorkerState kAllWorkerStates[] = {WorkerState::kRunning, WorkerState::kHung, WorkerState::kExited,
                                                   WorkerState::kFailed};

/// One worker of the current attempt.
struct WorkerStats {
  int rank = 0;
  int local_rank = 0;
  pid_t pid = -1;
  WorkerState state = WorkerState::kRunning;
  double cpu_seconds = 0;               // user + system, from /proc/<pid>/stat (0 when unreadable)
  uint64_t resident_bytes = 0;          // from /proc/<pid>/statm
  double seconds_since_output = 0;      // since its last stdout/stderr byte (or its start)
};

/// One job's workers on one node, as of one monitor pass.
struct GroupStats {
  std::string job;   // job id (acceld) or the run id (embedded launch)
  std::string node;
  int restart_count = 0;  // TORCHELASTIC_RESTART_COUNT of the current attempt
  std::vector<WorkerStats> workers;
};

/// One worker's end (every exit, successful or not, counted once).
struct WorkerExitRecord {
  std::string job;
  std::string node;
  int rank = 0;
  int local_rank = 0;
  int exit_code = 0;  // -1 when signalled
  int signal = 0;
};

/// Receives worker statistics. Implementations are thread-safe: every supervisor's loop thread calls
/// them, and a scrape may read concurrently. Calls must be cheap (a lock and a copy); no I/O.
class WorkerStatsSink {
 public:
  virtual ~WorkerStatsSink() = default;
  /// Replaces the job's snapshot for stats.node.
  virtual void Publish(const GroupStats& stats) = 0;
  /// A worker exited (counted in accel_worker_exits_total).
  virtual void RecordExit(const WorkerExitRecord& exit) = 0;
  /// A worker was marked hung (counted in accel_worker_hangs_total).
  virtual void RecordHang(const std::string& job, const std::string& node, int rank, int local_rank) = 0;
  /// A rendezvous (all machines joined) took `seconds`.
  virtual void RecordRendezvous(double seconds) = 0;
  /// The job's run on this node ended; its series go away after the sink's retention.
  virtual void Finish(const std::string& job, const std::string& node) = 0;
};

/// CPU time and resident memory of one process from /proc/<pid>/{stat,statm}; false when it is gone.
bool ReadProcessUsage(pid_t pid, double* cpu_seconds, uint64_t* resident_bytes);

}  // namespace accel::common
