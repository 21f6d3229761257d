// Several `accelctl launch` processes on loopback acting as machines: static rendezvous, consistent
// ranks, restarts on every machine at once, a missing machine named, a dead launcher noticed at once.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <set>

#include "gtest/gtest.h"
#include "tests/support/ports.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::testing {
namespace {

using Env = std::map<std::string, std::string>;
using std::chrono::seconds;

class MultiMachineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreeTcpPortPair();
    ASSERT_NE(port_, 0);
    std::filesystem::create_directories(out());
  }
  std::filesystem::path out() const { return dir_.path() / "out"; }
  Env BaseEnv() const {
    return EnvWith({{"HF_HOME", (dir_.path() / "hf").string()}, {"OMP_NUM_THREADS", "1"},
                    {"ACCEL_PROC_NVIDIA_GPUS", (dir_.path() / "none").string()},
                    {"ACCEL_NVML_LIBRARY", "/nonexistent"}});
  }
  // One machine's launch line: `per_machine` CPU workers each.
  std::vector<std::string> Machine(int machines, int rank, int per_machine, std::vector<std::string> flags,
                                   std::vector<std::string> worker_args) const {
    std::vector<std::string> argv = {BinaryPath("accelctl"), "launch", "--cpu", "--num_processes",
                                     std::to_string(machines * per_machine), "--num_machines", std::to_string(machines),
                                     "--machine_rank", std::to_string(rank), "--main_process_ip", "127.0.0.1",
                                     "--main_process_port", std::to_string(port_), "--no_python"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(SourcePath("tests/integration/launch/worker.sh"));
    argv.push_back(out().string());
    argv.insert(argv.end(), worker_args.begin(), worker_args.end());
    return argv;
  }
  void ExpectConsistentRanks(int machines, int per_machine, int attempt) const {
    std::set<std::string> ranks;
    for (int rank = 0; rank < machines * per_machine; ++rank) {
      const auto path = out() / ("env." + std::to_string(rank) + "." + std::to_string(attempt));
      ASSERT_TRUE(std::filesystem::exists(path)) << path;
      Env env = ReadEnvFile(path);
      EXPECT_EQ(env.at("WORLD_SIZE"), std::to_string(machines * per_machine));
      EXPECT_EQ(env.at("GROUP_WORLD_SIZE"), std::to_string(machines));
      EXPECT_EQ(env.at("GROUP_RANK"), std::to_string(rank / per_machine));
      EXPECT_EQ(env.at("LOCAL_RANK"), std::to_string(rank % per_machine));
      EXPECT_EQ(env.at("MASTER_ADDR"), "127.0.0.1");
      EXPECT_EQ(env.at("MASTER_PORT"), std::to_string(port_));
      ranks.insert(env.at("RANK"));
    }
    EXPECT_EQ(static_cast<int>(ranks.size()), machines * per_machine);
  }

  TempDir dir_;
  int port_ = 0;
};

class MachinesTest : public MultiMachineTest, public ::testing::WithParamInterface<int> {};

TEST_P(MachinesTest, AllMachinesStartWithConsistentRanks) {
  const int machines = GetParam();
  std::vector<std::unique_ptr<Subprocess>> launchers;
  // Start the highest rank first: the others wait for machine 0 to come up.
  for (int rank = machines - 1; rank >= 0; --rank) {
    launchers.push_back(std::make_unique<Subprocess>(Machine(machines, rank, 2, {}, {}), BaseEnv()));
  }
  for (auto& launcher : launchers) {
    const ProcessResult result = launcher->Wait(seconds(60));
    EXPECT_EQ(result.exit_code, 0) << result.err;
  }
  ExpectConsistentRanks(machines, 2, 0);
}

INSTANTIATE_TEST_SUITE_P(TwoAndFour, MachinesTest, ::testing::Values(2, 4));

TEST_F(MultiMachineTest, AFailureOnOneMachineRestartsEveryMachine) {
  std::vector<std::unique_ptr<Subprocess>> launchers;
  for (int rank = 0; rank < 2; ++rank) {
    // Global rank 3 (machine 1) fails on attempt 0; everyone must run attempt 1.
    launchers.push_back(std::make_unique<Subprocess>(Machine(2, rank, 2, {"--max_restarts", "1"}, {"3", "0", "5", "2"}),
                                                     BaseEnv()));
  }
  for (auto& launcher : launchers) {
    const ProcessResult result = launcher->Wait(seconds(60));
    EXPECT_EQ(result.exit_code, 0) << result.err;
  }
  ExpectConsistentRanks(2, 2, 1);
}

TEST_F(MultiMachineTest, FailureWithoutRestartsStopsEveryMachineWithTheWorkersExitCode) {
  std::vector<std::unique_ptr<Subprocess>> launchers;
  for (int rank = 0; rank < 2; ++rank) {
    launchers.push_back(std::make_unique<Subprocess>(Machine(2, rank, 1, {}, {"1", "0", "9", "30"}), BaseEnv()));
  }
  const ProcessResult machine0 = launchers[0]->Wait(seconds(30));
  const ProcessResult machine1 = launchers[1]->Wait(seconds(30));
  EXPECT_EQ(machine1.exit_code, 9) << machine1.err;
  EXPECT_EQ(machine0.exit_code, 9) << machine0.err;  // told at once, not after the sleep
  EXPECT_NE(machine0.err.find("machine 1"), std::string::npos) << machine0.err;
}

TEST_F(MultiMachineTest, MissingMachineTimesOutNamingIt) {
  const ProcessResult result =
      RunProcess(Machine(3, 0, 1, {"--rdzv_conf", "join_timeout=1"}, {}), BaseEnv(), seconds(30));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("machine rank(s) 1, 2 of 3 never joined"), std::string::npos) << result.err;
}

TEST_F(MultiMachineTest, KilledLauncherIsNoticedAtOnceByTheOthers) {
  auto machine0 = std::make_unique<Subprocess>(Machine(2, 0, 1, {}, {"none", "none", "0", "60", "exec"}), BaseEnv());
  auto machine1 = std::make_unique<Subprocess>(Machine(2, 1, 1, {}, {"none", "none", "0", "60", "exec"}), BaseEnv());
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(out() / "pid.0.0") && std::filesystem::exists(out() / "pid.1.0"); },
                      seconds(30)))
      << machine0->Err() << machine1->Err();
  const pid_t worker0 = std::stoi(ReadFile(out() / "pid.0.0"));
  const pid_t worker1 = std::stoi(ReadFile(out() / "pid.1.0"));
  machine1->Signal(SIGKILL);
  const ProcessResult result = machine0->Wait(seconds(40));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_FALSE(result.timed_out);
  EXPECT_NE(result.err.find("lost machine 1"), std::string::npos) << result.err;
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(worker0) && !ProcessAlive(worker1); }, seconds(5)));
}

TEST_F(MultiMachineTest, SlurmTwoNodeStepOnLoopback) {
  std::vector<std::unique_ptr<Subprocess>> launchers;
  for (int node = 0; node < 2; ++node) {
    Env env = BaseEnv();
    env["SLURM_JOB_ID"] = "77";
    env["SLURM_NODEID"] = std::to_string(node);
    env["SLURM_NNODES"] = "2";
    env["SLURM_JOB_NODELIST"] = "localhost,otherhost";
    env["SLURM_NTASKS_PER_NODE"] = "2";
    launchers.push_back(std::make_unique<Subprocess>(
        std::vector<std::string>{BinaryPath("accelctl"), "launch", "--cpu", "--main_process_port",
                                 std::to_string(port_), "--no_python",
                                 SourcePath("tests/integration/launch/worker.sh"), out().string()},
        env));
  }
  for (auto& launcher : launchers) {
    const ProcessResult result = launcher->Wait(seconds(60));
    EXPECT_EQ(result.exit_code, 0) << result.err;
  }
  for (int rank = 0; rank < 4; ++rank) {
    Env env = ReadEnvFile(out() / ("env." + std::to_string(rank) + ".0"));
    EXPECT_EQ(env["WORLD_SIZE"], "4");
    EXPECT_EQ(env["MASTER_ADDR"], "localhost");
    EXPECT_EQ(env["GROUP_RANK"], std::to_string(rank / 2));
  }
}

}  // namespace
}  // namespace accel::testing
