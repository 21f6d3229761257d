// `accelctl test`: launch the installed distributed self-test (accel_selftest, selftest/) through the
// normal launch path with the user's config, and end with accelerate's one-line verdict.
//
// accelerate runs its Python test script through `accelerate-launch`; here the script is a native
// program built with libtorch (c10d TCPStore, Gloo, NCCL), so nothing is built or imported at run time.
// Differences, on purpose: a worker killed by a signal is a failure (accelerate exits 0 without a
// verdict), and a missing self-test says how to get it.
#include <unistd.h>

#include <filesystem>
#include <optional>

#include "client/commands/command.h"
#include "common/cli/arg_parser.h"
#include "common/strings.h"

namespace accel::client {
namespace {

constexpr char kSelfTestName[] = "accel_selftest";

}  // namespace

int RunTestCommand(const CommandContext& context, CommandArgs args) {
  common::ArgParser parser("accelctl test",
                           "Check the distributed setup: launch the built-in self-test (rendezvous, launch "
                           "variables, collectives, bandwidth) with your config.");
  parser.Add({.name = "config_file",
              .help = "The path to use to store the config file. Will default to a file named default_config.yaml "
                      "in the cache location, which is the content of the environment `HF_HOME` suffixed with "
                      "'accelerate', or if you don't have such an environment variable, your cache directory "
                      "('~/.cache' or the content of `XDG_CACHE_HOME`) suffixed with 'huggingface'."});
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "test", parser, args, &exit_code);
  if (!parsed) return exit_code;

  const std::optional<std::filesystem::path> selftest = FindCompanionProgram(context.self, kSelfTestName);
  if (!selftest) {
    return ReportError(
        context, "test",
        absl::NotFoundError(common::StrCat(
            "the self-test program ", kSelfTestName, " is not installed next to ", context.self.string(),
            " (it is built only when libtorch is found): install libtorch with `apt-get install libtorch-dev "
            "libgloo-dev`, then rebuild accel (cmake -S . -B build && cmake --build build)")));
  }

  std::vector<std::string> launch_args;
  if (auto config_file = parsed->Value("config_file")) {
    launch_args.push_back("--config_file");
    launch_args.push_back(*config_file);
  }
  launch_args.push_back("--no_python");
  launch_args.push_back(selftest->string());
  const std::string command = common::StrCat("accelctl launch ", common::StrJoin(launch_args, " "));
  *context.out << "\nRunning:  " << command << "\n";
  context.out->flush();

  const int code = RunLaunchCommand(context, launch_args);
  context.out->flush();
  if (code != 0) {
    return ReportError(context, "test",
                       absl::UnknownError(common::StrCat("the self-test failed with exit code ", code, ": ", command)));
  }
  *context.out << "Test is a success! You are ready for your distributed training!\n";
  return kExitOk;
}

}  // namespace accel::client
