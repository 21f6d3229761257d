#include "common/config/cluster_config.h"
#include "common/files.h"
#include "common/strings.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "common/status_macros.h"

namespace accel::common {
namespace {

constexpr std::array<std::pair<DistributedType, std::string_view>, 16> kDistributedTypeNames = {{
    {DistributedType::kNo, "NO"},
    {DistributedType::kMultiCpu, "MULTI_CPU"},
    {DistributedType::kMultiGpu, "MULTI_GPU"},
    {DistributedType::kMultiNpu, "MULTI_NPU"},
    {DistributedType::kMultiMlu, "MULTI_MLU"},
    {DistributedType::kMultiSdaa, "MULTI_SDAA"},
    {DistributedType::kMultiMusa, "MULTI_MUSA"},
    {DistributedType::kMultiXpu, "MULTI_XPU"},
    {DistributedType::kMultiHpu, "MULTI_HPU"},
    {DistributedType::kMultiNeuron, "MULTI_NEURON"},
    {DistributedType::kDeepSpeed, "DEEPSPEED"},
    {DistributedType::kFsdp, "FSDP"},
    {DistributedType::kXla, "XLA"},
    {DistributedType::kMegatronLm, "MEGATRON_LM"},
    {DistributedType::kDataParallel, "DATA_PARALLEL"},
    {DistributedType::kModelParallel, "MODEL_PARALLEL"},
}};

// Keys of the SageMaker config class beyond the shared base fields.
constexpr std::string_view kSageMakerKeys[] = {
    "ec2_instance_type", "iam_role_name", "image_uri", "profile", "region", "num_machines", "gpu_ids",
    "base_job_name", "pytorch_version", "transformers_version", "py_version", "sagemaker_inputs_file",
    "sagemaker_metrics_file", "additional_args", "enable_cpu_affinity"};

// Validation of the nested keys whose meaning launch depends on. Others pass through unchecked.
struct NestedRule {
  std::string_view section;
  std::string_view key;
  enum Kind { kIntRange, kChoice, kBool } kind;
  int min = 0;
  int max = 0;
  std::vector<std::string_view> choices = {};
  bool upper_case = false;  // a bare NO (YAML false) means "NO" (accelerate upper-cases these values)
};

const std::vector<NestedRule>& NestedRules() {
  static const auto* rules = new std::vector<NestedRule>{
      {"deepspeed_config", "zero_stage", NestedRule::kIntRange, 0, 3},
      {"deepspeed_config", "gradient_accumulation_steps", NestedRule::kIntRange, 1, 1 << 30},
      {"deepspeed_config", "offload_optimizer_device", NestedRule::kChoice, 0, 0, {"none", "cpu", "nvme"}},
      {"deepspeed_config", "offload_param_device", NestedRule::kChoice, 0, 0, {"none", "cpu", "nvme"}},
      {"deepspeed_config", "zero3_init_flag", NestedRule::kBool},
      {"deepspeed_config", "zero3_save_16bit_model", NestedRule::kBool},
      {"deepspeed_config", "deepspeed_multinode_launcher", NestedRule::kChoice, 0, 0,
       {"pdsh", "standard", "openmpi", "mvapich", "mpich", "nossh", "slurm"}},
      {"fsdp_config", "fsdp_version", NestedRule::kIntRange, 1, 2},
      {"fsdp_config", "fsdp_auto_wrap_policy", NestedRule::kChoice, 0, 0,
       {"TRANSFORMER_BASED_WRAP", "SIZE_BASED_WRAP", "NO_WRAP"}, true},
      {"fsdp_config", "fsdp_backward_prefetch", NestedRule::kChoice, 0, 0,
       {"BACKWARD_PRE", "BACKWARD_POST", "NO_PREFETCH"}, true},
      {"fsdp_config", "fsdp_state_dict_type", NestedRule::kChoice, 0, 0,
       {"FULL_STATE_DICT", "LOCAL_STATE_DICT", "SHARDED_STATE_DICT"}, true},
      {"fsdp_config", "fsdp_offload_params", NestedRule::kBool},
      {"fsdp_config", "fsdp_min_num_params", NestedRule::kIntRange, 0, 2147483647},
      {"fp8_config", "backend", NestedRule::kChoice, 0, 0, {"AO", "TE", "MSAMP", "NO"}, true},
      {"dynamo_config", "dynamo_backend", NestedRule::kChoice, 0, 0,
       {"NO", "EAGER", "AOT_EAGER", "INDUCTOR", "AOT_TS_NVFUSER", "NVPRIMS_NVFUSER", "CUDAGRAPHS", "OFI",
        "FX2TRT", "ONNXRT", "TENSORRT", "AOT_TORCHXLA_TRACE_ONCE", "TORCHXLA_TRACE_ONCE", "TVM",
        "HPU_BACKEND", "NEURON"},
       true},
      {"dynamo_config", "dynamo_mode", NestedRule::kChoice, 0, 0, {"default", "reduce-overhead", "max-autotune"}},
      {"dynamo_config", "dynamo_use_fullgraph", NestedRule::kBool},
      {"dynamo_config", "dynamo_use_dynamic", NestedRule::kBool},
      {"dynamo_config", "dynamo_use_regional_compilation", NestedRule::kBool},
      {"megatron_lm_config", "megatron_lm_tp_degree", NestedRule::kIntRange, 1, 1 << 20},
      {"megatron_lm_config", "megatron_lm_pp_degree", NestedRule::kIntRange, 1, 1 << 20},
      {"parallelism_config", "parallelism_config_dp_replicate_size", NestedRule::kIntRange, 1, 1 << 20},
      {"parallelism_config", "parallelism_config_dp_shard_size", NestedRule::kIntRange, -1, 1 << 20},
      {"parallelism_config", "parallelism_config_tp_size", NestedRule::kIntRange, 1, 1 << 20},
      {"parallelism_config", "parallelism_config_cp_size", NestedRule::kIntRange, 1, 1 << 20},
  };
  return *rules;
}

std::optional<int64_t> AsInteger(const ConfigValue& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (number == static_cast<double>(static_cast<int64_t>(number))) return static_cast<int64_t>(number);
  }
  return std::nullopt;
}

// Reads typed fields out of one mapping, producing the one-line errors the CLI prints.
class FieldReader {
 public:
  FieldReader(const ConfigValue& object, std::string_view source, std::string_view prefix = "")
      : object_(object), source_(source), prefix_(prefix) {}

  const ConfigValue* Find(std::string_view key) const {
    auto it = object_.find(std::string(key));
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::Status Bad(std::string_view key, const ConfigValue& value, std::string_view allowed) const {
    return absl::InvalidArgumentError(StrCat(source_, ": ", prefix_, key, ": invalid value ",
                                                   value.dump(-1, ' ', false, ConfigValue::error_handler_t::replace),
                                                   "; expected ", allowed));
  }

  absl::Status Bool(std::string_view key, bool& out) const {
    const ConfigValue* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (value->is_boolean()) {
      out = value->get<bool>();
      return absl::OkStatus();
    }
    if (value->is_string()) {
      if (auto truth = ParseTruthString(value->get<std::string>())) {
        out = *truth;
        return absl::OkStatus();
      }
    }
    return Bad(key, *value, "true or false");
  }

  absl::Status Int(std::string_view key, int& out, int64_t min, int64_t max, std::string_view allowed) const {
    std::optional<int> optional_out;
    RETURN_IF_ERROR(OptInt(key, optional_out, min, max, allowed));
    if (optional_out) out = *optional_out;
    return absl::OkStatus();
  }

  absl::Status OptInt(std::string_view key, std::optional<int>& out, int64_t min, int64_t max,
                      std::string_view allowed) const {
    const ConfigValue* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    std::optional<int64_t> number = AsInteger(*value);
    if (!number && value->is_string()) {
      number = ParseInt64(value->get<std::string>());
    }
    if (!number || *number < min || *number > max) return Bad(key, *value, allowed);
    out = static_cast<int>(*number);
    return absl::OkStatus();
  }

  absl::Status String(std::string_view key, std::string& out) const {
    std::optional<std::string> optional_out;
    RETURN_IF_ERROR(OptString(key, optional_out));
    if (optional_out) out = *optional_out;
    return absl::OkStatus();
  }

  // Numbers are accepted as their text (`main_process_ip: 10` is odd but harmless).
  absl::Status OptString(std::string_view key, std::optional<std::string>& out) const {
    const ConfigValue* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (value->is_string()) {
      out = value->get<std::string>();
    } else if (value->is_number()) {
      out = PythonStr(*value);
    } else {
      return Bad(key, *value, "a string");
    }
    return absl::OkStatus();
  }

  absl::Status StringList(std::string_view key, std::optional<std::vector<std::string>>& out) const {
    const ConfigValue* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_array()) return Bad(key, *value, "a list of strings");
    std::vector<std::string> items;
    for (const auto& item : *value) {
      if (!item.is_string() && !item.is_number()) return Bad(key, *value, "a list of strings");
      items.push_back(PythonStr(item));
    }
    out = std::move(items);
    return absl::OkStatus();
  }

  absl::Status Dict(std::string_view key, ConfigValue& out) const {
    const ConfigValue* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_object()) return Bad(key, *value, "a mapping of keys to values");
    out = *value;
    return absl::OkStatus();
  }

 private:
  const ConfigValue& object_;
  std::string_view source_;
  std::string_view prefix_;
};

std::string JoinChoices(const std::vector<std::string_view>& choices) {
  return StrCat("one of ", StrJoin(choices, ", "));
}

absl::Status CheckNestedSection(ConfigValue& section, std::string_view name, std::string_view source) {
  const std::string prefix = StrCat(name, ".");
  FieldReader reader(section, source, prefix);
  for (const NestedRule& rule : NestedRules()) {
    if (rule.section != name) continue;
    const ConfigValue* value = reader.Find(rule.key);
    if (value == nullptr) continue;
    switch (rule.kind) {
      case NestedRule::kIntRange: {
        int ignored = 0;
        RETURN_IF_ERROR(reader.Int(rule.key, ignored, rule.min, rule.max,
                                   StrCat("an integer from ", rule.min, " to ", rule.max)));
        break;
      }
      case NestedRule::kBool: {
        bool ignored = false;
        RETURN_IF_ERROR(reader.Bool(rule.key, ignored));
        break;
      }
      case NestedRule::kChoice: {
        // YAML 1.1 reads a bare NO as false; accelerate's questionnaire writes 'NO' quoted, but a
        // hand-written file may not.
        if (value->is_boolean() && !value->get<bool>() && rule.upper_case) {
          section[std::string(rule.key)] = "NO";
          break;
        }
        if (!value->is_string()) return reader.Bad(rule.key, *value, JoinChoices(rule.choices));
        // accelerate lower- or upper-cases these values before use, so any case is accepted.
        const std::string text = AsciiToLower(value->get<std::string>());
        if (std::none_of(rule.choices.begin(), rule.choices.end(),
                         [&](std::string_view choice) { return AsciiToLower(choice) == text; })) {
          return reader.Bad(rule.key, *value, JoinChoices(rule.choices));
        }
        break;
      }
    }
  }
  return absl::OkStatus();
}

// ReadFile, with the messages of a config file.
absl::StatusOr<std::string> ReadConfigFile(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return absl::NotFoundError(StrCat("config file ", path.string(), " does not exist"));
  }
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(StrCat("config file ", path.string(), " is a directory"));
  }
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return absl::PermissionDeniedError(StrCat("cannot read config file ", path.string()));
  return text;
}

void PutIf(ConfigValue& out, std::string_view key, const std::optional<std::string>& value) {
  if (value) out[std::string(key)] = *value;
}

}  // namespace

std::string_view ToString(ComputeEnvironment value) {
  return value == ComputeEnvironment::kLocalMachine ? "LOCAL_MACHINE" : "AMAZON_SAGEMAKER";
}

std::string_view ToString(DistributedType value) {
  for (const auto& [type, name] : kDistributedTypeNames) {
    if (type == value) return name;
  }
  return "NO";
}

std::optional<DistributedType> ParseDistributedType(std::string_view text) {
  for (const auto& [type, name] : kDistributedTypeNames) {
    if (name == text) return type;
  }
  return std::nullopt;
}

absl::StatusOr<LoadedClusterConfig> ClusterConfigFromValue(const ConfigValue& parsed, std::string_view source) {
  if (parsed.is_null()) {
    return absl::InvalidArgumentError(StrCat(source, ": the file is empty"));
  }
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError(
        StrCat(source, ": expected a mapping of keys to values at the top level, found ", parsed.type_name()));
  }
  ConfigValue root = parsed;
  LoadedClusterConfig loaded;
  ClusterConfig& config = loaded.config;

  // compute_environment decides which schema applies.
  if (const auto it = root.find("compute_environment"); it != root.end() && !it->is_null()) {
    if (*it == "LOCAL_MACHINE") {
      config.compute_environment = ComputeEnvironment::kLocalMachine;
    } else if (*it == "AMAZON_SAGEMAKER") {
      config.compute_environment = ComputeEnvironment::kAmazonSageMaker;
    } else {
      return FieldReader(root, source).Bad("compute_environment", *it, "one of LOCAL_MACHINE, AMAZON_SAGEMAKER");
    }
  }
  const bool sagemaker = config.compute_environment == ComputeEnvironment::kAmazonSageMaker;

  // distributed_type is required. YAML 1.1 reads a bare NO as false: that is what the user meant.
  const auto type_it = root.find("distributed_type");
  if (type_it == root.end() || type_it->is_null()) {
    return absl::InvalidArgumentError(StrCat(
        source, ": distributed_type is missing; set it to one of NO, MULTI_CPU, MULTI_GPU, DEEPSPEED, FSDP, ..."));
  }
  if (type_it->is_boolean() && !type_it->get<bool>()) {
    config.distributed_type = DistributedType::kNo;
  } else {
    std::optional<DistributedType> type;
    if (type_it->is_string()) type = ParseDistributedType(type_it->get<std::string>());
    const bool sagemaker_only = type == DistributedType::kDataParallel || type == DistributedType::kModelParallel;
    const bool allowed = type && (sagemaker ? (type == DistributedType::kNo || sagemaker_only) : !sagemaker_only);
    if (!allowed) {
      std::string choices;
      if (sagemaker) {
        choices = "one of NO, DATA_PARALLEL, MODEL_PARALLEL";
      } else {
        std::vector<std::string_view> names;
        for (const auto& [value, name] : kDistributedTypeNames) {
          if (value != DistributedType::kDataParallel && value != DistributedType::kModelParallel) names.push_back(name);
        }
        choices = JoinChoices(names);
      }
      if (*type_it == "TPU") choices += " (TPU was renamed XLA)";
      return FieldReader(root, source).Bad("distributed_type", *type_it, choices);
    }
    config.distributed_type = *type;
  }

  // Legacy keys, converted the way accelerate converts them.
  if (root.contains("fp16")) {
    if ((!root.contains("mixed_precision") || root["mixed_precision"].is_null()) && PythonTruthy(root["fp16"])) {
      root["mixed_precision"] = "fp16";
    }
    root.erase("fp16");
  }
  if (root.contains("dynamo_backend")) {
    ConfigValue legacy = root["dynamo_backend"];
    root.erase("dynamo_backend");
    const bool is_no = (legacy.is_boolean() && !legacy.get<bool>()) || legacy == "NO";
    root["dynamo_config"] = is_no ? ConfigValue::object() : ConfigValue{{"dynamo_backend", legacy}};
  }
  if (config.distributed_type == DistributedType::kNo && !root.contains("num_processes")) config.num_processes = 1;

  const FieldReader reader(root, source);
  // `mixed_precision: no` is a YAML boolean; it means "no".
  if (const ConfigValue* precision = reader.Find("mixed_precision")) {
    if (precision->is_boolean() && !precision->get<bool>()) {
      config.mixed_precision = "no";
    } else {
      const std::string text = precision->is_string() ? AsciiToLower(precision->get<std::string>()) : "";
      if (std::find(std::begin(kMixedPrecisionChoices), std::end(kMixedPrecisionChoices), text) ==
          std::end(kMixedPrecisionChoices)) {
        return reader.Bad("mixed_precision", *precision, "one of no, fp16, bf16, fp8");
      }
      config.mixed_precision = text;
    }
  }
  RETURN_IF_ERROR(reader.Bool("use_cpu", config.use_cpu));
  RETURN_IF_ERROR(reader.Bool("debug", config.debug));
  if (const ConfigValue* processes = reader.Find("num_processes"); processes != nullptr && *processes != -1) {
    RETURN_IF_ERROR(reader.Int("num_processes", config.num_processes, 1, 1 << 20, "an integer >= 1 (or -1: unset)"));
  }
  RETURN_IF_ERROR(reader.Int("num_machines", config.num_machines, 1, 1 << 20, "an integer >= 1"));
  RETURN_IF_ERROR(reader.Int("machine_rank", config.machine_rank, 0, 1 << 20, "an integer >= 0"));
  if (config.machine_rank >= config.num_machines) {
    return reader.Bad("machine_rank", root["machine_rank"],
                      StrCat("a machine rank below num_machines (", config.num_machines, ")"));
  }
  // gpu_ids: `0` is an integer in YAML and `0,1` a string; both mean the ids as written.
  if (const ConfigValue* ids = reader.Find("gpu_ids")) {
    const std::string text = ids->is_string() || ids->is_number_integer() ? PythonStr(*ids) : "";
    bool valid = text == "all";
    if (!valid && !text.empty()) {
      valid = true;
      for (std::string_view id : StrSplit(text, ',')) {
        const std::optional<int64_t> index = ParseInt64(StripWhitespace(id));
        if (!index || *index < 0) valid = false;
      }
    }
    if (!valid) return reader.Bad("gpu_ids", *ids, "\"all\" or a comma-separated list of GPU indices such as \"0,1\"");
    config.gpu_ids = text;
  }
  RETURN_IF_ERROR(reader.OptString("main_process_ip", config.main_process_ip));
  RETURN_IF_ERROR(reader.OptInt("main_process_port", config.main_process_port, 0, 65535, "a port from 0 to 65535"));
  RETURN_IF_ERROR(reader.String("rdzv_backend", config.rdzv_backend));
  RETURN_IF_ERROR(reader.Bool("same_network", config.same_network));
  RETURN_IF_ERROR(reader.String("main_training_function", config.main_training_function));
  RETURN_IF_ERROR(reader.Bool("enable_cpu_affinity", config.enable_cpu_affinity));
  RETURN_IF_ERROR(reader.Bool("downcast_bf16", config.downcast_bf16));
  const std::pair<std::string_view, ConfigValue*> sections[] = {
      {"fp8_config", &config.fp8_config},
      {"deepspeed_config", &config.deepspeed_config},
      {"fsdp_config", &config.fsdp_config},
      {"parallelism_config", &config.parallelism_config},
      {"megatron_lm_config", &config.megatron_lm_config},
      {"mpirun_config", &config.mpirun_config},
      {"dynamo_config", &config.dynamo_config},
  };
  for (const auto& [name, section] : sections) {
    RETURN_IF_ERROR(reader.Dict(name, *section));
    RETURN_IF_ERROR(CheckNestedSection(*section, name, source));
  }
  RETURN_IF_ERROR(reader.OptString("tpu_name", config.tpu_name));
  RETURN_IF_ERROR(reader.OptString("tpu_zone", config.tpu_zone));
  RETURN_IF_ERROR(reader.Bool("tpu_use_cluster", config.tpu_use_cluster));
  RETURN_IF_ERROR(reader.Bool("tpu_use_sudo", config.tpu_use_sudo));
  RETURN_IF_ERROR(reader.OptString("command_file", config.command_file));
  RETURN_IF_ERROR(reader.StringList("commands", config.commands));
  RETURN_IF_ERROR(reader.StringList("tpu_vm", config.tpu_vm));
  RETURN_IF_ERROR(reader.StringList("tpu_env", config.tpu_env));
  RETURN_IF_ERROR(reader.OptString("cluster", config.cluster));

  // Everything not read above is either a SageMaker key or unknown.
  static const std::set<std::string_view> kClusterKeys = {
      "compute_environment", "distributed_type", "mixed_precision", "use_cpu", "debug", "num_processes",
      "machine_rank", "num_machines", "gpu_ids", "main_process_ip", "main_process_port", "rdzv_backend",
      "same_network", "main_training_function", "enable_cpu_affinity", "fp8_config", "deepspeed_config",
      "fsdp_config", "parallelism_config", "megatron_lm_config", "mpirun_config", "downcast_bf16", "tpu_name",
      "tpu_zone", "tpu_use_cluster", "tpu_use_sudo", "command_file", "commands", "tpu_vm", "tpu_env",
      "dynamo_config", "cluster"};
  std::vector<std::string> unknown;
  for (const auto& [key, value] : root.items()) {
    const bool sagemaker_key =
        std::find(std::begin(kSageMakerKeys), std::end(kSageMakerKeys), key) != std::end(kSageMakerKeys);
    if (sagemaker && sagemaker_key) {
      if (key != "num_machines" && key != "gpu_ids" && key != "enable_cpu_affinity") config.sagemaker[key] = value;
    } else if (!kClusterKeys.contains(key)) {
      config.unknown_keys[key] = value;
      unknown.push_back(key);
    }
  }
  if (sagemaker) {
    for (std::string_view required : {"ec2_instance_type", "iam_role_name"}) {
      if (!config.sagemaker.contains(std::string(required))) {
        return absl::InvalidArgumentError(
            StrCat(source, ": ", required, " is missing; AMAZON_SAGEMAKER configs need it"));
      }
    }
  }
  if (!unknown.empty()) {
    std::sort(unknown.begin(), unknown.end());
    loaded.warnings.push_back(StrCat(source, ": ignoring unknown keys: ", StrJoin(unknown, ", "),
                                           " (kept as written; a newer accelerate may know them)"));
  }
  return loaded;
}

absl::StatusOr<LoadedClusterConfig> ParseClusterConfig(std::string_view text, std::string_view source) {
  absl::StatusOr<ConfigValue> parsed = source.ends_with(".json") ? ParseJson(text) : ParseYaml(text);
  if (!parsed.ok()) return absl::InvalidArgumentError(StrCat(source, ": ", parsed.status().message()));
  return ClusterConfigFromValue(*parsed, source);
}

absl::StatusOr<LoadedClusterConfig> LoadClusterConfig(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadConfigFile(path));
  return ParseClusterConfig(text, path.string());
}

ConfigValue ClusterConfigToValue(const ClusterConfig& config) {
  ConfigValue out = ConfigValue::object();
  out["compute_environment"] = std::string(ToString(config.compute_environment));
  out["distributed_type"] = std::string(ToString(config.distributed_type));
  PutIf(out, "mixed_precision", config.mixed_precision);
  out["use_cpu"] = config.use_cpu;
  out["debug"] = config.debug;
  out["num_processes"] = config.num_processes;
  out["machine_rank"] = config.machine_rank;
  out["num_machines"] = config.num_machines;
  PutIf(out, "gpu_ids", config.gpu_ids);
  PutIf(out, "main_process_ip", config.main_process_ip);
  if (config.main_process_port) out["main_process_port"] = *config.main_process_port;
  out["rdzv_backend"] = config.rdzv_backend;
  out["same_network"] = config.same_network;
  out["main_training_function"] = config.main_training_function;
  out["enable_cpu_affinity"] = config.enable_cpu_affinity;
  auto put_section = [&](std::string_view key, const ConfigValue& section) {
    if (section.is_object() && !section.empty()) out[std::string(key)] = section;
  };
  put_section("fp8_config", config.fp8_config);
  put_section("deepspeed_config", config.deepspeed_config);
  put_section("fsdp_config", config.fsdp_config);
  put_section("parallelism_config", config.parallelism_config);
  put_section("megatron_lm_config", config.megatron_lm_config);
  put_section("mpirun_config", config.mpirun_config);
  out["downcast_bf16"] = config.downcast_bf16;
  PutIf(out, "tpu_name", config.tpu_name);
  PutIf(out, "tpu_zone", config.tpu_zone);
  out["tpu_use_cluster"] = config.tpu_use_cluster;
  out["tpu_use_sudo"] = config.tpu_use_sudo;
  PutIf(out, "command_file", config.command_file);
  auto put_list = [&](std::string_view key, const std::optional<std::vector<std::string>>& list) {
    if (list) out[std::string(key)] = *list;
  };
  put_list("commands", config.commands);
  put_list("tpu_vm", config.tpu_vm);
  put_list("tpu_env", config.tpu_env);
  put_section("dynamo_config", config.dynamo_config);
  PutIf(out, "cluster", config.cluster);
  for (const auto& [key, value] : config.sagemaker.items()) {
    if (!value.is_null()) out[key] = value;
  }
  for (const auto& [key, value] : config.unknown_keys.items()) {
    if (!value.is_null()) out[key] = value;
  }
  return out;
}

absl::Status SaveClusterConfig(const ClusterConfig& config, const std::filesystem::path& path,
                               ConfigFileFormat format) {
  const ConfigValue value = ClusterConfigToValue(config);
  const bool json = format == ConfigFileFormat::kJson || path.string().ends_with(".json");
  const std::string text = json ? EmitJson(value) : EmitYaml(value);

  std::error_code error;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), error);
    if (error) {
      return absl::PermissionDeniedError(
          StrCat("cannot create directory ", path.parent_path().string(), ": ", error.message()));
    }
  }
  // A config file is the user's: created with the umask's say, not a fixed mode.
  return WriteFileAtomically(path, text, 0666);
}

std::filesystem::path HuggingFaceCacheHome(const Environment& env) {
  std::string home;
  if (auto hf_home = env.GetNonEmpty("HF_HOME")) {
    home = *hf_home;
  } else if (auto xdg = env.GetNonEmpty("XDG_CACHE_HOME")) {
    home = *xdg + "/huggingface";
  } else {
    home = "~/.cache/huggingface";
  }
  // Python's os.path.expanduser on the final string.
  if (home == "~" || home.starts_with("~/")) {
    std::string user_home;
    if (auto from_env = env.GetNonEmpty("HOME")) {
      user_home = *from_env;
    } else if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr && entry->pw_dir != nullptr) {
      user_home = entry->pw_dir;
    }
    home = user_home + home.substr(1);
  }
  return std::filesystem::path(home);
}

std::filesystem::path DefaultConfigPath(const Environment& env) {
  return HuggingFaceCacheHome(env) / "accelerate" / "default_config.yaml";
}

}  // namespace accel::common
