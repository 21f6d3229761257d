#include "daemon/rpc/agent_service.h"

#include <deque>

#include "absl/synchronization/mutex.h"
#include "common/strings.h"
#include "proto/convert/convert.h"

namespace accel::daemon {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::Status AgentServiceImpl::Authorize(const grpc::ServerContext* context) const {
  auto caller = authenticator_->Authenticate(*context);
  if (!caller.ok()) return rpc::AuthError(caller.status());
  if (!caller->daemon) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        common::StrCat(caller->user, " is not a cluster daemon: only the coordinator drives agents"));
  }
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::StartGroup(grpc::ServerContext* context, const v1::StartGroupRequest* request,
                                          v1::StartGroupResponse* response) {
  if (auto denied = Authorize(context); !denied.ok()) return denied;
  auto spec = wire::FromProto(request->spec());
  if (!spec.ok()) return ToGrpcStatus(spec.status());
  auto assignment = wire::FromProto(request->assignment());
  if (!assignment.ok()) return ToGrpcStatus(assignment.status());
  auto local_world_size = agent_.StartGroup(*spec, *assignment);
  if (!local_world_size.ok()) return ToGrpcStatus(local_world_size.status());
  response->set_local_world_size(*local_world_size);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::StopGroup(grpc::ServerContext* context, const v1::StopGroupRequest* request,
                                         v1::StopGroupResponse*) {
  if (auto denied = Authorize(context); !denied.ok()) return denied;
  if (request->signal() < 0 || request->signal() > 64) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "signal: out of range");
  }
  return ToGrpcStatus(agent_.StopGroup(request->job_id(), request->signal()));
}

grpc::Status AgentServiceImpl::WatchGroup(grpc::ServerContext* context, const v1::WatchGroupRequest* request,
                                          grpc::ServerWriter<v1::GroupEvent>* writer) {
  if (auto denied = Authorize(context); !denied.ok()) return denied;
  // Events arrive on the attempt's threads; this handler's thread writes them in order. The queue is
  // bounded so a stalled reader costs memory only up to a limit (then lines are dropped, never
  // state events).
  constexpr size_t kMaxQueuedLogLines = 100000;
  absl::Mutex mu;
  std::deque<v1::GroupEvent> queue;
  size_t queued_logs = 0;
  const int watch = agent_.Watch(request->job_id(), [&](const common::GroupEvent& event) {
    absl::MutexLock lock(&mu);
    const bool is_log = event.kind == common::GroupEvent::Kind::kLog;
    if (is_log && queued_logs >= kMaxQueuedLogLines) return;
    if (is_log) ++queued_logs;
    queue.push_back(wire::ToProto(event));
  });
  // The watch is registered (and the job's current state queued): tell the coordinator now, so it can
  // start the attempt without waiting for its readiness timeout.
  writer->SendInitialMetadata();
  bool open = true;
  while (open && !context->IsCancelled()) {
    std::deque<v1::GroupEvent> batch;
    {
      absl::MutexLock lock(&mu);
      mu.AwaitWithTimeout(absl::Condition(
                              +[](std::deque<v1::GroupEvent>* pending) { return !pending->empty(); }, &queue),
                          absl::Milliseconds(200));
      batch.swap(queue);
      queued_logs = 0;
    }
    for (const auto& event : batch) {
      if (!writer->Write(event)) {
        open = false;
        break;
      }
    }
  }
  agent_.Unwatch(watch);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest*,
                                         v1::GetStatusResponse* response) {
  if (auto denied = Authorize(context); !denied.ok()) return denied;
  *response->mutable_node() = wire::ToProto(describe_());
  for (const auto& [job, attempt] : agent_.RunningGroups()) (*response->mutable_running_groups())[job] = attempt;
  if (auto allocation = agent_.CurrentAllocation()) *response->mutable_allocation() = wire::ToProto(*allocation);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::SetAllocation(grpc::ServerContext* context, const v1::SetAllocationRequest* request,
                                             v1::SetAllocationResponse*) {
  if (auto denied = Authorize(context); !denied.ok()) return denied;
  auto allocation = wire::FromProto(request->allocation());
  if (!allocation.ok()) return ToGrpcStatus(allocation.status());
  return ToGrpcStatus(agent_.SetAllocation(*std::move(allocation)));
}

grpc::Status AgentServiceImpl::EndAllocation(grpc::ServerContext* context, const v1::EndAllocationRequest* request,
                                             v1::EndAllocationResponse* response) {
  if (auto denied = Authorize(context); !denied.ok()) return denied;
  v1::Allocation id_only;
  id_only.set_job_id(request->job_id());
  if (auto valid = wire::FromProto(id_only); !valid.ok()) return ToGrpcStatus(valid.status());
  if (request->grace_seconds() < 0 || request->grace_seconds() > 3600) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "grace_seconds: need 0 to 3600");
  }
  const int grace = request->grace_seconds() == 0 ? 5 : request->grace_seconds();
  const common::AllocationEnd end = agent_.EndAllocation(request->job_id(), absl::Seconds(grace));
  for (const auto& job : end.stopped_jobs) response->add_stopped_jobs(job);
  response->set_was_current(end.was_current);
  return grpc::Status::OK;
}

}  // namespace accel::daemon
