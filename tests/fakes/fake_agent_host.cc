#include "tests/fakes/fake_agent_host.h"

#include <utility>

#include "absl/synchronization/notification.h"
#include "accel/v1/agent.grpc.pb.h"
#include "accel/v1/coordinator.grpc.pb.h"
#include "common/strings.h"
#include "daemon/rpc/grpc_agent_client.h"
#include "daemon/rpc/stream_writer.h"
#include "grpcpp/grpcpp.h"
#include "proto/convert/convert.h"

namespace accel::testing {

using daemon::rpc::QueuedWriteReactor;
using daemon::rpc::StreamWriter;

// The AgentService of every virtual agent of one host.
class FakeAgentService final : public v1::AgentService::CallbackService {
 public:
  explicit FakeAgentService(FakeAgentHost& host) : host_(host) {}

  void SetPolicy(FakeAgentHost::Policy policy) {
    absl::MutexLock lock(&mu_);
    policy_ = std::move(policy);
  }

  grpc::ServerUnaryReactor* StartGroup(grpc::CallbackServerContext* context, const v1::StartGroupRequest* request,
                                       v1::StartGroupResponse* response) override {
    auto* reactor = context->DefaultReactor();
    const std::string node = NodeOf(*context);
    auto spec = wire::FromProto(request->spec());
    auto assignment = wire::FromProto(request->assignment());
    if (node.empty() || !spec.ok() || !assignment.ok()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad StartGroup"));
      return reactor;
    }
    grpc::Status status = grpc::Status::OK;
    {
      absl::MutexLock lock(&mu_);
      starts_.push_back(FakeAgentHost::StartRecord{node, *assignment, *spec, std::chrono::steady_clock::now()});
      const FakeAgentHost::Behavior behavior = policy_ ? policy_(node, *assignment) : FakeAgentHost::Behavior{};
      if (!behavior.start_error.ok()) {
        status = daemon::rpc::ToGrpcStatus(behavior.start_error);
      } else {
        Group& group = groups_[{node, assignment->job_id}];
        group = Group{.attempt = assignment->attempt,
                      .running = true,
                      .base_rank = assignment->machine_rank * behavior.local_world_size,
                      .local_world_size = behavior.local_world_size};
        Emit(node, Event(common::GroupEvent::Kind::kStarted, node, assignment->job_id, group));
        for (int local = 0; local < behavior.local_world_size; ++local) {
          for (int i = 0; i < behavior.log_lines; ++i) {
            common::GroupEvent log = Event(common::GroupEvent::Kind::kLog, node, assignment->job_id, group);
            log.log = common::LogLine{.job_id = assignment->job_id,
                                      .attempt = assignment->attempt,
                                      .rank = group.base_rank + local,
                                      .local_rank = local,
                                      .node = node,
                                      .text = common::StrCat("attempt ", assignment->attempt, " rank ",
                                                             group.base_rank + local, " line ", i)};
            Emit(node, log);
          }
        }
        if (behavior.outcome != FakeAgentHost::Behavior::Outcome::kRun) {
          EndGroup(node, assignment->job_id, behavior.outcome == FakeAgentHost::Behavior::Outcome::kSucceed,
                   behavior.exit_code);
        }
        response->set_local_world_size(behavior.local_world_size);
      }
    }
    host_.start_count_.fetch_add(1);
    reactor->Finish(status);
    return reactor;
  }

  grpc::ServerUnaryReactor* StopGroup(grpc::CallbackServerContext* context, const v1::StopGroupRequest* request,
                                      v1::StopGroupResponse* /*response*/) override {
    auto* reactor = context->DefaultReactor();
    const std::string node = NodeOf(*context);
    {
      absl::MutexLock lock(&mu_);
      stops_.emplace_back(node, request->job_id());
      auto it = groups_.find({node, request->job_id()});
      if (it != groups_.end() && it->second.running) {
        it->second.running = false;
        common::GroupEvent stopped = Event(common::GroupEvent::Kind::kStopped, node, request->job_id(), it->second);
        it->second.final_event = stopped;
        Emit(node, stopped);
      }
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<v1::GroupEvent>* WatchGroup(grpc::CallbackServerContext* context,
                                                       const v1::WatchGroupRequest* request) override {
    auto [reactor, writer] = QueuedWriteReactor<v1::GroupEvent>::Create(1 << 20);
    const std::string node = NodeOf(*context);
    if (node.empty()) {
      writer->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no accel-node metadata"));
      return reactor;
    }
    writer->SendInitialMetadata();
    absl::MutexLock lock(&mu_);
    const std::pair<std::string, std::string> key{node, request->job_id()};
    if (auto it = groups_.find(key); it != groups_.end()) {
      const Group& group = it->second;
      if (group.running) {
        writer->Push(wire::ToProto(Event(common::GroupEvent::Kind::kStarted, node, key.second, group)));
      } else if (group.final_event) {
        writer->Push(wire::ToProto(*group.final_event));
      }
    }
    watchers_[key].push_back(writer);
    return reactor;
  }

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context, const v1::GetStatusRequest* /*request*/,
                                      v1::GetStatusResponse* response) override {
    const std::string node = NodeOf(*context);
    absl::MutexLock lock(&mu_);
    for (const auto& [key, attempt] : RunningLocked(node)) (*response->mutable_running_groups())[key] = attempt;
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  std::map<std::string, int> Running(const std::string& node) {
    absl::MutexLock lock(&mu_);
    return RunningLocked(node);
  }

  void Finish(const std::string& job_id, bool succeed, int exit_code, const std::string& only_node) {
    absl::MutexLock lock(&mu_);
    for (auto& [key, group] : groups_) {
      if (key.second != job_id || !group.running || (!only_node.empty() && key.first != only_node)) continue;
      EndGroup(key.first, job_id, succeed, exit_code);
    }
  }

  std::vector<FakeAgentHost::StartRecord> Starts() {
    absl::MutexLock lock(&mu_);
    return starts_;
  }
  std::vector<std::pair<std::string, std::string>> Stops() {
    absl::MutexLock lock(&mu_);
    return stops_;
  }

 private:
  struct Group {
    int attempt = 0;
    bool running = false;
    int base_rank = 0;
    int local_world_size = 1;
    std::optional<common::GroupEvent> final_event;
  };

  std::string NodeOf(const grpc::CallbackServerContext& context) const {
    const auto& metadata = context.client_metadata();
    auto it = metadata.find(daemon::rpc::GrpcAgentClient::kNodeMetadataKey);
    if (it != metadata.end()) return std::string(it->second.data(), it->second.size());
    return host_.nodes_.size() == 1 ? host_.nodes_.front() : "";
  }

  static common::GroupEvent Event(common::GroupEvent::Kind kind, const std::string& node, const std::string& job_id,
                                  const Group& group) {
    common::GroupEvent event;
    event.kind = kind;
    event.job_id = job_id;
    event.attempt = group.attempt;
    event.node = node;
    return event;
  }

  void EndGroup(const std::string& node, const std::string& job_id, bool succeed, int exit_code)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Group& group = groups_[{node, job_id}];
    group.running = false;
    common::GroupEvent event =
        Event(succeed ? common::GroupEvent::Kind::kSucceeded : common::GroupEvent::Kind::kFailed, node, job_id, group);
    for (int local = 0; local < group.local_world_size; ++local) {
      const int code = succeed ? 0 : (local == 0 ? exit_code : 143);
      event.exits.push_back(common::RankExit{.rank = group.base_rank + local,
                                             .local_rank = local,
                                             .node = node,
                                             .exit_code = code,
                                             .signal = (!succeed && local != 0) ? 15 : 0});
    }
    group.final_event = event;
    Emit(node, event);
  }

  void Emit(const std::string& node, const common::GroupEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = watchers_.find({node, event.job_id});
    if (it == watchers_.end()) return;
    const v1::GroupEvent message = wire::ToProto(event);
    auto& writers = it->second;
    std::erase_if(writers,
                  [&](const std::shared_ptr<StreamWriter<v1::GroupEvent>>& writer) { return !writer->Push(message); });
  }

  std::map<std::string, int> RunningLocked(const std::string& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::map<std::string, int> out;
    for (const auto& [key, group] : groups_) {
      if (key.first == node && group.running) out[key.second] = group.attempt;
    }
    return out;
  }

  FakeAgentHost& host_;
  absl::Mutex mu_;
  FakeAgentHost::Policy policy_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, Group> groups_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, std::vector<std::shared_ptr<StreamWriter<v1::GroupEvent>>>> watchers_
      ABSL_GUARDED_BY(mu_);
  std::vector<FakeAgentHost::StartRecord> starts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> stops_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<FakeAgentHost> FakeAgentHost::Start(const std::vector<std::string>& nodes) {
  std::unique_ptr<FakeAgentHost> host(new FakeAgentHost());
  host->nodes_ = nodes;
  host->service_ = std::make_unique<FakeAgentService>(*host);
  grpc::ServerBuilder builder;
  for (const auto& node : nodes) {
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &host->ports_[node]);
  }
  builder.RegisterService(host->service_.get());
  host->server_ = builder.BuildAndStart();
  if (!host->server_) return nullptr;
  return host;
}

FakeAgentHost::~FakeAgentHost() {
  StopHeartbeats();
  bool killed;
  {
    absl::MutexLock lock(&mu_);
    killed = killed_;
  }
  if (server_ && !killed) server_->Shutdown(std::chrono::system_clock::now());
}

void FakeAgentHost::SetPolicy(Policy policy) { service_->SetPolicy(std::move(policy)); }

std::string FakeAgentHost::AddressOf(const std::string& node) const {
  return common::StrCat("127.0.0.1:", ports_.at(node));
}

absl::Status FakeAgentHost::RegisterAll(const std::string& coordinator_address) {
  {
    absl::MutexLock lock(&mu_);
    coordinator_address_ = coordinator_address;
  }
  auto stub =
      v1::CoordinatorService::NewStub(grpc::CreateChannel(coordinator_address, grpc::InsecureChannelCredentials()));
  struct Call {
    grpc::ClientContext context;
    v1::RegisterAgentRequest request;
    v1::RegisterAgentResponse response;
  };
  struct Progress {
    size_t done = 0;
    size_t total = 0;
    absl::Status first_error;
  };
  absl::Mutex mu;
  Progress progress{.total = nodes_.size()};
  std::vector<std::unique_ptr<Call>> calls;
  for (const auto& node : nodes_) {
    auto call = std::make_unique<Call>();
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    common::NodeInfo info{.name = node, .agent_address = AddressOf(node), .cpus = 1, .version = "fake"};
    *call->request.mutable_node() = wire::ToProto(info);
    for (const auto& [job, attempt] : service_->Running(node)) (*call->request.mutable_running_groups())[job] = attempt;
    stub->async()->RegisterAgent(&call->context, &call->request, &call->response, [&](grpc::Status status) {
      absl::MutexLock lock(&mu);
      if (!status.ok() && progress.first_error.ok()) progress.first_error = daemon::rpc::FromGrpcStatus(status);
      ++progress.done;
    });
    calls.push_back(std::move(call));
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](Progress* p) { return p->done == p->total; }, &progress));
  return progress.first_error;
}

void FakeAgentHost::StartHeartbeats(absl::Duration interval) {
  {
    absl::MutexLock lock(&mu_);
    heartbeats_stop_ = false;
  }
  heartbeat_thread_ = std::thread([this, interval] { HeartbeatLoop(interval); });
}

void FakeAgentHost::StopHeartbeats() {
  {
    absl::MutexLock lock(&mu_);
    heartbeats_stop_ = true;
  }
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

void FakeAgentHost::HeartbeatLoop(absl::Duration interval) {
  std::string address;
  {
    absl::MutexLock lock(&mu_);
    address = coordinator_address_;
  }
  auto stub = v1::CoordinatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  while (true) {
    for (const auto& node : nodes_) {
      v1::HeartbeatRequest request;
      request.set_node(node);
      const auto running = service_->Running(node);
      for (const auto& [job, attempt] : running) (*request.mutable_running_groups())[job] = attempt;
      v1::HeartbeatResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      const grpc::Status status = stub->Heartbeat(&context, request, &response);
      if (!status.ok() || response.known()) continue;
      v1::RegisterAgentRequest reg;
      common::NodeInfo info{.name = node, .agent_address = AddressOf(node), .cpus = 1, .version = "fake"};
      *reg.mutable_node() = wire::ToProto(info);
      for (const auto& [job, attempt] : running) (*reg.mutable_running_groups())[job] = attempt;
      v1::RegisterAgentResponse reg_response;
      grpc::ClientContext reg_context;
      reg_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      stub->RegisterAgent(&reg_context, reg, &reg_response);
    }
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&heartbeats_stop_), interval)) return;
  }
}

void FakeAgentHost::Finish(const std::string& job_id, bool succeed, int exit_code, const std::string& node) {
  service_->Finish(job_id, succeed, exit_code, node);
}

void FakeAgentHost::Kill() {
  StopHeartbeats();
  {
    absl::MutexLock lock(&mu_);
    if (killed_) return;
    killed_ = true;
  }
  server_->Shutdown(std::chrono::system_clock::now());
}

std::vector<FakeAgentHost::StartRecord> FakeAgentHost::Starts() const { return service_->Starts(); }

std::vector<std::pair<std::string, std::string>> FakeAgentHost::Stops() const { return service_->Stops(); }

bool FakeAgentHost::WaitForStarts(int count, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (start_count_.load() < count) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace accel::testing
