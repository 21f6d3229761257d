// The questions of accelerate's `get_user_input` / `get_cluster_input` (commands/config/config.py and
// cluster.py), in the same order, wording, branches and defaults, for the "This machine" flow.
//
// What accelerate decides by probing Python packages or hardware is not probed here: Apple MPS is
// taken as absent (accelctl runs on Linux), DeepSpeed / Transformers / FP8 libraries are not checked
// for, and the "What GPU(s) (by id)" wording follows the chosen machine type instead of the detected
// accelerator. Deliberate fixes: the TPU `sudo` question is read as yes/no (accelerate stores the raw
// string), the misspelt `torhchxla_trace_once` dynamo choice is written as TORCHXLA_TRACE_ONCE
// (accelerate crashes on it), `downcast_bf16` is stored as false (accelerate writes 'no'), and counts,
// ranks, ports and GPU ids are checked when answered so the file written always loads.
#include "client/commands/config_questionnaire.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/commands/prompter.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace accel::client {
namespace {

using common::ClusterConfig;
using common::ConfigValue;
using common::DistributedType;

// The largest process or machine count the config loader accepts.
constexpr int kMaxCount = 1 << 20;

bool IsOneOf(DistributedType type, std::initializer_list<DistributedType> types) {
  return std::find(types.begin(), types.end(), type) != types.end();
}

struct MachineType {
  std::string_view label;
  DistributedType type;
};

// accelerate's `_convert_distributed_mode` order.
constexpr MachineType kMachineTypes[] = {
    {"No distributed training", DistributedType::kNo},
    {"multi-CPU", DistributedType::kMultiCpu},
    {"multi-XPU", DistributedType::kMultiXpu},
    {"multi-HPU", DistributedType::kMultiHpu},
    {"multi-GPU", DistributedType::kMultiGpu},
    {"multi-NPU", DistributedType::kMultiNpu},
    {"multi-MLU", DistributedType::kMultiMlu},
    {"multi-SDAA", DistributedType::kMultiSdaa},
    {"multi-MUSA", DistributedType::kMultiMusa},
    {"multi-NEURON", DistributedType::kMultiNeuron},
    {"TPU", DistributedType::kXla},
};

// accelerate's DYNAMO_BACKENDS (the menu shows them lower-cased; the config stores the upper-case enum
// value). accelerate lists the misspelt TORHCHXLA_TRACE_ONCE; its enum value is TORCHXLA_TRACE_ONCE.
constexpr std::string_view kDynamoBackends[] = {
    "EAGER",  "AOT_EAGER", "INDUCTOR", "AOT_TS_NVFUSER",          "NVPRIMS_NVFUSER",     "CUDAGRAPHS", "OFI",
    "FX2TRT", "ONNXRT",    "TENSORRT", "AOT_TORCHXLA_TRACE_ONCE", "TORHCHXLA_TRACE_ONCE", "TVM",
};
constexpr size_t kDefaultDynamoBackend = 2;  // INDUCTOR

const std::vector<std::string> kDynamoModes = {"default", "reduce-overhead", "max-autotune"};
const std::vector<std::string> kDeepSpeedDevices = {"none", "cpu", "nvme"};
const std::vector<std::string> kDeepSpeedMultinodeLaunchers = {"pdsh",  "standard", "openmpi", "mvapich",
                                                               "mpich", "nossh",    "slurm"};
const std::vector<std::string> kFsdpShardingStrategies = {"FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD",
                                                          "HYBRID_SHARD_ZERO2"};
const std::vector<std::string> kFsdpAutoWrapPolicies = {"TRANSFORMER_BASED_WRAP", "SIZE_BASED_WRAP", "NO_WRAP"};
const std::vector<std::string> kFsdpBackwardPrefetch = {"BACKWARD_PRE", "BACKWARD_POST", "NO_PREFETCH"};
const std::vector<std::string> kFsdpStateDictTypes = {"FULL_STATE_DICT", "LOCAL_STATE_DICT", "SHARDED_STATE_DICT"};
const std::vector<std::string> kFsdp2StateDictTypes = {"SHARDED_STATE_DICT", "FULL_STATE_DICT"};
const std::vector<std::string> kMixedPrecisions = {"no", "fp16", "bf16", "fp8"};

std::vector<std::string> NumberOptions(int count) {
  std::vector<std::string> options;
  for (int i = 0; i < count; ++i) options.push_back(std::to_string(i));
  return options;
}

// Python's os.path.expanduser.
std::string ExpandUser(const std::string& path, const common::Environment* env) {
  if (!path.starts_with("~")) return path;
  size_t slash = path.find('/', 1);
  if (slash == std::string::npos) slash = path.size();
  std::string home;
  if (slash == 1) {
    if (env != nullptr && env->Get("HOME")) {
      home = *env->Get("HOME");
    } else if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr && entry->pw_dir != nullptr) {
      home = entry->pw_dir;
    } else {
      return path;
    }
  } else {
    const std::string user = path.substr(1, slash - 1);
    const passwd* entry = ::getpwnam(user.c_str());
    if (entry == nullptr || entry->pw_dir == nullptr) return path;
    home = entry->pw_dir;
  }
  while (!home.empty() && home.back() == '/') home.pop_back();
  std::string expanded = home + path.substr(slash);
  return expanded.empty() ? "/" : expanded;
}

// Python's os.path.abspath.
std::string AbsolutePath(const std::string& path) {
  std::error_code error;
  std::string absolute = std::filesystem::absolute(path.empty() ? "." : path, error).lexically_normal().string();
  if (error) return path;
  while (absolute.size() > 1 && absolute.back() == '/') absolute.pop_back();
  return absolute;
}

// "all" or a comma-separated list of device indices: what the config loader accepts for gpu_ids.
absl::StatusOr<std::string> ConvertGpuIds(std::string_view answer) {
  bool valid = answer == "all";
  if (!valid && !answer.empty()) {
    valid = true;
    for (std::string_view id : common::StrSplit(answer, ',')) {
      const std::optional<int64_t> index = common::ParseInt64(common::StripWhitespace(id));
      if (!index || *index < 0) valid = false;
    }
  }
  if (!valid) return absl::InvalidArgumentError("Please enter `all` or a comma-separated list of ids such as 0,1.");
  return std::string(answer);
}

// What the process-count question calls the devices: accelerate's
// `str(distributed_type).split(".")[1].replace("MULTI_", "")` with its suffixes.
std::string ProcessUnit(DistributedType type) {
  std::string name(common::ToString(type));
  if (name.starts_with("MULTI_")) name = name.substr(6);
  if (name == "TPU" || name == "NEURON") return name + " cores";
  if (name == "CPU") return "processes";
  return name + "(s)";
}

// What the device-id question calls the devices. accelerate names the accelerator it detects; the
// chosen machine type stands in for that here.
std::string_view DeviceUnit(DistributedType type) {
  switch (type) {
    case DistributedType::kMultiNpu: return "NPU(s)";
    case DistributedType::kMultiMlu: return "MLU(s)";
    case DistributedType::kMultiSdaa: return "SDAA(s)";
    case DistributedType::kMultiMusa: return "MUSA(s)";
    case DistributedType::kMultiXpu: return "XPU(s)";
    case DistributedType::kMultiHpu: return "HPU(s)";
    case DistributedType::kMultiNeuron: return "Neuron cores";
    default: return "GPU(s)";
  }
}

// One run of the cluster questionnaire. Each Ask* method is one block of get_cluster_input and fills
// the fields that block decides; they must run in Run's order, since later blocks read earlier answers.
class ClusterQuestionnaire {
 public:
  ClusterQuestionnaire(Prompter& prompter, const common::Environment* env) : ask_(prompter), env_(env) {
    // The flow's own defaults, which differ from the config file's defaults (see ClusterConfig()).
    config_.compute_environment = common::ComputeEnvironment::kLocalMachine;
    config_.num_processes = 1;
    config_.same_network = true;
    config_.rdzv_backend = "static";
    config_.main_training_function = "main";
    config_.tpu_env = std::vector<std::string>{};
    config_.downcast_bf16 = false;  // accelerate writes 'no'; the struct keeps the meaning
  }

  absl::StatusOr<ClusterConfig> Run() {
    RETURN_IF_ERROR(AskMachines());
    RETURN_IF_ERROR(AskCpu());
    RETURN_IF_ERROR(AskDynamo());
    RETURN_IF_ERROR(AskDeepSpeed());
    RETURN_IF_ERROR(AskFsdp());
    RETURN_IF_ERROR(AskParallelism());
    RETURN_IF_ERROR(AskMegatron());
    RETURN_IF_ERROR(AskProcesses());
    RETURN_IF_ERROR(AskDeviceIds());
    RETURN_IF_ERROR(AskCpuAffinity());
    if (type() == DistributedType::kXla) {
      RETURN_IF_ERROR(AskTpu());
    } else {
      RETURN_IF_ERROR(AskMixedPrecision());
    }
    if (use_dynamo_ && config_.mixed_precision == "no" && !config_.use_cpu) {
      ask_.Print(
          "Torch dynamo used without mixed precision requires TF32 to be efficient. Accelerate will enable it by "
          "default when launching your scripts.");
    }
    // accelerate asks about bf16 downcasting for XLA with bf16, but the XLA branch always sets
    // mixed_precision to "no", so that question is never reached.
    return std::move(config_);
  }

 private:
  DistributedType type() const { return config_.distributed_type; }

  absl::Status AskMachines() {
    std::vector<std::string> labels;
    for (const MachineType& machine : kMachineTypes) labels.emplace_back(machine.label);
    ASSIGN_OR_RETURN(const size_t machine, ask_.AskOptions("Which type of machine are you using?", labels));
    config_.distributed_type = kMachineTypes[machine].type;

    if (!IsOneOf(type(), {DistributedType::kMultiGpu, DistributedType::kMultiMlu, DistributedType::kMultiSdaa,
                          DistributedType::kMultiMusa, DistributedType::kMultiNpu, DistributedType::kMultiXpu,
                          DistributedType::kMultiCpu, DistributedType::kMultiHpu, DistributedType::kMultiNeuron})) {
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(
        config_.num_machines,
        ask_.AskField<int>("How many different machines will you use (use more than 1 for multi-node training)? [1]: ",
                           IntegerIn(1, kMaxCount), 1));
    if (config_.num_machines > 1) {
      ASSIGN_OR_RETURN(const size_t rank,
                       ask_.AskOptions("What is the rank of this machine?", NumberOptions(config_.num_machines)));
      config_.machine_rank = static_cast<int>(rank);
      ASSIGN_OR_RETURN(config_.main_process_ip,
                       ask_.AskText("What is the IP address of the machine that will host the main process? "));
      ASSIGN_OR_RETURN(config_.main_process_port,
                       ask_.AskField<int>("What is the port you will use to communicate with the main process? ",
                                          IntegerIn(0, 65535)));
      ASSIGN_OR_RETURN(config_.same_network,
                       ask_.AskYesNo("Are all the machines on the same local network? Answer `no` if nodes are on the "
                                     "cloud and/or on different network hosts [YES/no]: ",
                                     true));
      if (!config_.same_network) {
        ASSIGN_OR_RETURN(config_.rdzv_backend,
                         ask_.AskText("What rendezvous backend will you use? ('static', 'c10d', ...): ", "static"));
      }
    }
    ASSIGN_OR_RETURN(config_.debug,
                     ask_.AskYesNo("Should distributed operations be checked while running for errors? This can "
                                   "avoid timeout issues but will be slower. [yes/NO]: ",
                                   false));
    return absl::OkStatus();
  }

  absl::Status AskCpu() {
    if (type() == DistributedType::kNo) {
      ASSIGN_OR_RETURN(config_.use_cpu,
                       ask_.AskYesNo("Do you want to run your training on CPU only (even if a GPU / Apple Silicon / "
                                     "Ascend NPU device is available)? [yes/NO]:",
                                     false));
    } else {
      config_.use_cpu = type() == DistributedType::kMultiCpu;
    }
    if (config_.use_cpu && type() == DistributedType::kMultiCpu) {
      ASSIGN_OR_RETURN(const bool use_mpirun, ask_.AskYesNo("Do you want accelerate to launch mpirun? [yes/NO]: ", false));
      if (use_mpirun) {
        ASSIGN_OR_RETURN(const std::string hostfile,
                         ask_.AskText("Please enter the path to the hostfile to use with mpirun [~/hostfile]: ",
                                      "~/hostfile"));
        config_.mpirun_config["mpirun_hostfile"] =
            ExpandUser(std::string(common::StripWhitespace(hostfile)), env_);
      }
    }
    return absl::OkStatus();
  }

  absl::Status AskDynamo() {
    ASSIGN_OR_RETURN(use_dynamo_,
                     ask_.AskYesNo("Do you wish to optimize your script with torch dynamo?[yes/NO]:", false));
    if (!use_dynamo_) return absl::OkStatus();
    std::vector<std::string> backends;
    for (std::string_view backend : kDynamoBackends) backends.push_back(common::AsciiToLower(backend));
    ASSIGN_OR_RETURN(const size_t backend,
                     ask_.AskOptions("Which dynamo backend would you like to use?", backends, kDefaultDynamoBackend));
    const std::string_view value = kDynamoBackends[backend];
    config_.dynamo_config["dynamo_backend"] = value == "TORHCHXLA_TRACE_ONCE" ? "TORCHXLA_TRACE_ONCE" : std::string(value);

    ASSIGN_OR_RETURN(const bool customize,
                     ask_.AskYesNo("Do you want to customize the defaults sent to torch.compile? [yes/NO]: ", false));
    if (!customize) return absl::OkStatus();
    ASSIGN_OR_RETURN(const size_t mode, ask_.AskOptions("Which mode do you want to use?", kDynamoModes, 0));
    config_.dynamo_config["dynamo_mode"] = kDynamoModes[mode];
    ASSIGN_OR_RETURN(config_.dynamo_config["dynamo_use_fullgraph"],
                     ask_.AskYesNo("Do you want the fullgraph mode or it is ok to break model into several "
                                   "subgraphs? [yes/NO]: ",
                                   false));
    ASSIGN_OR_RETURN(config_.dynamo_config["dynamo_use_dynamic"],
                     ask_.AskYesNo("Do you want to enable dynamic shape tracing? [yes/NO]: ", false));
    ASSIGN_OR_RETURN(config_.dynamo_config["dynamo_use_regional_compilation"],
                     ask_.AskYesNo("Do you want to enable regional compilation? [yes/NO]: ", false));
    return absl::OkStatus();
  }

  absl::Status AskDeepSpeed() {
    // accelerate also skips this block when Apple MPS is in use; it never is on Linux.
    if (!IsOneOf(type(), {DistributedType::kMultiGpu, DistributedType::kMultiXpu, DistributedType::kMultiHpu,
                          DistributedType::kMultiNpu, DistributedType::kMultiMlu, DistributedType::kMultiSdaa,
                          DistributedType::kMultiMusa, DistributedType::kMultiNeuron, DistributedType::kNo})) {
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(const bool use_deepspeed, ask_.AskYesNo("Do you want to use DeepSpeed? [yes/NO]: ", false));
    if (!use_deepspeed) return absl::OkStatus();
    if (type() == DistributedType::kMultiNeuron) {
      return absl::InvalidArgumentError("DeepSpeed is not supported on Neuron devices.");
    }
    config_.distributed_type = DistributedType::kDeepSpeed;
    ConfigValue& deepspeed = config_.deepspeed_config;

    ASSIGN_OR_RETURN(use_deepspeed_config_file_,
                     ask_.AskYesNo("Do you want to specify a json file to a DeepSpeed config? [yes/NO]: ", false));
    if (use_deepspeed_config_file_) {
      ASSIGN_OR_RETURN(deepspeed["deepspeed_config_file"],
                       ask_.AskText("Please enter the path to the json DeepSpeed config file: ", "none"));
    } else {
      ASSIGN_OR_RETURN(const size_t stage, ask_.AskOptions("What should be your DeepSpeed's ZeRO optimization stage?",
                                                           NumberOptions(4), 2));
      deepspeed["zero_stage"] = static_cast<int>(stage);
      if (stage >= 2) {
        ASSIGN_OR_RETURN(const size_t optimizer_device,
                         ask_.AskOptions("Where to offload optimizer states?", kDeepSpeedDevices));
        deepspeed["offload_optimizer_device"] = kDeepSpeedDevices[optimizer_device];
        ASSIGN_OR_RETURN(const size_t param_device, ask_.AskOptions("Where to offload parameters?", kDeepSpeedDevices));
        deepspeed["offload_param_device"] = kDeepSpeedDevices[param_device];
        if (kDeepSpeedDevices[param_device] == "nvme") {
          ASSIGN_OR_RETURN(deepspeed["offload_param_nvme_path"],
                           ask_.AskText("Nvme Path to offload parameters?", "/nvme"));
        }
        if (kDeepSpeedDevices[optimizer_device] == "nvme") {
          ASSIGN_OR_RETURN(deepspeed["offload_optimizer_nvme_path"],
                           ask_.AskText("Nvme Path to offload optimizer states?", "/nvme"));
        }
      }
      ASSIGN_OR_RETURN(deepspeed["gradient_accumulation_steps"],
                       ask_.AskField<int>("How many gradient accumulation steps you're passing in your script? [1]: ",
                                          IntegerIn(1, 1 << 30), 1));
      ASSIGN_OR_RETURN(const bool use_clipping,
                       ask_.AskYesNo("Do you want to use gradient clipping? [yes/NO]: ", false));
      if (use_clipping) {
        ASSIGN_OR_RETURN(deepspeed["gradient_clipping"],
                         ask_.AskField<double>("What is the gradient clipping value? [1.0]: ", ConvertFloat, 1.0));
      }
      if (stage == 3) {
        ASSIGN_OR_RETURN(deepspeed["zero3_save_16bit_model"],
                         ask_.AskYesNo("Do you want to save 16-bit model weights when using ZeRO Stage-3? [yes/NO]: ",
                                       false));
      }
    }
    ASSIGN_OR_RETURN(deepspeed["zero3_init_flag"],
                     ask_.AskYesNo("Do you want to enable `deepspeed.zero.Init` when using ZeRO Stage-3 for "
                                   "constructing massive models? [yes/NO]: ",
                                   false));
    ASSIGN_OR_RETURN(const bool use_moe,
                     ask_.AskYesNo("Do you want to enable Mixture-of-Experts training (MoE)? [yes/NO]: ", false));
    if (use_moe) {
      ASSIGN_OR_RETURN(deepspeed["deepspeed_moe_layer_cls_names"],
                       ask_.AskText("Specify the comma-separated list of transformers MoE layer class names "
                                    "(case-sensitive), e.g :  `MixtralSparseMoeBlock`, `Qwen2MoeSparseMoeBlock`, "
                                    "`JetMoEAttention,JetMoEBlock` ... : "));
    }
    if (config_.num_machines > 1) {
      ASSIGN_OR_RETURN(const size_t launcher,
                       ask_.AskOptions("Which Type of launcher do you want to use?", kDeepSpeedMultinodeLaunchers));
      deepspeed["deepspeed_multinode_launcher"] = kDeepSpeedMultinodeLaunchers[launcher];
      if (kDeepSpeedMultinodeLaunchers[launcher] != "standard") {
        ASSIGN_OR_RETURN(
            deepspeed["deepspeed_hostfile"],
            ask_.AskText("DeepSpeed configures multi-node compute resources with hostfile. Each row is of the format "
                         "`hostname slots=[num_gpus]`, e.g., `localhost slots=2`; for more information please refer "
                         "official [documentation](https://www.deepspeed.ai/getting-started/"
                         "#resource-configuration-multi-node). Please specify the location of hostfile: "));
        ASSIGN_OR_RETURN(const bool exclusion,
                         ask_.AskYesNo("Do you want to specify exclusion filter string? [yes/NO]: ", false));
        if (exclusion) {
          ASSIGN_OR_RETURN(deepspeed["deepspeed_exclusion_filter"],
                           ask_.AskText("DeepSpeed exclusion filter string: "));
        }
        ASSIGN_OR_RETURN(const bool inclusion,
                         ask_.AskYesNo("Do you want to specify inclusion filter string? [yes/NO]: ", false));
        if (inclusion) {
          ASSIGN_OR_RETURN(deepspeed["deepspeed_inclusion_filter"],
                           ask_.AskText("DeepSpeed inclusion filter string: "));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status AskFsdp() {
    if (!IsOneOf(type(), {DistributedType::kMultiGpu, DistributedType::kMultiNpu, DistributedType::kMultiMlu,
                          DistributedType::kMultiSdaa, DistributedType::kMultiMusa, DistributedType::kMultiXpu,
                          DistributedType::kMultiHpu, DistributedType::kMultiNeuron})) {
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(const bool use_fsdp,
                     ask_.AskYesNo("Do you want to use FullyShardedDataParallel? [yes/NO]: ", false));
    if (!use_fsdp) return absl::OkStatus();
    if (type() == DistributedType::kMultiNeuron) {
      return absl::InvalidArgumentError("FSDP is not currently supported on Neuron devices.");
    }
    config_.distributed_type = DistributedType::kFsdp;
    ConfigValue& fsdp = config_.fsdp_config;

    // The menu lists [1, 2] and defaults to position 1, i.e. version 2.
    ASSIGN_OR_RETURN(const size_t version_index,
                     ask_.AskOptions("What should be your FSDP version? [2]: ", {"1", "2"}, 1));
    const int version = static_cast<int>(version_index) + 1;
    fsdp["fsdp_version"] = version;

    if (version == 1) {
      ASSIGN_OR_RETURN(const size_t strategy,
                       ask_.AskOptions("What should be your sharding strategy?", kFsdpShardingStrategies));
      fsdp["fsdp_reshard_after_forward"] = kFsdpShardingStrategies[strategy];
    } else {
      ASSIGN_OR_RETURN(fsdp["fsdp_reshard_after_forward"],
                       ask_.AskYesNo("Do you want to enable resharding after forward? [YES/no]: ", true));
    }
    ASSIGN_OR_RETURN(fsdp["fsdp_offload_params"],
                     ask_.AskYesNo("Do you want to offload parameters and gradients to CPU? [yes/NO]: ", false));

    ASSIGN_OR_RETURN(const size_t policy,
                     ask_.AskOptions("What should be your auto wrap policy?", kFsdpAutoWrapPolicies));
    fsdp["fsdp_auto_wrap_policy"] = kFsdpAutoWrapPolicies[policy];
    if (policy == 0) {
      ASSIGN_OR_RETURN(const bool use_no_split_modules,
                       ask_.AskYesNo("Do you want to use the model's `_no_split_modules` to wrap. Only applicable for "
                                     "🤗 Transformers [yes/NO]: ",
                                     false));
      if (!use_no_split_modules) {
        ASSIGN_OR_RETURN(fsdp["fsdp_transformer_layer_cls_to_wrap"],
                         ask_.AskText("Specify the comma-separated list of transformer layer class names "
                                      "(case-sensitive) to wrap ,e.g, :`BertLayer`, `GPTJBlock`, `T5Block`, "
                                      "`BertLayer,BertEmbeddings,BertSelfOutput` ...? : "));
      }
    } else if (policy == 1) {
      ASSIGN_OR_RETURN(fsdp["fsdp_min_num_params"],
                       ask_.AskField<int>("What should be your FSDP's minimum number of parameters for Default Auto "
                                          "Wrapping Policy? [1e8]: ",
                                          IntegerIn(0, INT_MAX), 100000000));
    }
    if (version == 1) {  // removed in FSDP2
      ASSIGN_OR_RETURN(const size_t prefetch,
                       ask_.AskOptions("What should be your FSDP's backward prefetch policy?", kFsdpBackwardPrefetch));
      fsdp["fsdp_backward_prefetch"] = kFsdpBackwardPrefetch[prefetch];
    }
    const std::vector<std::string>& state_dict_types = version == 1 ? kFsdpStateDictTypes : kFsdp2StateDictTypes;
    ASSIGN_OR_RETURN(const size_t state_dict,
                     ask_.AskOptions("What should be your FSDP's state dict type?", state_dict_types, 0));
    fsdp["fsdp_state_dict_type"] = state_dict_types[state_dict];
    if (version == 1) {  // not in FSDP2
      ASSIGN_OR_RETURN(fsdp["fsdp_forward_prefetch"],
                       ask_.AskYesNo("Do you want to enable FSDP's forward prefetch policy? [yes/NO]: ", false));
      ASSIGN_OR_RETURN(fsdp["fsdp_use_orig_params"],
                       ask_.AskYesNo("Do you want to enable FSDP's `use_orig_params` feature? [YES/no]: ", true));
    }
    ASSIGN_OR_RETURN(const bool cpu_ram_efficient_loading,
                     ask_.AskYesNo("Do you want to enable CPU RAM efficient model loading? Only applicable for 🤗 "
                                   "Transformers models. [YES/no]: ",
                                   true));
    fsdp["fsdp_cpu_ram_efficient_loading"] = cpu_ram_efficient_loading;
    if (version == 1) {  // obsolete in FSDP2
      if (cpu_ram_efficient_loading) {
        fsdp["fsdp_sync_module_states"] = true;
      } else {
        ASSIGN_OR_RETURN(fsdp["fsdp_sync_module_states"],
                         ask_.AskYesNo("Do you want each individually wrapped FSDP unit to broadcast module parameters "
                                       "from rank 0 at the start? [YES/no]: ",
                                       true));
      }
    }
    ASSIGN_OR_RETURN(fsdp["fsdp_activation_checkpointing"],
                     ask_.AskYesNo("Do you want to enable FSDP activation checkpointing? [yes/NO]: ", false));
    return absl::OkStatus();
  }

  absl::Status AskParallelism() {
    const ConfigValue& fsdp = config_.fsdp_config;
    if (!fsdp.contains("fsdp_version") || fsdp["fsdp_version"] != 2) return absl::OkStatus();
    ASSIGN_OR_RETURN(const bool use_parallelism_config,
                     ask_.AskYesNo("Do you want to use the parallelism config? [yes/NO]: ", false));
    if (!use_parallelism_config) return absl::OkStatus();
    ConfigValue& parallelism = config_.parallelism_config;
    ASSIGN_OR_RETURN(parallelism["parallelism_config_dp_replicate_size"],
                     ask_.AskField<int>("What is the data parallelism replicate size? [1]: ", IntegerIn(1, kMaxCount), 1));
    ASSIGN_OR_RETURN(parallelism["parallelism_config_dp_shard_size"],
                     ask_.AskField<int>("What is the FSDP shard size? [1]: ", IntegerIn(-1, kMaxCount), 1));
    ASSIGN_OR_RETURN(parallelism["parallelism_config_tp_size"],
                     ask_.AskField<int>("What is the tensor parallelism size? [1]: ", IntegerIn(1, kMaxCount), 1));
    ASSIGN_OR_RETURN(const int cp_size,
                     ask_.AskField<int>("What is the context parallelism size? [1]: ", IntegerIn(1, kMaxCount), 1));
    parallelism["parallelism_config_cp_size"] = cp_size;
    if (cp_size > 1) {
      const std::vector<std::string> strategies = {"allgather", "alltoall"};
      ASSIGN_OR_RETURN(const size_t strategy,
                       ask_.AskOptions("What is the compute parallelism communication strategy?", strategies, 0));
      parallelism["parallelism_config_cp_comm_strategy"] = strategies[strategy];
    }
    return absl::OkStatus();
  }

  absl::Status AskMegatron() {
    if (type() != DistributedType::kMultiGpu) return absl::OkStatus();
    ASSIGN_OR_RETURN(const bool use_megatron, ask_.AskYesNo("Do you want to use Megatron-LM ? [yes/NO]: ", false));
    if (!use_megatron) return absl::OkStatus();
    config_.distributed_type = DistributedType::kMegatronLm;
    ConfigValue& megatron = config_.megatron_lm_config;
    ASSIGN_OR_RETURN(const int tp_degree, ask_.AskField<int>("What is the Tensor Parallelism degree/size? [1]:",
                                                             IntegerIn(1, kMaxCount), 1));
    megatron["megatron_lm_tp_degree"] = tp_degree;
    if (tp_degree > 1) {
      ASSIGN_OR_RETURN(megatron["megatron_lm_sequence_parallelism"],
                       ask_.AskYesNo("Do you want to enable Sequence Parallelism? [YES/no]: ", true));
    }
    ASSIGN_OR_RETURN(const int pp_degree, ask_.AskField<int>("What is the Pipeline Parallelism degree/size? [1]:",
                                                             IntegerIn(1, kMaxCount), 1));
    megatron["megatron_lm_pp_degree"] = pp_degree;
    if (pp_degree > 1) {
      ASSIGN_OR_RETURN(megatron["megatron_lm_num_micro_batches"],
                       ask_.AskField<int>("What is the number of micro-batches? [1]:", IntegerIn(1, INT_MAX), 1));
    }
    ASSIGN_OR_RETURN(megatron["megatron_lm_recompute_activations"],
                     ask_.AskYesNo("Do you want to enable selective activation recomputation? [YES/no]: ", true));
    ASSIGN_OR_RETURN(megatron["megatron_lm_use_distributed_optimizer"],
                     ask_.AskYesNo("Do you want to use distributed optimizer which shards optimizer state and "
                                   "gradients across data parallel ranks? [YES/no]: ",
                                   true));
    ASSIGN_OR_RETURN(megatron["megatron_lm_gradient_clipping"],
                     ask_.AskField<double>("What is the gradient clipping value based on global L2 Norm (0 to "
                                           "disable)? [1.0]: ",
                                           ConvertFloat, 1.0));
    return absl::OkStatus();
  }

  absl::Status AskProcesses() {
    if (IsOneOf(type(), {DistributedType::kMultiCpu, DistributedType::kMultiXpu, DistributedType::kMultiHpu,
                         DistributedType::kMultiGpu, DistributedType::kMultiMlu, DistributedType::kMultiSdaa,
                         DistributedType::kMultiMusa, DistributedType::kMultiNpu, DistributedType::kMultiNeuron,
                         DistributedType::kXla})) {
      ASSIGN_OR_RETURN(config_.num_processes,
                       ask_.AskField<int>(common::StrCat("How many ", ProcessUnit(type()),
                                                         " should be used for distributed training? [1]:"),
                                          IntegerIn(1, kMaxCount), 1));
    } else if (IsOneOf(type(), {DistributedType::kFsdp, DistributedType::kDeepSpeed, DistributedType::kMegatronLm})) {
      ASSIGN_OR_RETURN(config_.num_processes,
                       ask_.AskField<int>("How many GPU(s) should be used for distributed training? [1]:",
                                          IntegerIn(1, kMaxCount), 1));
    } else {
      config_.num_processes = 1;
    }
    if (type() == DistributedType::kMultiGpu && config_.num_machines == 1 && config_.num_processes == 1) {
      return absl::InvalidArgumentError(
          "Specified distributed type MULTI_GPU but only using 1 GPU on a single machine. Please select `No "
          "distributed training` for the type of machine you are using.");
    }
    return absl::OkStatus();
  }

  absl::Status AskDeviceIds() {
    if (config_.use_cpu ||
        !IsOneOf(type(), {DistributedType::kMultiGpu, DistributedType::kMultiMlu, DistributedType::kMultiSdaa,
                          DistributedType::kMultiMusa, DistributedType::kMultiNpu, DistributedType::kMultiXpu,
                          DistributedType::kMultiHpu, DistributedType::kMultiNeuron, DistributedType::kNo})) {
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(config_.gpu_ids,
                     ask_.AskField<std::string>(common::StrCat("What ", DeviceUnit(type()),
                                                               " (by id) should be used for training on this machine "
                                                               "as a comma-separated list? [all]:"),
                                                ConvertGpuIds, std::string("all")));
    return absl::OkStatus();
  }

  absl::Status AskCpuAffinity() {
    if (config_.use_cpu || !IsOneOf(type(), {DistributedType::kNo, DistributedType::kMultiGpu})) {
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(config_.enable_cpu_affinity,
                     ask_.AskYesNo("Would you like to enable numa efficiency? (Currently only supported on NVIDIA "
                                   "hardware). [yes/NO]: ",
                                   false));
    return absl::OkStatus();
  }

  absl::Status AskTpu() {
    config_.mixed_precision = "no";
    ASSIGN_OR_RETURN(config_.main_training_function,
                     ask_.AskText("What is the name of the function in your script that should be launched in all "
                                  "parallel scripts? [main]: ",
                                  "main"));
    ASSIGN_OR_RETURN(config_.tpu_use_cluster, ask_.AskYesNo("Are you using a TPU cluster? [yes/NO]: ", false));
    if (!config_.tpu_use_cluster) return absl::OkStatus();
    ASSIGN_OR_RETURN(config_.tpu_name, ask_.AskText("What is the name of your TPU cluster? "));
    ASSIGN_OR_RETURN(config_.tpu_zone, ask_.AskText("What is the zone of your TPU cluster? "));
    ASSIGN_OR_RETURN(config_.tpu_use_sudo,
                     ask_.AskYesNo("To run a python script in a TPU pod, should `sudo` be used? [yes/NO]: ", false));
    ASSIGN_OR_RETURN(const bool run_commands,
                     ask_.AskYesNo("Do you have code you wish to run on startup in each pod? [yes/NO]: ", false));
    if (run_commands) {
      ASSIGN_OR_RETURN(const bool use_command_file,
                       ask_.AskYesNo("Is this code located in a bash script? [yes/NO]: ", false));
      if (use_command_file) {
        ASSIGN_OR_RETURN(const std::string command_file, ask_.AskText("What is the path to your bash script? "));
        config_.command_file = AbsolutePath(command_file);
      } else {
        ask_.Print("Please enter each command separately you wish to run on startup in each pod.");
        std::vector<std::string> commands;
        bool another_command = true;
        while (another_command) {
          ASSIGN_OR_RETURN(std::string command, ask_.AskText("Please enter a single command to be ran "));
          commands.push_back(std::move(command));
          ASSIGN_OR_RETURN(another_command, ask_.AskYesNo("Do you wish to add another command? [yes/NO]: ", false));
        }
        config_.commands = std::move(commands);
      }
    }
    auto split = [](const std::string& text) {
      std::vector<std::string> items;
      for (std::string_view item : common::StrSplit(text, ',')) items.emplace_back(item);
      return items;
    };
    ASSIGN_OR_RETURN(const std::string vms,
                     ask_.AskText("If not using an instance group, what are the names of the Compute VM instances to "
                                  "be used, separated by a comma: ",
                                  ""));
    config_.tpu_vm = split(vms);
    ASSIGN_OR_RETURN(const std::string env,
                     ask_.AskText("What environment variables do you wish to set in each pod, separated by a comma: ",
                                  ""));
    config_.tpu_env = split(env);
    return absl::OkStatus();
  }

  absl::Status AskMixedPrecision() {
    config_.main_training_function = "main";
    if (type() == DistributedType::kDeepSpeed && use_deepspeed_config_file_) {
      config_.mixed_precision = std::nullopt;  // the DeepSpeed json file decides
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(const size_t precision, ask_.AskOptions("Do you wish to use mixed precision?", kMixedPrecisions));
    config_.mixed_precision = kMixedPrecisions[precision];
    if (*config_.mixed_precision == "fp8") RETURN_IF_ERROR(AskFp8());
    return absl::OkStatus();
  }

  absl::Status AskFp8() {
    ConfigValue& fp8 = config_.fp8_config;
    const std::vector<std::string> backends = {"ao", "te", "msamp"};
    ASSIGN_OR_RETURN(const size_t backend_index, ask_.AskOptions("Which FP8 backend do you want to use?", backends));
    const std::string backend = common::AsciiToUpper(backends[backend_index]);
    fp8["backend"] = backend;
    if (backend == "TE") {
      ASSIGN_OR_RETURN(fp8["use_autocast_during_eval"],
                       ask_.AskYesNo("Do you want to use FP8 autocast during eval mode? Generally better metrics are "
                                     "found when this is disabled [yes/NO]: ",
                                     false));
      ASSIGN_OR_RETURN(fp8["margin"], ask_.AskField<int>("What margin should be used for gradient scaling? [0]: ",
                                                         IntegerIn(INT_MIN, INT_MAX), 0));
      ASSIGN_OR_RETURN(fp8["interval"],
                       ask_.AskField<int>("What interval should be used for for how often the scaling factor is "
                                          "recomputed? [1]: ",
                                          IntegerIn(INT_MIN, INT_MAX), 1));
      const std::vector<std::string> formats = {"HYBRID", "E4M3", "E5M2"};
      ASSIGN_OR_RETURN(const size_t format, ask_.AskOptions("Which weight format should be used?", formats, 0));
      fp8["fp8_format"] = formats[format];
      ASSIGN_OR_RETURN(fp8["amax_history_length"],
                       ask_.AskField<int>("What length of history should be used for the amax scaling factor "
                                          "computation? [1024]: ",
                                          IntegerIn(INT_MIN, INT_MAX), 1024));
      const std::vector<std::string> algorithms = {"max", "most_recent"};
      ASSIGN_OR_RETURN(const size_t algorithm,
                       ask_.AskOptions("Which algorithm should be used for the amax scaling factor computation?",
                                       algorithms, 0));
      fp8["amax_compute_algorithm"] = algorithms[algorithm];
      ASSIGN_OR_RETURN(const bool override_precision,
                       ask_.AskYesNo("Do you want to to execute `fprop`, `dgrad`, and `wgrad` GEMMS in higher "
                                     "precision? [yes/NO]: ",
                                     false));
      ConfigValue precision = ConfigValue::array({false, false, false});
      if (override_precision) {
        ASSIGN_OR_RETURN(precision[0], ask_.AskYesNo("Should `fprop` be executed in higher precision? [yes/NO]: ", false));
        ASSIGN_OR_RETURN(precision[1], ask_.AskYesNo("Should `dgrad` be executed in higher precision? [yes/NO]: ", false));
        ASSIGN_OR_RETURN(precision[2], ask_.AskYesNo("Should `wgrad` be executed in higher precision? [yes/NO]: ", false));
      }
      fp8["override_linear_precision"] = std::move(precision);
    } else if (backend == "MSAMP") {
      const std::vector<std::string> levels = {"O1", "O2"};
      ASSIGN_OR_RETURN(const size_t level, ask_.AskOptions("Which optimization level should be used?", levels, 1));
      fp8["optimization_level"] = levels[level];
    } else {  // AO
      ASSIGN_OR_RETURN(fp8["enable_fsdp_float8_all_gather"],
                       ask_.AskYesNo("Do you want to enable FSDP2 float8 all gather? This is recommended for better "
                                     "performance if using FSDP2. [YES/no]: ",
                                     true));
      ASSIGN_OR_RETURN(fp8["pad_inner_dim"],
                       ask_.AskYesNo("Do you want to pad the inner dimension of weight matrices before float8 "
                                     "matmuls? This is required for _scaled_mm which has strict alignment "
                                     "requirements. Note: padding may cause memory spikes. [YES/no]: ",
                                     true));
    }
    return absl::OkStatus();
  }

  Prompter& ask_;
  const common::Environment* env_;
  ClusterConfig config_;
  bool use_dynamo_ = false;
  bool use_deepspeed_config_file_ = false;
};

}  // namespace

absl::StatusOr<common::ClusterConfig> RunConfigQuestionnaire(const QuestionnaireIo& io) {
  if (io.in == nullptr || io.out == nullptr) {
    return absl::InternalError("the questionnaire needs an input and an output stream");
  }
  Prompter prompter(*io.in, *io.out, io.interactive);
  ASSIGN_OR_RETURN(const size_t environment,
                   prompter.AskOptions("In which compute environment are you running?",
                                       {"This machine", "AWS (Amazon SageMaker)"}));
  if (environment == 1) {
    return absl::UnimplementedError(
        "the AWS (Amazon SageMaker) questionnaire is not supported by accelctl; use `accelerate config`");
  }
  ClusterQuestionnaire questionnaire(prompter, io.env);
  ASSIGN_OR_RETURN(common::ClusterConfig config, questionnaire.Run());
  // The answers were checked one by one; this catches a combination the loader would refuse, so that
  // no file is written that `accelctl launch` cannot read.
  auto checked = common::ClusterConfigFromValue(common::ClusterConfigToValue(config), "the answers");
  if (!checked.ok()) return checked.status();
  return config;
}

}  // namespace accel::client
