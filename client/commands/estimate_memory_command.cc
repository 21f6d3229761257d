// `accelctl estimate-memory MODEL`: accelerate's memory table, computed offline and exactly.
//
// accelerate asks the Hub for the model, builds it on the meta device and sums its tensors. Here the
// tensor shapes come from the safetensors headers already on disk (local folder, single file, or the
// Hugging Face cache), so nothing is downloaded or imported and the count is exact; with no weights on
// disk the count comes from config.json by formula, and the output says it is an estimate. Every
// tensor in the checkpoint counts as a parameter (safetensors does not mark buffers). The table itself
// is accelerate's, byte for byte (common/model/memory_table.h).
//
// Beyond accelerate: --num_processes with --zero_stage or --use_fsdp (or the same from --config_file)
// adds the per-GPU share of weights, gradients and Adam states under that sharding; --json prints one
// object for scripts instead of the tables.
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "client/commands/command.h"
#include "common/cli/arg_parser.h"
#include "common/config/cluster_config.h"
#include "common/model/memory_table.h"
#include "common/model/model_location.h"
#include "common/model/param_count.h"
#include "common/model/safetensors.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace accel::client {
namespace {

namespace fs = std::filesystem;
using common::ArgKind;
using common::ArgParser;
using common::ArgSpec;
using common::ArgType;
using common::EstimateDtype;
using common::ShardingPlan;
using common::ShardingStage;
using common::StrCat;

constexpr std::string_view kCommand = "estimate-memory";
constexpr std::string_view kShardingGroup = "sharding (accelctl only)";

// Past this the byte counts (16 bytes per parameter) would not fit in 64 bits.
constexpr uint64_t kMaxParameters = uint64_t{1} << 58;

ArgParser MakeParser() {
  ArgParser parser("accelctl estimate-memory",
                   "Model size estimator for fitting a model onto device(e.g. cuda, xpu) memory. Reads the "
                   "model's files on this machine (local folder, .safetensors file or Hugging Face cache); "
                   "nothing is downloaded.");
  parser.AddPositional({.name = "model_name",
                        .help = "The model name on the Hugging Face Hub (looked up in the local cache), or a "
                                "local folder, .safetensors file or safetensors index."});
  parser.Add({.name = "library_name",
              .kind = ArgKind::kValue,
              .choices = {"timm", "transformers"},
              .help = "The library the model has an integration with, such as `transformers`. Only matters "
                      "when there are no .safetensors weights and the count comes from config.json."});
  parser.Add({.name = "dtypes",
              .kind = ArgKind::kAppendMany,
              .choices = {"float32", "float16", "int8", "int4"},
              .help = "The dtypes to use for the model, must be one (or many) of `float32`, `float16`, `int8`, "
                      "and `int4`"});
  parser.Add({.name = "trust_remote_code",
              .kind = ArgKind::kFlag,
              .help = "Accepted for compatibility with accelerate; no model code is run, so it changes nothing."});
  parser.Add({.name = "json", .kind = ArgKind::kFlag, .help = "Print one JSON object instead of the tables."});
  parser.Add({.name = "num_processes",
              .kind = ArgKind::kValue,
              .type = ArgType::kInt,
              .help = "Show the per-GPU training memory when training runs on this many processes.",
              .group = std::string(kShardingGroup)});
  parser.Add({.name = "zero_stage",
              .kind = ArgKind::kValue,
              .type = ArgType::kInt,
              .choices = {"0", "1", "2", "3"},
              .help = "DeepSpeed ZeRO stage: 1 shards the Adam states, 2 also the gradients, 3 also the weights.",
              .group = std::string(kShardingGroup)});
  parser.Add({.name = "use_fsdp",
              .kind = ArgKind::kFlag,
              .help = "FSDP with full sharding (weights, gradients and Adam states).",
              .group = std::string(kShardingGroup)});
  parser.Add({.name = "config_file",
              .kind = ArgKind::kValue,
              .help = "Take num_processes, deepspeed_config.zero_stage and FSDP settings from this accelerate "
                      "config file (options given here take precedence).",
              .group = std::string(kShardingGroup)});
  return parser;
}

absl::Status UsageError(std::string_view message) {
  return absl::InvalidArgumentError(StrCat("accelctl estimate-memory: error: ", message));
}

// The dtypes in the order given (accelerate keeps order and repeats); choices checked as argparse does.
absl::StatusOr<std::vector<EstimateDtype>> ParseDtypes(const common::ParsedArgs& parsed) {
  std::vector<EstimateDtype> dtypes;
  const auto it = parsed.lists.find("dtypes");
  if (it == parsed.lists.end()) {
    for (std::string_view name : common::kEstimateDtypeNames) dtypes.push_back(*common::ParseEstimateDtype(name));
    return dtypes;
  }
  for (const std::string& name : it->second) {
    const auto dtype = common::ParseEstimateDtype(name);
    if (!dtype) {
      return UsageError(StrCat("argument --dtypes: invalid choice: '", name,
                               "' (choose from 'float32', 'float16', 'int8', 'int4')"));
    }
    dtypes.push_back(*dtype);
  }
  return dtypes;
}

// FSDP's sharding strategy as accelerate writes it: a name, its 1-based number (older configs), or for
// FSDP2 `fsdp_reshard_after_forward` true / false.
absl::StatusOr<std::string> FsdpStrategy(const common::ConfigValue& fsdp, const fs::path& config_path) {
  static constexpr std::string_view kStrategies[] = {"FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD",
                                                     "HYBRID_SHARD_ZERO2"};
  for (const char* key : {"fsdp_sharding_strategy", "fsdp_reshard_after_forward"}) {
    const auto it = fsdp.find(key);
    if (it == fsdp.end() || it->is_null()) continue;
    if (it->is_boolean()) return std::string(it->get<bool>() ? "FULL_SHARD" : "SHARD_GRAD_OP");
    if (it->is_number_integer() && it->get<int64_t>() >= 1 && it->get<int64_t>() <= 5) {
      return std::string(kStrategies[it->get<int64_t>() - 1]);
    }
    if (it->is_string()) {
      const std::string value = common::AsciiToUpper(it->get<std::string>());
      if (value == "TRUE") return std::string("FULL_SHARD");
      if (value == "FALSE") return std::string("SHARD_GRAD_OP");
      for (std::string_view strategy : kStrategies) {
        if (value == strategy) return std::string(strategy);
      }
    }
    return absl::InvalidArgumentError(StrCat(config_path.string(), ": fsdp_config.", key, " is ",
                                             it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                             ", not an FSDP sharding strategy"));
  }
  return std::string("FULL_SHARD");
}

// The sharding to show, or nullopt when no sharding option was given. On error, *usage_error says whether
// the command line is at fault (exit 2) rather than the config file (exit 1).
absl::StatusOr<std::optional<ShardingPlan>> ResolveSharding(const common::ParsedArgs& parsed,
                                                            const CommandContext& context, bool* usage_error) {
  *usage_error = true;
  if (parsed.Has("zero_stage") && parsed.Flag("use_fsdp")) {
    return UsageError("argument --use_fsdp: not allowed with argument --zero_stage");
  }
  const bool wanted = parsed.Has("num_processes") || parsed.Has("zero_stage") || parsed.Flag("use_fsdp") ||
                      parsed.Has("config_file");
  if (!wanted) return std::optional<ShardingPlan>();

  std::optional<int64_t> num_processes;
  if (auto value = parsed.Value("num_processes")) {
    num_processes = common::ParseInt64(*value);
    if (!num_processes || *num_processes < 1) {
      return UsageError(StrCat("argument --num_processes: must be at least 1, got ", *value));
    }
  }
  std::optional<int64_t> zero_stage;
  if (auto value = parsed.Value("zero_stage")) zero_stage = common::ParseInt64(*value);
  bool use_fsdp = parsed.Flag("use_fsdp");
  std::string fsdp_strategy = "FULL_SHARD";
  int64_t num_machines = 1;

  *usage_error = false;
  if (auto path = parsed.Value("config_file")) {
    auto loaded = common::LoadClusterConfig(*path);
    if (!loaded.ok()) return loaded.status();
    for (const std::string& warning : loaded->warnings) *context.err << "warning: " << warning << "\n";
    const common::ClusterConfig& config = loaded->config;
    if (!num_processes && config.num_processes > 0) num_processes = config.num_processes;
    num_machines = std::max(1, config.num_machines);
    if (config.distributed_type == common::DistributedType::kDeepSpeed && !zero_stage && !use_fsdp) {
      const auto stage = config.deepspeed_config.find("zero_stage");
      if (stage == config.deepspeed_config.end() || !stage->is_number_integer()) {
        return absl::InvalidArgumentError(StrCat(*path, ": deepspeed_config has no zero_stage (a deepspeed_config_file "
                                                 "is not read); pass --zero_stage"));
      }
      zero_stage = stage->get<int64_t>();
    }
    if (config.distributed_type == common::DistributedType::kFsdp && !zero_stage) {
      use_fsdp = true;
      ASSIGN_OR_RETURN(fsdp_strategy, FsdpStrategy(config.fsdp_config, *path));
    }
  }
  if (!num_processes) {
    *usage_error = true;
    return UsageError("the per-GPU estimate needs --num_processes (or a --config_file that sets num_processes)");
  }

  ShardingPlan plan;
  plan.num_processes = static_cast<uint64_t>(*num_processes);
  plan.shard_group = plan.num_processes;
  if (zero_stage) {
    plan.stage = static_cast<ShardingStage>(*zero_stage);
    plan.label = *zero_stage == 0 ? "ZeRO-0 (no sharding)" : StrCat("ZeRO-", *zero_stage);
  } else if (use_fsdp) {
    plan.label = StrCat("FSDP ", fsdp_strategy);
    if (fsdp_strategy == "NO_SHARD") {
      plan.stage = ShardingStage::kNone;
    } else if (fsdp_strategy == "SHARD_GRAD_OP" || fsdp_strategy == "HYBRID_SHARD_ZERO2") {
      plan.stage = ShardingStage::kGradients;
    } else {
      plan.stage = ShardingStage::kParameters;
    }
    // Hybrid strategies shard within a machine and replicate across machines.
    if (fsdp_strategy.starts_with("HYBRID") && num_machines > 1 && *num_processes % num_machines == 0) {
      plan.shard_group = plan.num_processes / static_cast<uint64_t>(num_machines);
    }
  } else {
    plan.stage = ShardingStage::kNone;
    plan.label = "DDP (no sharding)";
  }
  return std::optional<ShardingPlan>(plan);
}

struct ModelParameters {
  std::string source;  // "safetensors" or "config"
  common::ModelLocation location;
  common::ParameterSummary summary;
  size_t files = 0;
  std::string model_type;  // config source only
};

absl::StatusOr<ModelParameters> LoadParameters(std::string_view model, const CommandContext& context,
                                               const std::optional<std::string>& library) {
  ModelParameters result;
  ASSIGN_OR_RETURN(result.location, common::LocateModel(model, common::HubCacheDir(context.env)));
  const common::ModelLocation& location = result.location;
  std::vector<common::NamedTensorSize> tensors;
  if (location.weights != common::ModelLocation::Weights::kNone) {
    result.source = "safetensors";
    auto checkpoint = location.weights == common::ModelLocation::Weights::kShardIndex
                          ? common::ReadSafetensorsIndex(location.weights_path)
                          : common::ReadSafetensorsFile(location.weights_path);
    if (!checkpoint.ok()) return checkpoint.status();
    result.files = checkpoint->files.size();
    tensors.reserve(checkpoint->tensors.size());
    for (auto& tensor : checkpoint->tensors) {
      // The reader has already refused unknown dtypes.
      tensors.push_back({std::move(tensor.name), tensor.elements, common::BuiltBytesPerElement(tensor.dtype).value_or(4)});
    }
  } else {
    result.source = "config";
    if (library == "timm") {
      return absl::InvalidArgumentError(StrCat(location.folder.string(), " has no .safetensors weights, and a timm "
                                               "config.json does not give layer sizes; download model.safetensors"));
    }
    // LocateModel only returns kNone with a config.json present.
    auto text = [&]() -> absl::StatusOr<std::string> {
      std::error_code error;
      const auto size = fs::file_size(*location.config, error);
      if (error) return absl::FailedPreconditionError(StrCat(location.config->string(), ": ", error.message()));
      if (size > 16 * 1024 * 1024) return absl::InvalidArgumentError(StrCat(location.config->string(), ": too large"));
      std::ifstream in(*location.config, std::ios::binary);
      std::string content(size, '\0');
      if (!in.read(content.data(), static_cast<std::streamsize>(size))) {
        return absl::FailedPreconditionError(StrCat("cannot read ", location.config->string()));
      }
      return content;
    }();
    if (!text.ok()) return text.status();
    auto from_config = common::ParametersFromConfig(*text);
    if (!from_config.ok()) {
      return absl::Status(from_config.status().code(),
                          StrCat(location.folder.string(), ": ", from_config.status().message()));
    }
    tensors = std::move(*from_config);
    const auto root = nlohmann::json::parse(*text, nullptr, false);
    result.model_type = root.value("model_type", "");
    result.files = 1;
  }
  ASSIGN_OR_RETURN(result.summary, common::SummarizeParameters(tensors));
  if (result.summary.tensor_count == 0) {
    return absl::InvalidArgumentError(StrCat(location.weights_path.string(), " holds no tensors"));
  }
  if (result.summary.total_elements > kMaxParameters) {
    return absl::InvalidArgumentError(StrCat(result.summary.total_elements, " parameters: too many to estimate"));
  }
  return result;
}

nlohmann::ordered_json JsonBytes(common::PyBytes bytes) {
  const auto whole = static_cast<uint64_t>(bytes.value);
  if (static_cast<double>(whole) == bytes.value) return whole;
  return bytes.value;
}

std::string RenderJson(std::string_view model, const ModelParameters& parameters,
                       const std::vector<common::DtypeMemory>& rows, const std::vector<EstimateDtype>& dtypes,
                       const std::optional<ShardingPlan>& plan) {
  nlohmann::ordered_json out;
  out["model"] = std::string(model);
  out["source"] = parameters.source;
  const common::ModelLocation& location = parameters.location;
  out["path"] = (parameters.source == "config" ? *location.config : location.weights_path).string();
  out["origin"] = parameters.location.origin;
  out["parameters"] = parameters.summary.total_elements;
  out["tensors"] = parameters.summary.tensor_count;
  out["largest_layer"] = {{"name", parameters.summary.largest_layer},
                          {"parameters", parameters.summary.largest_layer_elements}};
  nlohmann::ordered_json per_dtype = nlohmann::ordered_json::object();
  for (const common::DtypeMemory& row : rows) {
    per_dtype[std::string(common::ToString(row.dtype))] = {
        {"largest_layer_bytes", JsonBytes(row.largest_layer)},
        {"total_bytes", JsonBytes(row.total)},
        {"training_adam_bytes", row.training_adam ? nlohmann::ordered_json(*row.training_adam) : nullptr}};
  }
  out["dtypes"] = per_dtype;
  if (plan) {
    nlohmann::ordered_json sharding;
    sharding["strategy"] = plan->label;
    sharding["zero_stage_equivalent"] = static_cast<int>(plan->stage);
    sharding["num_processes"] = plan->num_processes;
    sharding["shard_group_size"] = plan->shard_group;
    nlohmann::ordered_json per_gpu = nlohmann::ordered_json::object();
    for (EstimateDtype dtype : dtypes) {
      const auto memory = common::EstimatePerGpuTraining(dtype, parameters.summary.total_elements, *plan);
      if (!memory) continue;
      per_gpu[std::string(common::ToString(dtype))] = {{"weights_bytes", memory->weights},
                                                       {"gradients_bytes", memory->gradients},
                                                       {"optimizer_states_bytes", memory->optimizer_states},
                                                       {"total_bytes", memory->total}};
    }
    sharding["per_gpu"] = per_gpu;
    out["sharding"] = sharding;
  }
  return out.dump(2) + "\n";
}

std::string Describe(std::string_view model, const ModelParameters& parameters) {
  const common::ModelLocation& location = parameters.location;
  const common::ParameterSummary& summary = parameters.summary;
  const std::string counts = StrCat(common::FormatThousands(summary.total_elements), " parameters in ",
                                    summary.tensor_count, " tensors, largest layer `", summary.largest_layer, "`");
  if (parameters.source == "safetensors") {
    return StrCat("Loading tensor shapes for `", model, "` from ", location.weights_path.string(), " (",
                  location.origin, "; ", parameters.files, parameters.files == 1 ? " file; " : " files; ", counts,
                  ")...\n");
  }
  std::string text = StrCat("Loading pretrained config for `", model, "` from ", location.config->string(), " (",
                            location.origin, "; ", counts, ")...\n");
  text += StrCat("Note: no .safetensors weights found",
                 location.unreadable_weights.empty()
                     ? std::string()
                     : StrCat(" (", common::StrJoin(location.unreadable_weights, ", "), " not read)"),
                 "; the sizes are an estimate by formula from config.json (model_type ", parameters.model_type,
                 "), not an exact count.\n");
  return text;
}

}  // namespace

int RunEstimateMemoryCommand(const CommandContext& context, CommandArgs args) {
  const ArgParser parser = MakeParser();
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, kCommand, parser, args, &exit_code);
  if (!parsed) return exit_code;
  auto dtypes = ParseDtypes(*parsed);
  if (!dtypes.ok()) return ReportError(context, kCommand, dtypes.status(), /*usage_error=*/true);
  bool usage_error = false;
  auto plan = ResolveSharding(*parsed, context, &usage_error);
  if (!plan.ok()) return ReportError(context, kCommand, plan.status(), usage_error);

  const std::string& model = parsed->positionals.front();
  auto parameters = LoadParameters(model, context, parsed->Value("library_name"));
  if (!parameters.ok()) return ReportError(context, kCommand, parameters.status());

  const uint64_t total_bytes = parameters->summary.total_bytes;  // built in float32
  const uint64_t largest_bytes = parameters->summary.largest_layer_bytes;
  std::vector<common::DtypeMemory> rows;
  for (EstimateDtype dtype : *dtypes) rows.push_back(common::EstimateDtypeMemory(dtype, total_bytes, largest_bytes));

  if (parsed->Flag("json")) {
    *context.out << RenderJson(model, *parameters, rows, *dtypes, *plan);
    return kExitOk;
  }
  *context.out << Describe(model, *parameters);
  *context.out << common::RenderMemoryTable(model, rows) << "\n";
  if (*plan) {
    const std::string report =
        common::RenderShardingReport(parameters->summary.total_elements, *dtypes, **plan);
    if (report.empty()) {
      *context.out << "\n(No per-GPU training table: training needs float32 or float16 among --dtypes.)\n";
    } else {
      *context.out << "\n" << report;
    }
  }
  return kExitOk;
}

}  // namespace accel::client
