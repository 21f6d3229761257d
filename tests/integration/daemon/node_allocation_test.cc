// NodeAgent::EndAllocation with real workers: the groups of the allocation (started while it was
// current, or submitted from inside it) stop; other groups keep running.
#include <unistd.h>

#include <csignal>

#include "agent/signal_watcher.h"
#include "daemon/node/node_agent.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::daemon {
namespace {

using std::chrono::seconds;
using testing::ReadFile;
using testing::WaitFor;

class NodeAllocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(agent::BlockSupervisorSignals().ok());
    agent_ = std::make_unique<NodeAgent>(NodeAgentOptions{.node_name = "n1", .log_root = (dir_.path() / "logs").string()});
  }
  // Two workers that sleep (as the worker's child) until stopped; pids in OUT/pid.<rank>.0.
  common::JobSpec SleepingSpec(const std::string& name, std::map<std::string, std::string> env = {}) const {
    const std::filesystem::path out = dir_.path() / name;
    std::filesystem::create_directories(out);
    common::JobSpec spec;
    spec.launch_args = {"--cpu", "--num_processes", "2", "--no_python",
                        testing::SourcePath("tests/integration/launch/worker.sh"), out.string(), "none", "none", "0", "60"};
    env["HF_HOME"] = (dir_.path() / "hf").string();
    spec.env = testing::EnvWith(env);
    spec.working_dir = dir_.path().string();
    spec.uid = ::geteuid();
    spec.gid = ::getegid();
    return spec;
  }
  common::Assignment Assign(const std::string& job, int port) const {
    return common::Assignment{.job_id = job, .attempt = 0, .machine_rank = 0, .num_machines = 1,
                              .master_addr = "127.0.0.1", .master_port = port, .base_rank = 0, .world_size = 2};
  }
  std::vector<pid_t> Pids(const std::string& name) const {
    std::vector<pid_t> pids;
    for (const char* kind : {"pid", "child"}) {
      for (int rank = 0; rank < 2; ++rank) {
        const auto path = dir_.path() / name / (std::string(kind) + "." + std::to_string(rank) + ".0");
        if (std::filesystem::exists(path)) pids.push_back(std::stoi(ReadFile(path)));
      }
    }
    return pids;
  }
  bool AllStarted(const std::string& name) const { return Pids(name).size() == 4; }

  testing::TempDir dir_;
  std::unique_ptr<NodeAgent> agent_;
};

TEST_F(NodeAllocationTest, EndingTheAllocationStopsItsGroupsAndOnlyThose) {
  // Before the allocation: not part of it.
  ASSERT_TRUE(agent_->StartGroup(SleepingSpec("before"), Assign("before", 29611)).ok());
  ASSERT_TRUE(agent_->SetAllocation(common::Allocation{.job_id = "77", .user = "alice"}).ok());
  // Started while allocation 77 is current.
  ASSERT_TRUE(agent_->StartGroup(SleepingSpec("during"), Assign("during", 29613)).ok());
  ASSERT_TRUE(WaitFor([&] { return AllStarted("before") && AllStarted("during"); }, seconds(20)));
  ASSERT_TRUE(agent_->EndAllocation("77", absl::Seconds(2)).was_current);
  // Submitted from inside allocation 78 (SLURM_JOB_ID in the submitter's environment), another
  // allocation current or not.
  ASSERT_TRUE(agent_->StartGroup(SleepingSpec("inside", {{"SLURM_JOB_ID", "78"}}), Assign("inside", 29615)).ok());
  ASSERT_TRUE(WaitFor([&] { return AllStarted("inside"); }, seconds(20)));

  for (pid_t pid : Pids("during")) EXPECT_FALSE(testing::ProcessAlive(pid)) << pid;
  for (pid_t pid : Pids("before")) EXPECT_TRUE(testing::ProcessAlive(pid)) << pid;
  EXPECT_EQ(agent_->RunningGroups().count("during"), 0u);

  const common::AllocationEnd end = agent_->EndAllocation("78", absl::Seconds(2));
  EXPECT_FALSE(end.was_current);
  EXPECT_EQ(end.stopped_jobs, (std::vector<std::string>{"inside"}));
  for (pid_t pid : Pids("inside")) EXPECT_FALSE(testing::ProcessAlive(pid)) << pid;
  for (pid_t pid : Pids("before")) EXPECT_TRUE(testing::ProcessAlive(pid)) << pid;
  EXPECT_EQ(agent_->RunningGroups(), (std::map<std::string, int>{{"before", 0}}));
}

}  // namespace
}  // namespace accel::daemon
