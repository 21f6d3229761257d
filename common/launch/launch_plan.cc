#include "common/launch/launch_plan.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "common/status_macros.h"
#include "common/strings.h"

namespace accel::common {
namespace {

using EnvMap = std::map<std::string, std::string>;

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

std::string PyBool(bool value) { return value ? "True" : "False"; }

std::optional<int64_t> AsInt(const ConfigValue& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) return static_cast<int64_t>(value.get<double>());
  if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
  if (value.is_string()) return ParseInt64(value.get<std::string>());
  return std::nullopt;
}

// Python's str(value).lower(), the form accelerate exports many variables in.
std::string LowerStr(const ConfigValue& value) { return AsciiToLower(PythonStr(value)); }

bool IsMultiDeviceType(DistributedType type) {
  switch (type) {
    case DistributedType::kMultiGpu:
    case DistributedType::kMultiNpu:
    case DistributedType::kMultiMlu:
    case DistributedType::kMultiSdaa:
    case DistributedType::kMultiMusa:
    case DistributedType::kMultiXpu:
    case DistributedType::kMultiHpu:
    case DistributedType::kMultiNeuron:
      return true;
    default:
      return false;
  }
}

constexpr std::array<std::string_view, 16> kDynamoBackends = {
    "NO", "EAGER", "AOT_EAGER", "INDUCTOR", "AOT_TS_NVFUSER", "NVPRIMS_NVFUSER", "CUDAGRAPHS", "OFI",
    "FX2TRT", "ONNXRT", "TENSORRT", "AOT_TORCHXLA_TRACE_ONCE", "TORCHXLA_TRACE_ONCE", "TVM", "HPU_BACKEND",
    "NEURON"};

// accelerate's config merge (contract 3.3 step 6): dict keys (prefixed) override everything the user
// did not type; scalar fields fill only what is still None.
void MergeConfigFile(LaunchArgs& args, const ClusterConfig& config) {
  const ConfigValue file = ClusterConfigToValue(config);
  for (const auto& [name, value] : file.items()) {
    if (value.is_object()) {
      for (const auto& [key, item] : value.items()) {
        std::string attribute = key;
        if (name == "fsdp_config" && !key.starts_with("fsdp")) {
          attribute = "fsdp_" + key;
        } else if (name == "fp8_config" && !key.starts_with("fp8")) {
          attribute = "fp8_" + key;
        } else if (name == "dynamo_config" && !key.starts_with("dynamo_")) {
          attribute = "dynamo_" + key;
        }
        if (!args.given.contains(attribute)) args.ns[attribute] = item;
      }
      continue;
    }
    if (name == "compute_environment" || name == "mixed_precision" || name == "distributed_type") continue;
    if (args.IsNone(name)) args.ns[name] = value;
  }
}

// get_int_from_env: the first variable holding a non-negative integer, else `fallback`.
absl::StatusOr<int64_t> IntFromEnv(const Environment& env, std::initializer_list<std::string_view> names,
                                   int64_t fallback) {
  for (std::string_view name : names) {
    auto text = env.Get(name);
    if (!text) continue;
    auto value = ParseInt64(StripWhitespace(*text));
    if (!value) return Invalid(StrCat(name, "=", *text, " is not an integer"));
    if (*value >= 0) return *value;
  }
  return fallback;
}

// ACCELERATE_MIXED_PRECISION, validated as accelerate's PrecisionType does.
absl::StatusOr<std::string> MixedPrecision(const LaunchArgs& args) {
  const std::string value = AsciiToLower(PythonStr(args.Get("mixed_precision")));
  if (value != "no" && value != "fp16" && value != "bf16" && value != "fp8") {
    return Invalid(StrCat("Unknown mixed_precision mode: ", value, ". Choose between ['no', 'fp8', 'fp16', 'bf16']."));
  }
  return value;
}

// accelerate refuses bf16 on a GPU without it (compute capability below 8.0) before starting anything.
absl::Status CheckBf16Support(const HostFacts& host, const std::string& gpu_ids) {
  const std::optional<GpuInventory> gpus = host.probe_gpus_fully();
  if (!gpus) return absl::OkStatus();
  std::set<int> used;
  if (gpu_ids != "all") {
    for (std::string_view id : StrSplit(gpu_ids, ',')) {
      if (auto index = ParseInt64(StripWhitespace(id))) used.insert(static_cast<int>(*index));
    }
  }
  for (const GpuDevice& gpu : gpus->devices) {
    if (!used.empty() && !used.contains(gpu.index)) continue;
    if (gpu.compute_major > 0 && gpu.compute_major < 8) {
      return Invalid(StrCat("bf16 mixed precision requires PyTorch >= 1.10 and a supported device: GPU ", gpu.index,
                            " (", gpu.name, ") has compute capability ", gpu.compute_major, ".", gpu.compute_minor,
                            ", and bf16 needs 8.0 or newer; use --mixed_precision fp16"));
    }
  }
  return absl::OkStatus();
}

// FP8 needs one of its backends in the workers' Python (accelerate's is_fp8_available).
absl::Status CheckFp8Backend(const LaunchArgs& args, const std::string& python, const HostFacts& host) {
  static const std::map<std::string, std::string> kBackendModule = {
      {"te", "transformer_engine"}, {"msamp", "msamp"}, {"ao", "torchao"}};
  const std::string backend = AsciiToLower(PythonStr(args.Get("fp8_backend")));
  std::vector<std::string> modules;
  if (auto it = kBackendModule.find(backend); it != kBackendModule.end()) {
    modules.push_back(it->second);
  } else {
    for (const auto& [name, module] : kBackendModule) modules.push_back(module);
  }
  if (host.python_finds_any(python, modules) == false) {
    return Invalid(StrCat("FP8 mixed precision is not available: ", python, " finds none of ", StrJoin(modules, ", "),
                          " (install TransformerEngine, MS-AMP or torchao, or choose another --mixed_precision)"));
  }
  return absl::OkStatus();
}

void AddFp8Env(const LaunchArgs& args, EnvMap& env) {
  for (const auto& [name, value] : args.ns.items()) {
    if (!name.starts_with("fp8_") || value.is_null()) continue;
    if (name == "fp8_override_linear_precision") continue;
    env["ACCELERATE_" + AsciiToUpper(name)] = PythonStr(value);
  }
  // (fprop, dgrad, wgrad): three booleans; the CLI gives them as "a,b,c" truth strings (1/0).
  const ConfigValue& override_value = args.Get("fp8_override_linear_precision");
  std::array<std::string, 3> parts = {"False", "False", "False"};
  if (override_value.is_array()) {
    for (size_t i = 0; i < 3 && i < override_value.size(); ++i) parts[i] = PythonStr(override_value[i]);
  } else if (override_value.is_string()) {
    const auto words = StrSplit(override_value.get<std::string>(), ',');
    for (size_t i = 0; i < 3 && i < words.size(); ++i) {
      parts[i] = ParseTruthString(StripWhitespace(words[i])).value_or(false) ? "1" : "0";
    }
  }
  env["ACCELERATE_FP8_OVERRIDE_FPROP"] = parts[0];
  env["ACCELERATE_FP8_OVERRIDE_DGRAD"] = parts[1];
  env["ACCELERATE_FP8_OVERRIDE_WGRAD"] = parts[2];
}

absl::Status AddDynamoEnv(const LaunchArgs& args, EnvMap& env) {
  const std::string backend = AsciiToUpper(PythonStr(args.Get("dynamo_backend")));
  if (std::find(kDynamoBackends.begin(), kDynamoBackends.end(), backend) == kDynamoBackends.end()) {
    return Invalid(StrCat("Unknown dynamo backend: ", backend, ". Choose between ", StrJoin(kDynamoBackends, ", "), "."));
  }
  env["ACCELERATE_DYNAMO_BACKEND"] = backend;
  env["ACCELERATE_DYNAMO_MODE"] = PythonStr(args.Get("dynamo_mode"));
  env["ACCELERATE_DYNAMO_USE_FULLGRAPH"] = PythonStr(args.Get("dynamo_use_fullgraph"));
  env["ACCELERATE_DYNAMO_USE_DYNAMIC"] = PythonStr(args.Get("dynamo_use_dynamic"));
  env["ACCELERATE_DYNAMO_USE_REGIONAL_COMPILATION"] = PythonStr(args.Get("dynamo_use_regional_compilation"));
  return absl::OkStatus();
}

absl::Status AddFsdpEnv(const LaunchArgs& args, EnvMap& env) {
  if (args.Truthy("fsdp_cpu_ram_efficient_loading") && !args.Truthy("fsdp_sync_module_states")) {
    return Invalid("When using `--fsdp_cpu_ram_efficient_loading` set `--fsdp_sync_module_states` to `True`");
  }
  env["ACCELERATE_USE_FSDP"] = "true";
  env["FSDP_VERSION"] = PythonStr(args.Get("fsdp_version"));
  env["FSDP_SHARDING_STRATEGY"] = PythonStr(args.Get("fsdp_sharding_strategy"));
  env["FSDP_RESHARD_AFTER_FORWARD"] = LowerStr(args.Get("fsdp_reshard_after_forward"));
  env["FSDP_OFFLOAD_PARAMS"] = LowerStr(args.Get("fsdp_offload_params"));
  env["FSDP_MIN_NUM_PARAMS"] = PythonStr(args.Get("fsdp_min_num_params"));
  const std::pair<const char*, const char*> optional_vars[] = {
      {"fsdp_auto_wrap_policy", "FSDP_AUTO_WRAP_POLICY"},
      {"fsdp_transformer_layer_cls_to_wrap", "FSDP_TRANSFORMER_CLS_TO_WRAP"},
      {"fsdp_backward_prefetch", "FSDP_BACKWARD_PREFETCH"},
      {"fsdp_state_dict_type", "FSDP_STATE_DICT_TYPE"},
      {"fsdp_ignored_modules", "FSDP_IGNORED_MODULES"},
  };
  for (const auto& [name, variable] : optional_vars) {
    if (!args.IsNone(name)) env[variable] = PythonStr(args.Get(name));
  }
  for (const char* name : {"fsdp_forward_prefetch", "fsdp_use_orig_params", "fsdp_cpu_ram_efficient_loading",
                           "fsdp_sync_module_states", "fsdp_activation_checkpointing"}) {
    env[AsciiToUpper(name)] = LowerStr(args.Get(name));
  }
  return absl::OkStatus();
}

void AddMegatronEnv(const LaunchArgs& args, EnvMap& env) {
  env["ACCELERATE_USE_MEGATRON_LM"] = "true";
  static const std::set<std::string> kAlways = {
      "megatron_lm_tp_degree", "megatron_lm_pp_degree", "megatron_lm_gradient_clipping",
      "megatron_lm_use_custom_fsdp", "megatron_lm_no_load_optim", "megatron_lm_eod_mask_loss",
      "megatron_lm_no_save_optim", "megatron_lm_optimizer_cpu_offload",
      "megatron_lm_use_precision_aware_optimizer", "megatron_lm_overlap_cpu_optimizer_d2h_h2d"};
  for (const auto& [name, value] : args.ns.items()) {
    if (!name.starts_with("megatron_lm_")) continue;
    if (value.is_null() && !kAlways.contains(name)) continue;
    env[AsciiToUpper(name)] = PythonStr(value);
  }
}

void AddParallelismEnv(const LaunchArgs& args, EnvMap& env) {
  env["ACCELERATE_USE_PARALLELISM_CONFIG"] = "true";
  for (const char* name : {"dp_replicate_size", "dp_shard_size", "tp_size", "cp_size", "cp_backend", "sp_size",
                           "sp_backend"}) {
    env[StrCat("PARALLELISM_CONFIG_", AsciiToUpper(name))] = PythonStr(args.Get(StrCat("parallelism_config_", name)));
  }
  if (AsInt(args.Get("parallelism_config_cp_size")).value_or(1) > 1) {
    env["PARALLELISM_CONFIG_CP_COMM_STRATEGY"] = PythonStr(args.Get("parallelism_config_cp_comm_strategy"));
  }
  if (AsInt(args.Get("parallelism_config_sp_size")).value_or(1) > 1) {
    for (const char* name : {"sp_seq_length", "sp_seq_length_is_variable", "sp_attn_implementation"}) {
      env[StrCat("PARALLELISM_CONFIG_", AsciiToUpper(name))] = PythonStr(args.Get(StrCat("parallelism_config_", name)));
    }
  }
}

void AddDeepSpeedEnv(const LaunchArgs& args, const std::optional<ClusterConfig>& config, bool mp_from_config,
                     const HostFacts& host, EnvMap& env) {
  // PYTHONPATH: existing entries (empty ones dropped) plus the launch directory.
  std::vector<std::string> paths;
  if (auto existing = host.env.Get("PYTHONPATH")) {
    for (std::string_view entry : StrSplit(*existing, ':')) {
      if (!entry.empty()) paths.emplace_back(entry);
    }
  }
  paths.push_back(host.working_dir.string());
  env["PYTHONPATH"] = StrJoin(paths, ":");

  std::vector<std::string> fields;
  if (config) {
    for (const auto& [key, value] : config->deepspeed_config.items()) fields.push_back(key);
  }
  if (mp_from_config) fields.push_back("mixed_precision");
  env["ACCELERATE_CONFIG_DS_FIELDS"] = AsciiToLower(StrJoin(fields, ","));
  env["ACCELERATE_USE_DEEPSPEED"] = "true";
  const std::tuple<const char*, const char*, bool> vars[] = {
      {"zero_stage", "ACCELERATE_DEEPSPEED_ZERO_STAGE", false},
      {"gradient_accumulation_steps", "ACCELERATE_GRADIENT_ACCUMULATION_STEPS", false},
      {"gradient_clipping", "ACCELERATE_GRADIENT_CLIPPING", true},
      {"offload_optimizer_device", "ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", true},
      {"offload_param_device", "ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE", true},
      {"zero3_init_flag", "ACCELERATE_DEEPSPEED_ZERO3_INIT", true},
      {"zero3_save_16bit_model", "ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL", true},
      {"deepspeed_config_file", "ACCELERATE_DEEPSPEED_CONFIG_FILE", false},
      {"deepspeed_moe_layer_cls_names", "ACCELERATE_DEEPSPEED_MOE_LAYER_CLS_NAMES", false},
  };
  for (const auto& [name, variable, lower] : vars) {
    if (args.IsNone(name)) continue;
    env[variable] = lower ? LowerStr(args.Get(name)) : PythonStr(args.Get(name));
  }
}

// accelerate sets NCCL_P2P_DISABLE/NCCL_IB_DISABLE for RTX 40 cards on drivers older than 550.40.07,
// where peer-to-peer transfers are broken.
void AddRtx40Workaround(const HostFacts& host, EnvMap& env, std::vector<std::string>& warnings) {
  if (host.gpus.count() < 2 || host.gpus.driver_version.empty()) return;
  const bool rtx40 = std::any_of(host.gpus.devices.begin(), host.gpus.devices.end(),
                                 [](const GpuDevice& gpu) { return gpu.name.find("RTX 40") != std::string::npos; });
  if (!rtx40) return;
  std::array<int64_t, 3> version = {0, 0, 0};
  const auto parts = StrSplit(host.gpus.driver_version, '.');
  for (size_t i = 0; i < parts.size() && i < 3; ++i) version[i] = ParseInt64(parts[i]).value_or(0);
  if (version >= std::array<int64_t, 3>{550, 40, 7}) return;
  for (const char* name : {"NCCL_P2P_DISABLE", "NCCL_IB_DISABLE"}) {
    if (!host.env.Has(name)) env[name] = "1";
  }
  warnings.push_back(
      "Using RTX 4000 series GPUs with a driver older than 550.40.07: NCCL_P2P_DISABLE=1 and NCCL_IB_DISABLE=1 are set "
      "because peer-to-peer and InfiniBand transfers are broken there. Update the driver to remove this.");
}

std::string FindPython(const LaunchArgs& args, const HostFacts& host) {
  if (!args.IsNone("python")) return PythonStr(args.Get("python"));
  if (auto exec = host.env.GetNonEmpty("PYTHON_EXEC")) return *exec;
  for (const char* candidate : {"python", "python3"}) {
    if (auto path = host.find_program(candidate)) return *path;
  }
  return "python3";
}

std::vector<std::string> WorkerArgv(const LaunchArgs& args, const std::string& python, bool unbuffered) {
  std::vector<std::string> argv;
  if (!args.Truthy("no_python")) {
    argv.push_back(python);
    if (unbuffered) argv.push_back("-u");
    if (args.Truthy("module")) argv.push_back("-m");
  }
  argv.push_back(args.training_script);
  argv.insert(argv.end(), args.training_script_args.begin(), args.training_script_args.end());
  return argv;
}

// Options whose argparse type is Python's bool(): any non-empty string, "False" included, is True.
const std::set<std::string>& PythonBoolOptions() {
  static const auto* names = new std::set<std::string>{
      "megatron_lm_use_custom_fsdp", "megatron_lm_no_load_optim", "megatron_lm_eod_mask_loss",
      "megatron_lm_overlap_cpu_optimizer_d2h_h2d", "megatron_lm_no_save_optim", "megatron_lm_optimizer_cpu_offload",
      "megatron_lm_use_precision_aware_optimizer", "parallelism_config_sp_seq_length_is_variable"};
  return *names;
}

// Options typed with accelerate's str_to_bool and then stored as 1/0.
const std::set<std::string>& TruthIntOptions() {
  static const auto* names = new std::set<std::string>{"fp8_enable_fsdp_float8_all_gather", "fp8_pad_inner_dim"};
  return *names;
}

absl::Status NormalizeTypedStrings(LaunchArgs& args) {
  for (const std::string& name : PythonBoolOptions()) {
    if (args.given.contains(name) && args.Get(name).is_string()) args.ns[name] = !args.Get(name).get<std::string>().empty();
  }
  for (const std::string& name : TruthIntOptions()) {
    if (!args.given.contains(name) || !args.Get(name).is_string()) continue;
    auto truth = ParseTruthString(args.Get(name).get<std::string>());
    if (!truth) {
      return Invalid(StrCat("argument --", name, ": invalid truth value '", args.Get(name).get<std::string>(),
                            "' (use true/false, yes/no, 1/0)"));
    }
    args.ns[name] = *truth ? 1 : 0;
  }
  // --tpu_cluster / --no_tpu_cluster both store into tpu_use_cluster in accelerate.
  if (args.Truthy("no_tpu_cluster")) {
    args.ns["tpu_use_cluster"] = false;
  } else if (args.Truthy("tpu_cluster")) {
    args.ns["tpu_use_cluster"] = true;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseRdzvConf(std::string_view text) {
  std::map<std::string, std::string> conf;
  if (StripWhitespace(text).empty()) return conf;
  for (std::string_view item : StrSplit(text, ',')) {
    item = StripWhitespace(item);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Invalid(StrCat("--rdzv_conf: '", item, "' is not of the form key=value"));
    }
    conf[std::string(StripWhitespace(item.substr(0, eq)))] = std::string(StripWhitespace(item.substr(eq + 1)));
  }
  return conf;
}

absl::StatusOr<std::optional<double>> RdzvConfSeconds(const std::map<std::string, std::string>& conf,
                                                      std::string_view key) {
  const auto it = conf.find(std::string(key));
  if (it == conf.end()) return std::optional<double>();
  const std::optional<double> seconds = ParseDouble(it->second);
  if (!seconds || *seconds < 0) return Invalid(StrCat("--rdzv_conf ", key, "=", it->second, ": expected seconds >= 0"));
  return seconds;
}

absl::StatusOr<std::optional<double>> RdzvJoinTimeout(const std::map<std::string, std::string>& conf) {
  for (std::string_view key : {"join_timeout", "timeout"}) {
    ASSIGN_OR_RETURN(const std::optional<double> seconds, RdzvConfSeconds(conf, key));
    if (!seconds) continue;
    if (*seconds == 0) return Invalid(StrCat("--rdzv_conf ", key, "=", conf.at(std::string(key)), ": expected seconds > 0"));
    return seconds;
  }
  return std::optional<double>();
}

std::optional<std::filesystem::path> LaunchConfigPath(const LaunchArgs& args, const Environment& env) {
  if (!args.IsNone("config_file")) return std::filesystem::path(PythonStr(args.Get("config_file")));
  if (args.Truthy("cpu")) return std::nullopt;
  std::filesystem::path path = DefaultConfigPath(env);
  std::error_code error;
  if (std::filesystem::is_regular_file(path, error)) return path;
  return std::nullopt;
}

absl::StatusOr<LaunchPlan> PlanLaunch(LaunchArgs args, const std::optional<ClusterConfig>& config,
                                      const HostFacts& host) {
  RETURN_IF_ERROR(NormalizeTypedStrings(args));
  LaunchPlan plan;

  // Early validation on the command line alone (accelerate 3.2).
  const int paradigm_flags = args.Truthy("cpu") + args.Truthy("multi_gpu") + args.Truthy("tpu") +
                             args.Truthy("use_deepspeed") + args.Truthy("use_fsdp");
  if (paradigm_flags > 1) {
    return Invalid("You can only use one of `--cpu`, `--multi_gpu`, `--tpu`, `--use_deepspeed`, `--use_fsdp` at a time.");
  }
  if (args.Truthy("multi_gpu") && !args.IsNone("num_processes") && AsInt(args.Get("num_processes")).value_or(0) < 2) {
    return Invalid("You need to use at least 2 processes to use `--multi_gpu`.");
  }
  if (args.Truthy("use_parallelism_config") && !args.Truthy("use_fsdp")) {
    return Invalid("You cannot use `--use_parallelism_config` without `--use_fsdp` and `--fsdp_version=2`.");
  }
  if (args.Truthy("module") && args.Truthy("no_python")) {
    return Invalid("--module and --no_python cannot be used together");
  }

  std::vector<std::string> warned;
  bool mp_from_config = false;
  bool num_processes_defaulted_under_cpu = false;
  if (config) {
    if (!args.Truthy("multi_gpu") && !args.Truthy("tpu") && !args.Truthy("tpu_use_cluster") &&
        !args.Truthy("use_deepspeed") && !args.Truthy("use_fsdp") && !args.Truthy("use_megatron_lm")) {
      const DistributedType type = config->distributed_type;
      args.ns["use_deepspeed"] = type == DistributedType::kDeepSpeed;
      args.ns["multi_gpu"] = IsMultiDeviceType(type);
      args.ns["tpu"] = type == DistributedType::kXla;
      args.ns["use_fsdp"] = type == DistributedType::kFsdp;
      args.ns["use_megatron_lm"] = type == DistributedType::kMegatronLm;
      args.ns["tpu_use_cluster"] = type == DistributedType::kXla && config->tpu_use_cluster;
      args.ns["use_parallelism_config"] = !config->parallelism_config.empty();
    }
    if (args.IsNone("gpu_ids")) args.ns["gpu_ids"] = config->gpu_ids.value_or("all");
    if (args.Truthy("multi_gpu") && args.IsNone("num_machines")) args.ns["num_machines"] = config->num_machines;
    const std::string gpu_ids = PythonStr(args.Get("gpu_ids"));
    const int64_t machines = AsInt(args.Get("num_machines")).value_or(1);
    if (StrSplit(gpu_ids, ',').size() < 2 && gpu_ids != "all" && args.Truthy("multi_gpu") && machines <= 1) {
      return Invalid(
          "Less than two GPU ids were configured and tried to run on on multiple GPUs. Please ensure at least two are "
          "specified for `--gpu_ids`, or use `--gpu_ids='all'`.");
    }
    if (config->compute_environment == ComputeEnvironment::kLocalMachine) MergeConfigFile(args, *config);
    if (!args.Truthy("debug")) args.ns["debug"] = config->debug;
    if (!args.Truthy("mixed_precision")) {
      args.ns["mixed_precision"] = config->mixed_precision.value_or("no");
      mp_from_config = config->mixed_precision.has_value();
    }
    if (args.IsNone("dynamo_backend")) args.ns["dynamo_backend"] = "no";
    if (AsInt(args.Get("num_processes")) == -1) {
      return Invalid("You need to manually pass in `--num_processes` using this config yaml.");
    }
  } else {
    const int gpu_count = host.gpus.count();
    if (args.IsNone("num_processes")) {
      // accelerate reports the GPU count here, yet under --cpu starts a single process.
      num_processes_defaulted_under_cpu = args.Truthy("cpu");
      args.ns["num_processes"] = gpu_count;
      warned.push_back(StrCat("\t`--num_processes` was set to a value of `", gpu_count, "`"));
    }
    if (args.IsNone("debug")) args.ns["debug"] = false;
    if (!args.Truthy("multi_gpu") && AsInt(args.Get("num_processes")).value_or(0) > 1 && gpu_count > 1) {
      warned.push_back(
          "\t\tMore than one GPU was found, enabling multi-GPU training.\n"
          "\t\tIf this was unintended please pass in `--num_processes=1`.");
      args.ns["multi_gpu"] = true;
    }
    if (args.IsNone("num_machines")) {
      warned.push_back("\t`--num_machines` was set to a value of `1`");
      args.ns["num_machines"] = 1;
    }
    if (args.IsNone("mixed_precision")) {
      warned.push_back("\t`--mixed_precision` was set to a value of `'no'`");
      args.ns["mixed_precision"] = "no";
    }
    if (!args.ns.contains("use_cpu")) args.ns["use_cpu"] = args.Truthy("cpu");
    if (args.IsNone("dynamo_backend")) {
      warned.push_back("\t`--dynamo_backend` was set to a value of `'no'`");
      args.ns["dynamo_backend"] = "no";
    }
  }
  if (args.IsNone("debug")) args.ns["debug"] = false;

  plan.num_processes = static_cast<int>(AsInt(args.Get("num_processes")).value_or(1));
  plan.num_machines = static_cast<int>(AsInt(args.Get("num_machines")).value_or(1));
  plan.machine_rank = static_cast<int>(AsInt(args.Get("machine_rank")).value_or(0));
  if (plan.num_machines < 1) return Invalid(StrCat("--num_machines ", plan.num_machines, ": must be at least 1"));
  if (plan.machine_rank < 0 || plan.machine_rank >= plan.num_machines) {
    return Invalid(StrCat("--machine_rank ", plan.machine_rank, ": must be from 0 to num_machines - 1 (",
                          plan.num_machines - 1, ")"));
  }

  // CPU threads per process (accelerate 3.5).
  const bool sagemaker = config && config->compute_environment == ComputeEnvironment::kAmazonSageMaker;
  if (!sagemaker && args.IsNone("num_cpu_threads_per_process")) {
    ASSIGN_OR_RETURN(const int64_t omp_threads, IntFromEnv(host.env, {"OMP_NUM_THREADS"}, 1));
    args.ns["num_cpu_threads_per_process"] = omp_threads;
    ASSIGN_OR_RETURN(const int64_t omp_or_zero, IntFromEnv(host.env, {"OMP_NUM_THREADS"}, 0));
    if (args.Truthy("use_cpu") && plan.num_processes >= 1 && omp_or_zero == 0) {
      ASSIGN_OR_RETURN(const int64_t local_size,
                       IntFromEnv(host.env, {"MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE"},
                                  std::max(plan.num_processes / plan.num_machines, 1)));
      const int64_t threads = host.physical_cores / std::max<int64_t>(local_size, 1);
      if (threads > 1) {
        args.ns["num_cpu_threads_per_process"] = threads;
        warned.push_back(StrCat("\t`--num_cpu_threads_per_process` was set to `", threads,
                                "` to improve out-of-box performance when training on CPUs"));
      }
    }
  }
  if (num_processes_defaulted_under_cpu) plan.num_processes = 1;
  if (!warned.empty()) {
    plan.warnings.push_back(StrCat(
        "The following values were not passed to `accelctl launch` and had defaults used instead:\n",
        StrJoin(warned, "\n"),
        "\nTo avoid this warning pass in values for each of the problematic parameters or run `accelctl config`."));
  }

  // Launcher choice (accelerate's launch_command), plus accelctl's multi-process CPU launcher.
  const bool cpu = args.Truthy("cpu");
  const bool use_cpu = cpu || args.Truthy("use_cpu");
  const bool deepspeed = args.Truthy("use_deepspeed") && !cpu;
  const bool fsdp = args.Truthy("use_fsdp") && !cpu;
  const bool megatron = args.Truthy("use_megatron_lm") && !cpu;
  const bool multi_gpu = args.Truthy("multi_gpu") && !cpu;
  if (deepspeed) {
    plan.paradigm = "DeepSpeed";
  } else if (fsdp) {
    plan.paradigm = "FSDP";
  } else if (megatron) {
    plan.paradigm = "Megatron-LM";
  } else if (multi_gpu) {
    plan.paradigm = "multi-GPU";
  } else if (args.Truthy("tpu") && !cpu) {
    return absl::UnimplementedError("TPU training is not launched by accelctl; use `accelerate launch --tpu`");
  } else if (sagemaker) {
    return absl::UnimplementedError("Amazon SageMaker jobs are not launched by accelctl; use `accelerate launch`");
  }
  const bool multi_cpu_requested = cpu || (config && config->distributed_type == DistributedType::kMultiCpu);
  // An elastic cluster job (--num_machines MIN:MAX) stays a distributed job when it shrinks to one
  // process: its workers keep the rank variables they were written for.
  const bool elastic = args.ns.contains("min_machines");
  if (plan.paradigm.empty()) {
    if (multi_cpu_requested && (plan.num_processes > 1 || elastic)) {
      plan.paradigm = "multi-CPU";
    } else if (elastic && !use_cpu) {
      plan.paradigm = "multi-GPU";
    } else {
      plan.paradigm = "simple";
    }
  }
  plan.launcher = plan.paradigm == "simple"      ? LauncherKind::kSimple
                  : plan.paradigm == "multi-CPU" ? LauncherKind::kMultiCpu
                                                 : LauncherKind::kTorchrun;
  if (!args.IsNone("mpirun_hostfile") && plan.launcher != LauncherKind::kTorchrun) {
    return absl::UnimplementedError(
        "mpirun launching (--mpirun_hostfile) is not supported by accelctl; `--cpu --num_processes N` starts N "
        "processes per machine itself");
  }
  if (deepspeed && plan.num_machines > 1) {
    const std::string multinode = args.IsNone("deepspeed_multinode_launcher")
                                      ? "pdsh"
                                      : PythonStr(args.Get("deepspeed_multinode_launcher"));
    if (multinode != "standard") {
      return absl::UnimplementedError(StrCat(
          "DeepSpeed's '", multinode,
          "' multi-node launcher is not supported by accelctl; use --deepspeed_multinode_launcher standard and run "
          "accelctl launch on every machine (or submit with --cluster)"));
    }
  }
  if (plan.launcher == LauncherKind::kSimple && plan.num_processes > 1 && plan.num_machines == 1) {
    plan.warnings.push_back(StrCat("num_processes is ", plan.num_processes,
                                   " but this launch starts a single process (no --multi_gpu, --cpu or distributed "
                                   "config); pass --cpu or --multi_gpu to start several."));
  }
  plan.entrypoint = args.training_script;
  plan.quiet = args.Truthy("quiet");

  EnvMap env = host.env.vars();
  if (args.Truthy("debug")) env["ACCELERATE_DEBUG_MODE"] = "true";
  const ConfigValue& gpu_ids = args.Get("gpu_ids");
  if (!gpu_ids.is_null() && PythonStr(gpu_ids) != "all") env["CUDA_VISIBLE_DEVICES"] = PythonStr(gpu_ids);
  ASSIGN_OR_RETURN(const std::string mixed_precision, MixedPrecision(args));
  const std::string python = FindPython(args, host);
  if (mixed_precision == "bf16" && !use_cpu) RETURN_IF_ERROR(CheckBf16Support(host, gpu_ids.is_null() ? "all" : PythonStr(gpu_ids)));
  if (mixed_precision == "fp8" && !args.Truthy("no_python")) RETURN_IF_ERROR(CheckFp8Backend(args, python, host));
  if (deepspeed && !args.Truthy("no_python") && host.python_finds_any(python, {"deepspeed"}) == false) {
    return Invalid(StrCat("DeepSpeed is not installed => run `pip3 install deepspeed` or build it from source (", python,
                          " cannot import deepspeed)"));
  }
  env["ACCELERATE_MIXED_PRECISION"] = mixed_precision;
  if (mixed_precision == "fp8") AddFp8Env(args, env);
  if (!deepspeed) {
    RETURN_IF_ERROR(AddDynamoEnv(args, env));
    env["OMP_NUM_THREADS"] = PythonStr(args.Get("num_cpu_threads_per_process"));
  }
  if (args.Truthy("enable_cpu_affinity")) env["ACCELERATE_CPU_AFFINITY"] = "1";

  ASSIGN_OR_RETURN(plan.rdzv_conf, ParseRdzvConf(PythonStr(args.Get("rdzv_conf"))));
  ASSIGN_OR_RETURN(plan.rdzv_join_timeout, RdzvJoinTimeout(plan.rdzv_conf));
  plan.rdzv_backend = PythonStr(args.Get("rdzv_backend"));
  if (plan.rdzv_backend != "static" && plan.num_machines > 1) {
    plan.warnings.push_back(StrCat("--rdzv_backend ", plan.rdzv_backend,
                                   ": accelctl launch uses its own static rendezvous on main_process_port + 1; for "
                                   "elastic membership submit the job to a cluster with --num_machines MIN:MAX"));
  }
  plan.role = PythonStr(args.Get("role"));
  plan.max_restarts = static_cast<int>(AsInt(args.Get("max_restarts")).value_or(0));
  plan.monitor_interval = args.Get("monitor_interval").is_number() ? args.Get("monitor_interval").get<double>() : 0.1;
  plan.tee = PythonStr(args.Get("tee"));
  plan.redirects = PythonStr(args.Get("redirects"));
  if (!args.IsNone("log_dir")) plan.log_dir = PythonStr(args.Get("log_dir"));
  if (!args.IsNone("rdzv_id")) plan.run_id = PythonStr(args.Get("rdzv_id"));
  plan.stop_timeout = args.Get("stop_timeout").get<double>();
  plan.restart_backoff = args.Get("restart_backoff").get<double>();
  if (!args.given.contains("restart_backoff")) {
    ASSIGN_OR_RETURN(const std::optional<double> backoff, RdzvConfSeconds(plan.rdzv_conf, "restart_backoff"));
    if (backoff) plan.restart_backoff = *backoff;
  }
  if (plan.max_restarts < 0) return Invalid(StrCat("--max_restarts ", plan.max_restarts, ": must be >= 0"));
  if (plan.monitor_interval <= 0) return Invalid(StrCat("--monitor_interval ", plan.monitor_interval, ": must be > 0"));
  plan.hang_timeout = args.Get("hang_timeout").is_number() ? args.Get("hang_timeout").get<double>() : 0;
  plan.hang_restart = args.Truthy("hang_restart");
  if (plan.hang_timeout < 0) return Invalid(StrCat("--hang_timeout ", plan.hang_timeout, ": must be >= 0"));
  if (plan.hang_restart && plan.hang_timeout == 0) return Invalid("--hang_restart needs --hang_timeout S");
  plan.metrics_port = static_cast<int>(AsInt(args.Get("metrics_port")).value_or(0));
  if (plan.metrics_port < 0 || plan.metrics_port > 65535) {
    return Invalid(StrCat("--metrics_port ", plan.metrics_port, ": must be from 0 to 65535"));
  }

  const ConfigValue& ip = args.Get("main_process_ip");
  const std::optional<int64_t> port = args.IsNone("main_process_port") ? std::nullopt : AsInt(args.Get("main_process_port"));
  if (port && (*port < 0 || *port > 65535)) return Invalid(StrCat("--main_process_port ", *port, ": must be from 0 to 65535"));

  if (plan.launcher == LauncherKind::kSimple) {
    env["ACCELERATE_USE_CPU"] = PyBool(use_cpu);
    if (use_cpu) {
      env["KMP_AFFINITY"] = "granularity=fine,compact,1,0";
      env["KMP_BLOCKTIME"] = "1";
    }
    if (plan.num_machines > 1) {
      if (ip.is_null()) return Invalid("--main_process_ip is required when --num_machines is greater than 1");
      if (!port) return Invalid("--main_process_port is required when --num_machines is greater than 1");
      env["MASTER_ADDR"] = PythonStr(ip);
      env["MASTER_PORT"] = StrCat(*port);
    } else if (plan.num_processes > 1) {
      env["MASTER_ADDR"] = ip.is_null() ? "127.0.0.1" : PythonStr(ip);
      env["MASTER_PORT"] = port ? StrCat(*port) : "29500";
    }
    plan.nproc_per_node = 1;
    plan.argv = WorkerArgv(args, python, /*unbuffered=*/false);
    plan.env = std::move(env);
    return plan;
  }

  // torchrun-style launchers: several workers per machine, each with the per-rank variables.
  if (plan.num_processes < 1) {
    return Invalid(StrCat("num_processes is ", plan.num_processes,
                          ": pass --num_processes (no GPU was found to default it from)"));
  }
  if (plan.num_processes % plan.num_machines != 0) {
    return Invalid(StrCat("--num_processes ", plan.num_processes, " is not a multiple of --num_machines ",
                          plan.num_machines, ": every machine runs num_processes / num_machines workers"));
  }
  plan.nproc_per_node = plan.num_processes / plan.num_machines;
  if (plan.num_machines > 1 && ip.is_null()) {
    return Invalid("--main_process_ip is required when --num_machines is greater than 1");
  }
  plan.master_addr = ip.is_null() ? "127.0.0.1" : PythonStr(ip);
  plan.master_port = static_cast<int>(port.value_or(29500));
  if (plan.master_port == 0) plan.master_port = host.free_port();
  if ((plan.num_machines <= 1 || plan.machine_rank == 0) && host.port_in_use(plan.master_port)) {
    if (plan.num_machines > 1) {
      return absl::FailedPreconditionError(
          StrCat("Tried to launch distributed communication on port `", plan.master_port,
                 "`, but another process is utilizing it. Please specify a different port (such as using the "
                 "`--main_process_port` flag or specifying a different `main_process_port` in your config file) and "
                 "rerun your script."));
    }
    const int busy = plan.master_port;
    plan.master_port = host.free_port();
    plan.warnings.push_back(StrCat("Port `", busy, "` is already in use; the workers use the free port `",
                                   plan.master_port, "` instead. Pass `--main_process_port` to choose another port."));
  }

  if (plan.launcher == LauncherKind::kMultiCpu) {
    env["ACCELERATE_USE_CPU"] = "True";
    env["KMP_AFFINITY"] = "granularity=fine,compact,1,0";
    env["KMP_BLOCKTIME"] = "1";
  }
  if (fsdp) RETURN_IF_ERROR(AddFsdpEnv(args, env));
  if (megatron) AddMegatronEnv(args, env);
  if (deepspeed) {
    AddDeepSpeedEnv(args, config, mp_from_config, host, env);
    // torchrun itself sets OMP_NUM_THREADS=1 for several workers when the caller has none.
    if (!host.env.Has("OMP_NUM_THREADS") && plan.nproc_per_node > 1) env["OMP_NUM_THREADS"] = "1";
  }
  if (args.Truthy("use_parallelism_config")) AddParallelismEnv(args, env);
  if (plan.launcher == LauncherKind::kTorchrun) AddRtx40Workaround(host, env, plan.warnings);
  env["TORCHELASTIC_SIGNALS_TO_HANDLE"] = host.env.Get("TORCHELASTIC_SIGNALS_TO_HANDLE").value_or("SIGTERM,SIGINT,SIGHUP,SIGQUIT");
  plan.argv = WorkerArgv(args, python, /*unbuffered=*/true);
  plan.env = std::move(env);
  return plan;
}

std::map<std::string, std::string> WorkerEnvironment(const LaunchPlan& plan, const WorkerRank& rank) {
  EnvMap env = plan.env;
  if (plan.launcher == LauncherKind::kSimple) return env;
  env["RANK"] = StrCat(rank.rank);
  env["LOCAL_RANK"] = StrCat(rank.local_rank);
  env["WORLD_SIZE"] = StrCat(rank.world_size);
  env["LOCAL_WORLD_SIZE"] = StrCat(rank.local_world_size);
  env["GROUP_RANK"] = StrCat(rank.group_rank);
  env["GROUP_WORLD_SIZE"] = StrCat(rank.group_world_size);
  env["ROLE_NAME"] = plan.role;
  env["ROLE_RANK"] = StrCat(rank.rank);
  env["ROLE_WORLD_SIZE"] = StrCat(rank.world_size);
  env["MASTER_ADDR"] = plan.master_addr;
  env["MASTER_PORT"] = StrCat(plan.master_port);
  env["TORCHELASTIC_RUN_ID"] = plan.run_id;
  env["TORCHELASTIC_RESTART_COUNT"] = StrCat(rank.restart_count);
  env["TORCHELASTIC_MAX_RESTARTS"] = StrCat(plan.max_restarts);
  env["TORCHELASTIC_ERROR_FILE"] = rank.error_file;
  // accelctl hosts no TCPStore at MASTER_ADDR:MASTER_PORT: rank 0 creates it, as with a plain env:// init.
  env["TORCHELASTIC_USE_AGENT_STORE"] = "False";
  if (!env.contains("TORCH_NCCL_ASYNC_ERROR_HANDLING")) env["TORCH_NCCL_ASYNC_ERROR_HANDLING"] = "1";
  return env;
}

}  // namespace accel::common
