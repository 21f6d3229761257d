#include "daemon/rpc/grpc_agent_client.h"

#include <chrono>
#include <utility>

#include "common/strings.h"
#include "grpcpp/grpcpp.h"
#include "proto/convert/convert.h"

namespace accel::daemon::rpc {
namespace {

std::chrono::system_clock::time_point DeadlineIn(absl::Duration d) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const wire::ChannelSecurity& security) {
  grpc::ChannelArguments args;
  // An agent that restarts is back within a second or two; do not wait gRPC's default 1-120 s backoff.
  // (Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also uses it as the connect timeout, and a busy
  // agent host may take more than a few hundred ms to accept a burst of connections.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Each agent gets its own connection even when several share a host and port (tests, benchmarks).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return wire::CreateSecureChannel(address, security, args);
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// One WatchGroup stream. Owned by gRPC from StartCall until OnDone, where it deletes itself.
class GrpcAgentClient::WatchReactor final : public grpc::ClientReadReactor<v1::GroupEvent> {
 public:
  WatchReactor(GrpcAgentClient* client, uint64_t id, std::shared_ptr<grpc::ClientContext> context,
               ReadyCallback on_ready, EventCallback on_event, ClosedCallback on_closed)
      : client_(client),
        id_(id),
        context_(std::move(context)),
        on_ready_(std::move(on_ready)),
        on_event_(std::move(on_event)),
        on_closed_(std::move(on_closed)) {}

  void Start(v1::AgentService::Stub* stub, const std::string& job_id) {
    request_.set_job_id(job_id);
    stub->async()->WatchGroup(context_.get(), &request_, this);
    StartRead(&event_);
    StartCall();
  }

  void OnReadInitialMetadataDone(bool ok) override {
    if (ok && on_ready_) on_ready_();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    on_event_(wire::FromProto(event_));
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override {
    on_closed_(FromGrpcStatus(status));
    client_->Untrack(id_);  // the client may be destroyed from here on
    delete this;
  }

 private:
  GrpcAgentClient* const client_;
  const uint64_t id_;
  std::shared_ptr<grpc::ClientContext> context_;
  ReadyCallback on_ready_;
  EventCallback on_event_;
  ClosedCallback on_closed_;
  v1::WatchGroupRequest request_;
  v1::GroupEvent event_;
};

GrpcAgentClient::GrpcAgentClient(GrpcAgentClientOptions options) : options_(options) {}

GrpcAgentClient::~GrpcAgentClient() {
  std::vector<std::shared_ptr<grpc::ClientContext>> contexts;
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
    for (const auto& [id, context] : in_flight_) contexts.push_back(context);
  }
  for (const auto& context : contexts) context->TryCancel();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::map<uint64_t, std::shared_ptr<grpc::ClientContext>>* calls) { return calls->empty(); }, &in_flight_));
}

GrpcAgentClient::Agent& GrpcAgentClient::AgentFor(const std::string& address) {
  Agent& agent = agents_[address];
  if (!agent.channel) {
    agent.channel = MakeChannel(address, options_.security);
    agent.stub = v1::AgentService::NewStub(agent.channel);
  }
  return agent;
}

v1::AgentService::Stub* GrpcAgentClient::StubFor(const std::string& address) {
  absl::MutexLock lock(&mu_);
  return AgentFor(address).stub.get();
}

void GrpcAgentClient::Connect(const AgentRef& agent) {
  std::shared_ptr<grpc::Channel> channel;
  {
    absl::MutexLock lock(&mu_);
    channel = AgentFor(agent.address).channel;
  }
  channel->GetState(/*try_to_connect=*/true);
}

uint64_t GrpcAgentClient::Track(std::shared_ptr<grpc::ClientContext> context) {
  absl::MutexLock lock(&mu_);
  if (closing_) return 0;
  const uint64_t id = next_id_++;
  in_flight_.emplace(id, std::move(context));
  return id;
}

void GrpcAgentClient::Untrack(uint64_t id) {
  absl::MutexLock lock(&mu_);
  in_flight_.erase(id);
}

void GrpcAgentClient::StartGroup(const AgentRef& agent, const common::JobSpec& spec,
                                 const common::Assignment& assignment, StartCallback done) {
  struct Call {
    std::shared_ptr<grpc::ClientContext> context = std::make_shared<grpc::ClientContext>();
    v1::StartGroupRequest request;
    v1::StartGroupResponse response;
  };
  auto call = std::make_shared<Call>();
  call->context->AddMetadata(kNodeMetadataKey, agent.node);
  call->context->set_deadline(DeadlineIn(options_.start_deadline));
  call->context->set_wait_for_ready(true);  // a connection still being set up is not a failure
  *call->request.mutable_spec() = wire::ToProto(spec);
  *call->request.mutable_assignment() = wire::ToProto(assignment);
  v1::AgentService::Stub* stub = StubFor(agent.address);
  const uint64_t id = Track(call->context);
  if (id == 0) {
    done(absl::UnavailableError("the coordinator is shutting down"));
    return;
  }
  stub->async()->StartGroup(call->context.get(), &call->request, &call->response,
                            [this, call, id, done = std::move(done)](grpc::Status status) {
                              if (status.ok()) {
                                done(call->response.local_world_size());
                              } else {
                                done(FromGrpcStatus(status));
                              }
                              Untrack(id);
                            });
}

void GrpcAgentClient::StopGroup(const AgentRef& agent, const std::string& job_id, DoneCallback done) {
  struct Call {
    std::shared_ptr<grpc::ClientContext> context = std::make_shared<grpc::ClientContext>();
    v1::StopGroupRequest request;
    v1::StopGroupResponse response;
  };
  auto call = std::make_shared<Call>();
  call->context->AddMetadata(kNodeMetadataKey, agent.node);
  call->context->set_deadline(DeadlineIn(options_.stop_deadline));
  call->context->set_wait_for_ready(true);
  call->request.set_job_id(job_id);
  v1::AgentService::Stub* stub = StubFor(agent.address);
  const uint64_t id = Track(call->context);
  if (id == 0) {
    done(absl::UnavailableError("the coordinator is shutting down"));
    return;
  }
  stub->async()->StopGroup(call->context.get(), &call->request, &call->response,
                           [this, call, id, done = std::move(done)](grpc::Status status) {
                             done(FromGrpcStatus(status));
                             Untrack(id);
                           });
}

AgentClient::WatchId GrpcAgentClient::WatchGroup(const AgentRef& agent, const std::string& job_id,
                                                 ReadyCallback on_ready, EventCallback on_event,
                                                 ClosedCallback on_closed) {
  auto context = std::make_shared<grpc::ClientContext>();
  context->AddMetadata(kNodeMetadataKey, agent.node);
  // Waits for a connection instead of failing at once; an agent that never answers is caught by the
  // heartbeat timeout, which cancels the watch. A stream that was up breaks at once either way.
  context->set_wait_for_ready(true);
  v1::AgentService::Stub* stub = StubFor(agent.address);
  const uint64_t id = Track(context);
  if (id == 0) {
    on_closed(absl::UnavailableError("the coordinator is shutting down"));
    return 0;
  }
  auto* reactor =
      new WatchReactor(this, id, std::move(context), std::move(on_ready), std::move(on_event), std::move(on_closed));
  reactor->Start(stub, job_id);
  return id;
}

void GrpcAgentClient::CancelWatch(WatchId id) {
  std::shared_ptr<grpc::ClientContext> context;
  {
    absl::MutexLock lock(&mu_);
    auto it = in_flight_.find(id);
    if (it == in_flight_.end()) return;
    context = it->second;
  }
  context->TryCancel();
}

}  // namespace accel::daemon::rpc
