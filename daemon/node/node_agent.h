// NodeAgent: this node's part of cluster jobs. The coordinator starts and stops one attempt at a
// time (StartGroup / StopGroup); each attempt is a LocalAgent run on its own thread, planned from the
// job's launch line exactly as `accelctl launch` plans it, with the coordinator's machine rank,
// master address and port. Watchers receive the group's events: started, succeeded, failed (with the
// root cause first), stopped, and every output line labelled with its rank.
//
// It also keeps the batch system's allocation of the node (SLURM Prolog/Epilog): who owns the node
// now and which GPUs they were given. Ending an allocation stops every group that belongs to it. With
// an allocation file the allocation survives a restart of acceld (an upgrade, a crash) in the middle
// of a batch job, so the owner check and the Epilog still find it.
//
// Thread-safe: the gRPC service calls it from its threads; events are delivered on the attempt's
// threads (log lines on its loop thread).
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/types/allocation.h"
#include "common/metrics/worker_stats.h"
#include "common/types/cluster_types.h"

namespace accel::daemon {

struct NodeAgentOptions {
  std::string node_name;
  std::string log_root;  // <log_root>/<job id>/attempt_<n>/<local_rank>/...
  // With SLURM integration on, only jobs of the current allocation's owner start (run_as.h).
  bool slurm_integration = false;
  int64_t daemon_uid = -1;  // acceld's own uid for the run-as policy; -1: geteuid() (tests pass others)
  // Where the current allocation is kept (<state_dir>/allocation.json); empty: in memory only.
  std::string allocation_file;
};

class NodeAgent {
 public:
  using EventSink = std::function<void(const common::GroupEvent&)>;

  /// `stats` (may be null) receives every attempt's worker statistics; it must outlive the agent.
  explicit NodeAgent(NodeAgentOptions options, common::WorkerStatsSink* stats = nullptr);
  /// Stops every running group and waits for the workers to be gone.
  ~NodeAgent();
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  /// Plans and starts `assignment.attempt` of the job; returns the number of local workers.
  /// FailedPrecondition when an attempt of the job already runs here; InvalidArgument when the
  /// launch line or config does not plan (the message is PlanLaunch's).
  absl::StatusOr<int> StartGroup(const common::JobSpec& spec, const common::Assignment& assignment);
  /// Stops the job's running attempt (signal, grace, SIGKILL) and returns once its workers are gone.
  /// OK when nothing runs.
  absl::Status StopGroup(const std::string& job_id, int signal);

  /// Adds a watcher of the job's events; returns an id for Unwatch. The job's latest state event
  /// (started, or how its last attempt ended) reaches `sink` first, from inside this call.
  int Watch(const std::string& job_id, EventSink sink);
  void Unwatch(int watch_id);

  /// job id -> attempt, of the attempts running now.
  std::map<std::string, int> RunningGroups() const;

  /// Records the batch system's allocation of this node (a SLURM Prolog). The same job again
  /// replaces it (a repeated Prolog); FailedPrecondition while another job's allocation is current
  /// (accel expects whole nodes: `--exclusive` or OverSubscribe=EXCLUSIVE). With an allocation file,
  /// an error writing it leaves the node as it was.
  absl::Status SetAllocation(common::Allocation allocation);
  /// Ends `job_id`'s allocation (a SLURM Epilog): forgets it when it is current, and stops every
  /// group that belongs to it -- started while it was current, or submitted from inside it
  /// (SLURM_JOB_ID=job_id in the submitter's environment): SIGTERM, `grace`, SIGKILL. Returns once
  /// those workers are gone. Ending an unknown allocation still stops its groups.
  common::AllocationEnd EndAllocation(const std::string& job_id, absl::Duration grace);
  /// The node's current allocation; nullopt when it is not allocated. What the owner check of
  /// StartGroup reads (who may run jobs here).
  std::optional<common::Allocation> CurrentAllocation() const;

 private:
  class Attempt;
  void Emit(const common::GroupEvent& event);
  // The allocation file's content at start; nullopt when there is none (or it cannot be read: logged).
  std::optional<common::Allocation> LoadAllocation() const;

  const NodeAgentOptions options_;
  common::WorkerStatsSink* const stats_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Attempt>> attempts_ ABSL_GUARDED_BY(mu_);
  std::optional<common::Allocation> allocation_ ABSL_GUARDED_BY(mu_);
  struct Watcher {
    std::string job_id;
    EventSink sink;
  };
  absl::Mutex watch_mu_;
  std::map<int, Watcher> watchers_ ABSL_GUARDED_BY(watch_mu_);
  int next_watch_id_ ABSL_GUARDED_BY(watch_mu_) = 1;
  // Each job's latest state event (started or final), replayed to a new watcher so that a coordinator
  // that (re)connects learns how the job stands, including how it ended while nobody watched. Bounded:
  // the oldest jobs are forgotten first.
  static constexpr size_t kRememberedJobs = 4096;
  std::map<std::string, common::GroupEvent> last_state_ ABSL_GUARDED_BY(watch_mu_);
  std::deque<std::string> last_state_order_ ABSL_GUARDED_BY(watch_mu_);
};

}  // namespace accel::daemon
