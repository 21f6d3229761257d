// A real CoordinatorServer behind a real grpc::Server on loopback, with light in-process agents
// (FakeAgentHost) serving AgentService on their own loopback ports and registering / heartbeating
// over gRPC. Covers the wire path end to end: submit and stream to the end, restart on failure,
// a killed agent, malformed requests, and a coordinator restart that re-attaches.
#include <pwd.h>
#include <unistd.h>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "accel/v1/coordinator.grpc.pb.h"
#include "daemon/rpc/coordinator_server.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_agent_host.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::testing {
namespace {

using ::testing::HasSubstr;
using Behavior = FakeAgentHost::Behavior;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::chrono::system_clock::time_point In(seconds s) { return std::chrono::system_clock::now() + s; }

// Reads a job event stream on the test thread.
class EventStream {
 public:
  EventStream(v1::CoordinatorService::Stub& stub, const v1::SubmitJobRequest& request) {
    context_.set_deadline(In(seconds(60)));
    reader_ = stub.SubmitJob(&context_, request);
  }
  EventStream(v1::CoordinatorService::Stub& stub, const v1::WatchJobRequest& request) {
    context_.set_deadline(In(seconds(60)));
    reader_ = stub.WatchJob(&context_, request);
  }

  /// Reads until `predicate` holds for an event (true) or the stream ends (false).
  template <typename Predicate>
  bool ReadUntil(Predicate predicate) {
    v1::JobEvent event;
    while (reader_->Read(&event)) {
      events_.push_back(event);
      if (predicate(event)) return true;
    }
    return false;
  }
  grpc::Status ReadToEnd() {
    ReadUntil([](const v1::JobEvent&) { return false; });
    return reader_->Finish();
  }
  void Cancel() { context_.TryCancel(); }

  const std::vector<v1::JobEvent>& events() const { return events_; }
  std::string job_id() const { return events_.empty() ? "" : events_.front().job_id(); }
  std::vector<v1::JobEvent> Logs() const {
    std::vector<v1::JobEvent> out;
    for (const auto& e : events_) {
      if (e.kind() == v1::JobEvent::KIND_LOG) out.push_back(e);
    }
    return out;
  }
  bool SawState(v1::JobState state) const {
    for (const auto& e : events_) {
      if (e.kind() == v1::JobEvent::KIND_STATE && e.state() == state) return true;
    }
    return false;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader_;
  std::vector<v1::JobEvent> events_;
};

bool MessageHas(const v1::JobEvent& event, const std::string& text) {
  return event.kind() == v1::JobEvent::KIND_STATE && event.message().find(text) != std::string::npos;
}

v1::SubmitJobRequest Submit(int min_nodes, int max_nodes, int max_restarts = 0) {
  v1::SubmitJobRequest request;
  request.mutable_spec()->add_launch_args("train.py");
  request.mutable_spec()->set_min_nodes(min_nodes);
  request.mutable_spec()->set_max_nodes(max_nodes);
  request.mutable_spec()->set_max_restarts(max_restarts);
  request.mutable_spec()->set_user("tester");
  return request;
}

class CoordinatorGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override { StartCoordinator(0); }
  void TearDown() override {
    hosts_.clear();
    StopCoordinator();
  }

  void StartCoordinator(int port) {
    auto server = daemon::rpc::CoordinatorServer::Create({.state_dir = dir_.path() / "state",
                                                          .heartbeat_interval = absl::Milliseconds(100),
                                                          .heartbeat_timeout = absl::Seconds(1),
                                                          .join_timeout = absl::Seconds(30),
                                                          .last_call = absl::Seconds(1)});
    ASSERT_TRUE(server.ok()) << server.status();
    coordinator_ = *std::move(server);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(coordinator_->service());
    grpc_server_ = builder.BuildAndStart();
    ASSERT_NE(grpc_server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port_);
    stub_ = v1::CoordinatorService::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }

  // The order acceld uses: the coordinator first (it ends its streams at once), then the server.
  void StopCoordinator() {
    if (coordinator_) coordinator_->Shutdown();
    if (grpc_server_) grpc_server_->Shutdown(In(seconds(2)));
    grpc_server_.reset();
    coordinator_.reset();
  }

  FakeAgentHost& AddAgent(const std::string& name, FakeAgentHost::Policy policy) {
    auto host = FakeAgentHost::Start({name});
    EXPECT_NE(host, nullptr);
    host->SetPolicy(std::move(policy));
    EXPECT_TRUE(host->RegisterAll(address_).ok());
    host->StartHeartbeats(absl::Milliseconds(100));
    hosts_.push_back(std::move(host));
    return *hosts_.back();
  }

  std::vector<v1::NodeInfo> Nodes() {
    grpc::ClientContext context;
    context.set_deadline(In(seconds(10)));
    v1::ListNodesResponse response;
    EXPECT_TRUE(stub_->ListNodes(&context, {}, &response).ok());
    return {response.nodes().begin(), response.nodes().end()};
  }

  grpc::Status GetJob(const std::string& id, v1::Job* job) {
    grpc::ClientContext context;
    context.set_deadline(In(seconds(10)));
    v1::GetJobRequest request;
    request.set_job_id(id);
    return stub_->GetJob(&context, request, job);
  }

  std::vector<v1::LogLine> Logs(const std::string& id, int rank) {
    grpc::ClientContext context;
    context.set_deadline(In(seconds(10)));
    v1::StreamLogsRequest request;
    request.set_job_id(id);
    request.set_rank(rank);
    auto reader = stub_->StreamLogs(&context, request);
    std::vector<v1::LogLine> lines;
    for (v1::LogLine line; reader->Read(&line);) lines.push_back(line);
    EXPECT_TRUE(reader->Finish().ok());
    return lines;
  }

  TempDir dir_;
  std::unique_ptr<daemon::rpc::CoordinatorServer> coordinator_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;
  std::string address_;
  std::unique_ptr<v1::CoordinatorService::Stub> stub_;
  std::vector<std::unique_ptr<FakeAgentHost>> hosts_;
};

TEST_F(CoordinatorGrpcTest, TwoNodeJobStreamsEventsAndLogsToTheEnd) {
  auto policy = [](const std::string&, const common::Assignment&) {
    return Behavior{.outcome = Behavior::Outcome::kSucceed, .local_world_size = 2, .log_lines = 3};
  };
  FakeAgentHost& a = AddAgent("a", policy);
  FakeAgentHost& b = AddAgent("b", policy);

  EventStream stream(*stub_, Submit(2, 2));
  const grpc::Status status = stream.ReadToEnd();
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::string job = stream.job_id();
  ASSERT_FALSE(job.empty());
  EXPECT_EQ(stream.events().front().state(), v1::JOB_STATE_PENDING);
  EXPECT_TRUE(stream.SawState(v1::JOB_STATE_RUNNING));
  EXPECT_EQ(stream.events().back().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(stream.events().back().exit_code(), 0);
  const auto logs = stream.Logs();
  EXPECT_EQ(logs.size(), 12u);
  std::set<int> ranks;
  for (const auto& e : logs) ranks.insert(e.log().rank());
  EXPECT_EQ(ranks, (std::set<int>{0, 1, 2, 3}));

  ASSERT_EQ(a.Starts().size(), 1u);
  ASSERT_EQ(b.Starts().size(), 1u);
  const common::Assignment sa = a.Starts()[0].assignment;
  const common::Assignment sb = b.Starts()[0].assignment;
  EXPECT_EQ(sa.machine_rank, 0);
  EXPECT_EQ(sb.machine_rank, 1);
  EXPECT_EQ(sa.num_machines, 2);
  EXPECT_EQ(sa.master_addr, "127.0.0.1");
  EXPECT_EQ(sa.master_port, sb.master_port);
  EXPECT_EQ(a.Starts()[0].spec.launch_args, std::vector<std::string>{"train.py"});

  v1::Job record;
  ASSERT_TRUE(GetJob(job, &record).ok());
  EXPECT_EQ(record.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(record.world_size(), 4);
  // The owner is who called (the kernel's owner of the loopback socket), not the request's "tester".
  EXPECT_EQ(record.spec().user(), ::getpwuid(::geteuid())->pw_name);
  EXPECT_EQ(record.spec().uid(), ::geteuid());
  EXPECT_EQ(Logs(job, -1).size(), 12u);
  const auto rank2 = Logs(job, 2);
  ASSERT_EQ(rank2.size(), 3u);
  EXPECT_EQ(rank2[0].text(), "attempt 0 rank 2 line 0");
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "state" / "jobs" / (job + ".json")));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "state" / "logs" / (job + ".log")));

  const auto nodes = Nodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_TRUE(nodes[0].alive());
  EXPECT_EQ(nodes[0].agent_address(), a.AddressOf("a"));
}

TEST_F(CoordinatorGrpcTest, WorkerFailureRestartsTheJobOnBothNodes) {
  auto policy = [](const std::string& node, const common::Assignment& assignment) {
    if (assignment.attempt == 0) {
      return node == "b" ? Behavior{.outcome = Behavior::Outcome::kFail, .exit_code = 3}
                         : Behavior{.outcome = Behavior::Outcome::kRun};
    }
    return Behavior{.outcome = Behavior::Outcome::kSucceed};
  };
  FakeAgentHost& a = AddAgent("a", policy);
  FakeAgentHost& b = AddAgent("b", policy);

  EventStream stream(*stub_, Submit(2, 2, /*max_restarts=*/1));
  ASSERT_TRUE(stream.ReadToEnd().ok());
  EXPECT_TRUE(stream.SawState(v1::JOB_STATE_RESTARTING));
  EXPECT_EQ(stream.events().back().state(), v1::JOB_STATE_SUCCEEDED);
  bool saw_exit = false;
  for (const auto& e : stream.events()) {
    if (e.kind() == v1::JobEvent::KIND_RANK_EXIT && e.exit().exit_code() == 3) saw_exit = e.exit().node() == "b";
  }
  EXPECT_TRUE(saw_exit);
  ASSERT_EQ(a.Starts().size(), 2u);
  ASSERT_EQ(b.Starts().size(), 2u);
  EXPECT_EQ(a.Starts()[1].assignment.attempt, 1);
  EXPECT_EQ(b.Starts()[1].assignment.attempt, 1);
  // a was still running attempt 0: it was stopped before attempt 1 started.
  ASSERT_FALSE(a.Stops().empty());
  EXPECT_EQ(a.Stops()[0].second, stream.job_id());
}

TEST_F(CoordinatorGrpcTest, KilledAgentIsLostAndTheJobRestartsOnTheNodesLeft) {
  auto policy = [](const std::string&, const common::Assignment&) {
    return Behavior{.outcome = Behavior::Outcome::kRun};
  };
  FakeAgentHost& a = AddAgent("a", policy);
  FakeAgentHost& b = AddAgent("b", policy);

  EventStream stream(*stub_, Submit(1, 2, /*max_restarts=*/1));
  ASSERT_TRUE(stream.ReadUntil([](const v1::JobEvent& e) { return MessageHas(e, "all 2 nodes running"); }));
  b.Kill();
  ASSERT_TRUE(stream.ReadUntil([](const v1::JobEvent& e) { return e.state() == v1::JOB_STATE_RESTARTING; }));
  EXPECT_THAT(stream.events().back().message(), HasSubstr("node b lost"));
  ASSERT_TRUE(stream.ReadUntil([](const v1::JobEvent& e) { return MessageHas(e, "all 1 node running"); }));
  EXPECT_EQ(stream.events().back().attempt(), 1);
  ASSERT_EQ(a.Starts().size(), 2u);
  EXPECT_EQ(a.Starts()[1].assignment.num_machines, 1);
  a.Finish(stream.job_id(), /*succeed=*/true);
  ASSERT_TRUE(stream.ReadToEnd().ok());
  EXPECT_EQ(stream.events().back().state(), v1::JOB_STATE_SUCCEEDED);
  const auto nodes = Nodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_TRUE(nodes[0].alive());
  EXPECT_FALSE(nodes[1].alive());
}

TEST_F(CoordinatorGrpcTest, CancelStopsTheJobOnEveryNode) {
  auto policy = [](const std::string&, const common::Assignment&) {
    return Behavior{.outcome = Behavior::Outcome::kRun};
  };
  FakeAgentHost& a = AddAgent("a", policy);
  FakeAgentHost& b = AddAgent("b", policy);
  EventStream stream(*stub_, Submit(2, 2));
  ASSERT_TRUE(stream.ReadUntil([](const v1::JobEvent& e) { return MessageHas(e, "all 2 nodes running"); }));
  grpc::ClientContext context;
  v1::CancelJobRequest request;
  request.set_job_id(stream.job_id());
  v1::CancelJobResponse response;
  ASSERT_TRUE(stub_->CancelJob(&context, request, &response).ok());
  ASSERT_TRUE(stream.ReadToEnd().ok());
  EXPECT_EQ(stream.events().back().state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(stream.events().back().exit_code(), 130);
  EXPECT_EQ(a.Stops().size(), 1u);
  EXPECT_EQ(b.Stops().size(), 1u);
}

TEST_F(CoordinatorGrpcTest, MalformedRequestsGetInvalidArgumentAndTheServerKeepsServing) {
  auto expect_invalid = [](const grpc::Status& status) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  };
  {
    v1::SubmitJobRequest request;  // no launch args
    EventStream stream(*stub_, request);
    expect_invalid(stream.ReadToEnd());
  }
  {
    v1::SubmitJobRequest request = Submit(3, 2);
    EventStream stream(*stub_, request);
    expect_invalid(stream.ReadToEnd());
  }
  {
    v1::SubmitJobRequest request = Submit(1, 1);
    (*request.mutable_spec()->mutable_env())["BAD NAME"] = "x";
    EventStream stream(*stub_, request);
    expect_invalid(stream.ReadToEnd());
  }
  {
    grpc::ClientContext context;
    v1::RegisterAgentRequest request;  // no node name
    v1::RegisterAgentResponse response;
    expect_invalid(stub_->RegisterAgent(&context, request, &response));
  }
  {
    grpc::ClientContext context;
    v1::RegisterAgentRequest request;
    request.mutable_node()->set_name("x");  // no address
    v1::RegisterAgentResponse response;
    expect_invalid(stub_->RegisterAgent(&context, request, &response));
  }
  {
    grpc::ClientContext context;
    v1::RegisterAgentRequest request;
    request.mutable_node()->set_name("x");
    request.mutable_node()->set_agent_address("127.0.0.1:1");
    (*request.mutable_running_groups())["j-1"] = -4;
    v1::RegisterAgentResponse response;
    expect_invalid(stub_->RegisterAgent(&context, request, &response));
  }
  {
    grpc::ClientContext context;
    v1::HeartbeatRequest request;
    v1::HeartbeatResponse response;
    expect_invalid(stub_->Heartbeat(&context, request, &response));
  }
  {
    v1::WatchJobRequest request;
    request.set_job_id("j-1");
    request.set_rank(-5);
    EventStream stream(*stub_, request);
    expect_invalid(stream.ReadToEnd());
  }
  {
    grpc::ClientContext context;
    v1::CancelJobRequest request;
    v1::CancelJobResponse response;
    expect_invalid(stub_->CancelJob(&context, request, &response));
  }
  {
    grpc::ClientContext context;
    v1::StreamLogsRequest request;
    request.set_job_id(std::string(500, 'x'));
    auto reader = stub_->StreamLogs(&context, request);
    v1::LogLine line;
    while (reader->Read(&line)) {
    }
    expect_invalid(reader->Finish());
  }
  {
    v1::Job job;
    EXPECT_EQ(GetJob("j-none", &job).error_code(), grpc::StatusCode::NOT_FOUND);
    v1::WatchJobRequest request;
    request.set_job_id("j-none");
    EventStream stream(*stub_, request);
    EXPECT_EQ(stream.ReadToEnd().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  // Still serving.
  EXPECT_TRUE(Nodes().empty());
  AddAgent("a", [](const std::string&, const common::Assignment&) { return Behavior{}; });
  EventStream stream(*stub_, Submit(1, 1));
  ASSERT_TRUE(stream.ReadToEnd().ok());
  EXPECT_EQ(stream.events().back().state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(CoordinatorGrpcTest, RestartedCoordinatorListsTheJobsAndReattachesToTheRunningOne) {
  auto policy = [](const std::string&, const common::Assignment&) {
    return Behavior{.outcome = Behavior::Outcome::kRun};
  };
  FakeAgentHost& a = AddAgent("a", policy);
  FakeAgentHost& b = AddAgent("b", policy);
  std::string job;
  {
    EventStream stream(*stub_, Submit(2, 2));
    ASSERT_TRUE(stream.ReadUntil([](const v1::JobEvent& e) { return MessageHas(e, "all 2 nodes running"); }));
    job = stream.job_id();
    StopCoordinator();
    EXPECT_EQ(stream.ReadToEnd().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  const int port = port_;
  StartCoordinator(port);
  v1::Job record;
  ASSERT_TRUE(GetJob(job, &record).ok());
  EXPECT_EQ(record.state(), v1::JOB_STATE_RUNNING);
  // The agents notice (known=false), register again with their running groups, and are re-attached.
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto nodes = Nodes();
        return nodes.size() == 2 && nodes[0].alive() && nodes[1].alive();
      },
      seconds(10)));
  v1::WatchJobRequest watch;
  watch.set_job_id(job);
  watch.set_logs(true);
  watch.set_rank(-1);
  EventStream follower(*stub_, watch);
  ASSERT_TRUE(follower.ReadUntil([](const v1::JobEvent& e) { return e.state() == v1::JOB_STATE_RUNNING; }));
  a.Finish(job, /*succeed=*/true);
  b.Finish(job, /*succeed=*/true);
  ASSERT_TRUE(follower.ReadToEnd().ok());
  EXPECT_EQ(follower.events().back().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(a.Starts().size(), 1u);  // re-attached, never restarted
  EXPECT_EQ(b.Starts().size(), 1u);
  EXPECT_TRUE(a.Stops().empty());
}

}  // namespace
}  // namespace accel::testing
