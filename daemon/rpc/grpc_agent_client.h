// GrpcAgentClient: AgentClient over the agents' AgentService (proto/accel/v1/agent.proto), with the
// gRPC callback API: no thread of its own, callbacks run on gRPC's threads.
//
// One channel per agent address ("unix:/path" or "host:port"), created on first use and kept (gRPC
// reconnects it with a short backoff when an agent restarts), with the daemon's ChannelSecurity (TLS
// and its client certificate or token on TCP when configured). Every call carries the metadata
// "accel-node: <node name>" so an agent (or a test host serving many virtual agents) knows which
// node the call is for.
//
// Agent death: a WatchGroup stream ends with the transport's error (UNAVAILABLE) as soon as the
// agent's connection breaks; unary calls carry deadlines (options below).
//
// Thread-safe. Destruction cancels every call in flight and waits until their callbacks have run.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "accel/v1/agent.grpc.pb.h"
#include "daemon/coordinator/agent_client.h"
#include "proto/convert/channel_security.h"

namespace accel::daemon::rpc {

struct GrpcAgentClientOptions {
  absl::Duration start_deadline = absl::Seconds(60);
  absl::Duration stop_deadline = absl::Seconds(120);  // the agent's grace period + SIGKILL fit in it
  wire::ChannelSecurity security;                     // how to dial agents
};

class GrpcAgentClient final : public AgentClient {
 public:
  explicit GrpcAgentClient(GrpcAgentClientOptions options = {});
  ~GrpcAgentClient() override;
  GrpcAgentClient(const GrpcAgentClient&) = delete;
  GrpcAgentClient& operator=(const GrpcAgentClient&) = delete;

  void StartGroup(const AgentRef& agent, const common::JobSpec& spec, const common::Assignment& assignment,
                  StartCallback done) override;
  void StopGroup(const AgentRef& agent, const std::string& job_id, DoneCallback done) override;
  WatchId WatchGroup(const AgentRef& agent, const std::string& job_id, ReadyCallback on_ready, EventCallback on_event,
                     ClosedCallback on_closed) override;
  void CancelWatch(WatchId id) override;
  void Connect(const AgentRef& agent) override;

  /// Metadata key naming the node a call is meant for.
  static constexpr const char* kNodeMetadataKey = "accel-node";

 private:
  class WatchReactor;

  v1::AgentService::Stub* StubFor(const std::string& address);
  // Registers a call in flight; 0 once the client is closing (the call must not start).
  uint64_t Track(std::shared_ptr<grpc::ClientContext> context);
  void Untrack(uint64_t id);

  const GrpcAgentClientOptions options_;
  absl::Mutex mu_;
  struct Agent {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::AgentService::Stub> stub;
  };
  // Finds or creates the channel of `address`.
  Agent& AgentFor(const std::string& address) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::map<std::string, Agent> agents_ ABSL_GUARDED_BY(mu_);
  // Calls in flight (unary and watches), for cancellation and for the destructor to wait on.
  std::map<uint64_t, std::shared_ptr<grpc::ClientContext>> in_flight_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
};

/// absl::Status with the same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace accel::daemon::rpc
