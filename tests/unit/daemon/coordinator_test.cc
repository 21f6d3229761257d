// Coordinator with fakes: FakeAgentClient answers by hand, FakeClock drives heartbeats, last call and
// join timeouts, InMemoryJobStore survives a "restart" (a second Coordinator on the same store).
#include "daemon/coordinator/coordinator.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_agent_client.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/in_memory_job_store.h"
#include "tests/fakes/loop_drain.h"

namespace accel::daemon {
namespace {

using common::GroupEvent;
using common::JobEvent;
using common::JobState;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// What one subscriber saw. The sinks share its state, so it may go away before the coordinator.
struct Recorder {
  struct State {
    std::vector<JobEvent> events;
    std::optional<absl::Status> closed;
  };
  std::shared_ptr<State> state = std::make_shared<State>();
  std::vector<JobEvent>& events = state->events;
  std::optional<absl::Status>& closed = state->closed;

  Coordinator::EventSink Sink() {
    return [s = state](const JobEvent& event) {
      s->events.push_back(event);
      return true;
    };
  }
  Coordinator::ClosedCallback Closed() {
    return [s = state](absl::Status status) { s->closed = std::move(status); };
  }
  std::vector<JobState> States() const {
    std::vector<JobState> out;
    for (const auto& e : events) {
      if (e.kind == JobEvent::Kind::kState && (out.empty() || out.back() != e.state)) out.push_back(e.state);
    }
    return out;
  }
  const JobEvent& Last() const { return events.back(); }
  std::vector<JobEvent> OfKind(JobEvent::Kind kind) const {
    std::vector<JobEvent> out;
    for (const auto& e : events) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }
};

GroupEvent Event(GroupEvent::Kind kind, const std::string& job, int attempt, const std::string& node) {
  GroupEvent event;
  event.kind = kind;
  event.job_id = job;
  event.attempt = attempt;
  event.node = node;
  return event;
}

common::RankExit Exit(int rank, const std::string& node, int code) {
  return common::RankExit{.rank = rank, .local_rank = 0, .node = node, .exit_code = code};
}

common::JobSpec Spec(int min_nodes, int max_nodes, int max_restarts = 0) {
  common::JobSpec spec;
  spec.launch_args = {"train.py"};
  spec.min_nodes = min_nodes;
  spec.max_nodes = max_nodes;
  spec.max_restarts = max_restarts;
  return spec;
}

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.heartbeat_interval = absl::Seconds(1);
    options_.heartbeat_timeout = absl::Seconds(5);
    options_.join_timeout = absl::Seconds(600);
    options_.last_call = absl::Seconds(30);
    auto loop = common::EventLoop::Create();
    ASSERT_TRUE(loop.ok());
    loop_ = *std::move(loop);
    NewCoordinator();
  }
  void TearDown() override {
    coordinator_.reset();
    Drain();
  }

  void NewCoordinator() {
    coordinator_.reset();
    agents_ = std::make_unique<testing::FakeAgentClient>();
    coordinator_ = std::make_unique<Coordinator>(*loop_, clock_, *agents_, store_, options_);
    ASSERT_TRUE(coordinator_->Start().ok());
  }

  void Drain() { testing::DrainLoop(*loop_); }
  void Advance(absl::Duration d) {
    clock_.Advance(d);
    Drain();
  }
  // Advances `d` in 1 s steps, with every node in `alive` heartbeating each second.
  void AdvanceWithHeartbeats(absl::Duration d, const std::vector<std::string>& alive) {
    for (absl::Duration done; done < d; done += absl::Seconds(1)) {
      for (const auto& name : alive) coordinator_->Heartbeat(name, {});
      Advance(absl::Seconds(1));
    }
  }

  void Register(const std::string& name, std::map<std::string, int> running = {}) {
    common::NodeInfo node;
    node.name = name;
    node.agent_address = "10.0.0." + std::to_string(name.back() - 'a' + 1) + ":7000";
    node.cpus = 4;
    ASSERT_TRUE(coordinator_->RegisterAgent(node, running, "").ok());
    Drain();
  }

  std::string Submit(common::JobSpec spec, Recorder& recorder) {
    auto submitted = coordinator_->Submit(std::move(spec), recorder.Sink(), recorder.Closed());
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    Drain();
    return submitted.ok() ? submitted->job_id : "";
  }

  // Emits kStarted from every node of `attempt` and answers its starts.
  void StartAll(const std::string& job, int attempt) {
    agents_->AnswerStarts(attempt, 2);
    for (auto* call : agents_->StartsOf(attempt))
      agents_->Emit(call->agent.node, Event(GroupEvent::Kind::kStarted, job, attempt, call->agent.node));
    Drain();
  }

  JobState StateOf(const std::string& job) {
    auto record = coordinator_->GetJob(job);
    EXPECT_TRUE(record.ok());
    return record.ok() ? record->state : JobState::kPending;
  }

  CoordinatorOptions options_;
  std::unique_ptr<common::EventLoop> loop_;
  testing::FakeClock clock_;
  testing::InMemoryJobStore store_;
  std::unique_ptr<testing::FakeAgentClient> agents_;
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(CoordinatorTest, PlacesAssignsRanksAndSucceeds) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2), rec);
  ASSERT_EQ(agents_->starts.size(), 2u);
  const auto& a = agents_->starts[0];
  const auto& b = agents_->starts[1];
  EXPECT_EQ(a.agent.node, "a");
  EXPECT_EQ(a.agent.address, "10.0.0.1:7000");
  EXPECT_EQ(a.assignment.machine_rank, 0);
  EXPECT_EQ(b.assignment.machine_rank, 1);
  EXPECT_EQ(a.assignment.num_machines, 2);
  EXPECT_EQ(a.assignment.master_addr, "10.0.0.1");
  EXPECT_EQ(b.assignment.master_addr, "10.0.0.1");
  EXPECT_EQ(a.assignment.master_port, b.assignment.master_port);
  EXPECT_GE(a.assignment.master_port, 29500);
  EXPECT_LE(a.assignment.master_port, 29999);
  EXPECT_EQ(a.assignment.attempt, 0);
  EXPECT_EQ(a.assignment.job_id, job);
  EXPECT_EQ(agents_->OpenWatchCount(job), 2);
  EXPECT_EQ(StateOf(job), JobState::kRunning);

  StartAll(job, 0);
  EXPECT_THAT(rec.Last().message, HasSubstr("all 2 nodes running (4 workers)"));
  EXPECT_EQ(coordinator_->GetJob(job)->world_size, 4);

  auto done = Event(GroupEvent::Kind::kSucceeded, job, 0, "a");
  done.exits = {Exit(0, "a", 0)};
  agents_->Emit("a", done);
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kRunning);
  done.exits = {Exit(1, "b", 0)};
  agents_->Emit("b", done);
  Drain();

  EXPECT_EQ(StateOf(job), JobState::kSucceeded);
  EXPECT_THAT(rec.States(), ElementsAre(JobState::kPending, JobState::kRunning, JobState::kSucceeded));
  EXPECT_EQ(rec.Last().exit_code, 0);
  ASSERT_TRUE(rec.closed.has_value());
  EXPECT_TRUE(rec.closed->ok());
  EXPECT_EQ(store_.jobs.at(job).state, JobState::kSucceeded);
  EXPECT_EQ(store_.jobs.at(job).exits.size(), 2u);
  EXPECT_EQ(agents_->OpenWatchCount(job), 0);
  // The nodes are free again.
  Recorder rec2;
  Submit(Spec(2, 2), rec2);
  EXPECT_EQ(agents_->starts.size(), 4u);
}

// The workers of a short job can start and end before a node's StartGroup answer arrives; the record
// still gets the job's world size.
TEST_F(CoordinatorTest, ShortJobEndingBeforeTheStartAnswersStillRecordsItsWorldSize) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2), rec);
  for (const char* node : {"a", "b"}) {
    agents_->Emit(node, Event(GroupEvent::Kind::kStarted, job, 0, node));
    auto done = Event(GroupEvent::Kind::kSucceeded, job, 0, node);
    done.exits = {Exit(node[0] == 'a' ? 0 : 1, node, 0)};
    agents_->Emit(node, done);
  }
  Drain();
  ASSERT_EQ(StateOf(job), JobState::kSucceeded);
  agents_->AnswerStarts(0, 2);
  Drain();
  EXPECT_EQ(coordinator_->GetJob(job)->world_size, 4);
  EXPECT_EQ(store_.jobs.at(job).world_size, 4);
}

TEST_F(CoordinatorTest, WaitsForTheWatchBeforeStarting) {
  agents_->auto_ready = false;
  Register("a");
  Recorder rec;
  const std::string job = Submit(Spec(1, 1), rec);
  EXPECT_TRUE(agents_->starts.empty());
  agents_->OpenWatch("a", job)->on_ready();
  Drain();
  EXPECT_EQ(agents_->starts.size(), 1u);
}

TEST_F(CoordinatorTest, StartsAnywayWhenTheWatchNeverReportsReady) {
  agents_->auto_ready = false;
  Register("a");
  Recorder rec;
  Submit(Spec(1, 1), rec);
  Advance(absl::Milliseconds(999));
  EXPECT_TRUE(agents_->starts.empty());
  Advance(absl::Milliseconds(1));
  EXPECT_EQ(agents_->starts.size(), 1u);
}

TEST_F(CoordinatorTest, LastCallWindowTakesLateNodesUpToMax) {
  Register("a");
  Recorder rec;
  const std::string job = Submit(Spec(1, 3), rec);
  EXPECT_TRUE(agents_->starts.empty());
  EXPECT_THAT(rec.Last().message, HasSubstr("last call"));
  AdvanceWithHeartbeats(absl::Seconds(10), {"a"});
  Register("b");
  AdvanceWithHeartbeats(absl::Seconds(19), {"a", "b"});
  EXPECT_TRUE(agents_->starts.empty());
  AdvanceWithHeartbeats(absl::Seconds(1), {"a", "b"});
  ASSERT_EQ(agents_->starts.size(), 2u);
  EXPECT_EQ(agents_->starts[0].assignment.num_machines, 2);
  EXPECT_EQ(coordinator_->GetJob(job)->nodes, (std::vector<std::string>{"a", "b"}));
}

TEST_F(CoordinatorTest, ReachingMaxEndsLastCallAtOnce) {
  Register("a");
  Recorder rec;
  Submit(Spec(1, 2), rec);
  EXPECT_TRUE(agents_->starts.empty());
  Register("b");
  EXPECT_EQ(agents_->starts.size(), 2u);
}

TEST_F(CoordinatorTest, ExplicitNodesWaitForExactlyThose) {
  Register("a");
  Register("c");
  common::JobSpec spec = Spec(1, 1);
  spec.nodes = {"c", "b"};
  Recorder rec;
  const std::string job = Submit(spec, rec);
  EXPECT_TRUE(agents_->starts.empty());
  Register("b");
  ASSERT_EQ(agents_->starts.size(), 2u);
  EXPECT_EQ(agents_->starts[0].agent.node, "c");
  EXPECT_EQ(agents_->starts[0].assignment.machine_rank, 0);
  EXPECT_EQ(agents_->starts[0].assignment.master_addr, "10.0.0.3");
  EXPECT_EQ(agents_->starts[1].agent.node, "b");
}

TEST_F(CoordinatorTest, JoinTimeoutNamesWhoIsMissing) {
  Register("a");
  common::JobSpec spec = Spec(1, 1);
  spec.nodes = {"a", "b"};
  Recorder rec;
  const std::string job = Submit(spec, rec);
  AdvanceWithHeartbeats(absl::Seconds(600), {"a"});
  EXPECT_EQ(StateOf(job), JobState::kFailed);
  EXPECT_EQ(rec.Last().state, JobState::kFailed);
  EXPECT_EQ(rec.Last().exit_code, 1);
  EXPECT_EQ(rec.Last().message, "rendezvous timed out after 600 s: have 1 of 2 nodes (a); missing: b (not registered)");
  EXPECT_TRUE(rec.closed.has_value());
}

// --rdzv_conf join_timeout=S,last_call_timeout=S: the job's own windows replace the coordinator's.
TEST_F(CoordinatorTest, JobsOwnRendezvousWindows) {
  Register("a");
  common::JobSpec spec = Spec(1, 3);
  spec.last_call_s = 3;
  Recorder rec;
  const std::string job = Submit(spec, rec);
  EXPECT_THAT(rec.Last().message, HasSubstr("waiting 3 s (last call)"));
  AdvanceWithHeartbeats(absl::Seconds(3), {"a"});
  ASSERT_EQ(agents_->starts.size(), 1u);
  EXPECT_EQ(coordinator_->GetJob(job)->nodes, (std::vector<std::string>{"a"}));

  common::JobSpec waiting = Spec(1, 1);
  waiting.nodes = {"b"};
  waiting.join_timeout_s = 5;
  Recorder rec2;
  const std::string job2 = Submit(waiting, rec2);
  AdvanceWithHeartbeats(absl::Seconds(5), {"a"});
  EXPECT_EQ(StateOf(job2), JobState::kFailed);
  EXPECT_THAT(rec2.Last().message, HasSubstr("rendezvous timed out after 5 s"));
}

TEST_F(CoordinatorTest, JoinTimeoutForACountSaysHowManyAndWhyOthersDoNotCount) {
  Register("a");
  Register("b");
  Recorder busy;
  const std::string first = Submit(Spec(1, 1), busy);  // takes a
  Recorder rec;
  const std::string job = Submit(Spec(3, 3), rec);
  AdvanceWithHeartbeats(absl::Seconds(600), {"a", "b"});
  EXPECT_EQ(StateOf(job), JobState::kFailed);
  EXPECT_EQ(rec.Last().message,
            "rendezvous timed out after 600 s: have 1 of 3 nodes (b); missing: 2 more nodes "
            "(busy: a (" +
                first + "))");
}

TEST_F(CoordinatorTest, FailureRestartsEveryNodeStoppingTheOthersFirst) {
  Register("a");
  Register("b");
  Register("c");
  Recorder rec;
  const std::string job = Submit(Spec(3, 3, /*max_restarts=*/2), rec);
  StartAll(job, 0);
  const int first_port = agents_->starts[0].assignment.master_port;

  auto failed = Event(GroupEvent::Kind::kFailed, job, 0, "b");
  failed.exits = {Exit(1, "b", 3)};
  agents_->Emit("b", failed);
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kRestarting);
  // Only the nodes that still run are stopped, all at once; nothing restarts before they answer.
  EXPECT_THAT(agents_->StoppedNodes(), UnorderedElementsAre("a", "c"));
  EXPECT_TRUE(agents_->StartsOf(1).empty());
  agents_->stops[0].answered = true;
  agents_->stops[0].done(absl::OkStatus());
  Drain();
  EXPECT_TRUE(agents_->StartsOf(1).empty());
  agents_->AnswerStops();
  Drain();

  auto restarted = agents_->StartsOf(1);
  ASSERT_EQ(restarted.size(), 3u);
  EXPECT_EQ(restarted[0]->agent.node, "a");
  EXPECT_EQ(restarted[1]->agent.node, "b");
  EXPECT_EQ(restarted[2]->agent.node, "c");
  EXPECT_EQ(restarted[0]->assignment.attempt, 1);
  EXPECT_NE(restarted[0]->assignment.master_port, first_port);
  EXPECT_EQ(StateOf(job), JobState::kRunning);
  EXPECT_EQ(coordinator_->GetJob(job)->attempt, 1);
  // Late events of the old attempt are ignored.
  agents_->Emit("a", Event(GroupEvent::Kind::kFailed, job, 0, "a"));
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kRunning);
  EXPECT_THAT(rec.States(),
              ElementsAre(JobState::kPending, JobState::kRunning, JobState::kRestarting, JobState::kRunning));
  EXPECT_EQ(coordinator_->metrics().jobs_restarted_total, 1u);
}

TEST_F(CoordinatorTest, NoRestartsLeftFailsWithTheRootCauseExitCode) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2, /*max_restarts=*/1), rec);
  StartAll(job, 0);
  auto failed = Event(GroupEvent::Kind::kFailed, job, 0, "b");
  failed.exits = {Exit(1, "b", 3)};
  agents_->Emit("b", failed);
  Drain();
  agents_->AnswerStops();
  Drain();
  StartAll(job, 1);

  failed = Event(GroupEvent::Kind::kFailed, job, 1, "a");
  failed.exits = {Exit(0, "a", 7), Exit(2, "a", 143)};
  failed.exits[0].message = "ValueError: bad batch\ntraceback...";
  agents_->Emit("a", failed);
  Drain();
  // The other node fails too while being stopped: not the root cause.
  failed = Event(GroupEvent::Kind::kFailed, job, 1, "b");
  failed.exits = {Exit(1, "b", 1)};
  agents_->Emit("b", failed);
  Drain();
  agents_->AnswerStops();
  Drain();

  EXPECT_EQ(StateOf(job), JobState::kFailed);
  const auto record = *coordinator_->GetJob(job);
  EXPECT_EQ(record.exit_code, 7);
  EXPECT_EQ(
      record.reason,
      "rank 0 (local rank 0 on node a) exited with code 7: ValueError: bad batch; no restarts left (max_restarts=1)");
  ASSERT_GE(record.exits.size(), 2u);
  EXPECT_EQ(record.exits[0].exit_code, 7);
  EXPECT_EQ(rec.Last().exit_code, 7);
  const auto exits = rec.OfKind(JobEvent::Kind::kRankExit);
  ASSERT_EQ(exits.size(), 3u);  // rank 1 in attempt 0, ranks 0 and 2 in attempt 1
  EXPECT_EQ(exits[1].exit->rank, 0);
  EXPECT_EQ(exits[1].attempt, 1);
  EXPECT_EQ(store_.jobs.at(job).exit_code, 7);
}

TEST_F(CoordinatorTest, LostNodeRestartsOnTheRemainingNodesWhenEnoughAreLeft) {
  Register("a");
  Register("b");
  Register("c");
  Recorder rec;
  const std::string job = Submit(Spec(2, 3, /*max_restarts=*/1), rec);
  StartAll(job, 0);
  AdvanceWithHeartbeats(absl::Seconds(6), {"a", "c"});
  EXPECT_EQ(StateOf(job), JobState::kRestarting);
  EXPECT_THAT(coordinator_->GetJob(job)->reason, HasSubstr("node b lost (no heartbeat for 5 s)"));
  EXPECT_THAT(agents_->StoppedNodes(), UnorderedElementsAre("a", "c"));
  agents_->AnswerStops();
  Drain();
  auto restarted = agents_->StartsOf(1);
  ASSERT_EQ(restarted.size(), 2u);
  EXPECT_EQ(restarted[0]->agent.node, "a");
  EXPECT_EQ(restarted[1]->agent.node, "c");
  EXPECT_EQ(restarted[1]->assignment.machine_rank, 1);
  EXPECT_EQ(restarted[1]->assignment.num_machines, 2);
  EXPECT_EQ(coordinator_->metrics().nodes_lost_total, 1u);
  // The lost node is told to register again, and gets its old group stopped when it does.
  EXPECT_FALSE(coordinator_->Heartbeat("b", {{job, 0}}));
  Register("b", {{job, 0}});
  EXPECT_EQ(agents_->stops.back().agent.node, "b");
  EXPECT_EQ(agents_->stops.back().job_id, job);
}

TEST_F(CoordinatorTest, LostNodeFailsTheJobWhenTooFewAreLeft) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2, /*max_restarts=*/3), rec);
  StartAll(job, 0);
  AdvanceWithHeartbeats(absl::Seconds(6), {"a"});
  agents_->AnswerStops();
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kFailed);
  EXPECT_EQ(coordinator_->GetJob(job)->reason, "node b lost (no heartbeat for 5 s); 1 node left, 2 needed");
  EXPECT_EQ(rec.Last().exit_code, 1);
  EXPECT_TRUE(agents_->StartsOf(1).empty());
}

TEST_F(CoordinatorTest, BrokenWatchStreamCountsAsLostNode) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(1, 2, /*max_restarts=*/1), rec);
  StartAll(job, 0);
  agents_->Break("b", job, absl::UnavailableError("connection reset"));
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kRestarting);
  EXPECT_THAT(coordinator_->GetJob(job)->reason, HasSubstr("node b lost (its agent's event stream broke"));
  agents_->AnswerStops();
  Drain();
  ASSERT_EQ(agents_->StartsOf(1).size(), 1u);
  EXPECT_EQ(agents_->StartsOf(1)[0]->agent.node, "a");
}

TEST_F(CoordinatorTest, FailedStartFailsTheAttempt) {
  Register("a");
  Recorder rec;
  const std::string job = Submit(Spec(1, 1), rec);
  agents_->starts[0].answered = true;
  agents_->starts[0].done(absl::InvalidArgumentError("--num_processes=0: must be >= 1"));
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kFailed);
  EXPECT_EQ(
      coordinator_->GetJob(job)->reason,
      "starting the workers on node a failed: --num_processes=0: must be >= 1; no restarts left (max_restarts=0)");
}

TEST_F(CoordinatorTest, StopIsSentOnlyAfterTheStartIsAnswered) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2), rec);
  ASSERT_EQ(agents_->starts.size(), 2u);
  agents_->starts[0].answered = true;
  agents_->starts[0].done(1);  // a answered; b's StartGroup is still on its way
  auto failed = Event(GroupEvent::Kind::kFailed, job, 0, "a");
  failed.exits = {Exit(0, "a", 1)};
  agents_->Emit("a", failed);
  Drain();
  EXPECT_TRUE(agents_->stops.empty());
  agents_->AnswerStarts(0);
  Drain();
  EXPECT_THAT(agents_->StoppedNodes(), ElementsAre("b"));
  agents_->AnswerStops();
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kFailed);
}

TEST_F(CoordinatorTest, CancelStopsEveryNode) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2), rec);
  StartAll(job, 0);
  auto record = coordinator_->Cancel(job);
  ASSERT_TRUE(record.ok());
  Drain();
  EXPECT_THAT(agents_->StoppedNodes(), UnorderedElementsAre("a", "b"));
  EXPECT_EQ(StateOf(job), JobState::kRunning);
  agents_->AnswerStops();
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kCancelled);
  EXPECT_EQ(rec.Last().exit_code, 130);
  EXPECT_EQ(coordinator_->Cancel(job).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(coordinator_->Cancel("j-nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, CancelPendingEndsAtOnce) {
  Recorder rec;
  const std::string job = Submit(Spec(1, 1), rec);
  ASSERT_TRUE(coordinator_->Cancel(job).ok());
  EXPECT_EQ(StateOf(job), JobState::kCancelled);
  EXPECT_TRUE(rec.closed.has_value());
  // A node arriving later does not start it.
  Register("a");
  EXPECT_TRUE(agents_->starts.empty());
}

TEST_F(CoordinatorTest, CancelDuringRestartDoesNotRestart) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2, /*max_restarts=*/3), rec);
  StartAll(job, 0);
  agents_->Emit("b", Event(GroupEvent::Kind::kFailed, job, 0, "b"));
  Drain();
  ASSERT_TRUE(coordinator_->Cancel(job).ok());
  agents_->AnswerStops();
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kCancelled);
  EXPECT_TRUE(agents_->StartsOf(1).empty());
}

TEST_F(CoordinatorTest, SubscribersGetLogLinesWithTheirRank) {
  Register("a");
  Register("b");
  Recorder all;
  const std::string job = Submit(Spec(2, 2), all);
  Recorder rank1;
  ASSERT_TRUE(coordinator_->Watch(job, {.logs = true, .rank = 1}, rank1.Sink(), rank1.Closed()).ok());
  Recorder no_logs;
  ASSERT_TRUE(coordinator_->Watch(job, {.logs = false}, no_logs.Sink(), no_logs.Closed()).ok());
  StartAll(job, 0);
  for (const auto& [node, rank] : std::vector<std::pair<std::string, int>>{{"a", 0}, {"b", 1}, {"b", 1}}) {
    auto event = Event(GroupEvent::Kind::kLog, job, 0, node);
    event.log = common::LogLine{.attempt = 0, .rank = rank, .text = "step " + std::to_string(rank)};
    agents_->Emit(node, event);
  }
  Drain();
  const auto logs = all.OfKind(JobEvent::Kind::kLog);
  ASSERT_EQ(logs.size(), 3u);
  EXPECT_EQ(logs[0].log->rank, 0);
  EXPECT_EQ(logs[0].log->node, "a");
  EXPECT_EQ(logs[0].log->job_id, job);
  EXPECT_EQ(logs[1].log->rank, 1);
  EXPECT_EQ(logs[1].log->text, "step 1");
  EXPECT_EQ(rank1.OfKind(JobEvent::Kind::kLog).size(), 2u);
  EXPECT_TRUE(no_logs.OfKind(JobEvent::Kind::kLog).empty());
  EXPECT_EQ(store_.logs[job].size(), 3u);

  // A follower that joins late gets the lines so far, then new ones.
  std::vector<common::LogLine> followed;
  std::optional<absl::Status> follow_closed;
  ASSERT_TRUE(coordinator_
                  ->StreamLogs(
                      job, -1, /*follow=*/true,
                      [&](const common::LogLine& line) {
                        followed.push_back(line);
                        return true;
                      },
                      [&](absl::Status s) { follow_closed = s; })
                  .ok());
  EXPECT_EQ(followed.size(), 3u);
  auto event = Event(GroupEvent::Kind::kLog, job, 0, "a");
  event.log = common::LogLine{.rank = 0, .text = "more"};
  agents_->Emit("a", event);
  Drain();
  EXPECT_EQ(followed.size(), 4u);

  // After the end, logs come from the store.
  for (const std::string node : {"a", "b"}) agents_->Emit(node, Event(GroupEvent::Kind::kSucceeded, job, 0, node));
  Drain();
  EXPECT_TRUE(follow_closed.has_value());
  std::vector<common::LogLine> after;
  std::optional<absl::Status> after_closed;
  ASSERT_TRUE(coordinator_
                  ->StreamLogs(
                      job, 1, /*follow=*/true,
                      [&](const common::LogLine& line) {
                        after.push_back(line);
                        return true;
                      },
                      [&](absl::Status s) { after_closed = s; })
                  .ok());
  EXPECT_EQ(after.size(), 2u);
  EXPECT_TRUE(after_closed.has_value());
}

TEST_F(CoordinatorTest, SinkReturningFalseUnsubscribes) {
  Register("a");
  int calls = 0;
  auto submitted = coordinator_->Submit(
      Spec(1, 1), [&](const JobEvent&) { return ++calls < 2; }, nullptr);
  ASSERT_TRUE(submitted.ok());
  Drain();
  const int seen = calls;
  StartAll(submitted->job_id, 0);
  EXPECT_EQ(calls, seen);
}

TEST_F(CoordinatorTest, WatchOfAnEndedJobSendsItsStateAndCloses) {
  Recorder rec;
  const std::string job = Submit(Spec(1, 1), rec);
  ASSERT_TRUE(coordinator_->Cancel(job).ok());
  Recorder late;
  auto id = coordinator_->Watch(job, {}, late.Sink(), late.Closed());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 0u);
  ASSERT_EQ(late.events.size(), 1u);
  EXPECT_EQ(late.events[0].state, JobState::kCancelled);
  EXPECT_EQ(late.events[0].exit_code, 130);
  EXPECT_TRUE(late.closed.has_value());
  EXPECT_EQ(coordinator_->Watch("j-none", {}, late.Sink(), late.Closed()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, HeartbeatsKeepNodesAliveAndUnknownNodesMustRegister) {
  EXPECT_FALSE(coordinator_->Heartbeat("a", {}));
  Register("a");
  AdvanceWithHeartbeats(absl::Seconds(30), {"a"});
  auto nodes = coordinator_->ListNodes();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_TRUE(nodes[0].alive);
  Advance(absl::Seconds(5));
  nodes = coordinator_->ListNodes();
  EXPECT_FALSE(nodes[0].alive);
  EXPECT_FALSE(coordinator_->Heartbeat("a", {}));
  Register("a");
  EXPECT_TRUE(coordinator_->ListNodes()[0].alive);
}

TEST_F(CoordinatorTest, ListNodesShowsRunningJobs) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(1, 1), rec);
  auto nodes = coordinator_->ListNodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_THAT(nodes[0].running_jobs, ElementsAre(job));
  EXPECT_TRUE(nodes[1].running_jobs.empty());
}

TEST_F(CoordinatorTest, StaleGroupsOnRegisterAreStopped) {
  Register("a", {{"j-old-001", 2}});
  ASSERT_EQ(agents_->stops.size(), 1u);
  EXPECT_EQ(agents_->stops[0].job_id, "j-old-001");
  // Not stopped twice while the first stop is under way.
  coordinator_->Heartbeat("a", {{"j-old-001", 2}});
  EXPECT_EQ(agents_->stops.size(), 1u);
}

TEST_F(CoordinatorTest, RejectsBadSpecs) {
  Recorder rec;
  common::JobSpec spec = Spec(1, 1);
  spec.nodes = {"a", "a"};
  EXPECT_EQ(coordinator_->Submit(spec, rec.Sink(), rec.Closed()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(coordinator_->Submit(Spec(3, 2), rec.Sink(), rec.Closed()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(coordinator_->ListJobs().empty());
}

TEST_F(CoordinatorTest, JobIdsAreUniqueAndSortable) {
  Recorder rec;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Submit(Spec(1, 1), rec));
  Advance(absl::Seconds(1));
  ids.push_back(Submit(Spec(1, 1), rec));
  auto sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, ids);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  EXPECT_THAT(ids[0], ::testing::MatchesRegex("j-[0-9a-z]{6}-[0-9a-z]{3}"));
  // A restarted coordinator (same second, counter from 0) does not reuse them.
  NewCoordinator();
  Recorder rec2;
  const std::string next = Submit(Spec(1, 1), rec2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), next), 0);
}

TEST_F(CoordinatorTest, ReloadKeepsRecordsAndReattachesToRunningJobs) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2), rec);
  StartAll(job, 0);
  Recorder done_rec;
  const std::string done = Submit(Spec(5, 5), done_rec);
  ASSERT_TRUE(coordinator_->Cancel(done).ok());

  NewCoordinator();  // the old one is gone; the store remains
  EXPECT_TRUE(rec.closed.has_value());
  EXPECT_EQ(rec.closed->code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(coordinator_->ListJobs().size(), 2u);
  EXPECT_EQ(StateOf(job), JobState::kRunning);
  EXPECT_EQ(StateOf(done), JobState::kCancelled);

  Recorder follower;
  ASSERT_TRUE(coordinator_->Watch(job, {}, follower.Sink(), follower.Closed()).ok());
  Register("a", {{job, 0}});
  Register("b", {{job, 0}});
  EXPECT_TRUE(agents_->starts.empty());  // re-attached, not restarted
  EXPECT_TRUE(agents_->stops.empty());
  EXPECT_EQ(agents_->OpenWatchCount(job), 2);
  AdvanceWithHeartbeats(absl::Seconds(10), {"a", "b"});
  EXPECT_EQ(StateOf(job), JobState::kRunning);
  for (const std::string node : {"a", "b"}) agents_->Emit(node, Event(GroupEvent::Kind::kSucceeded, job, 0, node));
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kSucceeded);
  EXPECT_EQ(follower.Last().state, JobState::kSucceeded);
  EXPECT_EQ(store_.jobs.at(job).state, JobState::kSucceeded);
}

TEST_F(CoordinatorTest, ReloadCountsNodesThatDoNotComeBackAsLost) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2), rec);
  StartAll(job, 0);
  NewCoordinator();
  Register("a", {{job, 0}});
  AdvanceWithHeartbeats(absl::Seconds(5), {"a"});
  EXPECT_THAT(agents_->StoppedNodes(), ElementsAre("a"));
  agents_->AnswerStops();
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kFailed);
  EXPECT_EQ(coordinator_->GetJob(job)->reason,
            "node b lost (it did not register within 5 s of the coordinator's restart); 1 node left, 2 needed");
}

TEST_F(CoordinatorTest, ReloadedNodeWithoutItsGroupFailsTheAttemptUnlessTheWatchReplaysIt) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2), rec);
  StartAll(job, 0);
  NewCoordinator();
  Register("a");  // a's group ended while nobody watched...
  Register("b", {{job, 0}});
  agents_->Emit("a", Event(GroupEvent::Kind::kSucceeded, job, 0, "a"));  // ...and the watch replays how
  Drain();
  AdvanceWithHeartbeats(absl::Seconds(6), {"a", "b"});
  EXPECT_EQ(StateOf(job), JobState::kRunning);
  agents_->Emit("b", Event(GroupEvent::Kind::kSucceeded, job, 0, "b"));
  Drain();
  EXPECT_EQ(StateOf(job), JobState::kSucceeded);
}

TEST_F(CoordinatorTest, ReRegisteringWithoutTheGroupWaitsForItsFinalEventBeforeFailing) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2), rec);
  StartAll(job, 0);
  // a's group just ended; its re-registration overtakes the kSucceeded still on the watch.
  Register("a");
  AdvanceWithHeartbeats(absl::Seconds(2), {"a", "b"});
  EXPECT_EQ(StateOf(job), JobState::kRunning);
  agents_->Emit("a", Event(GroupEvent::Kind::kSucceeded, job, 0, "a"));
  Drain();
  AdvanceWithHeartbeats(absl::Seconds(5), {"a", "b"});
  EXPECT_EQ(StateOf(job), JobState::kRunning);
  // b re-registers without its group and nothing follows: its agent restarted.
  Register("b");
  AdvanceWithHeartbeats(absl::Seconds(5), {"a", "b"});
  EXPECT_EQ(StateOf(job), JobState::kFailed);
  EXPECT_THAT(coordinator_->GetJob(job)->reason, HasSubstr("node b re-registered without its workers of attempt 0"));
}

TEST_F(CoordinatorTest, ReloadedRestartingJobStopsThenStartsTheNextAttempt) {
  Register("a");
  Register("b");
  Recorder rec;
  const std::string job = Submit(Spec(2, 2, /*max_restarts=*/2), rec);
  StartAll(job, 0);
  agents_->Emit("a", Event(GroupEvent::Kind::kFailed, job, 0, "a"));
  Drain();
  ASSERT_EQ(StateOf(job), JobState::kRestarting);
  NewCoordinator();  // crashed before b answered its StopGroup
  EXPECT_EQ(StateOf(job), JobState::kRestarting);
  Register("a");
  Register("b", {{job, 0}});
  EXPECT_THAT(agents_->StoppedNodes(), ElementsAre("b"));
  agents_->AnswerStops();
  Drain();
  ASSERT_EQ(agents_->StartsOf(1).size(), 2u);
  EXPECT_EQ(StateOf(job), JobState::kRunning);
}

TEST_F(CoordinatorTest, ReloadedPendingJobKeepsWaitingForTheRestOfItsJoinTimeout) {
  Recorder rec;
  const std::string job = Submit(Spec(1, 1), rec);
  Advance(absl::Seconds(100));
  NewCoordinator();
  Advance(absl::Seconds(499));
  EXPECT_EQ(StateOf(job), JobState::kPending);
  Register("a");
  EXPECT_EQ(agents_->starts.size(), 1u);
}

TEST_F(CoordinatorTest, StoreFailuresAreCountedNotFatal) {
  store_.fail_saves = true;
  Register("a");
  Recorder rec;
  const std::string job = Submit(Spec(1, 1), rec);
  EXPECT_EQ(StateOf(job), JobState::kRunning);
  EXPECT_GE(coordinator_->metrics().store_errors_total, 1u);
}

// --- placement helpers ------------------------------------------------------------------------------

TEST(PlacementTest, MasterAddrIsTheHostOfRankZero) {
  EXPECT_EQ(MasterAddrFor("10.1.2.3:7000"), "10.1.2.3");
  EXPECT_EQ(MasterAddrFor("node-7.cluster:7000"), "node-7.cluster");
  EXPECT_EQ(MasterAddrFor("dns:///node-7:7000"), "node-7");
  EXPECT_EQ(MasterAddrFor("ipv4:10.0.0.9:1"), "10.0.0.9");
  EXPECT_EQ(MasterAddrFor("[fe80::1]:7000"), "fe80::1");
  EXPECT_EQ(MasterAddrFor("ipv6:[::1]:7000"), "::1");
  EXPECT_EQ(MasterAddrFor("unix:/run/accel/agent.sock"), "127.0.0.1");
  EXPECT_EQ(MasterAddrFor("unix:///tmp/a.sock"), "127.0.0.1");
  EXPECT_EQ(MasterAddrFor("0.0.0.0:7000"), "127.0.0.1");
  EXPECT_EQ(MasterAddrFor("hostonly"), "hostonly");
}

TEST(PlacementTest, UnspecifiedHostsAreReplacedByTheObservedPeer) {
  EXPECT_EQ(DialableAddress("0.0.0.0:7000", "10.0.0.4"), "10.0.0.4:7000");
  EXPECT_EQ(DialableAddress("[::]:7000", "fd00::4"), "[fd00::4]:7000");
  EXPECT_EQ(DialableAddress("10.0.0.5:7000", "10.0.0.4"), "10.0.0.5:7000");
  EXPECT_EQ(DialableAddress("unix:/tmp/x", "10.0.0.4"), "unix:/tmp/x");
  EXPECT_EQ(DialableAddress("0.0.0.0:7000", ""), "0.0.0.0:7000");
}

TEST(PlacementTest, PortsGoRoundRobinAndSkipPortsInUse) {
  MasterPortAllocator ports(100, 103);
  EXPECT_EQ(*ports.Next([](int) { return false; }), 100);
  EXPECT_EQ(*ports.Next([](int p) { return p == 101; }), 102);
  EXPECT_EQ(*ports.Next([](int) { return false; }), 103);
  EXPECT_EQ(*ports.Next([](int) { return false; }), 100);
  EXPECT_EQ(ports.Next([](int) { return true; }).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(PlacementTest, OptionsAreValidated) {
  CoordinatorOptions options;
  EXPECT_TRUE(ValidateCoordinatorOptions(options).ok());
  options.heartbeat_timeout = absl::Milliseconds(500);
  EXPECT_EQ(ValidateCoordinatorOptions(options).code(), absl::StatusCode::kInvalidArgument);
  options = {};
  options.master_port_min = 30000;
  options.master_port_max = 29000;
  EXPECT_EQ(ValidateCoordinatorOptions(options).code(), absl::StatusCode::kInvalidArgument);
}

// Issue #9: the owner comes from the authenticated caller, and only the owner (or an admin) sees,
// follows and cancels a job.
TEST_F(CoordinatorTest, CallersSeeOnlyTheirOwnJobsAndCannotChooseTheOwner) {
  const common::Caller alice{.uid = 1001, .gid = 1001, .user = "alice"};
  const common::Caller bob{.uid = 1002, .gid = 1002, .user = "bob"};
  const common::Caller admin{.uid = 1003, .gid = 1003, .user = "admin", .admin = true};
  common::JobSpec spec = Spec(1, 1);
  spec.user = "root";  // the client's word: ignored
  spec.uid = 0;
  spec.gid = 0;
  Recorder recorder;
  auto submitted = coordinator_->Submit(alice, spec, recorder.Sink(), recorder.Closed());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->job_id;
  auto job = coordinator_->GetJob(alice, id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->spec.user, "alice");
  EXPECT_EQ(job->spec.uid, 1001);
  EXPECT_EQ(job->spec.gid, 1001);

  EXPECT_EQ(coordinator_->GetJob(bob, id).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(coordinator_->Cancel(bob, id).status().code(), absl::StatusCode::kPermissionDenied);
  Recorder other;
  EXPECT_EQ(coordinator_->Watch(bob, id, {}, other.Sink(), other.Closed()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(coordinator_->StreamLogs(bob, id, -1, false, [](const common::LogLine&) { return true; }, other.Closed())
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(coordinator_->ListJobs(bob).empty());
  EXPECT_EQ(coordinator_->ListJobs(alice).size(), 1u);
  EXPECT_EQ(coordinator_->ListJobs(admin).size(), 1u);
  EXPECT_TRUE(coordinator_->GetJob(admin, id).ok());

  const common::Caller node{.user = "@node", .daemon = true};
  Recorder refused;
  EXPECT_EQ(coordinator_->Submit(node, Spec(1, 1), refused.Sink(), refused.Closed()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(coordinator_->Cancel(alice, id).ok());
  Drain();
}

}  // namespace
}  // namespace accel::daemon
