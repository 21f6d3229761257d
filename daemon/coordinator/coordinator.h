// Coordinator: the cluster's control plane. Owns the node table (registration, heartbeats, liveness),
// the job registry (submit, rendezvous/placement, start on every node, restarts, cancel, end), the
// jobs' subscribers and their in-memory log rings. Reaches agents only through AgentClient, persists
// through JobStore and reads time from Clock, so tests drive all three (tests/fakes/).
//
// Threading: loop thread only. Every public method must be called on the thread that runs `loop`
// (or, before it runs, on the thread that will); gRPC handlers post to the loop and call it there.
// AgentClient callbacks may arrive on any thread: the coordinator re-posts them to the loop and drops
// them if it is gone by then.
//
// Lifetime: `loop`, `clock`, `agents` and `store` must outlive the coordinator. Destroying it (or
// Shutdown) cancels its watches and closes every subscriber with UNAVAILABLE; jobs keep running on
// the agents and a new coordinator on the same store re-attaches to them.
//
// Job life cycle (JobRecord.state):
//   PENDING     waiting for nodes: `spec.nodes` exactly, or MIN..MAX alive nodes that no other job
//               uses. MIN reached: a last-call window (options.last_call) lets more join, then up to
//               MAX are taken (at once when MAX are there). No MIN within options.join_timeout:
//               FAILED "rendezvous timed out after ...: have N of MIN nodes ...; missing: ...".
//   RUNNING     an attempt was started on its nodes (machine ranks in node order, MASTER_ADDR = rank
//               0's host, MASTER_PORT from the port range). A second RUNNING event says "all N nodes
//               running" once every node reported kStarted.
//   RESTARTING  a node's workers failed, a node was lost (heartbeats stopped, its WatchGroup stream
//               broke, its agent became unreachable) or its start failed: every other node of the
//               attempt is stopped (StopGroup), then attempt+1 starts on the nodes still alive, while
//               attempt < spec.max_restarts and at least MIN (all of `spec.nodes`) remain.
//   SUCCEEDED   every node of the attempt reported kSucceeded; exit code 0.
//   FAILED      no restarts left, too few nodes, or rendezvous timeout; exit code of the root-cause
//               rank (the first failure of the last attempt), 1 when no rank exited (node lost...).
//   CANCELLED   Cancel(): stopped on every node; exit code 130, what a shell reports for Ctrl-C, since
//               cancelling is how `accelctl launch` forwards Ctrl-C.
// Every state change is saved to the JobStore before it is announced.
//
// Restart of the coordinator: Start() loads every record. PENDING jobs wait again (for what is left
// of their join timeout). RUNNING and RESTARTING jobs keep their state; when their nodes register
// again (RegisterAgent's running_groups says which attempts still run) their WatchGroup streams are
// re-opened; a node that does not come back within heartbeat_timeout counts as lost.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/event_loop.h"
#include "common/security/caller.h"
#include "common/metrics/histogram.h"
#include "common/types/cluster_types.h"
#include "daemon/coordinator/agent_client.h"
#include "daemon/coordinator/clock.h"
#include "daemon/coordinator/job_store.h"
#include "daemon/coordinator/placement.h"

namespace accel::daemon {

struct CoordinatorOptions {
  absl::Duration heartbeat_interval = absl::Seconds(1);  // told to agents on registration
  absl::Duration heartbeat_timeout = absl::Seconds(5);   // silence after which a node is lost
  absl::Duration join_timeout = absl::Seconds(600);      // c10d's join_timeout
  absl::Duration last_call = absl::Seconds(30);          // c10d's last_call_timeout
  int master_port_min = 29500;
  int master_port_max = 29999;
  // StartGroup waits until the node's WatchGroup stream is set up (the agent's initial metadata), so
  // no event of the attempt is missed; an agent that never sends it is started after this anyway.
  absl::Duration watch_ready_timeout = absl::Seconds(1);
  size_t log_ring_lines = 10000;  // per running job, for followers; the JobStore keeps all lines
};

/// InvalidArgument naming the first bad field.
absl::Status ValidateCoordinatorOptions(const CoordinatorOptions& options);

/// Coordinator metrics: plain values, copied on the loop thread and rendered by daemon/metrics.
struct CoordinatorMetrics {
  // Seconds from a job's submission (or restart) until its attempt starts on every node it placed.
  common::HistogramCounts rendezvous_seconds{common::RendezvousSecondsBounds()};
  uint64_t jobs_submitted_total = 0;
  uint64_t jobs_restarted_total = 0;
  uint64_t nodes_lost_total = 0;
  uint64_t store_errors_total = 0;
  uint64_t log_lines_total = 0;
};

class Coordinator {
 public:
  using SubscriptionId = uint64_t;
  /// Receives one event; returning false unsubscribes (the receiver went away).
  using EventSink = std::function<bool(const common::JobEvent& event)>;
  using LogSink = std::function<bool(const common::LogLine& line)>;
  /// The coordinator ended the subscription: OK after the job's final event, UNAVAILABLE on shutdown.
  /// Not called after Unsubscribe() or after a sink returned false.
  using ClosedCallback = std::function<void(absl::Status status)>;

  Coordinator(common::EventLoop& loop, Clock& clock, AgentClient& agents, JobStore& store, CoordinatorOptions options);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  /// Loads the stored jobs (see "Restart of the coordinator" above). Call once, before anything else.
  /// Fails only when the store cannot be listed at all.
  absl::Status Start();
  /// Cancels watches and timers and closes every subscriber with UNAVAILABLE. Jobs keep running on
  /// the agents. Idempotent; every later call is refused with UNAVAILABLE or ignored.
  void Shutdown();

  // --- Agents -----------------------------------------------------------------------------------

  /// Registers (or re-registers) `node`, alive from now on. `running_groups` (job id -> attempt) is
  /// what the agent still runs: attempts of jobs the coordinator is following are re-attached, others
  /// (jobs that ended or that the node no longer belongs to) are stopped. `observed_host` is the host
  /// the call came from; it replaces an unspecified host (0.0.0.0) in node.agent_address. Returns the
  /// heartbeat interval the agent must keep.
  absl::StatusOr<absl::Duration> RegisterAgent(common::NodeInfo node, const std::map<std::string, int>& running_groups,
                                               const std::string& observed_host);
  /// Records a heartbeat. False when the coordinator does not know the node, or counts it as lost:
  /// the agent must register again.
  bool Heartbeat(const std::string& node, const std::map<std::string, int>& running_groups);
  /// Every known node (alive or lost), by name, with the jobs it runs.
  std::vector<common::NodeInfo> ListNodes() const;

  // --- Jobs -------------------------------------------------------------------------------------

  struct Submitted {
    std::string job_id;
    SubscriptionId subscription = 0;
  };
  /// Submits a job and subscribes `sink` to all of its events (every rank's logs); the first event is
  /// its PENDING state. InvalidArgument for an unusable spec (duplicate --nodes, MIN > MAX),
  /// Unavailable after Shutdown.
  absl::StatusOr<Submitted> Submit(common::JobSpec spec, EventSink sink, ClosedCallback closed);

  struct WatchOptions {
    bool logs = true;
    int rank = -1;  // -1: every rank
  };
  /// Follows a job: first its current state (with its reason and, when final, its exit code), then
  /// new events. For a job that already ended: that one event, then `closed(OK)`, and 0 is returned.
  /// NotFound for an unknown job.
  absl::StatusOr<SubscriptionId> Watch(const std::string& job_id, WatchOptions options, EventSink sink,
                                       ClosedCallback closed);
  /// The job's stored log lines (of `rank`, or all for -1), then, with `follow` and while the job
  /// runs, new ones. Without `follow` (or for an ended job) `closed(OK)` runs at once and 0 is returned.
  absl::StatusOr<SubscriptionId> StreamLogs(const std::string& job_id, int rank, bool follow, LogSink sink,
                                            ClosedCallback closed);
  /// Ends a subscription without calling its ClosedCallback. A no-op for an unknown id.
  void Unsubscribe(SubscriptionId id);

  absl::StatusOr<common::JobRecord> GetJob(const std::string& job_id) const;
  /// Every job, oldest submission first.
  std::vector<common::JobRecord> ListJobs() const;
  /// Cancels a job: a pending one ends at once, a running one once every node stopped it. Returns the
  /// record as it is now. NotFound; FailedPrecondition when the job already ended.
  absl::StatusOr<common::JobRecord> Cancel(const std::string& job_id);

  // --- The same, on behalf of an authenticated caller (coordinator_access.cc) --------------------
  // A caller sees, follows and cancels only its own jobs (same uid) unless it is an admin or a daemon;
  // anything else is PermissionDenied naming the job. Submit takes the owner (user, uid, gid) from the
  // caller, whatever the spec said; a caller without a local account (a daemon identity) cannot submit.

  absl::StatusOr<Submitted> Submit(const common::Caller& caller, common::JobSpec spec, EventSink sink,
                                   ClosedCallback closed);
  absl::StatusOr<SubscriptionId> Watch(const common::Caller& caller, const std::string& job_id, WatchOptions options,
                                       EventSink sink, ClosedCallback closed);
  absl::StatusOr<SubscriptionId> StreamLogs(const common::Caller& caller, const std::string& job_id, int rank,
                                            bool follow, LogSink sink, ClosedCallback closed);
  absl::StatusOr<common::JobRecord> GetJob(const common::Caller& caller, const std::string& job_id) const;
  /// The caller's jobs (every job for admins and daemons).
  std::vector<common::JobRecord> ListJobs(const common::Caller& caller) const;
  absl::StatusOr<common::JobRecord> Cancel(const common::Caller& caller, const std::string& job_id);

  const CoordinatorMetrics& metrics() const { return metrics_; }
  const CoordinatorOptions& options() const { return options_; }

 private:
  struct Node {
    common::NodeInfo info;
    absl::Time last_heartbeat;
    Clock::TimerId liveness_timer = 0;
    std::set<std::string> reconcile_stops;  // job ids with a reconciling StopGroup in flight
  };

  // One node of the current attempt.
  struct Member {
    std::string node;
    AgentRef ref;
    AgentClient::WatchId watch = 0;
    bool start_sent = false;
    bool start_answered = false;
    bool stop_wanted = false;  // stop once the start is answered / the node registers
    bool started = false;      // kStarted seen (or still running after a coordinator restart)
    bool ended = false;        // final event, StopGroup answered, or lost
    bool succeeded = false;
    bool stop_sent = false;
    bool lost = false;
    bool awaiting_register = false;  // loaded from the store; the node has not registered since
    int local_world_size = 0;
    Clock::TimerId replay_timer = 0;  // re-attached without its group: wait for a replayed final event
    Clock::TimerId ready_timer = 0;   // start even if the watch never reports ready
  };

  enum class Phase { kPending, kRunning, kStopping, kDone };
  enum class Outcome { kRestart, kFail, kCancel };

  struct Subscriber {
    std::string job_id;
    EventSink events;  // set for Submit/Watch
    LogSink logs;      // set for StreamLogs
    bool want_logs = true;
    int rank = -1;
    ClosedCallback closed;
  };

  struct Job {
    common::JobRecord record;
    Phase phase = Phase::kPending;
    // Pending.
    Clock::TimerId join_timer = 0;
    Clock::TimerId last_call_timer = 0;
    bool last_call_over = false;
    // Current attempt.
    std::vector<Member> members;  // machine-rank order
    // After Finish(): the last attempt's nodes and their local world sizes (0 while unanswered), so a
    // StartGroup answer that arrives after a short job ended still completes the record's world size.
    std::vector<std::pair<std::string, int>> final_local_sizes;
    std::string master_addr;
    int master_port = 0;
    int local_world_size_hint = 1;  // per node, learned from the previous attempt
    bool all_running_announced = false;
    bool failure_recorded = false;  // the attempt's root cause is in record.exits
    absl::Time waiting_since = absl::InfinitePast();  // submitted / restarting: for rendezvous_seconds
    // Stopping.
    Outcome outcome = Outcome::kFail;
    std::string outcome_reason;
    int outcome_exit_code = 1;
    // Followers and logs.
    std::vector<SubscriptionId> subscribers;
    std::deque<common::LogLine> ring;
    bool ring_complete = true;  // false once a line fell off the ring
    bool log_error_reported = false;
  };

  // Posts `fn(args...)` to the loop when called (from any thread); dropped if the coordinator is gone.
  template <typename... Args, typename Fn>
  std::function<void(Args...)> OnLoop(Fn fn);

  // Nodes.
  void ArmLiveness(Node& node);
  void CheckLiveness(const std::string& name);
  void NodeLost(const std::string& name, const std::string& reason);
  void ReconcileGroups(Node& node, const std::map<std::string, int>& running_groups);
  bool NodeAvailable(const std::string& name) const;

  // Placement.
  void TryPlacePending();
  bool TryPlace(Job& job);
  void OnJoinTimeout(const std::string& job_id);
  void OnLastCall(const std::string& job_id);
  std::string DescribeMissing(const Job& job) const;
  // The job's rendezvous windows: its own (--rdzv_conf), else the coordinator's.
  absl::Duration JoinTimeout(const Job& job) const;
  absl::Duration LastCall(const Job& job) const;

  // Attempts.
  void StartAttempt(Job& job, std::vector<std::string> nodes, int attempt);
  void OpenWatch(Job& job, Member& member);
  void OnWatchReady(const std::string& job_id, AgentClient::WatchId watch);
  void OnStartDone(const std::string& job_id, int attempt, const std::string& node, absl::StatusOr<int> result);
  void OnGroupEvent(const std::string& job_id, AgentClient::WatchId watch, common::GroupEvent event);
  void OnWatchClosed(const std::string& job_id, AgentClient::WatchId watch, absl::Status status);
  void OnStopDone(const std::string& job_id, int attempt, const std::string& node, absl::Status status);
  // Fails the member's part of the attempt with `reason` unless an event of it arrives first.
  void ArmReplayTimer(Job& job, Member& member, std::string reason);
  void OnReplayTimeout(const std::string& job_id, int attempt, const std::string& node, const std::string& reason);
  void OnReattachTimeout();
  void MemberFailed(Job& job, Member& member, const std::string& reason, const std::vector<common::RankExit>& exits,
                    bool lost);
  void BeginStopping(Job& job, Outcome outcome, std::string reason, int exit_code);
  void SendStop(Job& job, Member& member);
  void CheckStopped(Job& job);
  void CheckSucceeded(Job& job);
  // Sets record.world_size from the members' local world sizes once all are known; true if it changed.
  bool UpdateWorldSize(Job& job);
  void Finish(Job& job, common::JobState state, int exit_code, std::string reason);
  void CloseWatch(Member& member);
  int NodesNeeded(const Job& job) const;

  // Records, events and logs.
  void SetState(Job& job, common::JobState state, std::string message);
  void Save(const Job& job);
  void Emit(Job& job, const common::JobEvent& event);
  void EmitState(Job& job, const std::string& message);
  void OnLog(Job& job, common::LogLine line);
  common::JobEvent StateEvent(const Job& job, const std::string& message) const;
  void CloseSubscribers(Job& job, const absl::Status& status);
  SubscriptionId AddSubscriber(Job& job, Subscriber subscriber);

  Job* FindJob(const std::string& job_id);
  const Job* FindJob(const std::string& job_id) const;
  Member* FindMember(Job& job, const std::string& node);
  int64_t NowMs() const;

  common::EventLoop& loop_;
  Clock& clock_;
  AgentClient& agents_;
  JobStore& store_;
  const CoordinatorOptions options_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // weak_ptrs to it guard posted callbacks
  bool shut_down_ = false;

  std::map<std::string, Node> nodes_;
  std::map<std::string, Job> jobs_;
  std::map<std::string, std::string> node_job_;  // node -> the active job it belongs to
  bool placing_ = false;                         // TryPlacePending is on the stack
  bool place_again_ = false;
  std::vector<std::string> pending_;  // job ids, submission order
  std::map<SubscriptionId, Subscriber> subscribers_;
  std::map<AgentClient::WatchId, std::string> watch_jobs_;  // open watch -> job id
  SubscriptionId next_subscription_ = 1;
  uint64_t next_job_counter_ = 0;
  MasterPortAllocator ports_;
  Clock::TimerId reattach_timer_ = 0;
  CoordinatorMetrics metrics_;
};

}  // namespace accel::daemon
