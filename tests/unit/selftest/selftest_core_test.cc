// selftest/launch_env.h and selftest/report.h: what the self-test concludes from the ranks' launch
// variables, and the nccl-tests arithmetic of its bandwidth table.
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "selftest/launch_env.h"
#include "selftest/report.h"

namespace accel::selftest {
namespace {

using Vars = std::map<std::string, std::string>;

std::optional<LaunchEnv> Parse(const Vars& vars, std::string* error) {
  return ParseLaunchEnv(
      [&](const std::string& name) -> std::optional<std::string> {
        auto it = vars.find(name);
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
      },
      error);
}

// The job a correct launcher gives: `machines` x `per_machine` ranks.
std::vector<LaunchEnv> Job(int machines, int per_machine) {
  std::vector<LaunchEnv> ranks;
  for (int machine = 0; machine < machines; ++machine) {
    for (int local = 0; local < per_machine; ++local) {
      LaunchEnv env;
      env.distributed = true;
      env.rank = machine * per_machine + local;
      env.world_size = machines * per_machine;
      env.local_rank = local;
      env.local_world_size = per_machine;
      env.group_rank = machine;
      env.group_world_size = machines;
      env.master_addr = "10.0.0.1";
      env.master_port = 29500;
      env.run_id = "none";
      ranks.push_back(env);
    }
  }
  return ranks;
}

std::string Joined(const std::vector<std::string>& problems) {
  std::string text;
  for (const std::string& problem : problems) text += problem + "\n";
  return text;
}

TEST(LaunchEnvTest, ReadsTorchrunVariables) {
  std::string error;
  const auto env = Parse({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                          {"GROUP_RANK", "1"}, {"GROUP_WORLD_SIZE", "2"}, {"MASTER_ADDR", "10.0.0.1"},
                          {"MASTER_PORT", "29500"}, {"ACCELERATE_USE_CPU", "True"},
                          {"TORCHELASTIC_USE_AGENT_STORE", "False"}, {"TORCHELASTIC_RUN_ID", "job"}},
                         &error);
  ASSERT_TRUE(env) << error;
  EXPECT_TRUE(env->distributed);
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->world_size, 4);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->local_world_size, 2);
  EXPECT_EQ(env->group_rank, 1);
  EXPECT_EQ(env->master_port, 29500);
  EXPECT_TRUE(env->use_cpu);
  EXPECT_FALSE(env->agent_store);
  EXPECT_EQ(env->run_id, "job");
}

TEST(LaunchEnvTest, NoRankVariablesIsOneProcess) {
  std::string error;
  const auto env = Parse({{"ACCELERATE_USE_CPU", "false"}}, &error);
  ASSERT_TRUE(env) << error;
  EXPECT_FALSE(env->distributed);
  EXPECT_EQ(env->world_size, 1);
  EXPECT_FALSE(env->use_cpu);
}

TEST(LaunchEnvTest, MalformedOrOutOfRangeValuesNameTheVariable) {
  const Vars base = {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  const std::vector<std::pair<Vars, std::string>> cases = {
      {{{"WORLD_SIZE", "two"}}, "WORLD_SIZE=two"},
      {{{"RANK", "2"}}, "RANK=2 is not below WORLD_SIZE=2"},
      {{{"LOCAL_RANK", "2"}, {"LOCAL_WORLD_SIZE", "2"}}, "LOCAL_RANK=2 is not below LOCAL_WORLD_SIZE=2"},
      {{{"MASTER_PORT", "70000"}}, "MASTER_PORT=70000"},
      {{{"MASTER_ADDR", ""}}, ""},  // set but empty is allowed here; the store reports it
  };
  for (const auto& [overrides, expected] : cases) {
    Vars vars = base;
    for (const auto& [key, value] : overrides) vars[key] = value;
    std::string error;
    const auto env = Parse(vars, &error);
    if (expected.empty()) {
      EXPECT_TRUE(env) << error;
      continue;
    }
    EXPECT_FALSE(env) << expected;
    EXPECT_NE(error.find(expected), std::string::npos) << error;
  }
  Vars missing = base;
  missing.erase("MASTER_PORT");
  std::string error;
  EXPECT_FALSE(Parse(missing, &error));
  EXPECT_NE(error.find("MASTER_PORT is not set"), std::string::npos) << error;
}

TEST(LaunchEnvTest, SerializedRecordRoundTrips) {
  const LaunchEnv original = Job(2, 2)[3];
  const auto parsed = ParseSerializedLaunchEnv(SerializeLaunchEnv(original));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(SerializeLaunchEnv(*parsed), SerializeLaunchEnv(original));
  EXPECT_FALSE(ParseSerializedLaunchEnv("RANK=x\n"));
}

TEST(ConsistencyTest, CorrectJobsPass) {
  for (auto [machines, per_machine] : {std::pair{1, 1}, {1, 2}, {1, 4}, {2, 2}, {3, 8}}) {
    const std::vector<LaunchEnv> job = Job(machines, per_machine);
    for (const LaunchEnv& self : job) {
      EXPECT_EQ(Joined(CheckConsistency(job, self)), "") << machines << "x" << per_machine << " rank " << self.rank;
    }
  }
}

TEST(ConsistencyTest, OneRankWithAnotherWorldSizeIsNamed) {
  std::vector<LaunchEnv> job = Job(1, 2);
  job[1].world_size = 3;
  const std::string from_rank0 = Joined(CheckConsistency(job, job[0]));
  EXPECT_NE(from_rank0.find("rank 1 has WORLD_SIZE=3, rank 0 has WORLD_SIZE=2"), std::string::npos) << from_rank0;
  const std::string from_rank1 = Joined(CheckConsistency(job, job[1]));
  EXPECT_NE(from_rank1.find("rank 0 has WORLD_SIZE=2, rank 1 has WORLD_SIZE=3"), std::string::npos) << from_rank1;
  EXPECT_NE(from_rank1.find("2 processes reached the store, rank 1 has WORLD_SIZE=3"), std::string::npos) << from_rank1;
}

TEST(ConsistencyTest, SharedVariablesMustAgree) {
  const std::vector<std::pair<void (*)(LaunchEnv&), std::string>> cases = {
      {[](LaunchEnv& e) { e.master_addr = "10.0.0.2"; }, "rank 2 has MASTER_ADDR=10.0.0.2, rank 0 has MASTER_ADDR=10.0.0.1"},
      {[](LaunchEnv& e) { e.master_port = 1234; }, "rank 2 has MASTER_PORT=1234"},
      {[](LaunchEnv& e) { e.group_world_size = 3; }, "rank 2 has GROUP_WORLD_SIZE=3"},
      {[](LaunchEnv& e) { e.run_id = "other"; }, "rank 2 has TORCHELASTIC_RUN_ID=other"},
      {[](LaunchEnv& e) { e.use_cpu = true; }, "rank 2 has ACCELERATE_USE_CPU=True, rank 0 has ACCELERATE_USE_CPU=False"},
  };
  for (const auto& [change, expected] : cases) {
    std::vector<LaunchEnv> job = Job(2, 2);
    change(job[2]);
    const std::string problems = Joined(CheckConsistency(job, job[0]));
    EXPECT_NE(problems.find(expected), std::string::npos) << problems;
  }
}

TEST(ConsistencyTest, RankLayoutErrors) {
  {
    std::vector<LaunchEnv> job = Job(1, 3);
    job[2].rank = 1;  // two rank 1s, no rank 2
    const std::string problems = Joined(CheckConsistency(job, job[0]));
    EXPECT_NE(problems.find("2 processes have RANK=1"), std::string::npos) << problems;
    EXPECT_NE(problems.find("no process has RANK=2"), std::string::npos) << problems;
  }
  {
    std::vector<LaunchEnv> job = Job(1, 2);
    job[1].local_rank = 0;  // both claim GPU 0
    const std::string problems = Joined(CheckConsistency(job, job[0]));
    EXPECT_NE(problems.find("rank 1 on GROUP_RANK=0 repeats LOCAL_RANK=0"), std::string::npos) << problems;
  }
  {
    std::vector<LaunchEnv> job = Job(2, 2);
    job[3].local_world_size = 4;
    const std::string problems = Joined(CheckConsistency(job, job[0]));
    EXPECT_NE(problems.find("rank 3 on GROUP_RANK=1 has LOCAL_WORLD_SIZE=4, rank 2 has 2"), std::string::npos)
        << problems;
  }
  {
    std::vector<LaunchEnv> job = Job(2, 2);
    std::swap(job[1].rank, job[2].rank);  // machine 0 got ranks 0 and 2
    const std::string problems = Joined(CheckConsistency(job, job[0]));
    EXPECT_NE(problems.find("whose ranks start at"), std::string::npos) << problems;
  }
}

TEST(ReportTest, BusBandwidthFactorsAreNcclTests) {
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(Collective::kAllReduce, 2), 1.0);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(Collective::kAllReduce, 4), 1.5);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(Collective::kAllGather, 4), 0.75);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(Collective::kReduceScatter, 8), 0.875);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(Collective::kBroadcast, 8), 1.0);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(Collective::kAllReduce, 1), 0.0);
}

TEST(ReportTest, SizesAndCounts) {
  EXPECT_EQ(SizeSweep(1024, 1 << 20, 4), (std::vector<int64_t>{1024, 4096, 16384, 65536, 262144, 1048576}));
  EXPECT_EQ(SizeSweep(8, 8, 2), (std::vector<int64_t>{8}));
  EXPECT_EQ(RoundCount(1024, DType::kFloat32, 3), 255);  // a multiple of the ranks
  EXPECT_EQ(RoundCount(4, DType::kFloat64, 4), 4);        // at least one element per rank
  EXPECT_EQ(ParseByteSize("64K"), 65536);
  EXPECT_EQ(ParseByteSize("1G"), int64_t{1} << 30);
  EXPECT_EQ(ParseByteSize("100"), 100);
  EXPECT_EQ(ParseByteSize("1.5M"), -1);
  EXPECT_EQ(ParseByteSize(""), -1);
  // Sums stay exact integers: at most 13 * n(n+1)/2.
  EXPECT_EQ(InputValue(0, 0), 1);
  EXPECT_EQ(InputValue(12, 3), 52);
  EXPECT_EQ(InputValue(13, 1), 2);
}

TEST(ReportTest, RowShowsAlgorithmAndBusBandwidth) {
  const BandwidthRow row{.collective = Collective::kAllReduce, .bytes = 1'000'000'000, .count = 250'000'000,
                         .dtype = DType::kFloat32, .seconds = 0.01, .wrong = 0};
  const std::string line = FormatBandwidthRow(row, 4);
  EXPECT_NE(line.find("all_reduce"), std::string::npos) << line;
  EXPECT_NE(line.find(" 100.00 "), std::string::npos) << line;  // algbw: 1 GB in 10 ms
  EXPECT_NE(line.find(" 150.00 "), std::string::npos) << line;  // busbw: x 2(n-1)/n = 1.5
  EXPECT_NE(line.find("10000.0"), std::string::npos) << line;   // microseconds
  const std::string header = BandwidthTableHeader();
  for (const char* column : {"collective", "size(B)", "count", "type", "time(us)", "algbw(GB/s)", "busbw(GB/s)", "#wrong"}) {
    EXPECT_NE(header.find(column), std::string::npos) << column;
  }
  BandwidthRow emulated = row;
  emulated.collective = Collective::kReduceScatter;
  emulated.note = "emulated";
  EXPECT_NE(FormatBandwidthRow(emulated, 4).find("reduce_scatter*"), std::string::npos);
}

}  // namespace
}  // namespace accel::selftest
