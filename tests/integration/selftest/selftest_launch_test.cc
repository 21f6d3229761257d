// `accelctl test` end to end: the real accelctl launches the real accel_selftest (libtorch, Gloo on CPU)
// with 2 and 4 processes, from a MULTI_CPU config and from launch flags; a fault injected on one rank
// fails the whole job with a message naming the check; a missing self-test says how to build it.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "gtest/gtest.h"
#include "tests/support/ports.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::testing {
namespace {

using Env = std::map<std::string, std::string>;
using std::chrono::seconds;

constexpr char kVerdict[] = "Test is a success! You are ready for your distributed training!";
constexpr char kTableHeader[] = "collective       size(B)        count      type    time(us)  algbw(GB/s)  busbw(GB/s)  #wrong";

class SelftestLaunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(BinaryPath("accel_selftest").c_str(), X_OK) != 0) {
      GTEST_SKIP() << "accel_selftest was not built (libtorch not found: apt-get install libtorch-dev libgloo-dev)";
    }
  }

  // No default config, no GPUs, and small sweeps so that 4 ranks on 2 cores stay quick.
  Env BaseEnv() const {
    return EnvWith({{"HF_HOME", (dir_.path() / "hf").string()}, {"OMP_NUM_THREADS", ""},
                    {"ACCEL_PROC_NVIDIA_GPUS", (dir_.path() / "no_gpus").string()},
                    {"ACCEL_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1"}, {"NCCL_NVLS_ENABLE", "0"}});
  }

  std::filesystem::path MultiCpuConfig(int processes) const {
    return dir_.Write("multi_cpu_" + std::to_string(processes) + ".yaml",
                      "compute_environment: LOCAL_MACHINE\n"
                      "distributed_type: MULTI_CPU\n"
                      "num_processes: " + std::to_string(processes) + "\n"
                      "num_machines: 1\n"
                      "machine_rank: 0\n"
                      "main_process_port: " + std::to_string(FreeTcpPort()) + "\n"
                      "mixed_precision: 'no'\n"
                      "use_cpu: true\n");
  }

  TempDir dir_;
};

void ExpectPassedWithTable(const ProcessResult& result, int ranks) {
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find(kTableHeader), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("accel_selftest: " + std::to_string(ranks) + " rank(s), backend gloo"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("all checks passed on " + std::to_string(ranks) + " rank(s)"), std::string::npos)
      << result.out;
  for (const char* collective : {" all_reduce ", " broadcast ", " all_gather ", " reduce_scatter"}) {
    EXPECT_NE(result.out.find(collective), std::string::npos) << collective;
  }
}

TEST_F(SelftestLaunchTest, TestCommandWithTwoProcessMultiCpuConfig) {
  const std::filesystem::path config = MultiCpuConfig(2);
  const ProcessResult result =
      RunProcess({BinaryPath("accelctl"), "test", "--config_file", config.string()}, BaseEnv(), seconds(240));
  ExpectPassedWithTable(result, 2);
  EXPECT_NE(result.out.find("\nRunning:  accelctl launch --config_file " + config.string() + " --no_python " +
                            BinaryPath("accel_selftest") + "\n"),
            std::string::npos)
      << result.out;
  // The verdict is the last line.
  EXPECT_TRUE(result.out.ends_with(std::string(kVerdict) + "\n")) << result.out;
}

TEST_F(SelftestLaunchTest, TestCommandWithFourProcessMultiCpuConfig) {
  const ProcessResult result =
      RunProcess({BinaryPath("accelctl"), "test", "--config_file", MultiCpuConfig(4).string()}, BaseEnv(), seconds(240));
  ExpectPassedWithTable(result, 4);
  EXPECT_TRUE(result.out.ends_with(std::string(kVerdict) + "\n")) << result.out;
}

TEST_F(SelftestLaunchTest, LaunchRunsTheSelfTestDirectly) {
  const ProcessResult result = RunProcess(
      {BinaryPath("accelctl"), "launch", "--cpu", "--num_processes", "2", "--main_process_port",
       std::to_string(FreeTcpPort()), "--no_python", BinaryPath("accel_selftest"), "--max_bytes", "256K"},
      BaseEnv(), seconds(240));
  ExpectPassedWithTable(result, 2);
  // Rank 0 alone prints the report; every line carries the launcher's rank prefix.
  EXPECT_NE(result.out.find("[default0]:#"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("[default1]:#"), std::string::npos) << result.out;
}

TEST_F(SelftestLaunchTest, WrongWorldSizeOnOneRankFailsEveryRank) {
  const ProcessResult result = RunProcess(
      {BinaryPath("accelctl"), "launch", "--cpu", "--num_processes", "2", "--main_process_port",
       std::to_string(FreeTcpPort()), "--no_python", BinaryPath("accel_selftest"), "--inject_fault", "world_size:1"},
      BaseEnv(), seconds(240));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("FAILED launch environment on rank 0: rank 1 has WORLD_SIZE=3, rank 0 has WORLD_SIZE=2"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("FAILED launch environment on rank 1: rank 0 has WORLD_SIZE=2, rank 1 has WORLD_SIZE=3"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(result.out.find("all checks passed"), std::string::npos) << result.out;
}

TEST_F(SelftestLaunchTest, WrongCollectiveResultOnOneRankFailsTheTestCommand) {
  // `accelctl test` passes no flags to the self-test; its environment variable reaches every rank.
  Env env = BaseEnv();
  env["ACCEL_SELFTEST_INJECT_FAULT"] = "all_gather:1";
  const ProcessResult result =
      RunProcess({BinaryPath("accelctl"), "test", "--config_file", MultiCpuConfig(2).string()}, env, seconds(240));
  EXPECT_NE(result.exit_code, 0);
  // The rank that saw the wrong value names the check, the rank, the size and the type...
  EXPECT_NE(result.err.find("FAILED all_gather on rank 1: size 8 B (2 x float32): 1 wrong element(s), the first at "
                            "index 0 is 2, expected 1"),
            std::string::npos)
      << result.err;
  // ...the other rank fails too, quoting it...
  EXPECT_NE(result.err.find("accel_selftest: rank 1 reported: FAILED all_gather on rank 1"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("accel_selftest: rank 0: self-test FAILED"), std::string::npos) << result.err;
  // ...and the verdict is a failure line with the exit code instead of the success line.
  EXPECT_EQ(result.out.find("all checks passed"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find(kVerdict), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("accelctl test: error: the self-test failed with exit code 1: accelctl launch --config_file"),
            std::string::npos)
      << result.err;
}

TEST(SelftestMissingTest, TestCommandSaysHowToBuildTheSelfTest) {
  // An accelctl with no accel_selftest beside it (nor in ../libexec/accel).
  TempDir dir;
  const std::filesystem::path lonely = dir.path() / "bin" / "accelctl";
  std::filesystem::create_directories(lonely.parent_path());
  std::filesystem::copy_file(BinaryPath("accelctl"), lonely);
  std::filesystem::permissions(lonely, std::filesystem::perms::owner_all);
  const ProcessResult result = RunProcess({lonely.string(), "test"}, EnvWith({{"HF_HOME", dir.path().string()}}), seconds(30));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("accelctl test: error: the self-test program accel_selftest is not installed"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("apt-get install libtorch-dev libgloo-dev"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << "one line: " << result.err;
}

}  // namespace
}  // namespace accel::testing
