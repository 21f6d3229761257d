#include "client/remote/agent_client.h"

#include <grpcpp/grpcpp.h>

#include "accel/v1/agent.grpc.pb.h"
#include "common/strings.h"
#include "proto/convert/convert.h"

namespace accel::client {

NodeAgentClient::NodeAgentClient(std::string address, absl::Duration timeout)
    : address_(std::move(address)),
      timeout_(timeout),
      channel_(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials())) {}

NodeAgentClient::~NodeAgentClient() = default;

absl::Status NodeAgentClient::Error(int code, const std::string& message) const {
  const auto status_code = static_cast<absl::StatusCode>(code);
  if (status_code == absl::StatusCode::kUnavailable || status_code == absl::StatusCode::kDeadlineExceeded) {
    return absl::UnavailableError(common::StrCat("cannot reach acceld at ", address_, " (", message, ")"));
  }
  return absl::Status(status_code, message);
}

namespace {
std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}
}  // namespace

absl::StatusOr<std::optional<common::Allocation>> NodeAgentClient::GetAllocation() {
  auto stub = v1::AgentService::NewStub(channel_);
  v1::GetStatusResponse response;
  auto context = Context(timeout_);
  const grpc::Status status = stub->GetStatus(context.get(), v1::GetStatusRequest(), &response);
  if (!status.ok()) return Error(status.error_code(), status.error_message());
  if (!response.has_allocation()) return std::optional<common::Allocation>();
  auto allocation = wire::FromProto(response.allocation());
  if (!allocation.ok()) return allocation.status();
  return std::optional<common::Allocation>(*std::move(allocation));
}

absl::Status NodeAgentClient::SetAllocation(const common::Allocation& allocation) {
  auto stub = v1::AgentService::NewStub(channel_);
  v1::SetAllocationRequest request;
  *request.mutable_allocation() = wire::ToProto(allocation);
  v1::SetAllocationResponse response;
  auto context = Context(timeout_);
  const grpc::Status status = stub->SetAllocation(context.get(), request, &response);
  if (!status.ok()) return Error(status.error_code(), status.error_message());
  return absl::OkStatus();
}

absl::StatusOr<common::AllocationEnd> NodeAgentClient::EndAllocation(const std::string& job_id, int grace_seconds) {
  auto stub = v1::AgentService::NewStub(channel_);
  v1::EndAllocationRequest request;
  request.set_job_id(job_id);
  request.set_grace_seconds(grace_seconds);
  v1::EndAllocationResponse response;
  // Stopping waits for the workers: the grace period, then SIGKILL.
  auto context = Context(timeout_ + absl::Seconds(grace_seconds + 10));
  const grpc::Status status = stub->EndAllocation(context.get(), request, &response);
  if (!status.ok()) return Error(status.error_code(), status.error_message());
  common::AllocationEnd end;
  end.stopped_jobs.assign(response.stopped_jobs().begin(), response.stopped_jobs().end());
  end.was_current = response.was_current();
  return end;
}

}  // namespace accel::client
