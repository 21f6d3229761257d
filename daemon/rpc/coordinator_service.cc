#include "daemon/rpc/coordinator_service.h"

#include <map>
#include <memory>
#include <utility>

#include "common/strings.h"
#include "daemon/coordinator/placement.h"
#include "daemon/rpc/grpc_agent_client.h"
#include "daemon/rpc/stream_writer.h"
#include "proto/convert/convert.h"

namespace accel::daemon::rpc {
namespace {

constexpr int kMaxRunningGroups = 4096;
constexpr size_t kMaxJobIdBytes = 128;

grpc::Status Invalid(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

const grpc::Status& Unavailable() {
  static const grpc::Status status(grpc::StatusCode::UNAVAILABLE, "the coordinator is shutting down");
  return status;
}

grpc::Status CheckJobId(const std::string& job_id) {
  if (job_id.empty() || job_id.size() > kMaxJobIdBytes) return Invalid("job_id: empty or over 128 bytes");
  return grpc::Status::OK;
}

grpc::Status CheckRank(int rank) {
  if (rank < -1) return Invalid(common::StrCat("rank ", rank, ": must be >= 0, or -1 for every rank"));
  return grpc::Status::OK;
}

absl::StatusOr<std::map<std::string, int>> RunningGroups(const google::protobuf::Map<std::string, int32_t>& groups) {
  if (groups.size() > kMaxRunningGroups) return absl::InvalidArgumentError("running_groups: too many entries");
  std::map<std::string, int> out;
  for (const auto& [job_id, attempt] : groups) {
    if (job_id.empty() || job_id.size() > kMaxJobIdBytes) {
      return absl::InvalidArgumentError("running_groups: a job id that is empty or over 128 bytes");
    }
    if (attempt < 0)
      return absl::InvalidArgumentError(common::StrCat("running_groups[", job_id, "]: negative attempt"));
    out.emplace(job_id, attempt);
  }
  return out;
}

template <typename Msg>
grpc::ServerWriteReactor<Msg>* FinishedStream(grpc::Status status) {
  auto [reactor, writer] = QueuedWriteReactor<Msg>::Create();
  writer->Finish(std::move(status));
  return reactor;
}

}  // namespace

std::string PeerHost(const std::string& peer) {
  std::string text = peer;
  // gRPC percent-encodes the brackets of IPv6 peers in some versions.
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"%5B", "["}, {"%5D", "]"}}) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from)) text.replace(at, from.size(), to);
  }
  if (!text.starts_with("ipv4:") && !text.starts_with("ipv6:")) return "";
  return ParseAgentAddress(text).host;
}

CoordinatorServiceImpl::CoordinatorServiceImpl(common::EventLoop& loop, Coordinator& coordinator,
                                               const Authenticator& authenticator)
    : loop_(loop), coordinator_(coordinator), authenticator_(authenticator) {}

grpc::Status CoordinatorServiceImpl::RequireDaemon(const grpc::CallbackServerContext& context) const {
  auto caller = authenticator_.Authenticate(context);
  if (!caller.ok()) return AuthError(caller.status());
  if (!caller->daemon) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        common::StrCat(caller->user, " is not a cluster daemon: only agents register and heartbeat"));
  }
  return grpc::Status::OK;
}

void CoordinatorServiceImpl::StopAccepting() {
  absl::MutexLock lock(&mu_);
  accepting_ = false;
}

bool CoordinatorServiceImpl::Post(std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  if (!accepting_) return false;
  loop_.Post(std::move(fn));
  return true;
}

grpc::ServerUnaryReactor* CoordinatorServiceImpl::RegisterAgent(grpc::CallbackServerContext* context,
                                                                const v1::RegisterAgentRequest* request,
                                                                v1::RegisterAgentResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto denied = RequireDaemon(*context); !denied.ok()) {
    reactor->Finish(denied);
    return reactor;
  }
  auto node = wire::FromProto(request->node());
  if (!node.ok()) {
    reactor->Finish(ToGrpcStatus(node.status()));
    return reactor;
  }
  auto groups = RunningGroups(request->running_groups());
  if (!groups.ok()) {
    reactor->Finish(ToGrpcStatus(groups.status()));
    return reactor;
  }
  const std::string observed = PeerHost(context->peer());
  if (!Post([this, reactor, response, node = *std::move(node), groups = *std::move(groups), observed]() mutable {
        auto interval = coordinator_.RegisterAgent(std::move(node), groups, observed);
        if (!interval.ok()) {
          reactor->Finish(ToGrpcStatus(interval.status()));
          return;
        }
        response->set_heartbeat_interval_ms(absl::ToInt64Milliseconds(*interval));
        reactor->Finish(grpc::Status::OK);
      })) {
    reactor->Finish(Unavailable());
  }
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorServiceImpl::Heartbeat(grpc::CallbackServerContext* context,
                                                            const v1::HeartbeatRequest* request,
                                                            v1::HeartbeatResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto denied = RequireDaemon(*context); !denied.ok()) {
    reactor->Finish(denied);
    return reactor;
  }
  if (request->node().empty() || request->node().size() > 255) {
    reactor->Finish(Invalid("node: empty or over 255 bytes"));
    return reactor;
  }
  auto groups = RunningGroups(request->running_groups());
  if (!groups.ok()) {
    reactor->Finish(ToGrpcStatus(groups.status()));
    return reactor;
  }
  if (!Post([this, reactor, response, node = request->node(), groups = *std::move(groups)] {
        response->set_known(coordinator_.Heartbeat(node, groups));
        reactor->Finish(grpc::Status::OK);
      })) {
    reactor->Finish(Unavailable());
  }
  return reactor;
}

grpc::ServerWriteReactor<v1::JobEvent>* CoordinatorServiceImpl::SubmitJob(grpc::CallbackServerContext* context,
                                                                          const v1::SubmitJobRequest* request) {
  auto caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) return FinishedStream<v1::JobEvent>(AuthError(caller.status()));
  auto spec = wire::FromProto(request->spec());
  if (!spec.ok()) return FinishedStream<v1::JobEvent>(ToGrpcStatus(spec.status()));
  auto [reactor, writer] = QueuedWriteReactor<v1::JobEvent>::Create();
  if (!Post([this, writer = writer, caller = *std::move(caller), spec = *std::move(spec)]() mutable {
        auto submitted = coordinator_.Submit(
            caller, std::move(spec),
            [writer](const common::JobEvent& event) {
              return writer->Push(wire::ToProto(event), event.kind == common::JobEvent::Kind::kLog);
            },
            [writer](absl::Status status) { writer->Finish(ToGrpcStatus(status)); });
        if (!submitted.ok()) {
          writer->Finish(ToGrpcStatus(submitted.status()));
          return;
        }
        writer->SetCancelHook(
            [this, id = submitted->subscription] { Post([this, id] { coordinator_.Unsubscribe(id); }); });
      })) {
    writer->Finish(Unavailable());
  }
  return reactor;
}

grpc::ServerWriteReactor<v1::JobEvent>* CoordinatorServiceImpl::WatchJob(grpc::CallbackServerContext* context,
                                                                         const v1::WatchJobRequest* request) {
  auto caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) return FinishedStream<v1::JobEvent>(AuthError(caller.status()));
  if (auto status = CheckJobId(request->job_id()); !status.ok()) return FinishedStream<v1::JobEvent>(status);
  if (auto status = CheckRank(request->rank()); !status.ok()) return FinishedStream<v1::JobEvent>(status);
  auto [reactor, writer] = QueuedWriteReactor<v1::JobEvent>::Create();
  const Coordinator::WatchOptions options{.logs = request->logs(), .rank = request->rank()};
  if (!Post([this, writer = writer, caller = *std::move(caller), job_id = request->job_id(), options] {
        auto id = coordinator_.Watch(
            caller, job_id, options,
            [writer](const common::JobEvent& event) {
              return writer->Push(wire::ToProto(event), event.kind == common::JobEvent::Kind::kLog);
            },
            [writer](absl::Status status) { writer->Finish(ToGrpcStatus(status)); });
        if (!id.ok()) {
          writer->Finish(ToGrpcStatus(id.status()));
          return;
        }
        if (*id == 0) {
          writer->Finish(grpc::Status::OK);  // already ended (or the client already left)
          return;
        }
        writer->SetCancelHook([this, id = *id] { Post([this, id] { coordinator_.Unsubscribe(id); }); });
      })) {
    writer->Finish(Unavailable());
  }
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorServiceImpl::GetJob(grpc::CallbackServerContext* context,
                                                         const v1::GetJobRequest* request, v1::Job* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) {
    reactor->Finish(AuthError(caller.status()));
    return reactor;
  }
  if (auto status = CheckJobId(request->job_id()); !status.ok()) {
    reactor->Finish(status);
    return reactor;
  }
  if (!Post([this, reactor, response, caller = *std::move(caller), job_id = request->job_id()] {
        auto job = coordinator_.GetJob(caller, job_id);
        if (job.ok()) *response = wire::ToProto(*job);
        reactor->Finish(ToGrpcStatus(job.status()));
      })) {
    reactor->Finish(Unavailable());
  }
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorServiceImpl::ListJobs(grpc::CallbackServerContext* context,
                                                           const v1::ListJobsRequest* /*request*/,
                                                           v1::ListJobsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) {
    reactor->Finish(AuthError(caller.status()));
    return reactor;
  }
  if (!Post([this, reactor, response, caller = *std::move(caller)] {
        for (auto job : coordinator_.ListJobs(caller)) {
          // A listing stays small however many jobs there are: the environment and the config file
          // (up to 1 MiB each) are only in GetJob.
          job.spec.env.clear();
          job.spec.config_text.clear();
          *response->add_jobs() = wire::ToProto(job);
        }
        reactor->Finish(grpc::Status::OK);
      })) {
    reactor->Finish(Unavailable());
  }
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorServiceImpl::CancelJob(grpc::CallbackServerContext* context,
                                                            const v1::CancelJobRequest* request,
                                                            v1::CancelJobResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) {
    reactor->Finish(AuthError(caller.status()));
    return reactor;
  }
  if (auto status = CheckJobId(request->job_id()); !status.ok()) {
    reactor->Finish(status);
    return reactor;
  }
  if (!Post([this, reactor, response, caller = *std::move(caller), job_id = request->job_id()] {
        auto job = coordinator_.Cancel(caller, job_id);
        if (job.ok()) *response->mutable_job() = wire::ToProto(*job);
        reactor->Finish(ToGrpcStatus(job.status()));
      })) {
    reactor->Finish(Unavailable());
  }
  return reactor;
}

grpc::ServerWriteReactor<v1::LogLine>* CoordinatorServiceImpl::StreamLogs(grpc::CallbackServerContext* context,
                                                                          const v1::StreamLogsRequest* request) {
  auto caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) return FinishedStream<v1::LogLine>(AuthError(caller.status()));
  if (auto status = CheckJobId(request->job_id()); !status.ok()) return FinishedStream<v1::LogLine>(status);
  if (auto status = CheckRank(request->rank()); !status.ok()) return FinishedStream<v1::LogLine>(status);
  // A finished job's whole log is sent at once: allow a deep queue, and never drop history.
  auto [reactor, writer] = QueuedWriteReactor<v1::LogLine>::Create();
  if (!Post([this, writer = writer, caller = *std::move(caller), job_id = request->job_id(), follow = request->follow(),
             rank = request->rank()] {
        auto id = coordinator_.StreamLogs(
            caller, job_id, rank, follow, [writer](const common::LogLine& line) { return writer->Push(wire::ToProto(line)); },
            [writer](absl::Status status) { writer->Finish(ToGrpcStatus(status)); });
        if (!id.ok()) {
          writer->Finish(ToGrpcStatus(id.status()));
          return;
        }
        if (*id == 0) {
          writer->Finish(grpc::Status::OK);
          return;
        }
        writer->SetCancelHook([this, id = *id] { Post([this, id] { coordinator_.Unsubscribe(id); }); });
      })) {
    writer->Finish(Unavailable());
  }
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorServiceImpl::ListNodes(grpc::CallbackServerContext* context,
                                                            const v1::ListNodesRequest* /*request*/,
                                                            v1::ListNodesResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto caller = authenticator_.Authenticate(*context); !caller.ok()) {
    reactor->Finish(AuthError(caller.status()));
    return reactor;
  }
  if (!Post([this, reactor, response] {
        for (const auto& node : coordinator_.ListNodes()) *response->add_nodes() = wire::ToProto(node);
        reactor->Finish(grpc::Status::OK);
      })) {
    reactor->Finish(Unavailable());
  }
  return reactor;
}

}  // namespace accel::daemon::rpc
