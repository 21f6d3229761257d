// `accelctl config`: the real binary, answers piped on stdin, the written file read back with the
// project's own loader. Each test spells out the answers in the order accelerate asks the questions,
// so a question added, dropped or moved shows up as a wrong value or an early end of input.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/config/cluster_config.h"
#include "common/config/config_value.h"
#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace accel::client {
namespace {

namespace fs = std::filesystem;
using common::DistributedType;
using ::testing::HasSubstr;
using ::testing::Not;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Unordered JSON, so sections compare by content whatever order the file had.
nlohmann::json Plain(const common::ConfigValue& value) { return nlohmann::json::parse(value.dump()); }

class ConfigQuestionnaireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);  // the child may exit before reading every answer
    std::string pattern = (fs::path(::testing::TempDir()) / "config_questionnaire_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code error;
    fs::remove_all(dir_, error);
  }

  fs::path ConfigPath(std::string_view name = "x.yaml") const { return dir_ / name; }

  // Runs `accelctl config --config_file <path>` with `answers` as stdin lines (a closed pipe, not a
  // terminal), HOME pointed at the test directory.
  RunResult RunConfig(const std::vector<std::string>& answers, const fs::path& config_path) const {
    std::string input;
    for (const std::string& answer : answers) input += answer + "\n";
    const fs::path out_path = dir_ / "stdout.txt";
    const fs::path err_path = dir_ / "stderr.txt";
    const std::string binary = ACCEL_BINARY_DIR "/accelctl";
    std::vector<std::string> args = {binary, "config", "--config_file", config_path.string()};
    std::vector<std::string> env = {"HOME=" + dir_.string(), "PATH=/usr/bin:/bin"};

    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(pipe_fds[0], STDIN_FILENO);
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out_fd, STDOUT_FILENO);
      ::dup2(err_fd, STDERR_FILENO);
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      std::vector<char*> envp;
      for (std::string& entry : env) envp.push_back(entry.data());
      envp.push_back(nullptr);
      ::execve(binary.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(pipe_fds[0]);
    size_t written = 0;
    while (written < input.size()) {
      const ssize_t n = ::write(pipe_fds[1], input.data() + written, input.size() - written);
      if (n <= 0) break;  // the child exited early; what it printed says why
      written += static_cast<size_t>(n);
    }
    ::close(pipe_fds[1]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    RunResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = ReadText(out_path);
    result.err = ReadText(err_path);
    return result;
  }

  // Runs the questionnaire, expects success, and loads the file it wrote.
  common::ClusterConfig RunAndLoad(const std::vector<std::string>& answers, const fs::path& config_path) {
    const RunResult result = RunConfig(answers, config_path);
    EXPECT_EQ(result.exit_code, 0) << "stdout:\n" << result.out << "\nstderr:\n" << result.err;
    EXPECT_THAT(result.out, HasSubstr("accelerate configuration saved at " + config_path.string()));
    auto loaded = common::LoadClusterConfig(config_path);
    EXPECT_TRUE(loaded.ok()) << loaded.status() << "\nstdout:\n" << result.out;
    if (!loaded.ok()) return {};
    EXPECT_TRUE(loaded->warnings.empty()) << common::StrJoin(loaded->warnings, "\n");
    return loaded->config;
  }

  fs::path dir_;
};

// "This machine", then the answers for the "No distributed training" on CPU flow.
const std::vector<std::string> kCpuOnlyAnswers = {
    "0",    // compute environment: This machine
    "0",    // machine type: No distributed training
    "yes",  // CPU only?
    "no",   // torch dynamo?
    "no",   // DeepSpeed?
    "0",    // mixed precision: no
};

TEST_F(ConfigQuestionnaireTest, NoDistributedTrainingOnCpu) {
  const common::ClusterConfig config = RunAndLoad(kCpuOnlyAnswers, ConfigPath());
  EXPECT_EQ(config.compute_environment, common::ComputeEnvironment::kLocalMachine);
  EXPECT_EQ(config.distributed_type, DistributedType::kNo);
  EXPECT_TRUE(config.use_cpu);
  EXPECT_EQ(config.num_processes, 1);
  EXPECT_EQ(config.mixed_precision, "no");
  EXPECT_FALSE(config.gpu_ids.has_value());

  // The whole file, as accelerate's questionnaire writes it (except downcast_bf16: 'no' there).
  EXPECT_EQ(ReadText(ConfigPath()),
            "compute_environment: LOCAL_MACHINE\n"
            "debug: false\n"
            "distributed_type: 'NO'\n"
            "downcast_bf16: false\n"
            "enable_cpu_affinity: false\n"
            "machine_rank: 0\n"
            "main_training_function: main\n"
            "mixed_precision: 'no'\n"
            "num_machines: 1\n"
            "num_processes: 1\n"
            "rdzv_backend: static\n"
            "same_network: true\n"
            "tpu_env: []\n"
            "tpu_use_cluster: false\n"
            "tpu_use_sudo: false\n"
            "use_cpu: true\n");
}

TEST_F(ConfigQuestionnaireTest, JsonFileNameGetsJson) {
  const fs::path path = ConfigPath("x.json");
  const common::ClusterConfig config = RunAndLoad(kCpuOnlyAnswers, path);
  EXPECT_EQ(config.distributed_type, DistributedType::kNo);
  const std::string text = ReadText(path);
  ASSERT_TRUE(text.starts_with("{\n")) << text;
  EXPECT_THAT(text, HasSubstr("\"distributed_type\": \"NO\""));
  EXPECT_THAT(text, HasSubstr("\"tpu_env\": []"));
  EXPECT_TRUE(common::ParseJson(text).ok());
}

TEST_F(ConfigQuestionnaireTest, MultiGpuWithDynamoAndBf16) {
  const common::ClusterConfig config = RunAndLoad(
      {
          "0",
          "multi-GPU",  // a menu also takes the choice's text
          "",           // machines [1]
          "",           // debug [no]
          "yes",        // dynamo
          "",           // backend: default position 2, inductor
          "yes",        // customize torch.compile
          "1",          // mode: reduce-overhead
          "yes",        // fullgraph
          "no",         // dynamic
          "yes",        // regional compilation
          "no",         // DeepSpeed
          "no",         // FSDP
          "no",         // Megatron-LM
          "2",          // GPU(s)
          "",           // GPU ids [all]
          "",           // numa [no]
          "bf16",
      },
      ConfigPath());
  EXPECT_EQ(config.distributed_type, DistributedType::kMultiGpu);
  EXPECT_EQ(config.num_processes, 2);
  EXPECT_EQ(config.num_machines, 1);
  EXPECT_EQ(config.mixed_precision, "bf16");
  EXPECT_EQ(config.gpu_ids, "all");
  EXPECT_FALSE(config.use_cpu);
  EXPECT_FALSE(config.main_process_ip.has_value());
  EXPECT_EQ(Plain(config.dynamo_config), nlohmann::json::parse(R"({
      "dynamo_backend": "INDUCTOR", "dynamo_mode": "reduce-overhead", "dynamo_use_fullgraph": true,
      "dynamo_use_dynamic": false, "dynamo_use_regional_compilation": true})"));
}

TEST_F(ConfigQuestionnaireTest, Fsdp2WithOffloadAndTransformerWrap) {
  const common::ClusterConfig config = RunAndLoad(
      {
          "0", "4",  // multi-GPU by position
          "1", "no", "no",
          "no",                 // DeepSpeed
          "yes",                // FSDP
          "1",                  // version menu [1, 2]: position 1 is version 2
          "",                   // reshard after forward [YES]
          "yes",                // offload
          "0",                  // TRANSFORMER_BASED_WRAP
          "no",                 // _no_split_modules
          "LlamaDecoderLayer",  // classes to wrap
          "",                   // state dict: SHARDED_STATE_DICT (FSDP2 default)
          "",                   // CPU RAM efficient loading [YES]
          "yes",                // activation checkpointing
          "no",                 // parallelism config
          "4",                  // GPU(s)
          "bf16",
      },
      ConfigPath());
  EXPECT_EQ(config.distributed_type, DistributedType::kFsdp);
  EXPECT_EQ(config.num_processes, 4);
  EXPECT_FALSE(config.gpu_ids.has_value());  // accelerate does not ask once the type is FSDP
  EXPECT_EQ(Plain(config.fsdp_config), nlohmann::json::parse(R"({
      "fsdp_version": 2, "fsdp_reshard_after_forward": true, "fsdp_offload_params": true,
      "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP", "fsdp_transformer_layer_cls_to_wrap": "LlamaDecoderLayer",
      "fsdp_state_dict_type": "SHARDED_STATE_DICT", "fsdp_cpu_ram_efficient_loading": true,
      "fsdp_activation_checkpointing": true})"));
  EXPECT_TRUE(config.parallelism_config.empty());
}

TEST_F(ConfigQuestionnaireTest, Fsdp2WithParallelismConfig) {
  const common::ClusterConfig config = RunAndLoad(
      {"0", "multi-GPU", "", "", "", "", "yes", "", "", "", "2" /* NO_WRAP */, "", "", "",
       "yes",                                    // parallelism config
       "2", "2", "1", "2", "alltoall",           // dp replicate, dp shard, tp, cp, cp strategy
       "8", "fp16"},
      ConfigPath());
  EXPECT_EQ(config.distributed_type, DistributedType::kFsdp);
  EXPECT_EQ(config.fsdp_config["fsdp_auto_wrap_policy"], "NO_WRAP");
  EXPECT_EQ(Plain(config.parallelism_config), nlohmann::json::parse(R"({
      "parallelism_config_dp_replicate_size": 2, "parallelism_config_dp_shard_size": 2,
      "parallelism_config_tp_size": 1, "parallelism_config_cp_size": 2,
      "parallelism_config_cp_comm_strategy": "alltoall"})"));
}

TEST_F(ConfigQuestionnaireTest, Fsdp1AsksTheVersion1Questions) {
  const common::ClusterConfig config = RunAndLoad(
      {"0", "multi-GPU", "", "", "", "", "yes",
       "0",              // version 1
       "SHARD_GRAD_OP",  // sharding strategy
       "no",             // offload
       "1",              // SIZE_BASED_WRAP
       "",               // min params [1e8]
       "",               // backward prefetch: BACKWARD_PRE
       "",               // state dict: FULL_STATE_DICT
       "no",             // forward prefetch
       "",               // use_orig_params [YES]
       "no",             // CPU RAM efficient loading
       "",               // sync module states [YES]
       "no",             // activation checkpointing
       "2", "fp16"},
      ConfigPath());
  EXPECT_EQ(Plain(config.fsdp_config), nlohmann::json::parse(R"({
      "fsdp_version": 1, "fsdp_reshard_after_forward": "SHARD_GRAD_OP", "fsdp_offload_params": false,
      "fsdp_auto_wrap_policy": "SIZE_BASED_WRAP", "fsdp_min_num_params": 100000000,
      "fsdp_backward_prefetch": "BACKWARD_PRE", "fsdp_state_dict_type": "FULL_STATE_DICT",
      "fsdp_forward_prefetch": false, "fsdp_use_orig_params": true, "fsdp_cpu_ram_efficient_loading": false,
      "fsdp_sync_module_states": true, "fsdp_activation_checkpointing": false})"));
}

TEST_F(ConfigQuestionnaireTest, DeepSpeedZero2WithCpuOptimizerOffload) {
  const common::ClusterConfig config = RunAndLoad(
      {
          "0", "multi-GPU", "", "", "",
          "yes",   // DeepSpeed
          "no",    // json config file
          "",      // ZeRO stage [2]
          "cpu",   // optimizer offload
          "none",  // parameter offload
          "4",     // gradient accumulation
          "yes",   // gradient clipping
          "",      // clipping value [1.0]
          "no",    // zero.Init
          "no",    // MoE
          "8",     // GPU(s)
          "fp16",
      },
      ConfigPath());
  EXPECT_EQ(config.distributed_type, DistributedType::kDeepSpeed);
  EXPECT_EQ(config.num_processes, 8);
  EXPECT_EQ(config.mixed_precision, "fp16");
  EXPECT_TRUE(config.fsdp_config.empty());
  EXPECT_EQ(Plain(config.deepspeed_config), nlohmann::json::parse(R"({
      "zero_stage": 2, "offload_optimizer_device": "cpu", "offload_param_device": "none",
      "gradient_accumulation_steps": 4, "gradient_clipping": 1.0, "zero3_init_flag": false})"));
}

TEST_F(ConfigQuestionnaireTest, DeepSpeedJsonFileLeavesMixedPrecisionOut) {
  const common::ClusterConfig config = RunAndLoad(
      {"0", "0", "no", "no", "yes", "yes", "/work/ds.json", "no", "no", "1"}, ConfigPath());
  EXPECT_EQ(config.distributed_type, DistributedType::kDeepSpeed);
  EXPECT_FALSE(config.mixed_precision.has_value());
  EXPECT_THAT(ReadText(ConfigPath()), Not(HasSubstr("mixed_precision")));
  EXPECT_EQ(Plain(config.deepspeed_config),
            nlohmann::json::parse(R"({"deepspeed_config_file": "/work/ds.json", "zero3_init_flag": false})"));
}

TEST_F(ConfigQuestionnaireTest, MultiNodeDeepSpeedZero3) {
  const common::ClusterConfig config = RunAndLoad(
      {"0", "multi-GPU", "2", "0", "10.0.0.1", "29500", "", "", "",
       "yes", "no", "3", "nvme", "nvme",
       "",          // parameter nvme path [/nvme]
       "/mnt/opt",  // optimizer nvme path
       "", "",      // gradient accumulation [1], clipping [no]
       "yes",       // save 16-bit model
       "yes",       // zero.Init
       "yes", "MixtralSparseMoeBlock",
       "pdsh", "/etc/hostfile", "yes", "node3", "no",
       "16", "bf16"},
      ConfigPath());
  EXPECT_EQ(config.distributed_type, DistributedType::kDeepSpeed);
  EXPECT_EQ(config.num_machines, 2);
  EXPECT_EQ(Plain(config.deepspeed_config), nlohmann::json::parse(R"({
      "zero_stage": 3, "offload_optimizer_device": "nvme", "offload_param_device": "nvme",
      "offload_param_nvme_path": "/nvme", "offload_optimizer_nvme_path": "/mnt/opt",
      "gradient_accumulation_steps": 1, "zero3_save_16bit_model": true, "zero3_init_flag": true,
      "deepspeed_moe_layer_cls_names": "MixtralSparseMoeBlock", "deepspeed_multinode_launcher": "pdsh",
      "deepspeed_hostfile": "/etc/hostfile", "deepspeed_exclusion_filter": "node3"})"));
}

TEST_F(ConfigQuestionnaireTest, MultiMachine) {
  const common::ClusterConfig config = RunAndLoad(
      {
          "0", "multi-GPU",
          "2",         // machines
          "1",         // rank menu [0, 1]
          "10.0.0.1",  // main process IP
          "29501",     // port
          "yes",       // same network
          "no", "no", "no", "no", "no",
          "16",   // GPU(s), all machines
          "all",  // GPU ids
          "no", "fp16",
      },
      ConfigPath());
  EXPECT_EQ(config.distributed_type, DistributedType::kMultiGpu);
  EXPECT_EQ(config.num_machines, 2);
  EXPECT_EQ(config.machine_rank, 1);
  EXPECT_EQ(config.main_process_ip, "10.0.0.1");
  EXPECT_EQ(config.main_process_port, 29501);
  EXPECT_TRUE(config.same_network);
  EXPECT_EQ(config.rdzv_backend, "static");
  EXPECT_EQ(config.num_processes, 16);
}

TEST_F(ConfigQuestionnaireTest, DifferentNetworksAskForTheRendezvousBackend) {
  const common::ClusterConfig config = RunAndLoad(
      {"0", "multi-GPU", "3", "2", "node0", "29500", "no", "c10d", "yes", "no", "no", "no", "no", "3", "", "",
       "no"},
      ConfigPath());
  EXPECT_EQ(config.machine_rank, 2);
  EXPECT_FALSE(config.same_network);
  EXPECT_EQ(config.rdzv_backend, "c10d");
  EXPECT_TRUE(config.debug);
}

TEST_F(ConfigQuestionnaireTest, MultiCpuWithMpirun) {
  const common::ClusterConfig config = RunAndLoad(
      {"0", "multi-CPU", "", "", "yes", "/etc/mpi_hosts", "no", "4", "no"}, ConfigPath());
  EXPECT_EQ(config.distributed_type, DistributedType::kMultiCpu);
  EXPECT_TRUE(config.use_cpu);
  EXPECT_EQ(config.num_processes, 4);
  EXPECT_EQ(Plain(config.mpirun_config), nlohmann::json::parse(R"({"mpirun_hostfile": "/etc/mpi_hosts"})"));
}

TEST_F(ConfigQuestionnaireTest, MegatronLm) {
  const common::ClusterConfig config = RunAndLoad(
      {"0", "multi-GPU", "", "", "", "no", "no",
       "yes",  // Megatron-LM
       "2",    // tp degree
       "",     // sequence parallelism [YES]
       "",     // pp degree [1]
       "", "", "",
       "4", "bf16"},
      ConfigPath());
  EXPECT_EQ(config.distributed_type, DistributedType::kMegatronLm);
  EXPECT_EQ(Plain(config.megatron_lm_config), nlohmann::json::parse(R"({
      "megatron_lm_tp_degree": 2, "megatron_lm_sequence_parallelism": true, "megatron_lm_pp_degree": 1,
      "megatron_lm_recompute_activations": true, "megatron_lm_use_distributed_optimizer": true,
      "megatron_lm_gradient_clipping": 1.0})"));
}

TEST_F(ConfigQuestionnaireTest, Fp8TransformerEngine) {
  const common::ClusterConfig config = RunAndLoad(
      {"0", "0", "no", "no", "no", "", "", "fp8", "te", "", "", "", "", "", "", "yes", "yes", "no", "yes"},
      ConfigPath());
  EXPECT_EQ(config.mixed_precision, "fp8");
  EXPECT_EQ(config.gpu_ids, "all");
  EXPECT_EQ(Plain(config.fp8_config), nlohmann::json::parse(R"({
      "backend": "TE", "use_autocast_during_eval": false, "margin": 0, "interval": 1, "fp8_format": "HYBRID",
      "amax_history_length": 1024, "amax_compute_algorithm": "max",
      "override_linear_precision": [true, false, true]})"));
}

TEST_F(ConfigQuestionnaireTest, TpuPod) {
  const common::ClusterConfig config = RunAndLoad(
      {"0", "TPU", "no", "8", "", "yes", "tpu-1", "us-central1-a", "no", "yes", "no", "pip install x", "no", "",
       "A=1,B=2"},
      ConfigPath());
  EXPECT_EQ(config.distributed_type, DistributedType::kXla);
  EXPECT_EQ(config.num_processes, 8);
  EXPECT_EQ(config.mixed_precision, "no");
  EXPECT_TRUE(config.tpu_use_cluster);
  EXPECT_EQ(config.tpu_name, "tpu-1");
  EXPECT_EQ(config.tpu_zone, "us-central1-a");
  EXPECT_EQ(config.commands, std::vector<std::string>{"pip install x"});
  EXPECT_EQ(config.tpu_vm, std::vector<std::string>{""});  // accelerate's "".split(",")
  EXPECT_EQ(config.tpu_env, (std::vector<std::string>{"A=1", "B=2"}));
}

TEST_F(ConfigQuestionnaireTest, WrongAnswersAreAskedAgain) {
  const RunResult result = RunConfig(
      {"7", "0",            // menu: out of range, then valid
       "multi-GPU", "abc",  // machines: not a number
       "1", "maybe",        // debug: not yes/no
       "no", "", "", "", "", "2", "", "", ""},
      ConfigPath());
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("Please enter a number from 0 to 1 or the text of one of the choices."));
  EXPECT_THAT(result.out, HasSubstr("Please enter an integer."));
  EXPECT_THAT(result.out, HasSubstr("Please enter yes or no."));
  auto loaded = common::LoadClusterConfig(ConfigPath());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.distributed_type, DistributedType::kMultiGpu);
  EXPECT_EQ(loaded->config.num_machines, 1);
  EXPECT_FALSE(loaded->config.debug);
  EXPECT_EQ(loaded->config.num_processes, 2);
}

TEST_F(ConfigQuestionnaireTest, ThreeWrongPipedAnswersGiveUp) {
  const RunResult result = RunConfig({"0", "multi-GPU", "abc", "-1", "x", "1"}, ConfigPath());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("accelctl config: error: no acceptable answer to \"How many different machines"));
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_FALSE(fs::exists(ConfigPath()));
}

TEST_F(ConfigQuestionnaireTest, InputEndingEarlyWritesNothing) {
  const RunResult result = RunConfig({"0", "multi-GPU", "1"}, ConfigPath());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err,
            "accelctl config: error: input ended before the questionnaire finished (question: Should distributed "
            "operations be checked while running for errors? This can avoid timeout issues but will be slower. "
            "[yes/NO])\n");
  EXPECT_FALSE(fs::exists(ConfigPath()));
}

TEST_F(ConfigQuestionnaireTest, NoInputAtAll) {
  const RunResult result = RunConfig({}, ConfigPath());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("(question: In which compute environment are you running?)"));
  EXPECT_FALSE(fs::exists(ConfigPath()));
}

TEST_F(ConfigQuestionnaireTest, MultiGpuWithOneProcessIsRejected) {
  const RunResult result = RunConfig({"0", "multi-GPU", "", "", "", "", "", "", "1"}, ConfigPath());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("only using 1 GPU on a single machine"));
  EXPECT_FALSE(fs::exists(ConfigPath()));
}

TEST_F(ConfigQuestionnaireTest, SageMakerIsNotSupported) {
  const RunResult result = RunConfig({"AWS (Amazon SageMaker)"}, ConfigPath());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("not supported by accelctl; use `accelerate config`"));
  EXPECT_FALSE(fs::exists(ConfigPath()));
}

TEST_F(ConfigQuestionnaireTest, QuestionsUseAcceleratesWording) {
  const RunResult result = RunConfig(kCpuOnlyAnswers, ConfigPath());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<std::string> questions = {
      "In which compute environment are you running?",
      "Which type of machine are you using?",
      "Do you want to run your training on CPU only (even if a GPU / Apple Silicon / Ascend NPU device is "
      "available)? [yes/NO]:",
      "Do you wish to optimize your script with torch dynamo?[yes/NO]:",
      "Do you want to use DeepSpeed? [yes/NO]: ",
      "Do you wish to use mixed precision?",
  };
  size_t position = 0;
  for (const std::string& question : questions) {
    const size_t found = result.out.find(question, position);
    ASSERT_NE(found, std::string::npos) << "missing or out of order: " << question << "\n" << result.out;
    position = found + question.size();
  }
}

}  // namespace
}  // namespace accel::client
