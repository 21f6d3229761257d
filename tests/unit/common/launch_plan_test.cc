// The launch contract: which launcher runs and the exact worker environment, for every mode, against
// ../shared/reference/ (accelerate 1.15 + torch 2.11 as read and measured).
#include "common/launch/launch_plan.h"

#include "gtest/gtest.h"

namespace accel::common {
namespace {

using Env = std::map<std::string, std::string>;

HostFacts Host(int gpus = 0, Env env = {{"PATH", "/usr/bin"}, {"NCCL_NVLS_ENABLE", "0"}}) {
  HostFacts host;
  host.env = Environment(std::move(env));
  for (int i = 0; i < gpus; ++i) host.gpus.devices.push_back({.index = i, .name = "NVIDIA H200"});
  host.physical_cores = 16;
  host.working_dir = "/work/dir";
  host.find_program = [](const std::string& name) -> std::optional<std::string> {
    if (name == "python") return "/venv/bin/python";
    return std::nullopt;
  };
  host.free_port = [] { return 40123; };
  return host;
}

absl::StatusOr<LaunchPlan> Plan(std::vector<std::string> argv, const HostFacts& host,
                                const std::optional<ClusterConfig>& config = std::nullopt) {
  const ArgParser parser = MakeLaunchParser("accelctl launch");
  auto args = ParseLaunchArgs(parser, argv);
  if (!args.ok()) return args.status();
  return PlanLaunch(*std::move(args), config, host);
}

// Variables the plan adds or changes relative to the caller's environment.
Env Added(const HostFacts& host, const Env& env) {
  Env added;
  for (const auto& [key, value] : env) {
    auto it = host.env.vars().find(key);
    if (it == host.env.vars().end() || it->second != value) added[key] = value;
  }
  return added;
}

ClusterConfig ConfigFromYaml(const std::string& yaml) {
  auto value = ParseYaml(yaml);
  EXPECT_TRUE(value.ok()) << value.status();
  auto loaded = ClusterConfigFromValue(*value, "test.yaml");
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded->config;
}

TEST(LaunchPlanTest, SingleProcessOnGpuMachineIsSimpleLauncher) {
  const HostFacts host = Host(/*gpus=*/1);
  auto plan = Plan({"train.py", "--lr", "1"}, host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->launcher, LauncherKind::kSimple);
  EXPECT_EQ(plan->argv, (std::vector<std::string>{"/venv/bin/python", "train.py", "--lr", "1"}));
  const Env expected = {
      {"ACCELERATE_USE_CPU", "False"},        {"ACCELERATE_MIXED_PRECISION", "no"},
      {"ACCELERATE_DYNAMO_BACKEND", "NO"},    {"ACCELERATE_DYNAMO_MODE", "default"},
      {"ACCELERATE_DYNAMO_USE_FULLGRAPH", "False"}, {"ACCELERATE_DYNAMO_USE_DYNAMIC", "False"},
      {"ACCELERATE_DYNAMO_USE_REGIONAL_COMPILATION", "False"}, {"OMP_NUM_THREADS", "1"}};
  EXPECT_EQ(Added(host, WorkerEnvironment(*plan, {})), expected);
  EXPECT_EQ(WorkerEnvironment(*plan, {}).at("NCCL_NVLS_ENABLE"), "0");  // the caller's variables stay
  ASSERT_EQ(plan->warnings.size(), 1u);
  EXPECT_EQ(plan->warnings[0],
            "The following values were not passed to `accelctl launch` and had defaults used instead:\n"
            "\t`--num_processes` was set to a value of `1`\n"
            "\t`--num_machines` was set to a value of `1`\n"
            "\t`--mixed_precision` was set to a value of `'no'`\n"
            "\t`--dynamo_backend` was set to a value of `'no'`\n"
            "To avoid this warning pass in values for each of the problematic parameters or run `accelctl config`.");
}

TEST(LaunchPlanTest, TwoGpusDefaultToMultiGpuWithWarning) {
  const HostFacts host = Host(/*gpus=*/2);
  auto plan = Plan({"train.py"}, host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->launcher, LauncherKind::kTorchrun);
  EXPECT_EQ(plan->nproc_per_node, 2);
  EXPECT_EQ(plan->argv, (std::vector<std::string>{"/venv/bin/python", "-u", "train.py"}));
  EXPECT_NE(plan->warnings[0].find("\t\tMore than one GPU was found, enabling multi-GPU training.\n"
                                   "\t\tIf this was unintended please pass in `--num_processes=1`."),
            std::string::npos);
}

TEST(LaunchPlanTest, MultiGpuWorkerEnvironmentMatchesMeasurement) {
  const HostFacts host = Host(/*gpus=*/2);
  auto plan = Plan({"--multi_gpu", "--num_processes", "2", "--mixed_precision", "bf16", "--num_machines", "1",
                    "--dynamo_backend", "no", "--max_restarts", "2", "train.py"},
                   host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->warnings.empty());
  WorkerRank rank{.local_rank = 1, .rank = 1, .local_world_size = 2, .world_size = 2, .group_rank = 0,
                  .group_world_size = 1, .restart_count = 1, .error_file = "/tmp/x/attempt_1/1/error.json"};
  const Env expected = {
      {"RANK", "1"}, {"LOCAL_RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_WORLD_SIZE", "2"}, {"GROUP_RANK", "0"},
      {"GROUP_WORLD_SIZE", "1"}, {"ROLE_NAME", "default"}, {"ROLE_RANK", "1"}, {"ROLE_WORLD_SIZE", "2"},
      {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}, {"TORCHELASTIC_RUN_ID", "none"},
      {"TORCHELASTIC_RESTART_COUNT", "1"}, {"TORCHELASTIC_MAX_RESTARTS", "2"},
      {"TORCHELASTIC_ERROR_FILE", "/tmp/x/attempt_1/1/error.json"},
      {"TORCHELASTIC_SIGNALS_TO_HANDLE", "SIGTERM,SIGINT,SIGHUP,SIGQUIT"},
      {"TORCHELASTIC_USE_AGENT_STORE", "False"}, {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"},
      {"OMP_NUM_THREADS", "1"}, {"ACCELERATE_MIXED_PRECISION", "bf16"}, {"ACCELERATE_DYNAMO_BACKEND", "NO"},
      {"ACCELERATE_DYNAMO_MODE", "default"}, {"ACCELERATE_DYNAMO_USE_FULLGRAPH", "False"},
      {"ACCELERATE_DYNAMO_USE_DYNAMIC", "False"}, {"ACCELERATE_DYNAMO_USE_REGIONAL_COMPILATION", "False"}};
  EXPECT_EQ(Added(host, WorkerEnvironment(*plan, rank)), expected);
}

TEST(LaunchPlanTest, TwoMachinesOneProcessEach) {
  const HostFacts host = Host(/*gpus=*/1);
  auto plan = Plan({"--multi_gpu", "--num_processes", "2", "--num_machines", "2", "--machine_rank", "1",
                    "--main_process_ip", "10.0.0.1", "--main_process_port", "29555", "train.py"},
                   host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->nproc_per_node, 1);
  const Env env = WorkerEnvironment(*plan, {.local_rank = 0, .rank = 1, .local_world_size = 1, .world_size = 2,
                                            .group_rank = 1, .group_world_size = 2});
  EXPECT_EQ(env.at("MASTER_ADDR"), "10.0.0.1");
  EXPECT_EQ(env.at("MASTER_PORT"), "29555");
  EXPECT_EQ(env.at("GROUP_RANK"), "1");
  EXPECT_EQ(env.at("RANK"), "1");
}

TEST(LaunchPlanTest, GpuIdsExactlyAsGiven) {
  auto plan = Plan({"--multi_gpu", "--num_processes", "2", "--gpu_ids", "1,0", "train.py"}, Host(2));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->env.at("CUDA_VISIBLE_DEVICES"), "1,0");
  auto all = Plan({"--multi_gpu", "--num_processes", "2", "--gpu_ids", "all", "train.py"}, Host(2));
  ASSERT_TRUE(all.ok());
  EXPECT_FALSE(all->env.contains("CUDA_VISIBLE_DEVICES"));
}

TEST(LaunchPlanTest, CpuMultiProcessIsAccelctlsMultiCpuLauncher) {
  const HostFacts host = Host(/*gpus=*/0);
  auto plan = Plan({"--cpu", "--num_processes", "2", "train.py"}, host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->launcher, LauncherKind::kMultiCpu);
  EXPECT_EQ(plan->nproc_per_node, 2);
  const Env env = WorkerEnvironment(*plan, {.local_rank = 0, .rank = 0, .local_world_size = 2, .world_size = 2});
  EXPECT_EQ(env.at("ACCELERATE_USE_CPU"), "True");
  EXPECT_EQ(env.at("KMP_AFFINITY"), "granularity=fine,compact,1,0");
  EXPECT_EQ(env.at("KMP_BLOCKTIME"), "1");
  EXPECT_EQ(env.at("WORLD_SIZE"), "2");
  EXPECT_EQ(env.at("MASTER_ADDR"), "127.0.0.1");
  // 16 physical cores over 2 local processes, with the warning item.
  EXPECT_EQ(env.at("OMP_NUM_THREADS"), "8");
  EXPECT_NE(plan->warnings[0].find("`--num_cpu_threads_per_process` was set to `8` to improve out-of-box performance"),
            std::string::npos);
}

TEST(LaunchPlanTest, CpuSingleProcessOnCpuOnlyMachine) {
  const HostFacts host = Host(/*gpus=*/0);
  auto plan = Plan({"--cpu", "train.py"}, host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->launcher, LauncherKind::kSimple);
  EXPECT_EQ(plan->env.at("ACCELERATE_USE_CPU"), "True");
  EXPECT_EQ(plan->env.at("OMP_NUM_THREADS"), "1");  // num_processes defaults to 0 GPUs
  EXPECT_FALSE(plan->env.contains("MASTER_ADDR"));
}

TEST(LaunchPlanTest, CallerOmpNumThreadsIsKept) {
  auto plan = Plan({"--cpu", "--num_processes", "2", "train.py"},
                   Host(0, {{"OMP_NUM_THREADS", "3"}, {"PATH", "/usr/bin"}}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->env.at("OMP_NUM_THREADS"), "3");
  auto explicit_threads = Plan({"--cpu", "--num_processes", "2", "--num_cpu_threads_per_process", "5", "t.py"}, Host(0));
  ASSERT_TRUE(explicit_threads.ok());
  EXPECT_EQ(explicit_threads->env.at("OMP_NUM_THREADS"), "5");
}

TEST(LaunchPlanTest, ModuleAndNoPython) {
  auto module = Plan({"--multi_gpu", "--num_processes", "2", "-m", "pkg.train", "--x"}, Host(2));
  ASSERT_TRUE(module.ok());
  EXPECT_EQ(module->argv, (std::vector<std::string>{"/venv/bin/python", "-u", "-m", "pkg.train", "--x"}));
  auto no_python = Plan({"--no_python", "--num_processes", "1", "./run.sh", "a"}, Host(0));
  ASSERT_TRUE(no_python.ok());
  EXPECT_EQ(no_python->argv, (std::vector<std::string>{"./run.sh", "a"}));
  auto python_flag = Plan({"--python", "/opt/py", "--num_processes", "1", "t.py"}, Host(0));
  ASSERT_TRUE(python_flag.ok());
  EXPECT_EQ(python_flag->argv.front(), "/opt/py");
}

TEST(LaunchPlanTest, ConfigFileFillsWhatTheCommandLineLeavesOut) {
  const ClusterConfig config = ConfigFromYaml(
      "distributed_type: MULTI_GPU\nnum_processes: 2\nmixed_precision: fp16\ngpu_ids: '0,1'\n"
      "main_process_port: 29600\ndynamo_config:\n  dynamo_backend: INDUCTOR\n  dynamo_mode: max-autotune\n");
  auto plan = Plan({"train.py"}, Host(2), config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->launcher, LauncherKind::kTorchrun);
  EXPECT_TRUE(plan->warnings.empty());
  EXPECT_EQ(plan->env.at("ACCELERATE_MIXED_PRECISION"), "fp16");
  EXPECT_EQ(plan->env.at("ACCELERATE_DYNAMO_BACKEND"), "INDUCTOR");
  EXPECT_EQ(plan->env.at("ACCELERATE_DYNAMO_MODE"), "max-autotune");
  EXPECT_EQ(plan->env.at("CUDA_VISIBLE_DEVICES"), "0,1");
  EXPECT_EQ(plan->master_port, 29600);
  // An explicit flag wins over the config, also for dict keys.
  auto flags = Plan({"--mixed_precision", "no", "--dynamo_mode", "default", "--num_processes", "2", "train.py"},
                    Host(2), config);
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->env.at("ACCELERATE_MIXED_PRECISION"), "no");
  EXPECT_EQ(flags->env.at("ACCELERATE_DYNAMO_MODE"), "default");
}

TEST(LaunchPlanTest, ConfigDistributedTypeNoStartsOneProcess) {
  const ClusterConfig config = ConfigFromYaml("distributed_type: NO\nnum_processes: 1\n");
  auto plan = Plan({"--num_processes", "4", "train.py"}, Host(0), config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->launcher, LauncherKind::kSimple);
  EXPECT_FALSE(plan->warnings.empty());  // says a single process starts
}

TEST(LaunchPlanTest, MultiCpuConfigStartsEveryProcess) {
  const ClusterConfig config = ConfigFromYaml("distributed_type: MULTI_CPU\nnum_processes: 4\nuse_cpu: true\n");
  auto plan = Plan({"train.py"}, Host(0), config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->launcher, LauncherKind::kMultiCpu);
  EXPECT_EQ(plan->nproc_per_node, 4);
}

TEST(LaunchPlanTest, ConfigNeedingNumProcesses) {
  const ClusterConfig config = ConfigFromYaml("distributed_type: MULTI_GPU\n");
  auto plan = Plan({"train.py"}, Host(2), config);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(), "You need to manually pass in `--num_processes` using this config yaml.");
}

TEST(LaunchPlanTest, FsdpEnvironment) {
  const ClusterConfig config = ConfigFromYaml(
      "distributed_type: FSDP\nnum_processes: 2\nfsdp_config:\n  fsdp_version: 2\n  fsdp_offload_params: true\n"
      "  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP\n  fsdp_transformer_layer_cls_to_wrap: LlamaDecoderLayer\n"
      "  fsdp_reshard_after_forward: true\n  fsdp_state_dict_type: SHARDED_STATE_DICT\n"
      "  fsdp_cpu_ram_efficient_loading: true\n  fsdp_sync_module_states: true\n");
  auto plan = Plan({"train.py"}, Host(2), config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->paradigm, "FSDP");
  const Env expected_fsdp = {
      {"ACCELERATE_USE_FSDP", "true"}, {"FSDP_VERSION", "2"}, {"FSDP_SHARDING_STRATEGY", "FULL_SHARD"},
      {"FSDP_RESHARD_AFTER_FORWARD", "true"}, {"FSDP_OFFLOAD_PARAMS", "true"}, {"FSDP_MIN_NUM_PARAMS", "100000000"},
      {"FSDP_AUTO_WRAP_POLICY", "TRANSFORMER_BASED_WRAP"}, {"FSDP_TRANSFORMER_CLS_TO_WRAP", "LlamaDecoderLayer"},
      {"FSDP_STATE_DICT_TYPE", "SHARDED_STATE_DICT"}, {"FSDP_FORWARD_PREFETCH", "false"},
      {"FSDP_USE_ORIG_PARAMS", "true"}, {"FSDP_CPU_RAM_EFFICIENT_LOADING", "true"},
      {"FSDP_SYNC_MODULE_STATES", "true"}, {"FSDP_ACTIVATION_CHECKPOINTING", "false"}};
  for (const auto& [key, value] : expected_fsdp) EXPECT_EQ(plan->env.at(key), value) << key;
  EXPECT_FALSE(plan->env.contains("FSDP_BACKWARD_PREFETCH"));

  const ClusterConfig bad = ConfigFromYaml(
      "distributed_type: FSDP\nnum_processes: 2\nfsdp_config:\n  fsdp_cpu_ram_efficient_loading: true\n"
      "  fsdp_sync_module_states: false\n");
  auto refused = Plan({"train.py"}, Host(2), bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("fsdp_sync_module_states"), std::string::npos);
}

TEST(LaunchPlanTest, DeepSpeedEnvironment) {
  const ClusterConfig config = ConfigFromYaml(
      "distributed_type: DEEPSPEED\nnum_processes: 2\nmixed_precision: bf16\ndeepspeed_config:\n"
      "  zero_stage: 2\n  offload_optimizer_device: CPU\n  gradient_accumulation_steps: 4\n  gradient_clipping: 1.0\n"
      "  zero3_init_flag: false\n");
  auto plan = Plan({"train.py"}, Host(2, {{"PATH", "/usr/bin"}, {"PYTHONPATH", ":/lib/a::"}}), config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->paradigm, "DeepSpeed");
  EXPECT_EQ(plan->launcher, LauncherKind::kTorchrun);
  const Env expected = {
      {"ACCELERATE_USE_DEEPSPEED", "true"}, {"ACCELERATE_DEEPSPEED_ZERO_STAGE", "2"},
      {"ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", "cpu"}, {"ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "4"},
      {"ACCELERATE_GRADIENT_CLIPPING", "1.0"}, {"ACCELERATE_DEEPSPEED_ZERO3_INIT", "false"},
      {"ACCELERATE_CONFIG_DS_FIELDS",
       "zero_stage,offload_optimizer_device,gradient_accumulation_steps,gradient_clipping,zero3_init_flag,mixed_precision"},
      {"PYTHONPATH", "/lib/a:/work/dir"}, {"ACCELERATE_MIXED_PRECISION", "bf16"}, {"OMP_NUM_THREADS", "1"}};
  for (const auto& [key, value] : expected) EXPECT_EQ(plan->env.at(key), value) << key;
  EXPECT_FALSE(plan->env.contains("ACCELERATE_DYNAMO_BACKEND"));  // DeepSpeed exports no dynamo variables
  auto multinode = Plan({"--num_machines", "2", "--main_process_ip", "10.0.0.1", "train.py"}, Host(2), config);
  ASSERT_FALSE(multinode.ok());
  EXPECT_EQ(multinode.status().code(), absl::StatusCode::kUnimplemented);
}

TEST(LaunchPlanTest, DeepSpeedNeedsItsPackageBeforeAnythingStarts) {
  HostFacts host = Host(2);
  std::vector<std::string> asked;
  host.python_finds_any = [&](const std::string&, const std::vector<std::string>& modules) {
    asked = modules;
    return std::optional<bool>(false);
  };
  auto refused = Plan({"--use_deepspeed", "--num_processes", "2", "--zero_stage", "2", "t.py"}, host);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("DeepSpeed is not installed"), std::string_view::npos) << refused.status();
  EXPECT_EQ(asked, std::vector<std::string>{"deepspeed"});
  // A program run without Python is not asked about.
  EXPECT_TRUE(Plan({"--use_deepspeed", "--num_processes", "2", "--no_python", "prog"}, host).ok());
}

TEST(LaunchPlanTest, CpuWithDefaultedProcessCountStartsOneProcessAsAccelerateDoes) {
  // accelerate fills num_processes with the GPU count and reports it, then starts one process under --cpu.
  auto plan = Plan({"--cpu", "t.py"}, Host(2));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->launcher, LauncherKind::kSimple);
  EXPECT_EQ(plan->num_processes, 1);
  ASSERT_FALSE(plan->warnings.empty());
  EXPECT_NE(plan->warnings[0].find("`--num_processes` was set to a value of `2`"), std::string::npos);
  // Asked for explicitly, --cpu starts them all.
  auto explicit_count = Plan({"--cpu", "--num_processes", "2", "t.py"}, Host(2));
  ASSERT_TRUE(explicit_count.ok()) << explicit_count.status();
  EXPECT_EQ(explicit_count->launcher, LauncherKind::kMultiCpu);
  EXPECT_EQ(explicit_count->num_processes, 2);
}

TEST(LaunchPlanTest, NonStaticRendezvousBackendOnSeveralMachinesIsNamed) {
  auto plan = Plan({"--multi_gpu", "--num_processes", "4", "--num_machines", "2", "--machine_rank", "0",
                    "--main_process_ip", "10.0.0.1", "--rdzv_backend", "c10d", "t.py"},
                   Host(2));
  ASSERT_TRUE(plan.ok()) << plan.status();
  bool named = false;
  for (const std::string& warning : plan->warnings) named |= warning.starts_with("--rdzv_backend c10d:");
  EXPECT_TRUE(named);
}

TEST(LaunchPlanTest, MegatronEnvironment) {
  auto plan = Plan({"--use_megatron_lm", "--num_processes", "2", "--megatron_lm_tp_degree", "2",
                    "--megatron_lm_no_load_optim", "False", "--megatron_lm_sequence_parallelism", "true", "t.py"},
                   Host(2));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->env.at("ACCELERATE_USE_MEGATRON_LM"), "true");
  EXPECT_EQ(plan->env.at("MEGATRON_LM_TP_DEGREE"), "2");
  EXPECT_EQ(plan->env.at("MEGATRON_LM_PP_DEGREE"), "1");
  EXPECT_EQ(plan->env.at("MEGATRON_LM_GRADIENT_CLIPPING"), "1.0");
  EXPECT_EQ(plan->env.at("MEGATRON_LM_NO_LOAD_OPTIM"), "True");  // Python bool("False") is True
  EXPECT_EQ(plan->env.at("MEGATRON_LM_EOD_MASK_LOSS"), "False");
  EXPECT_EQ(plan->env.at("MEGATRON_LM_SEQUENCE_PARALLELISM"), "true");
  EXPECT_FALSE(plan->env.contains("MEGATRON_LM_NUM_MICRO_BATCHES"));
}

TEST(LaunchPlanTest, Fp8Environment) {
  auto plan = Plan({"--multi_gpu", "--num_processes", "2", "--mixed_precision", "fp8", "--fp8_backend", "te",
                    "--fp8_override_linear_precision", "true,false,true", "--fp8_pad_inner_dim", "false", "t.py"},
                   Host(2));
  ASSERT_TRUE(plan.ok()) << plan.status();
  const Env expected = {
      {"ACCELERATE_MIXED_PRECISION", "fp8"}, {"ACCELERATE_FP8_BACKEND", "te"},
      {"ACCELERATE_FP8_USE_AUTOCAST_DURING_EVAL", "False"}, {"ACCELERATE_FP8_MARGIN", "0"},
      {"ACCELERATE_FP8_INTERVAL", "1"}, {"ACCELERATE_FP8_FORMAT", "HYBRID"},
      {"ACCELERATE_FP8_AMAX_HISTORY_LEN", "1024"}, {"ACCELERATE_FP8_AMAX_COMPUTE_ALGO", "most_recent"},
      {"ACCELERATE_FP8_OVERRIDE_FPROP", "1"}, {"ACCELERATE_FP8_OVERRIDE_DGRAD", "0"},
      {"ACCELERATE_FP8_OVERRIDE_WGRAD", "1"}, {"ACCELERATE_FP8_OPT_LEVEL", "O2"},
      {"ACCELERATE_FP8_ENABLE_FSDP_FLOAT8_ALL_GATHER", "1"}, {"ACCELERATE_FP8_PAD_INNER_DIM", "0"}};
  for (const auto& [key, value] : expected) EXPECT_EQ(plan->env.at(key), value) << key;
}

// bf16 on a GPU older than compute capability 8.0 fails before anything starts; only the GPUs the
// launch uses count, and a machine NVML cannot describe is not blocked.
TEST(LaunchPlanTest, Bf16NeedsComputeCapabilityEight) {
  HostFacts host = Host(2);
  host.probe_gpus_fully = [] {
    GpuInventory gpus;
    gpus.devices = {{.index = 0, .name = "NVIDIA H200", .compute_major = 9, .compute_minor = 0},
                    {.index = 1, .name = "Tesla V100", .compute_major = 7, .compute_minor = 0}};
    return std::optional<GpuInventory>(gpus);
  };
  auto refused = Plan({"--multi_gpu", "--num_processes", "2", "--mixed_precision", "bf16", "t.py"}, host);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("GPU 1 (Tesla V100) has compute capability 7.0"), std::string::npos)
      << refused.status();
  EXPECT_TRUE(Plan({"--gpu_ids", "0", "--num_processes", "1", "--mixed_precision", "bf16", "t.py"}, host).ok());
  EXPECT_TRUE(Plan({"--cpu", "--num_processes", "2", "--mixed_precision", "bf16", "t.py"}, host).ok());
  EXPECT_TRUE(Plan({"--multi_gpu", "--num_processes", "2", "--mixed_precision", "fp16", "t.py"}, host).ok());
  EXPECT_TRUE(Plan({"--multi_gpu", "--num_processes", "2", "--mixed_precision", "bf16", "t.py"}, Host(2)).ok());
}

// fp8 needs the backend's module in the workers' Python; "cannot tell" does not block.
TEST(LaunchPlanTest, Fp8NeedsItsBackendInstalled) {
  HostFacts host = Host(2);
  std::vector<std::string> asked;
  std::string asked_python;
  std::optional<bool> answer = false;
  host.python_finds_any = [&](const std::string& python, const std::vector<std::string>& modules) {
    asked_python = python;
    asked = modules;
    return answer;
  };
  auto refused = Plan({"--multi_gpu", "--num_processes", "2", "--mixed_precision", "fp8", "--fp8_backend", "te", "t.py"}, host);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("FP8 mixed precision is not available"), std::string::npos);
  EXPECT_EQ(asked, std::vector<std::string>{"transformer_engine"});
  EXPECT_EQ(asked_python, "/venv/bin/python");
  ASSERT_FALSE(Plan({"--multi_gpu", "--num_processes", "2", "--mixed_precision", "fp8", "t.py"}, host).ok());
  EXPECT_EQ(asked, (std::vector<std::string>{"torchao", "msamp", "transformer_engine"}));
  answer = true;
  EXPECT_TRUE(Plan({"--multi_gpu", "--num_processes", "2", "--mixed_precision", "fp8", "t.py"}, host).ok());
  answer = std::nullopt;
  EXPECT_TRUE(Plan({"--multi_gpu", "--num_processes", "2", "--mixed_precision", "fp8", "t.py"}, host).ok());
}

TEST(LaunchPlanTest, ParallelismConfigEnvironment) {
  const ClusterConfig config = ConfigFromYaml(
      "distributed_type: FSDP\nnum_processes: 4\nfsdp_config:\n  fsdp_version: 2\nparallelism_config:\n"
      "  parallelism_config_dp_shard_size: 2\n  parallelism_config_tp_size: 2\n  parallelism_config_cp_size: 1\n");
  auto plan = Plan({"train.py"}, Host(4), config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->env.at("ACCELERATE_USE_PARALLELISM_CONFIG"), "true");
  EXPECT_EQ(plan->env.at("PARALLELISM_CONFIG_DP_SHARD_SIZE"), "2");
  EXPECT_EQ(plan->env.at("PARALLELISM_CONFIG_TP_SIZE"), "2");
  EXPECT_EQ(plan->env.at("PARALLELISM_CONFIG_CP_BACKEND"), "torch");
  EXPECT_FALSE(plan->env.contains("PARALLELISM_CONFIG_CP_COMM_STRATEGY"));
}

struct InvalidCase {
  std::string name;
  std::vector<std::string> argv;
  std::string message_part;
  // Test names list the case by name rather than by its bytes.
  friend void PrintTo(const InvalidCase& value, std::ostream* os) { *os << value.name; }
};

class InvalidLaunchTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidLaunchTest, FailsBeforeAnythingStarts) {
  auto plan = Plan(GetParam().argv, Host(2));
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find(GetParam().message_part), std::string::npos) << plan.status();
  EXPECT_EQ(std::string(plan.status().message()).find('\n'), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, InvalidLaunchTest,
    ::testing::Values(
        InvalidCase{"TwoParadigms", {"--cpu", "--multi_gpu", "t.py"}, "only use one of"},
        InvalidCase{"MultiGpuOneProcess", {"--multi_gpu", "--num_processes", "1", "t.py"}, "at least 2 processes"},
        InvalidCase{"ParallelismWithoutFsdp", {"--use_parallelism_config", "t.py"}, "--use_fsdp"},
        InvalidCase{"ModuleAndNoPython", {"-m", "--no_python", "x"}, "cannot be used together"},
        InvalidCase{"NotAMultiple", {"--multi_gpu", "--num_processes", "3", "--num_machines", "2", "--main_process_ip", "h", "t.py"},
                    "not a multiple"},
        InvalidCase{"MissingMainProcessIp", {"--multi_gpu", "--num_processes", "2", "--num_machines", "2", "t.py"}, "--main_process_ip"},
        InvalidCase{"RankOutOfRange", {"--num_machines", "2", "--machine_rank", "2", "t.py"}, "--machine_rank 2"},
        InvalidCase{"UnknownDynamoBackend", {"--dynamo_backend", "torhchxla_trace_once", "--num_processes", "1", "t.py"},
                    "Unknown dynamo backend"},
        InvalidCase{"BadRdzvConf", {"--rdzv_conf", "timeout", "--num_processes", "1", "t.py"}, "key=value"},
        InvalidCase{"Tpu", {"--tpu", "--num_processes", "1", "t.py"}, "TPU"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(LaunchPlanTest, BusyPortOnOneMachinePicksAFreeOne) {
  HostFacts host = Host(2);
  host.port_in_use = [](int port) { return port == 29500; };
  auto plan = Plan({"--multi_gpu", "--num_processes", "2", "t.py"}, host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->master_port, 40123);
  EXPECT_NE(plan->warnings.back().find("29500"), std::string::npos);
  auto multi = Plan({"--multi_gpu", "--num_processes", "4", "--num_machines", "2", "--main_process_ip", "h",
                     "--machine_rank", "0", "t.py"},
                    host);
  ASSERT_FALSE(multi.ok());
  EXPECT_NE(multi.status().message().find("another process is utilizing it"), std::string::npos);
}

TEST(LaunchPlanTest, RestartBackoffFromRdzvConf) {
  auto plan = Plan({"--multi_gpu", "--num_processes", "2", "--rdzv_conf", "timeout=60,restart_backoff=2.5", "t.py"},
                   Host(2));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_DOUBLE_EQ(plan->restart_backoff, 2.5);
  EXPECT_EQ(plan->rdzv_conf.at("timeout"), "60");
}

TEST(LaunchPlanTest, RdzvJoinTimeoutTakesEitherTorchrunKeyAndRefusesBadValues) {
  auto dynamic = Plan({"--rdzv_conf", "join_timeout=45,timeout=60", "t.py"}, Host(0));
  ASSERT_TRUE(dynamic.ok()) << dynamic.status();
  EXPECT_EQ(dynamic->rdzv_join_timeout, 45.0);
  auto static_key = Plan({"--rdzv_conf", "timeout=60", "t.py"}, Host(0));
  ASSERT_TRUE(static_key.ok()) << static_key.status();
  EXPECT_EQ(static_key->rdzv_join_timeout, 60.0);
  auto none = Plan({"t.py"}, Host(0));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->rdzv_join_timeout, std::nullopt);
  for (const char* conf : {"timeout=soon", "join_timeout=-1", "timeout=0"}) {
    auto bad = Plan({"--rdzv_conf", conf, "t.py"}, Host(0));
    ASSERT_FALSE(bad.ok()) << conf;
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find(std::string("--rdzv_conf ") + conf), std::string::npos) << bad.status();
  }
}

TEST(LaunchConfigPathTest, FollowsAccelerateRule) {
  const ArgParser parser = MakeLaunchParser("accelctl launch");
  const Environment env(std::map<std::string, std::string>{{"HF_HOME", "/nonexistent/hf"}});
  auto explicit_args = ParseLaunchArgs(parser, std::vector<std::string>{"--config_file", "/x.yaml", "t.py"});
  ASSERT_TRUE(explicit_args.ok());
  EXPECT_EQ(LaunchConfigPath(*explicit_args, env), std::filesystem::path("/x.yaml"));
  auto no_file = ParseLaunchArgs(parser, std::vector<std::string>{"t.py"});
  ASSERT_TRUE(no_file.ok());
  EXPECT_EQ(LaunchConfigPath(*no_file, env), std::nullopt);
}

}  // namespace
}  // namespace accel::common
