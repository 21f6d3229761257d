// `accelctl config`, `accelctl config default`, `accelctl config update`.
#include <filesystem>

#include "client/commands/command.h"
#include "client/commands/config_questionnaire.h"
#include "common/cli/arg_parser.h"
#include "common/config/cluster_config.h"
#include "common/host/gpu_probe.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace accel::client {
namespace {

using common::ArgKind;
using common::ArgParser;
using common::ArgSpec;

common::ArgSpec ConfigFileOption(std::string help) {
  return ArgSpec{.name = "config_file", .kind = ArgKind::kValue, .metavar = "CONFIG_FILE", .help = std::move(help)};
}

std::filesystem::path ConfigPath(const CommandContext& context, const common::ParsedArgs& parsed) {
  if (auto path = parsed.Value("config_file")) return *path;
  return common::DefaultConfigPath(context.env);
}

// What `accelerate config default` writes: the machine's GPUs decide the distributed type.
common::ClusterConfig BasicConfig(const std::string& mixed_precision, const common::GpuInventory& gpus) {
  common::ClusterConfig config;
  config.mixed_precision = mixed_precision;
  if (gpus.count() > 0) {
    config.num_processes = gpus.count();
    config.use_cpu = false;
    config.distributed_type = gpus.count() > 1 ? common::DistributedType::kMultiGpu : common::DistributedType::kNo;
  } else {
    config.num_processes = 1;
    config.use_cpu = true;
    config.distributed_type = common::DistributedType::kNo;
  }
  return config;
}

int RunDefault(const CommandContext& context, CommandArgs args) {
  ArgParser parser("accelctl config default", "Create a default config file for Accelerate with only a few flags set.");
  parser.Add(ConfigFileOption(
      "The path to use to store the config file. Will default to a file named default_config.yaml in the cache "
      "location, which is the content of the environment `HF_HOME` suffixed with 'accelerate', or if you don't have "
      "such an environment variable, your cache directory ('~/.cache' or the content of `XDG_CACHE_HOME`) suffixed "
      "with 'huggingface'."));
  // accelerate's writer also takes fp8 and any case; the argparse choices are the three below.
  parser.Add({.name = "mixed_precision",
              .kind = ArgKind::kValue,
              .choices = {"no", "fp16", "bf16"},
              .help = "Whether or not to use mixed precision training. Choose between FP16 and BF16 (bfloat16) "
                      "training. BF16 training is only supported on Nvidia Ampere GPUs and PyTorch 1.10 or later."});
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "config default", parser, args, &exit_code);
  if (!parsed) return exit_code;
  const std::filesystem::path path = ConfigPath(context, *parsed);
  std::error_code error;
  if (std::filesystem::exists(path, error)) {
    *context.out << "Configuration already exists at " << path.string()
                 << ", will not override. Run `accelctl config` manually or pass a different `--config_file`.\n";
    return kExitOk;
  }
  const auto gpus = common::ProbeGpus(common::GpuProbeOptionsFromEnv(context.env));
  const common::ClusterConfig config = BasicConfig(parsed->Value("mixed_precision").value_or("no"), gpus);
  if (auto status = common::SaveClusterConfig(config, path, common::ConfigFileFormat::kJson); !status.ok()) {
    return ReportError(context, "config default", status);
  }
  *context.out << "accelerate configuration saved at " << path.string() << "\n";
  return kExitOk;
}

int RunUpdate(const CommandContext& context, CommandArgs args) {
  ArgParser parser("accelctl config update", "Update an existing config file with the latest defaults while maintaining the old configuration.");
  parser.Add(ConfigFileOption("The path to the config file to update. Will default to the default config file."));
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "config update", parser, args, &exit_code);
  if (!parsed) return exit_code;
  const std::filesystem::path path = ConfigPath(context, *parsed);
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return ReportError(context, "config update",
                       absl::NotFoundError(common::StrCat("the config file ", path.string(), " doesn't exist")));
  }
  auto loaded = common::LoadClusterConfig(path);
  if (!loaded.ok()) return ReportError(context, "config update", loaded.status());
  for (const auto& warning : loaded->warnings) *context.err << "warning: " << warning << "\n";
  if (auto status = common::SaveClusterConfig(loaded->config, path, common::ConfigFileFormat::kByExtension);
      !status.ok()) {
    return ReportError(context, "config update", status);
  }
  *context.out << "Successfully updated the configuration file at " << path.string() << ".\n";
  return kExitOk;
}

int RunQuestionnaire(const CommandContext& context, CommandArgs args) {
  ArgParser parser("accelctl config", "Launches a series of prompts to create and save a `default_config.yaml` configuration file for your training system.");
  parser.Add(ConfigFileOption(
      "The path to use to store the config file. Will default to a file named default_config.yaml in the cache "
      "location (see `accelctl config default --help`)."));
  parser.SetEpilog(
      "subcommands:\n"
      "  default   Create a default config file for Accelerate with only a few flags set.\n"
      "  update    Update an existing config file with the latest defaults while maintaining the old configuration.");
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "config", parser, args, &exit_code);
  if (!parsed) return exit_code;
  auto config = RunConfigQuestionnaire(
      QuestionnaireIo{.in = context.in, .out = context.out, .interactive = context.stdin_is_terminal, .env = &context.env});
  if (!config.ok()) return ReportError(context, "config", config.status());
  const std::filesystem::path path = ConfigPath(context, *parsed);
  if (auto status = common::SaveClusterConfig(*config, path, common::ConfigFileFormat::kByExtension); !status.ok()) {
    return ReportError(context, "config", status);
  }
  *context.out << "accelerate configuration saved at " << path.string() << "\n";
  return kExitOk;
}

}  // namespace

int RunConfigCommand(const CommandContext& context, CommandArgs args) {
  if (!args.empty() && args.front() == "default") return RunDefault(context, args.subspan(1));
  if (!args.empty() && args.front() == "update") return RunUpdate(context, args.subspan(1));
  return RunQuestionnaire(context, args);
}

}  // namespace accel::client
