// `accelctl tpu-config`: the gcloud command line that runs setup commands on every worker of a TPU
// pod, built exactly as accelerate builds it (§8 of the CLI contract). Pure, so tests can check it
// for every flag combination without gcloud.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/cluster_config.h"

namespace accel::client {

/// The command line as given (before the config file fills gaps).
struct TpuConfigArgs {
  std::optional<std::string> tpu_name;
  std::optional<std::string> tpu_zone;
  std::optional<std::string> command_file;
  std::vector<std::string> commands;  // every word of every --command, flattened: each is one command
  bool use_alpha = false;
  bool install_accelerate = false;
  std::string accelerate_version = "latest";
};

/// `pip install` argument for --accelerate_version: "dev" -> the GitHub URL, "latest" ->
/// "accelerate -U", a PEP 440 version V -> "accelerate==V"; anything else is InvalidArgument (accelerate
/// crashes on it).
absl::StatusOr<std::string> AccelerateInstallSpec(std::string_view version);

/// Reads a whole file; NotFound / error naming the path otherwise.
using ReadFileFn = std::function<absl::StatusOr<std::string>(const std::string& path)>;

/// gcloud's argv: `gcloud [alpha] compute tpus tpu-vm ssh NAME --zone ZONE --command "cd /usr/share;
/// [pip install SPEC; ]CMD; ..." --worker all`. `config` (when a config file was read) supplies
/// tpu_name / tpu_zone when not given, `commands` when no --command, and `command_file` when neither
/// --command_file nor --command. A command file's lines replace the commands. Errors: no command
/// (InvalidArgument: "a command file or a command is required"), no TPU name or zone (accelerate
/// crashes there), a bad version, an unreadable command file.
absl::StatusOr<std::vector<std::string>> BuildTpuConfigArgv(TpuConfigArgs args,
                                                            const std::optional<common::ClusterConfig>& config,
                                                            const ReadFileFn& read_file);

/// Python's str.splitlines() for \n, \r\n and \r: no empty last piece after a final line break.
std::vector<std::string> SplitLines(std::string_view text);

}  // namespace accel::client
