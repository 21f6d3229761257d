// ClusterConfig: accelerate's config file (default_config.yaml) as a typed, validated value.
//
// This is the single place that knows the schema: keys, types, defaults, enum values, the legacy keys
// accelerate still converts, and the YAML 1.1 pitfalls it trips on (`mixed_precision: no`,
// `distributed_type: NO`, `gpu_ids: 0`), which are read here as the user meant them. Nothing else in
// the project parses a config file.
//
// Differences from accelerate, on purpose: unknown top-level keys are a warning (and are kept, so a
// rewrite loses nothing), not an error; wrong types and values are caught at load time with one line
// naming the file, key, value and what is allowed, instead of a Python traceback at launch time.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/config_value.h"
#include "common/environment.h"

namespace accel::common {

enum class ComputeEnvironment { kLocalMachine, kAmazonSageMaker };

enum class DistributedType {
  kNo, kMultiCpu, kMultiGpu, kMultiNpu, kMultiMlu, kMultiSdaa, kMultiMusa, kMultiXpu, kMultiHpu,
  kMultiNeuron, kDeepSpeed, kFsdp, kXla, kMegatronLm,
  // SageMaker-only values.
  kDataParallel, kModelParallel,
};

std::string_view ToString(ComputeEnvironment value);
std::string_view ToString(DistributedType value);
std::optional<DistributedType> ParseDistributedType(std::string_view text);

/// Mixed-precision modes, in accelerate's spelling.
inline constexpr std::string_view kMixedPrecisionChoices[] = {"no", "fp16", "bf16", "fp8"};

struct ClusterConfig {
  ComputeEnvironment compute_environment = ComputeEnvironment::kLocalMachine;
  DistributedType distributed_type = DistributedType::kNo;
  std::optional<std::string> mixed_precision;  // lower case; nullopt means "no" at launch
  bool use_cpu = false;
  bool debug = false;
  int num_processes = -1;  // total over all machines; -1: must come from --num_processes
  int machine_rank = 0;
  int num_machines = 1;
  std::optional<std::string> gpu_ids;  // "all" or a comma list, verbatim
  std::optional<std::string> main_process_ip;
  std::optional<int> main_process_port;
  std::string rdzv_backend = "static";
  bool same_network = false;
  std::string main_training_function = "main";
  bool enable_cpu_affinity = false;
  bool downcast_bf16 = false;
  // Nested sections, kept as written (accelerate does not check their keys either); known keys are
  // type-checked at load.
  ConfigValue fp8_config = ConfigValue::object();
  ConfigValue deepspeed_config = ConfigValue::object();
  ConfigValue fsdp_config = ConfigValue::object();
  ConfigValue parallelism_config = ConfigValue::object();
  ConfigValue megatron_lm_config = ConfigValue::object();
  ConfigValue mpirun_config = ConfigValue::object();
  ConfigValue dynamo_config = ConfigValue::object();
  std::optional<std::string> tpu_name;
  std::optional<std::string> tpu_zone;
  bool tpu_use_cluster = false;
  bool tpu_use_sudo = false;
  std::optional<std::string> command_file;
  std::optional<std::vector<std::string>> commands;
  std::optional<std::vector<std::string>> tpu_vm;
  std::optional<std::vector<std::string>> tpu_env;
  // accel's own key: the acceld coordinator `accelctl launch` submits to (unix:PATH or HOST:PORT).
  // accelerate rejects unknown top-level keys, so a file that sets it is for accelctl only.
  std::optional<std::string> cluster;
  // compute_environment AMAZON_SAGEMAKER: its own keys (ec2_instance_type, iam_role_name, ...).
  ConfigValue sagemaker = ConfigValue::object();
  // Keys this version does not know, kept verbatim so `config update` writes them back.
  ConfigValue unknown_keys = ConfigValue::object();
};

struct LoadedClusterConfig {
  ClusterConfig config;
  std::vector<std::string> warnings;  // one line each, already naming the file
};

/// Types and validates an already parsed file. `source` names the file in messages.
absl::StatusOr<LoadedClusterConfig> ClusterConfigFromValue(const ConfigValue& root, std::string_view source);

/// Parses and validates a file's text: JSON when `source` ends in ".json", YAML (which also reads
/// JSON) otherwise. InvalidArgument, naming `source`, key and value, when it is bad.
absl::StatusOr<LoadedClusterConfig> ParseClusterConfig(std::string_view text, std::string_view source);

/// Reads `path`: JSON when the name ends in ".json", YAML (which also reads JSON) otherwise.
/// NotFound when the file does not exist; InvalidArgument, naming file, key and value, when it is bad.
absl::StatusOr<LoadedClusterConfig> LoadClusterConfig(const std::filesystem::path& path);

/// The config as accelerate holds it: keys in accelerate's field order, null values and empty dicts
/// left out (empty lists kept), SageMaker and unknown keys after the known ones.
ConfigValue ClusterConfigToValue(const ClusterConfig& config);

enum class ConfigFileFormat {
  kByExtension,  // JSON for a ".json" name, YAML otherwise (what `accelerate config` does)
  kJson,         // always JSON (what `accelerate config default` does)
};

/// Writes atomically (temporary file + rename), creating parent directories.
absl::Status SaveClusterConfig(const ClusterConfig& config, const std::filesystem::path& path,
                               ConfigFileFormat format);

/// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
std::filesystem::path HuggingFaceCacheHome(const Environment& env);
/// `<cache home>/accelerate/default_config.yaml`.
std::filesystem::path DefaultConfigPath(const Environment& env);

}  // namespace accel::common
