// A small cluster on loopback: a coordinator process and three agent processes (each its own ports
// and folders), with accelctl as the client. End to end: a 2-node job, a killed worker (the job
// restarts on every node), a killed agent (node lost: the job restarts on the nodes left, and that
// node's workers do not outlive it), a killed and restarted coordinator (jobs still listed, the
// running job still followed, its workers untouched).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <set>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/ports.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::testing {
namespace {

using Env = std::map<std::string, std::string>;
using std::chrono::seconds;

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    coordinator_address_ = "127.0.0.1:" + std::to_string(FreeTcpPort());
    std::filesystem::create_directories(out());
    StartCoordinator();
    for (int i = 0; i < 3; ++i) StartAgent(i);
    ASSERT_TRUE(WaitFor([&] { return AliveNodes() == 3; }, seconds(20))) << Accelctl({"nodes"}).out;
  }
  void TearDown() override {
    for (auto& agent : agents_) {
      if (agent) agent->Signal(SIGTERM);
    }
    for (auto& agent : agents_) {
      if (agent) agent->Wait(seconds(10));
    }
    if (coordinator_) {
      coordinator_->Signal(SIGTERM);
      coordinator_->Wait(seconds(10));
    }
  }

  std::filesystem::path out() const { return dir_.path() / "out"; }
  Env BaseEnv() const {
    return EnvWith({{"HF_HOME", (dir_.path() / "hf").string()}, {"OMP_NUM_THREADS", "1"},
                    {"ACCEL_PROC_NVIDIA_GPUS", (dir_.path() / "none").string()}, {"ACCEL_NVML_LIBRARY", "/nonexistent"},
                    {"ACCEL_CLUSTER", coordinator_address_}});
  }
  void StartCoordinator() {
    coordinator_ = std::make_unique<Subprocess>(
        std::vector<std::string>{BinaryPath("acceld"), "--role", "coordinator", "--listen", coordinator_address_,
                                 "--state_dir", (dir_.path() / "state").string(), "--heartbeat_interval", "0.2",
                                 "--heartbeat_timeout", "2", "--last_call", "0.5", "--join_timeout", "3"},
        BaseEnv());
  }
  void StartAgent(int index) {
    if (agents_.size() <= static_cast<size_t>(index)) agents_.resize(static_cast<size_t>(index) + 1);
    const std::string name = "node" + std::to_string(index);
    agents_[static_cast<size_t>(index)] = std::make_unique<Subprocess>(
        std::vector<std::string>{BinaryPath("acceld"), "--role", "agent", "--node_name", name, "--listen",
                                 "127.0.0.1:" + std::to_string(FreeTcpPort()), "--coordinator", coordinator_address_,
                                 "--log_root", (dir_.path() / ("logs-" + name)).string(), "--heartbeat_interval",
                                 "0.2", "--heartbeat_timeout", "2"},
        BaseEnv());
  }
  ProcessResult Accelctl(std::vector<std::string> args, seconds timeout = seconds(60)) const {
    args.insert(args.begin(), BinaryPath("accelctl"));
    return RunProcess(args, BaseEnv(), timeout);
  }
  int AliveNodes() const {
    const ProcessResult result = Accelctl({"nodes", "--json"}, seconds(5));
    if (result.exit_code != 0) return -1;
    int alive = 0;
    for (const auto& node : nlohmann::json::parse(result.out, nullptr, false)) alive += node.value("alive", false) ? 1 : 0;
    return alive;
  }
  std::vector<std::string> LaunchLine(std::vector<std::string> flags, std::vector<std::string> worker_args) const {
    std::vector<std::string> argv = {BinaryPath("accelctl"), "launch"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), {"--no_python", SourcePath("tests/integration/launch/worker.sh"), out().string()});
    argv.insert(argv.end(), worker_args.begin(), worker_args.end());
    return argv;
  }
  nlohmann::json JobStatus(const std::string& job) const {
    const ProcessResult result = Accelctl({"status", job, "--json"}, seconds(10));
    return nlohmann::json::parse(result.out, nullptr, false);
  }

  TempDir dir_;
  std::string coordinator_address_;
  std::unique_ptr<Subprocess> coordinator_;
  std::vector<std::unique_ptr<Subprocess>> agents_;
};

TEST_F(ClusterTest, TwoNodeJobEndToEnd) {
  const ProcessResult result =
      RunProcess(LaunchLine({"--cpu", "--num_processes", "4", "--num_machines", "2"}, {}), BaseEnv(), seconds(60));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::set<std::string> ranks;
  std::set<std::string> groups;
  for (int rank = 0; rank < 4; ++rank) {
    auto env = ReadEnvFile(out() / ("env." + std::to_string(rank) + ".0"));
    EXPECT_EQ(env["WORLD_SIZE"], "4");
    EXPECT_EQ(env["LOCAL_WORLD_SIZE"], "2");
    EXPECT_EQ(env["GROUP_WORLD_SIZE"], "2");
    EXPECT_EQ(env["MASTER_ADDR"], "127.0.0.1");
    EXPECT_EQ(env["ACCELERATE_USE_CPU"], "True");
    ranks.insert(env["RANK"]);
    groups.insert(env["GROUP_RANK"]);
  }
  EXPECT_EQ(ranks.size(), 4u);
  EXPECT_EQ(groups, (std::set<std::string>{"0", "1"}));
  // Log lines come back prefixed with their rank, and the job is listed as succeeded.
  EXPECT_NE(result.out.find("[rank3]:worker 3 attempt 0"), std::string::npos) << result.out;
  const ProcessResult status = Accelctl({"status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto jobs = nlohmann::json::parse(status.out);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["state"], "SUCCEEDED");
  const ProcessResult logs = Accelctl({"logs", jobs[0]["id"], "--rank", "2"});
  EXPECT_NE(logs.out.find("[rank2]:worker 2 attempt 0"), std::string::npos) << logs.out << logs.err;
  EXPECT_EQ(logs.out.find("[rank1]"), std::string::npos);
  // The same lines for scripts: one JSON object each, with the world size recorded.
  const ProcessResult json_logs = Accelctl({"logs", jobs[0]["id"], "--rank", "2", "--json"});
  ASSERT_EQ(json_logs.exit_code, 0) << json_logs.err;
  const auto line = nlohmann::json::parse(json_logs.out.substr(0, json_logs.out.find('\n')));
  EXPECT_EQ(line["rank"], 2);
  EXPECT_EQ(line["stream"], "stdout");
  EXPECT_EQ(line["text"], "worker 2 attempt 0 args: " + out().string());
  EXPECT_EQ(jobs[0]["world_size"], 4);
}

// The coordinator comes from the config file's `cluster` key when neither --cluster nor
// $ACCEL_CLUSTER names one; --nodes picks the nodes in machine-rank order; --rank filters the output.
TEST_F(ClusterTest, ConfigFileClusterNodesAndRankFilter) {
  const std::filesystem::path config = dir_.path() / "cluster.yaml";
  std::ofstream(config) << "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_CPU\nuse_cpu: true\n"
                           "num_processes: 4\nnum_machines: 2\ncluster: "
                        << coordinator_address_ << "\n";
  Env env = BaseEnv();
  env.erase("ACCEL_CLUSTER");
  const ProcessResult result =
      RunProcess(LaunchLine({"--config_file", config.string(), "--nodes", "node2,node0", "--rank", "1"}, {}), env,
                 seconds(60));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("[rank1]:worker 1 attempt 0"), std::string::npos) << result.out;
  for (const char* other : {"[rank0]", "[rank2]", "[rank3]"}) {
    EXPECT_EQ(result.out.find(other), std::string::npos) << other << " in\n" << result.out;
  }
  const ProcessResult status = Accelctl({"status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto jobs = nlohmann::json::parse(status.out);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["nodes"], nlohmann::json::array({"node2", "node0"}));
  // Machine rank 0 (ranks 0-1) ran on node2, the first node named.
  EXPECT_EQ(ReadEnvFile(out() / "env.0.0")["GROUP_RANK"], "0");
  EXPECT_NE(ReadEnvFile(out() / "env.0.0")["TORCHELASTIC_ERROR_FILE"].find("logs-node2"), std::string::npos);
  EXPECT_NE(ReadEnvFile(out() / "env.3.0")["TORCHELASTIC_ERROR_FILE"].find("logs-node0"), std::string::npos);
}

TEST_F(ClusterTest, KilledWorkerRestartsTheJobOnEveryNode) {
  Subprocess launch(LaunchLine({"--cpu", "--num_processes", "4", "--num_machines", "2", "--max_restarts", "1"},
                               {"none", "none", "0", "60", "exec"}),
                    BaseEnv());
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(out() / "pid.3.0"); }, seconds(30))) << launch.Err();
  ::kill(std::stoi(ReadFile(out() / "pid.3.0")), SIGKILL);
  // Attempt 1 starts everywhere: every rank records TORCHELASTIC_RESTART_COUNT=1.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (int rank = 0; rank < 4; ++rank) {
          if (!std::filesystem::exists(out() / ("pid." + std::to_string(rank) + ".1"))) return false;
        }
        return true;
      },
      seconds(30)))
      << launch.Err();
  // Attempt 0's workers are all gone (a rank may have been stopped before it recorded its pid).
  for (int rank = 0; rank < 3; ++rank) {
    const auto path = out() / ("pid." + std::to_string(rank) + ".0");
    if (std::filesystem::exists(path)) {
      EXPECT_FALSE(ProcessAlive(std::stoi(ReadFile(path)))) << "rank " << rank;
    }
  }
  launch.Signal(SIGINT);  // Ctrl-C cancels the job on every node
  const ProcessResult result = launch.Wait(seconds(30));
  EXPECT_NE(result.exit_code, 0);
  for (int rank = 0; rank < 4; ++rank) {
    const pid_t worker = std::stoi(ReadFile(out() / ("pid." + std::to_string(rank) + ".1")));
    EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(worker); }, seconds(10))) << "rank " << rank;
  }
}

TEST_F(ClusterTest, KilledAgentLosesItsNodeAndItsWorkers) {
  Subprocess launch(LaunchLine({"--cpu", "--num_processes", "2", "--num_machines", "1:2", "--max_restarts", "1"},
                               {"none", "none", "0", "60", "exec"}),
                    BaseEnv());
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(out() / "pid.0.0") && std::filesystem::exists(out() / "pid.1.0"); },
                      seconds(30)))
      << launch.Err();
  // Which agent runs rank 1? Its env names the node's log root.
  const auto env = ReadEnvFile(out() / "env.1.0");
  const std::string error_file = env.at("TORCHELASTIC_ERROR_FILE");
  int victim = -1;
  for (int i = 0; i < 3; ++i) {
    if (error_file.find("logs-node" + std::to_string(i) + "/") != std::string::npos) victim = i;
  }
  ASSERT_NE(victim, -1) << error_file;
  const pid_t orphan_candidate = std::stoi(ReadFile(out() / "pid.1.0"));
  agents_[static_cast<size_t>(victim)]->Signal(SIGKILL);
  agents_[static_cast<size_t>(victim)]->Wait(seconds(5));
  agents_[static_cast<size_t>(victim)].reset();
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(orphan_candidate); }, seconds(5))) << "worker outlived its agent";
  // The job goes on with the one node it still has (MIN is 1): attempt 1 runs rank 0 only.
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(out() / "pid.0.1"); }, seconds(30))) << launch.Err();
  const auto restarted = ReadEnvFile(out() / "env.0.1");
  EXPECT_EQ(restarted.at("WORLD_SIZE"), "1");
  launch.Signal(SIGINT);
  launch.Wait(seconds(30));
}

TEST_F(ClusterTest, CoordinatorRestartKeepsJobsAndWorkers) {
  Subprocess launch(LaunchLine({"--cpu", "--num_processes", "2", "--num_machines", "1", "--detach"},
                               {"none", "none", "0", "60", "exec"}),
                    BaseEnv());
  const ProcessResult submitted = launch.Wait(seconds(30));
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  std::string job = submitted.out.substr(0, submitted.out.find('\n'));
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(out() / "pid.1.0"); }, seconds(30)));
  const pid_t worker = std::stoi(ReadFile(out() / "pid.1.0"));

  coordinator_->Signal(SIGKILL);
  coordinator_->Wait(seconds(5));
  StartCoordinator();
  ASSERT_TRUE(WaitFor([&] { return AliveNodes() == 3; }, seconds(20)));
  EXPECT_TRUE(ProcessAlive(worker)) << "a coordinator restart must not touch workers";
  EXPECT_EQ(JobStatus(job).value("state", ""), "RUNNING");
  const ProcessResult stop = Accelctl({"stop", job, "--json"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(nlohmann::json::parse(stop.out, nullptr, false).value("id", ""), job) << stop.out;
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(worker); }, seconds(10)));
  EXPECT_EQ(JobStatus(job).value("state", ""), "CANCELLED");
}

// A client following its job rides out a coordinator restart and still exits with the job's code.
TEST_F(ClusterTest, FollowingClientReconnectsAfterACoordinatorRestart) {
  Subprocess launch(LaunchLine({"--cpu", "--num_processes", "2", "--num_machines", "1"}, {"none", "none", "0", "4"}),
                    BaseEnv());
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(out() / "pid.1.0"); }, seconds(30))) << launch.Err();
  coordinator_->Signal(SIGKILL);
  coordinator_->Wait(seconds(5));
  StartCoordinator();
  const ProcessResult followed = launch.Wait(seconds(60));
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
  EXPECT_NE(followed.err.find("again when it is back"), std::string::npos) << followed.err;
  EXPECT_NE(followed.err.find("SUCCEEDED"), std::string::npos) << followed.err;
}

TEST_F(ClusterTest, BadRequestsAreRefusedAndTheCoordinatorKeepsServing) {
  const ProcessResult unknown = Accelctl({"status", "no-such-job"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_EQ(unknown.err.find('\n'), unknown.err.size() - 1) << unknown.err;
  const ProcessResult too_many = Accelctl({"launch", "--cpu", "--num_machines", "7", "--no_python", "/bin/true"});
  EXPECT_NE(too_many.exit_code, 0);
  EXPECT_NE(too_many.err.find("rendezvous timed out after 3 s"), std::string::npos) << too_many.err;
  // The job's own window (torchrun's --rdzv_conf join_timeout) wins over the coordinator's.
  const ProcessResult own_window = Accelctl(
      {"launch", "--cpu", "--num_machines", "7", "--rdzv_conf", "join_timeout=1", "--no_python", "/bin/true"});
  EXPECT_NE(own_window.err.find("rendezvous timed out after 1 s"), std::string::npos) << own_window.err;
  const ProcessResult bad_window =
      Accelctl({"launch", "--cpu", "--rdzv_conf", "last_call_timeout=soon", "--no_python", "/bin/true"});
  EXPECT_EQ(bad_window.exit_code, 1);
  EXPECT_NE(bad_window.err.find("last_call_timeout=soon: expected seconds >= 0"), std::string::npos) << bad_window.err;
  EXPECT_EQ(AliveNodes(), 3);
}

}  // namespace
}  // namespace accel::testing
