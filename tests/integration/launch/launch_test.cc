// `accelctl launch` end to end on one machine: the real binary, real worker processes (shell scripts,
// and the Python example), real files. Each test checks one promise of the launch contract.
#include <signal.h>

#include <set>

#include "gtest/gtest.h"
#include "tests/support/ports.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::testing {
namespace {

using Env = std::map<std::string, std::string>;
using std::chrono::milliseconds;
using std::chrono::seconds;

class LaunchTest : public ::testing::Test {
 protected:
  // No default config (HF_HOME is empty), and a caller variable that must reach the workers untouched.
  Env BaseEnv(Env extra = {}) const {
    Env overrides = {{"HF_HOME", (dir_.path() / "hf").string()}, {"NCCL_NVLS_ENABLE", "0"},
                     {"OMP_NUM_THREADS", ""}, {"ACCEL_PROC_NVIDIA_GPUS", (dir_.path() / "no_gpus").string()},
                     {"ACCEL_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1"}};
    for (auto& [key, value] : extra) overrides[key] = value;
    return EnvWith(overrides);
  }
  std::vector<std::string> Launch(std::vector<std::string> flags, std::vector<std::string> worker_args = {}) const {
    std::vector<std::string> argv = {BinaryPath("accelctl"), "launch"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(SourcePath("tests/integration/launch/worker.sh"));
    argv.push_back(out().string());
    argv.insert(argv.end(), worker_args.begin(), worker_args.end());
    return argv;
  }
  std::filesystem::path out() const { return dir_.path() / "out"; }
  void SetUp() override { std::filesystem::create_directories(out()); }

  TempDir dir_;
};

TEST_F(LaunchTest, CpuMultiProcessWorkersGetTheTorchrunEnvironment) {
  const ProcessResult result =
      RunProcess(Launch({"--cpu", "--num_processes", "2", "--num_cpu_threads_per_process", "1", "--no_python"}), BaseEnv());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (int rank = 0; rank < 2; ++rank) {
    Env env = ReadEnvFile(out() / ("env." + std::to_string(rank) + ".0"));
    const Env expected = {
        {"RANK", std::to_string(rank)}, {"LOCAL_RANK", std::to_string(rank)}, {"WORLD_SIZE", "2"},
        {"LOCAL_WORLD_SIZE", "2"}, {"GROUP_RANK", "0"}, {"GROUP_WORLD_SIZE", "1"}, {"ROLE_NAME", "default"},
        {"ROLE_RANK", std::to_string(rank)}, {"ROLE_WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"},
        {"TORCHELASTIC_RUN_ID", "none"}, {"TORCHELASTIC_RESTART_COUNT", "0"}, {"TORCHELASTIC_MAX_RESTARTS", "0"},
        {"TORCHELASTIC_USE_AGENT_STORE", "False"}, {"TORCHELASTIC_SIGNALS_TO_HANDLE", "SIGTERM,SIGINT,SIGHUP,SIGQUIT"},
        {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"}, {"ACCELERATE_USE_CPU", "True"}, {"ACCELERATE_MIXED_PRECISION", "no"},
        {"ACCELERATE_DYNAMO_BACKEND", "NO"}, {"OMP_NUM_THREADS", "1"}, {"KMP_BLOCKTIME", "1"},
        {"NCCL_NVLS_ENABLE", "0"}};
    for (const auto& [key, value] : expected) EXPECT_EQ(env[key], value) << key << " of rank " << rank;
    EXPECT_FALSE(env["MASTER_PORT"].empty());
    EXPECT_TRUE(env["TORCHELASTIC_ERROR_FILE"].ends_with("/attempt_0/" + std::to_string(rank) + "/error.json"))
        << env["TORCHELASTIC_ERROR_FILE"];
  }
  // Every worker line reaches the console with its rank prefix.
  EXPECT_NE(result.out.find("[default0]:worker 0 attempt 0"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("[default1]:worker 1 attempt 0"), std::string::npos) << result.out;
}

TEST_F(LaunchTest, SingleProcessIsTheSimpleLauncher) {
  const ProcessResult result = RunProcess(Launch({"--num_processes", "1", "--no_python"}, {"none", "none", "0"}), BaseEnv());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  Env env = ReadEnvFile(out() / "env.single.0");
  EXPECT_EQ(env.count("RANK"), 0u);
  EXPECT_EQ(env.count("TORCHELASTIC_RESTART_COUNT"), 0u);
  EXPECT_EQ(env["ACCELERATE_USE_CPU"], "False");
  EXPECT_EQ(env["ACCELERATE_MIXED_PRECISION"], "no");
  EXPECT_EQ(env["NCCL_NVLS_ENABLE"], "0");
  // Inherited stdout: no prefix. The defaults warning names what was defaulted.
  EXPECT_NE(result.out.find("worker single attempt 0"), std::string::npos);
  EXPECT_NE(result.err.find("`--num_machines` was set to a value of `1`"), std::string::npos) << result.err;
}

TEST_F(LaunchTest, ScriptArgumentsPassThroughUntouched) {
  const ProcessResult result =
      RunProcess(Launch({"--num_processes", "1", "--no_python"}, {"none", "none", "0", "", "--num_processes", "9", "-m"}),
          BaseEnv());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("args: " + out().string() + " none none 0  --num_processes 9 -m"), std::string::npos)
      << result.out;
}

TEST_F(LaunchTest, ExitCodeIsTheFailedWorkersAndSummaryNamesIt) {
  const ProcessResult result = RunProcess(Launch({"--cpu", "--num_processes", "2", "--no_python"}, {"1", "0", "7"}), BaseEnv());
  EXPECT_EQ(result.exit_code, 7) << result.err;
  EXPECT_NE(result.err.find("worker 1 failing with 7"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("FAILED"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("rank"), std::string::npos) << result.err;
}

TEST_F(LaunchTest, FailedGroupRestartsWithRestartCountIncremented) {
  const ProcessResult result =
      RunProcess(Launch({"--cpu", "--num_processes", "2", "--max_restarts", "2", "--no_python"}, {"1", "0", "3"}), BaseEnv());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Rank 0 of attempt 0 may be stopped before it records anything: only rank 1's failure is certain.
  for (const char* name : {"env.1.0", "env.0.1", "env.1.1"}) {
    EXPECT_TRUE(std::filesystem::exists(out() / name)) << name;
  }
  EXPECT_FALSE(std::filesystem::exists(out() / "env.0.2"));
  Env env = ReadEnvFile(out() / "env.1.1");
  EXPECT_EQ(env["TORCHELASTIC_RESTART_COUNT"], "1");
  EXPECT_EQ(env["TORCHELASTIC_MAX_RESTARTS"], "2");
  EXPECT_TRUE(env["TORCHELASTIC_ERROR_FILE"].ends_with("/attempt_1/1/error.json"));
}

TEST_F(LaunchTest, SigtermIsForwardedAndExitCodeIs143) {
  Subprocess launcher(Launch({"--cpu", "--num_processes", "2", "--no_python"}, {"none", "none", "0", "30"}), BaseEnv());
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(out() / "pid.0.0") && std::filesystem::exists(out() / "pid.1.0"); },
                      seconds(20)))
      << launcher.Err();
  launcher.Signal(SIGTERM);
  const ProcessResult result = launcher.Wait(seconds(20));
  EXPECT_EQ(result.exit_code, 143) << result.err;
  EXPECT_TRUE(std::filesystem::exists(out() / "term.0"));
  EXPECT_TRUE(std::filesystem::exists(out() / "term.1"));
}

TEST_F(LaunchTest, HangupAndQuitAreForwardedWithTheirExitCodes) {
  for (int signal : {SIGHUP, SIGQUIT}) {
    std::filesystem::remove_all(out());
    std::filesystem::create_directories(out());
    Subprocess launcher(Launch({"--cpu", "--num_processes", "2", "--no_python"}, {"none", "none", "0", "30"}), BaseEnv());
    ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(out() / "pid.0.0") && std::filesystem::exists(out() / "pid.1.0"); },
                        seconds(20)))
        << launcher.Err();
    const pid_t worker = std::stoi(ReadFile(out() / "pid.0.0"));
    launcher.Signal(signal);
    const ProcessResult result = launcher.Wait(seconds(20));
    EXPECT_EQ(result.exit_code, 128 + signal) << result.err;
    EXPECT_FALSE(ProcessAlive(worker));
  }
}

TEST_F(LaunchTest, DebugAndCpuAffinityReachTheWorkers) {
  const ProcessResult result = RunProcess(
      Launch({"--cpu", "--num_processes", "2", "--debug", "--enable_cpu_affinity", "--no_python"}), BaseEnv());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  Env env = ReadEnvFile(out() / "env.1.0");
  EXPECT_EQ(env["ACCELERATE_DEBUG_MODE"], "true");
  EXPECT_EQ(env["ACCELERATE_CPU_AFFINITY"], "1");
}

TEST_F(LaunchTest, QuietPrintsTheRootCauseInOneLine) {
  const ProcessResult loud =
      RunProcess(Launch({"--cpu", "--num_processes", "2", "--no_python"}, {"1", "0", "7"}), BaseEnv());
  EXPECT_EQ(loud.exit_code, 7);
  EXPECT_NE(loud.err.find("Root Cause (first observed failure):"), std::string::npos) << loud.err;
  const ProcessResult quiet =
      RunProcess(Launch({"--cpu", "--num_processes", "2", "--quiet", "--no_python"}, {"1", "0", "7"}), BaseEnv());
  EXPECT_EQ(quiet.exit_code, 7);
  EXPECT_EQ(quiet.err.find("Root Cause"), std::string::npos) << quiet.err;
  EXPECT_NE(quiet.err.find("FAILED: rank 1 (local_rank 1) on "), std::string::npos) << quiet.err;
  EXPECT_NE(quiet.err.find(" exited with code 7\n"), std::string::npos) << quiet.err;
}

TEST_F(LaunchTest, NoOrphansWhenTheLauncherIsKilled) {
  Subprocess launcher(Launch({"--cpu", "--num_processes", "3", "--no_python"}, {"none", "none", "0", "60", "exec"}),
                      BaseEnv());
  std::vector<pid_t> workers;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (int rank = 0; rank < 3; ++rank) {
          if (!std::filesystem::exists(out() / ("pid." + std::to_string(rank) + ".0"))) return false;
        }
        return true;
      },
      seconds(20)))
      << launcher.Err();
  for (int rank = 0; rank < 3; ++rank) {
    workers.push_back(std::stoi(ReadFile(out() / ("pid." + std::to_string(rank) + ".0"))));
    ASSERT_TRUE(ProcessAlive(workers.back()));
  }
  launcher.Signal(SIGKILL);
  EXPECT_EQ(launcher.Wait(seconds(10)).exit_code, 128 + SIGKILL);
  for (pid_t worker : workers) {
    EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(worker); }, seconds(5))) << "worker " << worker << " survived";
  }
}

// The workers' own children (DataLoader workers, shells' background jobs) get no parent-death signal:
// the session guard must kill them when the launcher is SIGKILLed.
TEST_F(LaunchTest, NoOrphanedGrandchildrenWhenTheLauncherIsKilled) {
  Subprocess launcher(Launch({"--cpu", "--num_processes", "2", "--no_python"}, {"none", "none", "0", "60"}), BaseEnv());
  auto file = [&](const char* kind, int rank) { return out() / (std::string(kind) + "." + std::to_string(rank) + ".0"); };
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(file("child", 0)) && std::filesystem::exists(file("child", 1)); },
                      seconds(20)))
      << launcher.Err();
  std::vector<pid_t> processes;
  for (int rank = 0; rank < 2; ++rank) {
    processes.push_back(std::stoi(ReadFile(file("pid", rank))));
    processes.push_back(std::stoi(ReadFile(file("child", rank))));
  }
  for (pid_t pid : processes) ASSERT_TRUE(ProcessAlive(pid)) << pid;
  launcher.Signal(SIGKILL);
  EXPECT_EQ(launcher.Wait(seconds(10)).exit_code, 128 + SIGKILL);
  for (pid_t pid : processes) {
    EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(pid); }, seconds(5))) << "process " << pid << " survived";
  }
}

TEST_F(LaunchTest, TeeWritesTorchrunLogLayout) {
  const auto logs = dir_.path() / "logs";
  const ProcessResult result =
      RunProcess(Launch({"--cpu", "--num_processes", "2", "--tee", "3", "--log_dir", logs.string(), "--no_python"}), BaseEnv());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::filesystem::path> runs;
  for (const auto& entry : std::filesystem::directory_iterator(logs)) runs.push_back(entry.path());
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_TRUE(runs[0].filename().string().starts_with("none_")) << runs[0];
  for (int rank = 0; rank < 2; ++rank) {
    const auto rank_dir = runs[0] / "attempt_0" / std::to_string(rank);
    EXPECT_NE(ReadFile(rank_dir / "stdout.log").find("worker " + std::to_string(rank) + " attempt 0"), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(rank_dir / "stderr.log"));
  }
}

TEST_F(LaunchTest, PythonExampleOnTwoCpuProcesses) {
  const ProcessResult result =
      RunProcess({BinaryPath("accelctl"), "launch", "--cpu", "--num_processes", "2", SourcePath("examples/print_rank.py")},
          BaseEnv());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("[default0]:rank 0 of world size 2"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("[default1]:rank 1 of world size 2"), std::string::npos) << result.out;
}

TEST_F(LaunchTest, ConfigFileDrivesTheLaunch) {
  const auto config = dir_.Write("hf/accelerate/default_config.yaml",
                                 "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_CPU\nnum_processes: 2\n"
                                 "mixed_precision: bf16\nuse_cpu: true\n");
  const ProcessResult result = RunProcess(Launch({"--no_python"}), BaseEnv());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  Env env = ReadEnvFile(out() / "env.1.0");
  EXPECT_EQ(env["WORLD_SIZE"], "2");
  EXPECT_EQ(env["ACCELERATE_MIXED_PRECISION"], "bf16");
  EXPECT_EQ(env["ACCELERATE_USE_CPU"], "True");
}

TEST_F(LaunchTest, SlurmVariablesFillTheLaunch) {
  const ProcessResult result =
      RunProcess(Launch({"--cpu", "--no_python"}),
          BaseEnv({{"SLURM_JOB_ID", "42"}, {"SLURM_NODEID", "0"}, {"SLURM_NNODES", "1"},
                   {"SLURM_JOB_NODELIST", "localhost"}, {"SLURM_NTASKS_PER_NODE", "2"}}));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(std::filesystem::exists(out() / "env.1.0")) << result.err;
  EXPECT_NE(result.err.find("SLURM_NTASKS_PER_NODE"), std::string::npos) << result.err;
}

struct BadCommand {
  std::string name;
  std::vector<std::string> args;
  int exit_code;
  std::string message_part;
  // Test names list the case by name rather than by its bytes.
  friend void PrintTo(const BadCommand& value, std::ostream* os) { *os << value.name; }
};

class LaunchBadInputTest : public LaunchTest, public ::testing::WithParamInterface<BadCommand> {};

TEST_P(LaunchBadInputTest, OneLineErrorAndExitCode) {
  std::vector<std::string> argv = {BinaryPath("accelctl"), "launch"};
  argv.insert(argv.end(), GetParam().args.begin(), GetParam().args.end());
  const ProcessResult result = RunProcess(argv, BaseEnv());
  EXPECT_EQ(result.exit_code, GetParam().exit_code) << result.err;
  EXPECT_NE(result.err.find(GetParam().message_part), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << "not one line: " << result.err;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LaunchBadInputTest,
    ::testing::Values(BadCommand{"Abbreviation", {"--num_proc", "2", "x.py"}, 2, "unrecognized arguments: --num_proc"},
                      BadCommand{"NoScript", {"--cpu"}, 2, "required: training_script"},
                      BadCommand{"NotAnInt", {"--num_processes", "two", "x.py"}, 2, "invalid int value: 'two'"},
                      BadCommand{"MissingConfig", {"--config_file", "/nonexistent/c.yaml", "x.py"}, 1, "does not exist"},
                      BadCommand{"TwoParadigms", {"--cpu", "--multi_gpu", "x.py"}, 1, "only use one of"},
                      BadCommand{"ModuleAndNoPython", {"-m", "--no_python", "x"}, 1, "cannot be used together"},
                      // The test machine's python3 has no TransformerEngine: asked for real.
                      BadCommand{"Fp8WithoutItsBackend",
                                 {"--cpu", "--mixed_precision", "fp8", "--fp8_backend", "te", "x.py"},
                                 1,
                                 "FP8 mixed precision is not available"}),
    [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace accel::testing
