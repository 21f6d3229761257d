#include "common/launch/slurm.h"

#include "gtest/gtest.h"

namespace accel::common {
namespace {

using Hosts = std::vector<std::string>;

TEST(SlurmHostListTest, ExpandsRangesListsAndPadding) {
  EXPECT_EQ(*ExpandSlurmHostList("gpu[01-04,07]"), (Hosts{"gpu01", "gpu02", "gpu03", "gpu04", "gpu07"}));
  EXPECT_EQ(*ExpandSlurmHostList("login1,gpu[9-10]"), (Hosts{"login1", "gpu9", "gpu10"}));
  EXPECT_EQ(*ExpandSlurmHostList("rack[1-2]-n[1-2]"), (Hosts{"rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"}));
  EXPECT_EQ(*ExpandSlurmHostList("node007"), (Hosts{"node007"}));
  EXPECT_EQ(*ExpandSlurmHostList("a[098-101]"), (Hosts{"a098", "a099", "a100", "a101"}));
}

TEST(SlurmHostListTest, RejectsMalformedLists) {
  for (const char* bad : {"gpu[01-", "gpu01]", "gpu[4-1]", "gpu[a-b]", "gpu[]"}) {
    auto hosts = ExpandSlurmHostList(bad);
    EXPECT_FALSE(hosts.ok()) << bad;
    if (!hosts.ok()) {
      EXPECT_NE(hosts.status().message().find(bad), std::string::npos) << hosts.status();
    }
  }
}

LaunchArgs Parse(std::vector<std::string> argv) {
  const ArgParser parser = MakeLaunchParser("accelctl launch");
  auto args = ParseLaunchArgs(parser, argv);
  EXPECT_TRUE(args.ok()) << args.status();
  return *args;
}

Environment SlurmEnv(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> vars = {{"SLURM_JOB_ID", "12"}, {"SLURM_NODEID", "2"}, {"SLURM_NNODES", "4"},
                                             {"SLURM_JOB_NODELIST", "gpu[01-04]"}, {"SLURM_GPUS_ON_NODE", "8"},
                                             {"SLURM_NTASKS_PER_NODE", "1"}};
  for (auto& [key, value] : extra) vars[key] = value;
  return Environment(std::move(vars));
}

TEST(ApplySlurmEnvironmentTest, FillsWhatTheCommandLineLeftOut) {
  LaunchArgs args = Parse({"train.py"});
  auto filled = ApplySlurmEnvironment(args, SlurmEnv());
  ASSERT_TRUE(filled.ok()) << filled.status();
  EXPECT_EQ(args.Get("num_machines"), 4);
  EXPECT_EQ(args.Get("machine_rank"), 2);
  EXPECT_EQ(args.Get("main_process_ip"), "gpu01");
  EXPECT_EQ(args.Get("num_processes"), 32);  // 8 GPUs on each of 4 nodes
  EXPECT_EQ(filled->size(), 4u);
}

TEST(ApplySlurmEnvironmentTest, CommandLineWinsAndStepNodeListIsPreferred) {
  LaunchArgs args = Parse({"--num_processes", "4", "--main_process_ip", "10.0.0.9", "train.py"});
  ASSERT_TRUE(ApplySlurmEnvironment(args, SlurmEnv({{"SLURM_STEP_NODELIST", "gpu[03-04]"}})).ok());
  EXPECT_EQ(args.Get("num_processes"), 4);
  EXPECT_EQ(args.Get("main_process_ip"), "10.0.0.9");
  LaunchArgs step = Parse({"train.py"});
  ASSERT_TRUE(ApplySlurmEnvironment(step, SlurmEnv({{"SLURM_STEP_NODELIST", "gpu[03-04]"}})).ok());
  EXPECT_EQ(step.Get("main_process_ip"), "gpu03");
}

TEST(ApplySlurmEnvironmentTest, TasksPerNodeWithoutGpus) {
  LaunchArgs args = Parse({"train.py"});
  ASSERT_TRUE(ApplySlurmEnvironment(args, SlurmEnv({{"SLURM_GPUS_ON_NODE", ""}, {"SLURM_NTASKS_PER_NODE", "2(x4)"}})).ok());
  EXPECT_EQ(args.Get("num_processes"), 8);
}

TEST(ApplySlurmEnvironmentTest, NothingOutsideSlurm) {
  LaunchArgs args = Parse({"train.py"});
  auto filled = ApplySlurmEnvironment(args, Environment(std::map<std::string, std::string>{{"HOME", "/root"}}));
  ASSERT_TRUE(filled.ok());
  EXPECT_TRUE(filled->empty());
  EXPECT_TRUE(args.IsNone("num_machines"));
}

TEST(ApplySlurmEnvironmentTest, OneLauncherPerNode) {
  LaunchArgs first = Parse({"train.py"});
  EXPECT_TRUE(ApplySlurmEnvironment(first, SlurmEnv({{"SLURM_LOCALID", "0"}})).ok());
  // The second task of `srun --ntasks-per-node=2` on a node would claim the same machine rank.
  LaunchArgs second = Parse({"train.py"});
  auto refused = ApplySlurmEnvironment(second, SlurmEnv({{"SLURM_LOCALID", "1"}}));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("srun --ntasks-per-node=1"), std::string_view::npos) << refused.status();
  // An explicit machine rank is the user's decision.
  LaunchArgs explicit_rank = Parse({"--machine_rank", "5", "train.py"});
  EXPECT_TRUE(ApplySlurmEnvironment(explicit_rank, SlurmEnv({{"SLURM_LOCALID", "1"}})).ok());
}

TEST(ApplySlurmEnvironmentTest, BadNodeListIsAnError) {
  LaunchArgs args = Parse({"train.py"});
  auto filled = ApplySlurmEnvironment(args, SlurmEnv({{"SLURM_JOB_NODELIST", "gpu[01-"}}));
  ASSERT_FALSE(filled.ok());
}

}  // namespace
}  // namespace accel::common
