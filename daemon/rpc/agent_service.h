// AgentService over gRPC: translates requests to NodeAgent calls and NodeAgent events to the
// WatchGroup stream. No decisions here.
#pragma once

#include "accel/v1/agent.grpc.pb.h"
#include "daemon/node/node_agent.h"

namespace accel::daemon {

class AgentServiceImpl final : public v1::AgentService::Service {
 public:
  /// `node` and `describe` must outlive the service.
  AgentServiceImpl(NodeAgent& agent, std::function<common::NodeInfo()> describe)
      : agent_(agent), describe_(std::move(describe)) {}

  grpc::Status StartGroup(grpc::ServerContext* context, const v1::StartGroupRequest* request,
                          v1::StartGroupResponse* response) override;
  grpc::Status StopGroup(grpc::ServerContext* context, const v1::StopGroupRequest* request,
                         v1::StopGroupResponse* response) override;
  grpc::Status WatchGroup(grpc::ServerContext* context, const v1::WatchGroupRequest* request,
                          grpc::ServerWriter<v1::GroupEvent>* writer) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;

 private:
  NodeAgent& agent_;
  const std::function<common::NodeInfo()> describe_;
};

/// absl::Status -> grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace accel::daemon
