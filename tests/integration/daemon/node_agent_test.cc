// NodeAgent with real worker processes: one attempt planned from a job's launch line, its events,
// its log files, StopGroup.
#include "daemon/node/node_agent.h"

#include <unistd.h>
#include <csignal>

#include "agent/signal_watcher.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::daemon {
namespace {

using std::chrono::seconds;
using testing::ReadFile;
using testing::WaitFor;

class NodeAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(agent::BlockSupervisorSignals().ok());
    std::filesystem::create_directories(out());
    agent_ = std::make_unique<NodeAgent>(NodeAgentOptions{.node_name = "node-a", .log_root = (dir_.path() / "logs").string()});
    agent_->Watch("j1", [this](const common::GroupEvent& event) {
      absl::MutexLock lock(&mu_);
      events_.push_back(event);
    });
  }
  std::filesystem::path out() const { return dir_.path() / "out"; }
  common::JobSpec Spec(std::vector<std::string> worker_args) const {
    common::JobSpec spec;
    spec.launch_args = {"--cpu", "--num_processes", "2", "--no_python",
                        testing::SourcePath("tests/integration/launch/worker.sh"), out().string()};
    spec.launch_args.insert(spec.launch_args.end(), worker_args.begin(), worker_args.end());
    spec.env = testing::EnvWith({{"HF_HOME", (dir_.path() / "hf").string()}, {"OMP_NUM_THREADS", "1"}});
    spec.working_dir = dir_.path().string();
    spec.uid = ::geteuid();  // the owner, as the coordinator sets it from the authenticated submitter
    spec.gid = ::getegid();
    return spec;
  }
  common::Assignment Assignment(int attempt) const {
    return common::Assignment{.job_id = "j1", .attempt = attempt, .machine_rank = 0, .num_machines = 1,
                              .master_addr = "127.0.0.1", .master_port = 29533, .base_rank = 0, .world_size = 2};
  }
  std::optional<common::GroupEvent> LastEndEvent() {
    absl::MutexLock lock(&mu_);
    for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
      if (it->kind != common::GroupEvent::Kind::kLog && it->kind != common::GroupEvent::Kind::kStarted) return *it;
    }
    return std::nullopt;
  }
  std::vector<common::LogLine> Logs() {
    absl::MutexLock lock(&mu_);
    std::vector<common::LogLine> lines;
    for (const auto& event : events_) {
      if (event.log) lines.push_back(*event.log);
    }
    return lines;
  }

  testing::TempDir dir_;
  std::unique_ptr<NodeAgent> agent_;
  absl::Mutex mu_;
  std::vector<common::GroupEvent> events_;
};

TEST_F(NodeAgentTest, RunsTheAttemptItWasGivenAndReportsLinesAndSuccess) {
  auto workers = agent_->StartGroup(Spec({}), Assignment(2));
  ASSERT_TRUE(workers.ok()) << workers.status();
  EXPECT_EQ(*workers, 2);
  ASSERT_TRUE(WaitFor([&] { return LastEndEvent().has_value(); }, seconds(20)));
  EXPECT_EQ(LastEndEvent()->kind, common::GroupEvent::Kind::kSucceeded);
  const std::string env = ReadFile(out() / "env.1.2");
  EXPECT_NE(env.find("TORCHELASTIC_RESTART_COUNT=2\n"), std::string::npos) << env;
  EXPECT_NE(env.find("MASTER_PORT=29533\n"), std::string::npos);
  EXPECT_NE(env.find("TORCHELASTIC_ERROR_FILE=" + (dir_.path() / "logs/j1/attempt_2/1/error.json").string()),
            std::string::npos)
      << env;
  const auto lines = Logs();
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) {
    EXPECT_EQ(line.text, "worker " + std::to_string(line.rank) + " attempt 2 args: " + out().string());
    EXPECT_EQ(line.node, "node-a");
  }
  EXPECT_TRUE(agent_->RunningGroups().empty());
}

TEST_F(NodeAgentTest, FailureCarriesTheRootCause) {
  ASSERT_TRUE(agent_->StartGroup(Spec({"1", "0", "6"}), Assignment(0)).ok());
  ASSERT_TRUE(WaitFor([&] { return LastEndEvent().has_value(); }, seconds(20)));
  const common::GroupEvent end = *LastEndEvent();
  EXPECT_EQ(end.kind, common::GroupEvent::Kind::kFailed);
  ASSERT_FALSE(end.exits.empty());
  EXPECT_EQ(end.exits.front().rank, 1);
  EXPECT_EQ(end.exits.front().exit_code, 6);
}

// A coordinator that (re)connects after the job ended must learn how it ended, not guess.
TEST_F(NodeAgentTest, ALateWatcherFirstLearnsTheJobsLatestState) {
  ASSERT_TRUE(agent_->StartGroup(Spec({"0", "1", "5"}), Assignment(1)).ok());
  ASSERT_TRUE(WaitFor([&] { return LastEndEvent().has_value(); }, seconds(20)));
  std::vector<common::GroupEvent> late;
  const int watch = agent_->Watch("j1", [&late](const common::GroupEvent& event) { late.push_back(event); });
  ASSERT_EQ(late.size(), 1u);  // delivered from inside Watch()
  EXPECT_EQ(late[0].kind, common::GroupEvent::Kind::kFailed);
  EXPECT_EQ(late[0].attempt, 1);
  ASSERT_FALSE(late[0].exits.empty());
  EXPECT_EQ(late[0].exits.front().exit_code, 5);
  agent_->Unwatch(watch);
  // A job this node never ran has nothing to replay.
  std::vector<common::GroupEvent> other;
  agent_->Unwatch(agent_->Watch("j2", [&other](const common::GroupEvent& event) { other.push_back(event); }));
  EXPECT_TRUE(other.empty());
}

TEST_F(NodeAgentTest, StopGroupEndsTheWorkersBeforeReturning) {
  ASSERT_TRUE(agent_->StartGroup(Spec({"none", "none", "0", "60", "exec"}), Assignment(0)).ok());
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(out() / "pid.0.0") && std::filesystem::exists(out() / "pid.1.0"); },
                      seconds(20)));
  EXPECT_EQ(agent_->RunningGroups().at("j1"), 0);
  auto again = agent_->StartGroup(Spec({}), Assignment(1));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  const pid_t worker0 = std::stoi(ReadFile(out() / "pid.0.0"));
  ASSERT_TRUE(agent_->StopGroup("j1", SIGTERM).ok());
  EXPECT_FALSE(testing::ProcessAlive(worker0));
  ASSERT_TRUE(WaitFor([&] { return LastEndEvent().has_value(); }, seconds(5)));
  EXPECT_EQ(LastEndEvent()->kind, common::GroupEvent::Kind::kStopped);
  EXPECT_TRUE(agent_->RunningGroups().empty());
  EXPECT_TRUE(agent_->StopGroup("j1", SIGTERM).ok());  // nothing left: still OK
}

TEST_F(NodeAgentTest, ABadLaunchLineIsRefusedWithThePlannersMessage) {
  common::JobSpec spec = Spec({});
  spec.launch_args = {"--cpu", "--multi_gpu", "x.py"};
  auto refused = agent_->StartGroup(spec, Assignment(0));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("only use one of"), std::string::npos);
  spec.launch_args = {"x.py"};
  spec.config_text = "distributed_type: [\n";
  spec.config_name = "default_config.yaml";
  refused = agent_->StartGroup(spec, Assignment(0));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("default_config.yaml"), std::string::npos);
  // A config text whose alias sits inside its own anchor used to recurse until the agent crashed.
  spec.config_text = "compute_environment: LOCAL_MACHINE\nextra: &x\n  again: *x\n";
  refused = agent_->StartGroup(spec, Assignment(0));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("levels deep"), std::string::npos) << refused.status();
}

}  // namespace
}  // namespace accel::daemon
