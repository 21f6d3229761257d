// `accelctl tpu-config`: run setup commands on every worker of a TPU pod through gcloud.
//
// Same flags, config keys and gcloud command as accelerate (§8 of the CLI contract). Differences, on
// purpose: a missing TPU name or zone, a bad --accelerate_version, a missing gcloud and a missing
// config or command file are one error line with exit 1 (accelerate shows a traceback); and a gcloud
// that fails makes tpu-config fail with gcloud's status (accelerate ignores it and prints
// "Successfully setup pod." anyway). The config key tpu_use_sudo is not used here, as in accelerate
// (it belongs to `launch` on a pod).
#include "client/commands/tpu_config_command.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "client/commands/command.h"
#include "common/cli/arg_parser.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace accel::client {
namespace {

constexpr char kDescription[] =
    "Run commands across TPU VMs for initial setup before running `accelctl launch`.";

common::ArgParser MakeTpuConfigParser() {
  common::ArgParser parser("accelctl tpu-config", kDescription);
  const std::string config_group = "Config Arguments";
  const std::string pod_group = "TPU Arguments";
  parser.Add({.name = "config_file", .help = "Path to the config file to use for accelerate.", .group = config_group});
  parser.Add({.name = "tpu_name",
              .help = "The name of the TPU to use. If not specified, will use the TPU specified in the config file.",
              .group = config_group});
  parser.Add({.name = "tpu_zone",
              .help = "The zone of the TPU to use. If not specified, will use the zone specified in the config file.",
              .group = config_group});
  parser.Add({.name = "use_alpha",
              .kind = common::ArgKind::kFlag,
              .help = "Whether to use `gcloud alpha` when running the TPU training script instead of `gcloud`.",
              .group = pod_group});
  parser.Add({.name = "command_file",
              .help = "The path to the file containing the commands to run on the pod on startup.",
              .group = pod_group});
  parser.Add({.name = "command",
              .kind = common::ArgKind::kAppendMany,
              .help = "A command to run on the pod. Can be passed multiple times.",
              .group = pod_group});
  parser.Add({.name = "install_accelerate",
              .kind = common::ArgKind::kFlag,
              .help = "Whether to install accelerate on the pod. Defaults to False.",
              .group = pod_group});
  parser.Add({.name = "accelerate_version",
              .help = "The version of accelerate to install on the pod. If not specified, will use the latest pypi "
                      "version. Specify 'dev' to install from GitHub.",
              .group = pod_group});
  parser.Add({.name = "debug",
              .kind = common::ArgKind::kFlag,
              .help = "If set, will print the command that would be run instead of running it.",
              .group = pod_group});
  return parser;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(common::StrCat("the command file `", path, "` cannot be read: ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<std::string> FindOnPath(const common::Environment& env, const std::string& program) {
  const std::string path = env.Get("PATH").value_or("/usr/local/bin:/usr/bin:/bin");
  for (std::string_view dir : common::StrSplit(path, ':')) {
    const std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / program;
    std::error_code error;
    if (std::filesystem::is_regular_file(candidate, error) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
  }
  return std::nullopt;
}

// Runs argv (argv[0] resolved already) with our stdin/stdout/stderr; its exit status, or 128 + signal.
absl::StatusOr<int> RunAndWait(const std::string& program, const std::vector<std::string>& argv,
                               const common::Environment& env) {
  std::vector<char*> c_argv;
  for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  const std::vector<std::string> envp_strings = env.ToEnvp();
  std::vector<char*> envp;
  for (const std::string& entry : envp_strings) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int error = ::posix_spawn(&pid, program.c_str(), nullptr, nullptr, c_argv.data(), envp.data());
  if (error != 0) return absl::InternalError(common::StrCat("cannot run ", program, ": ", std::strerror(error)));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(common::StrCat("waiting for ", program, ": ", std::strerror(errno)));
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

}  // namespace

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n' && text[i] != '\r') continue;
    lines.emplace_back(text.substr(start, i - start));
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < text.size()) lines.emplace_back(text.substr(start));
  return lines;
}

absl::StatusOr<std::string> AccelerateInstallSpec(std::string_view version) {
  if (version == "dev") return std::string("git+https://github.com/huggingface/accelerate.git");
  if (version == "latest") return std::string("accelerate -U");
  // packaging.version.VERSION_PATTERN (PEP 440), which accelerate's parse() applies.
  static const std::regex kPep440(
      R"re(^\s*v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*)re"                           // epoch, release
      R"re((?:[-_.]?(?:alpha|a|beta|b|preview|pre|c|rc)[-_.]?[0-9]*)?)re"      // pre-release
      R"re((?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?)re"                  // post-release
      R"re((?:[-_.]?dev[-_.]?[0-9]*)?)re"                                      // dev release
      R"re((?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?\s*$)re",                        // local version
      std::regex::ECMAScript | std::regex::icase);
  const std::string text(version);
  if (!std::regex_match(text, kPep440)) {
    return absl::InvalidArgumentError(common::StrCat("--accelerate_version ", text,
                                                     ": expected `latest`, `dev` or a version such as 1.15.0"));
  }
  return common::StrCat("accelerate==", text);
}

absl::StatusOr<std::vector<std::string>> BuildTpuConfigArgv(TpuConfigArgs args,
                                                            const std::optional<common::ClusterConfig>& config,
                                                            const ReadFileFn& read_file) {
  bool have_commands = !args.commands.empty();
  if (config) {
    if (!args.command_file && config->command_file && !have_commands) args.command_file = config->command_file;
    if (!have_commands && config->commands) {
      args.commands = *config->commands;  // each entry is one command, as written
      have_commands = !args.commands.empty();
    }
    if (!args.tpu_name) args.tpu_name = config->tpu_name;
    if (!args.tpu_zone) args.tpu_zone = config->tpu_zone;
  }
  ASSIGN_OR_RETURN(const std::string install_spec, AccelerateInstallSpec(args.accelerate_version));
  if ((!args.command_file || args.command_file->empty()) && !have_commands) {
    return absl::InvalidArgumentError(
        "a command file or a command to run on the pod is required: --command_file, --command, or "
        "command_file / commands in the config file");
  }
  if (args.command_file && !args.command_file->empty()) {
    ASSIGN_OR_RETURN(const std::string text, read_file(*args.command_file));
    args.commands = SplitLines(text);
  }
  if (!args.tpu_name || args.tpu_name->empty()) {
    return absl::InvalidArgumentError("a TPU name is required: --tpu_name or tpu_name in the config file");
  }
  if (!args.tpu_zone || args.tpu_zone->empty()) {
    return absl::InvalidArgumentError("a TPU zone is required: --tpu_zone or tpu_zone in the config file");
  }
  std::vector<std::string> pod_commands = {"cd /usr/share"};
  if (args.install_accelerate) pod_commands.push_back(common::StrCat("pip install ", install_spec));
  pod_commands.insert(pod_commands.end(), args.commands.begin(), args.commands.end());

  std::vector<std::string> argv = {"gcloud"};
  if (args.use_alpha) argv.push_back("alpha");
  for (const std::string& word : {std::string("compute"), std::string("tpus"), std::string("tpu-vm"), std::string("ssh"),
                                  *args.tpu_name, std::string("--zone"), *args.tpu_zone, std::string("--command"),
                                  common::StrJoin(pod_commands, "; "), std::string("--worker"), std::string("all")}) {
    argv.push_back(word);
  }
  return argv;
}

int RunTpuConfigCommand(const CommandContext& context, CommandArgs args) {
  const common::ArgParser parser = MakeTpuConfigParser();
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "tpu-config", parser, args, &exit_code);
  if (!parsed) return exit_code;
  TpuConfigArgs tpu;
  tpu.tpu_name = parsed->Value("tpu_name");
  tpu.tpu_zone = parsed->Value("tpu_zone");
  tpu.command_file = parsed->Value("command_file");
  if (auto it = parsed->lists.find("command"); it != parsed->lists.end()) tpu.commands = it->second;
  tpu.use_alpha = parsed->Flag("use_alpha");
  tpu.install_accelerate = parsed->Flag("install_accelerate");
  tpu.accelerate_version = parsed->Value("accelerate_version").value_or("latest");

  // accelerate reads the config when --config_file is given or the default file exists.
  std::optional<common::ClusterConfig> config;
  std::optional<std::filesystem::path> config_path;
  if (auto given = parsed->Value("config_file")) {
    config_path = *given;
  } else if (std::error_code error; std::filesystem::exists(common::DefaultConfigPath(context.env), error)) {
    config_path = common::DefaultConfigPath(context.env);
  }
  if (config_path) {
    auto loaded = common::LoadClusterConfig(*config_path);
    if (!loaded.ok()) {
      if (loaded.status().code() == absl::StatusCode::kNotFound) {
        return ReportError(context, "tpu-config",
                           absl::NotFoundError(common::StrCat("the passed configuration file `", config_path->string(),
                                                              "` does not exist")));
      }
      return ReportError(context, "tpu-config", loaded.status());
    }
    for (const auto& warning : loaded->warnings) *context.err << "warning: " << warning << "\n";
    config = std::move(loaded->config);
  }

  auto argv = BuildTpuConfigArgv(std::move(tpu), config, ReadWholeFile);
  if (!argv.ok()) return ReportError(context, "tpu-config", argv.status());
  if (parsed->Flag("debug")) {
    *context.out << "Running " << common::StrJoin(*argv, " ") << "\n";
    return kExitOk;
  }
  const std::optional<std::string> gcloud = FindOnPath(context.env, "gcloud");
  if (!gcloud) {
    return ReportError(context, "tpu-config",
                       absl::NotFoundError("gcloud was not found on PATH: install the Google Cloud CLI "
                                           "(https://cloud.google.com/sdk/docs/install) or use --debug to print "
                                           "the command"));
  }
  context.out->flush();
  context.err->flush();
  auto status = RunAndWait(*gcloud, *argv, context.env);
  if (!status.ok()) return ReportError(context, "tpu-config", status.status());
  if (*status != 0) {
    return ReportError(context, "tpu-config",
                       absl::UnknownError(common::StrCat("gcloud exited with status ", *status,
                                                         "; the pod may not be set up")));
  }
  *context.out << "Successfully setup pod.\n";
  return kExitOk;
}

}  // namespace accel::client
