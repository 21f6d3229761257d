// AgentService over gRPC: translates requests to NodeAgent calls and NodeAgent events to the
// WatchGroup stream. No decisions here. Every call is authenticated first (daemon/rpc/authenticator.h)
// and only cluster daemons (the coordinator, root / acceld's own user on the node) may call it: it
// starts processes as any job owner.
#pragma once

#include "accel/v1/agent.grpc.pb.h"
#include "daemon/node/node_agent.h"
#include "daemon/rpc/authenticator.h"

namespace accel::daemon {

class AgentServiceImpl final : public v1::AgentService::Service {
 public:
  /// `node` and `describe` must outlive the service. `authenticator` null: kernel identities only.
  AgentServiceImpl(NodeAgent& agent, std::function<common::NodeInfo()> describe,
                   std::shared_ptr<const rpc::Authenticator> authenticator = nullptr)
      : agent_(agent),
        describe_(std::move(describe)),
        authenticator_(authenticator ? std::move(authenticator) : std::make_shared<const rpc::Authenticator>()) {}

  grpc::Status StartGroup(grpc::ServerContext* context, const v1::StartGroupRequest* request,
                          v1::StartGroupResponse* response) override;
  grpc::Status StopGroup(grpc::ServerContext* context, const v1::StopGroupRequest* request,
                         v1::StopGroupResponse* response) override;
  grpc::Status WatchGroup(grpc::ServerContext* context, const v1::WatchGroupRequest* request,
                          grpc::ServerWriter<v1::GroupEvent>* writer) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;
  grpc::Status SetAllocation(grpc::ServerContext* context, const v1::SetAllocationRequest* request,
                             v1::SetAllocationResponse* response) override;
  grpc::Status EndAllocation(grpc::ServerContext* context, const v1::EndAllocationRequest* request,
                             v1::EndAllocationResponse* response) override;

 private:
  NodeAgent& agent_;
  const std::function<common::NodeInfo()> describe_;
  const std::shared_ptr<const rpc::Authenticator> authenticator_;

  // OK for a cluster daemon; UNAUTHENTICATED / PERMISSION_DENIED otherwise.
  grpc::Status Authorize(const grpc::ServerContext* context) const;
};

/// absl::Status -> grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace accel::daemon
