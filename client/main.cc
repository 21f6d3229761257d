// accelctl: the user CLI. Dispatches to one subcommand; accelerate's command names and flags.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "client/commands/cluster_commands.h"
#include "client/commands/command.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"
#include "common/version.h"

namespace {

using accel::client::CommandArgs;
using accel::client::CommandContext;

struct Subcommand {
  std::string_view name;
  std::string_view summary;
  int (*run)(const CommandContext&, CommandArgs);
};

constexpr Subcommand kSubcommands[] = {
    {"config", "Create or update the default config file (questionnaire, `default`, `update`)",
     accel::client::RunConfigCommand},
    {"env", "Print the environment report to paste into a bug report", accel::client::RunEnvCommand},
    {"launch", "Launch a script on one or several processes and machines", accel::client::RunLaunchCommand},
    {"estimate-memory", "Estimate the memory a model needs, from the files on disk",
     accel::client::RunEstimateMemoryCommand},
    {"tpu-config", "Run setup commands on every worker of a TPU pod", accel::client::RunTpuConfigCommand},
    {"test", "Check the distributed setup with the built-in self-test", accel::client::RunTestCommand},
    {"status", "Show the cluster's jobs, or one job (acceld coordinator)", accel::client::RunStatusCommand},
    {"logs", "Print a cluster job's worker output", accel::client::RunLogsCommand},
    {"stop", "Cancel a cluster job on every node", accel::client::RunStopCommand},
    {"nodes", "List the nodes registered with the coordinator", accel::client::RunNodesCommand},
    {"allocation", "Tell this node's acceld about a batch allocation (SLURM Prolog/Epilog)",
     accel::client::RunAllocationCommand},
};

std::string Usage() {
  std::string text =
      "usage: accelctl <command> [<args>]\n"
      "\n"
      "A native, fast replacement for the `accelerate` command line.\n"
      "\n"
      "commands:\n";
  for (const Subcommand& command : kSubcommands) {
    text += "  " + std::string(command.name);
    text += std::string(18 - std::min<size_t>(17, command.name.size()), ' ');
    text += std::string(command.summary) + "\n";
  }
  text +=
      "\n"
      "options:\n"
      "  -h, --help        show this help message and exit\n"
      "  --version         print the version and exit\n"
      "\n"
      "Run `accelctl <command> --help` for the options of one command.\n";
  return text;
}

std::filesystem::path SelfPath(const char* argv0) {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) return path;
  return std::filesystem::absolute(argv0, error);
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  // Diagnostics go to stderr; stdout carries only command output and the workers' lines.
  spdlog::set_default_logger(spdlog::stderr_logger_st("accelctl"));
  spdlog::set_pattern("accelctl: %l: %v");
  std::vector<std::string> args(argv + 1, argv + argc);
  CommandContext context;
  context.env = accel::common::Environment::FromProcess();
  context.in = &std::cin;
  context.out = &std::cout;
  context.err = &std::cerr;
  context.self = SelfPath(argv[0]);
  context.stdin_is_terminal = ::isatty(STDIN_FILENO) == 1;

  if (args.empty()) {
    std::cerr << Usage();
    return accel::client::kExitFailure;  // accelerate prints help and exits 1 without a command
  }
  const std::string& first = args.front();
  if (first == "-h" || first == "--help") {
    std::cout << Usage();
    return accel::client::kExitOk;
  }
  if (first == "--version") {
    std::cout << "accelctl " << ACCEL_VERSION << "\n";
    return accel::client::kExitOk;
  }
  for (const Subcommand& command : kSubcommands) {
    if (first == command.name || (command.name == "estimate-memory" && first == "estimate_memory") ||
        (command.name == "tpu-config" && first == "tpu_config")) {
      const int code = command.run(context, CommandArgs(args).subspan(1));
      std::cout.flush();
      return code;
    }
  }
  if (first.starts_with("-")) {
    std::cerr << "accelctl: error: unrecognized arguments: " << first << "\n";
  } else {
    std::cerr << "accelctl: error: invalid choice: '" << first
              << "' (choose from 'config', 'env', 'launch', 'estimate-memory', 'tpu-config', 'test', 'status', 'logs', 'stop', 'nodes', 'allocation')\n";
  }
  return accel::client::kExitUsage;
}
