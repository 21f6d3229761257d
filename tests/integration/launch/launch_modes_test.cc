// Every launch mode end to end with real worker processes on a machine with two (simulated) GPUs: the
// planner's environment must reach each rank exactly as accelerate 1.15 gives it
// (../shared/reference/accelerate-cli-contract.md §3.7, measured-accelerate-1.15.md).
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/ports.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::testing {
namespace {

using Env = std::map<std::string, std::string>;

struct ModeCase {
  std::string name;
  std::vector<std::string> flags;  // before the worker; `--no_python` is added
  std::string config;              // a config file's text, or empty
  Env expected;                    // on every rank, besides the rank variables
  std::vector<std::string> absent;
  friend void PrintTo(const ModeCase& value, std::ostream* os) { *os << value.name; }
};

// Variables of the torchrun path on rank r of 2 on one machine.
Env RankVariables(int rank) {
  const std::string r = std::to_string(rank);
  return {{"RANK", r}, {"LOCAL_RANK", r}, {"WORLD_SIZE", "2"}, {"LOCAL_WORLD_SIZE", "2"}, {"GROUP_RANK", "0"},
          {"GROUP_WORLD_SIZE", "1"}, {"ROLE_RANK", r}, {"ROLE_WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"},
          {"TORCHELASTIC_RESTART_COUNT", "0"}, {"TORCHELASTIC_USE_AGENT_STORE", "False"},
          {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"}, {"NCCL_NVLS_ENABLE", "0"}};
}

const Env kDynamoOff = {{"ACCELERATE_DYNAMO_BACKEND", "NO"}, {"ACCELERATE_DYNAMO_MODE", "default"},
                        {"ACCELERATE_DYNAMO_USE_FULLGRAPH", "False"}, {"ACCELERATE_DYNAMO_USE_DYNAMIC", "False"}};

Env With(Env base, const Env& more) {
  for (const auto& [key, value] : more) base[key] = value;
  return base;
}

class LaunchModesTest : public ::testing::TestWithParam<ModeCase> {
 protected:
  void SetUp() override {
    for (int gpu = 0; gpu < 2; ++gpu) {
      dir_.Write("gpus/0000:0" + std::to_string(gpu) + ":00.0/information", "Model: \t\t NVIDIA H200\n");
    }
    std::filesystem::create_directories(dir_.path() / "out");
  }
  TempDir dir_;
};

TEST_P(LaunchModesTest, EveryRankGetsTheModesEnvironment) {
  const ModeCase& mode = GetParam();
  std::vector<std::string> argv = {BinaryPath("accelctl"), "launch"};
  if (!mode.config.empty()) {
    argv.push_back("--config_file");
    argv.push_back(dir_.Write("config.yaml", mode.config).string());
  }
  argv.insert(argv.end(), mode.flags.begin(), mode.flags.end());
  for (const std::string& arg : {std::string("--no_python"), SourcePath("tests/integration/launch/worker.sh"),
                                 (dir_.path() / "out").string()}) {
    argv.push_back(arg);
  }
  const Env env = {{"HF_HOME", (dir_.path() / "hf").string()}, {"NCCL_NVLS_ENABLE", "0"}, {"OMP_NUM_THREADS", ""},
                   {"ACCEL_PROC_NVIDIA_GPUS", (dir_.path() / "gpus").string()},
                   {"ACCEL_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1"}, {"CUDA_VISIBLE_DEVICES", ""}};
  const ProcessResult result = RunProcess(argv, EnvWith(env), std::chrono::seconds(30), dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (int rank = 0; rank < 2; ++rank) {
    Env got = ReadEnvFile(dir_.path() / "out" / ("env." + std::to_string(rank) + ".0"));
    for (const auto& [key, value] : With(RankVariables(rank), mode.expected)) {
      EXPECT_EQ(got[key], value) << key << " of rank " << rank;
    }
    for (const std::string& key : mode.absent) EXPECT_EQ(got.count(key), 0u) << key << " of rank " << rank;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Modes, LaunchModesTest,
    ::testing::Values(
        // Two GPUs and no flags: accelerate turns multi-GPU on by itself.
        ModeCase{"MultiGpuByDefault", {}, "", With(kDynamoOff, {{"ACCELERATE_MIXED_PRECISION", "no"}, {"OMP_NUM_THREADS", "1"}}),
                 {"ACCELERATE_USE_CPU", "CUDA_VISIBLE_DEVICES"}},
        ModeCase{"GpuIdsExactlyAsGiven", {"--multi_gpu", "--num_processes", "2", "--gpu_ids", "1,0"}, "",
                 {{"CUDA_VISIBLE_DEVICES", "1,0"}}, {}},
        ModeCase{"ThreadsAndMixedPrecision",
                 {"--multi_gpu", "--num_processes", "2", "--num_cpu_threads_per_process", "3", "--mixed_precision", "fp16"},
                 "", {{"OMP_NUM_THREADS", "3"}, {"ACCELERATE_MIXED_PRECISION", "fp16"}}, {}},
        ModeCase{"Dynamo",
                 {"--multi_gpu", "--num_processes", "2", "--dynamo_backend", "inductor", "--dynamo_mode", "max-autotune",
                  "--dynamo_use_fullgraph"},
                 "",
                 {{"ACCELERATE_DYNAMO_BACKEND", "INDUCTOR"}, {"ACCELERATE_DYNAMO_MODE", "max-autotune"},
                  {"ACCELERATE_DYNAMO_USE_FULLGRAPH", "True"}, {"ACCELERATE_DYNAMO_USE_DYNAMIC", "False"}},
                 {}},
        ModeCase{"FsdpFromConfig", {},
                 "distributed_type: FSDP\nnum_processes: 2\nfsdp_config:\n  fsdp_version: 2\n"
                 "  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP\n  fsdp_transformer_layer_cls_to_wrap: LlamaDecoderLayer\n"
                 "  fsdp_state_dict_type: SHARDED_STATE_DICT\n",
                 {{"ACCELERATE_USE_FSDP", "true"}, {"FSDP_VERSION", "2"}, {"FSDP_AUTO_WRAP_POLICY", "TRANSFORMER_BASED_WRAP"},
                  {"FSDP_TRANSFORMER_CLS_TO_WRAP", "LlamaDecoderLayer"}, {"FSDP_STATE_DICT_TYPE", "SHARDED_STATE_DICT"},
                  {"ACCELERATE_DYNAMO_BACKEND", "NO"}},
                 {}},
        ModeCase{"DeepSpeedFromFlags",
                 {"--use_deepspeed", "--num_processes", "2", "--zero_stage", "2", "--gradient_accumulation_steps", "4"},
                 "",
                 {{"ACCELERATE_USE_DEEPSPEED", "true"}, {"ACCELERATE_DEEPSPEED_ZERO_STAGE", "2"},
                  {"ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "4"}},
                 {"ACCELERATE_DYNAMO_BACKEND"}},  // DeepSpeed exports no dynamo variables
        ModeCase{"MegatronLm",
                 {"--use_megatron_lm", "--num_processes", "2", "--megatron_lm_tp_degree", "2"},
                 "",
                 {{"ACCELERATE_USE_MEGATRON_LM", "true"}, {"MEGATRON_LM_TP_DEGREE", "2"}, {"MEGATRON_LM_PP_DEGREE", "1"}},
                 {}},
        ModeCase{"Fp8",
                 {"--multi_gpu", "--num_processes", "2", "--mixed_precision", "fp8", "--fp8_backend", "te"},
                 "",
                 {{"ACCELERATE_MIXED_PRECISION", "fp8"}, {"ACCELERATE_FP8_BACKEND", "te"}, {"ACCELERATE_FP8_FORMAT", "HYBRID"}},
                 {}},
        ModeCase{"ParallelismConfig", {},
                 "distributed_type: FSDP\nnum_processes: 2\nfsdp_config:\n  fsdp_version: 2\nparallelism_config:\n"
                 "  parallelism_config_dp_shard_size: 1\n  parallelism_config_tp_size: 2\n",
                 {{"ACCELERATE_USE_PARALLELISM_CONFIG", "true"}, {"PARALLELISM_CONFIG_TP_SIZE", "2"},
                  {"PARALLELISM_CONFIG_CP_BACKEND", "torch"}},
                 {}}),
    [](const ::testing::TestParamInfo<ModeCase>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace accel::testing
