// AgentClient: how the coordinator reaches the agents' AgentService. The coordinator depends on this
// interface only; daemon/rpc/grpc_agent_client.h implements it over gRPC and
// tests/fakes/fake_agent_client.h records calls so tests answer them by hand.
//
// Threading: every method may be called from any thread (the coordinator calls them from its loop
// thread). Callbacks may run on any thread, including inside the call that registered them; the
// coordinator re-posts them to its loop, so implementations never need to know about it.
//
// Contract expected from the agent side (AgentService, see proto/accel/v1/agent.proto):
//  * WatchGroup(job): the agent sends its initial metadata as soon as the watch is registered (that
//    is `on_ready`), then, if it runs or ran the job, the current status of its group as one event
//    (kStarted for a running attempt, or the attempt's final event), then live events. Per attempt:
//    kLog lines, one kStarted once every local worker is running, and exactly one final event:
//    kSucceeded, kFailed (exits, root cause first) or kStopped. The stream stays open across attempts
//    until the coordinator cancels it; a stream that ends while the node's part of the current attempt
//    has not ended counts as the node being lost.
//  * StartGroup(spec, assignment): plans and spawns the node's workers for assignment.attempt (stopping
//    any older attempt of the job first) and answers with the local world size once they are spawned.
//  * StopGroup(job): signals the group, waits for the grace period, SIGKILLs, and answers once every
//    worker is gone. Idempotent: OK when nothing of the job runs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/types/cluster_types.h"

namespace accel::daemon {

/// Which agent to talk to: its node name (sent along, so an agent can refuse calls meant for a node it
/// is not) and the address its AgentService listens on ("unix:/path" or "host:port").
struct AgentRef {
  std::string node;
  std::string address;
};

class AgentClient {
 public:
  using WatchId = uint64_t;
  /// StartGroup's answer: the node's local world size, or why the start failed.
  using StartCallback = std::function<void(absl::StatusOr<int> local_world_size)>;
  using DoneCallback = std::function<void(absl::Status status)>;
  using ReadyCallback = std::function<void()>;
  using EventCallback = std::function<void(common::GroupEvent event)>;
  /// The stream ended: OK after CancelWatch or a clean end, else why it broke (agent gone: UNAVAILABLE).
  using ClosedCallback = std::function<void(absl::Status status)>;

  virtual ~AgentClient() = default;

  /// Starts `agent`'s workers of `assignment.attempt`. `done` runs exactly once.
  virtual void StartGroup(const AgentRef& agent, const common::JobSpec& spec, const common::Assignment& assignment,
                          StartCallback done) = 0;
  /// Stops `agent`'s workers of `job_id` (every attempt). `done` runs exactly once.
  virtual void StopGroup(const AgentRef& agent, const std::string& job_id, DoneCallback done) = 0;
  /// Follows `agent`'s part of `job_id`. `on_ready` runs at most once, when the agent has registered
  /// the watch; `on_event` for every event, in order; `on_closed` exactly once, last (also after
  /// CancelWatch). Returns an id for CancelWatch (never 0).
  virtual WatchId WatchGroup(const AgentRef& agent, const std::string& job_id, ReadyCallback on_ready,
                             EventCallback on_event, ClosedCallback on_closed) = 0;
  /// Ends a watch; its `on_closed` still runs. A no-op for an ended or unknown id.
  virtual void CancelWatch(WatchId id) = 0;
  /// A hint that `agent` just registered and will be asked to start work: set up the connection now,
  /// so a job's first calls do not pay for it. Never fails (connection errors surface on the calls).
  virtual void Connect(const AgentRef& /*agent*/) {}
};

}  // namespace accel::daemon
