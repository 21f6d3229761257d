#include "daemon/rpc/coordinator_link.h"

#include <grpcpp/grpcpp.h>

#include "accel/v1/coordinator.grpc.pb.h"
#include "proto/convert/convert.h"
#include "spdlog/spdlog.h"

namespace accel::daemon {

CoordinatorLink::CoordinatorLink(std::string coordinator_address, std::function<common::NodeInfo()> describe,
                                 std::function<std::map<std::string, int>()> running_groups,
                                 absl::Duration heartbeat_interval, wire::ChannelSecurity security)
    : address_(std::move(coordinator_address)),
      describe_(std::move(describe)),
      running_groups_(std::move(running_groups)),
      interval_(heartbeat_interval),
      security_(std::move(security)) {}

CoordinatorLink::~CoordinatorLink() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void CoordinatorLink::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void CoordinatorLink::Loop() {
  auto channel = wire::CreateSecureChannel(address_, security_);
  auto stub = v1::CoordinatorService::NewStub(channel);
  bool registered = false;
  absl::Time last_warning = absl::InfinitePast();
  while (true) {
    absl::Duration wait = interval_;
    if (!registered) {
      v1::RegisterAgentRequest request;
      *request.mutable_node() = wire::ToProto(describe_());
      for (const auto& [job, attempt] : running_groups_()) (*request.mutable_running_groups())[job] = attempt;
      v1::RegisterAgentResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      const grpc::Status status = stub->RegisterAgent(&context, request, &response);
      if (status.ok()) {
        registered = true;
        if (response.heartbeat_interval_ms() > 0) interval_ = absl::Milliseconds(response.heartbeat_interval_ms());
        spdlog::info("registered with the coordinator at {}", address_);
      } else {
        if (absl::Now() - last_warning > absl::Seconds(10)) {
          spdlog::warn("cannot register with the coordinator at {}: {}", address_, status.error_message());
          last_warning = absl::Now();
        }
        wait = std::min(interval_, absl::Milliseconds(200));
      }
    } else {
      v1::HeartbeatRequest request;
      request.set_node(describe_().name);
      for (const auto& [job, attempt] : running_groups_()) (*request.mutable_running_groups())[job] = attempt;
      v1::HeartbeatResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      const grpc::Status status = stub->Heartbeat(&context, request, &response);
      if (!status.ok() || !response.known()) {
        registered = false;  // a restarted coordinator forgot us, or it is away: register again
        wait = absl::Milliseconds(50);
      }
    }
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait)) return;
  }
}

}  // namespace accel::daemon
