// What every accelctl subcommand gets, and how it reports failure.
//
// Subcommands are plain functions `int Run(const CommandContext&, args)`: they parse their own
// arguments with common::ArgParser, do their work, and return the process exit code. Output goes to
// the streams in the context, never to std::cout directly, so tests can run a command in-process and
// read exactly what it printed.
#pragma once

#include <cstdio>
#include <filesystem>
#include <istream>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/cli/arg_parser.h"
#include "common/environment.h"

namespace accel::client {

struct CommandContext {
  common::Environment env;        // snapshot of the caller's environment
  std::istream* in = nullptr;     // questionnaire answers
  std::ostream* out = nullptr;    // results
  std::ostream* err = nullptr;    // warnings and errors
  std::filesystem::path self;     // this program's absolute path
  bool stdin_is_terminal = false;
};

using CommandArgs = std::span<const std::string>;

/// Exit codes: 0 success, 1 failure, 2 bad command line (argparse's convention).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

/// Prints `status` as one line "accelctl <command>: error: <message>" (argument errors already carry
/// their prefix) and returns the matching exit code: 2 for InvalidArgument from argument parsing, 1
/// otherwise.
int ReportError(const CommandContext& context, std::string_view command, const absl::Status& status,
                bool usage_error = false);

/// Parses a subcommand's words with `parser`. Returns the arguments to go on with, or nullopt when the
/// command is already over: --help was printed to context.out (*exit_code = 0), or the usage error was
/// reported as one line (*exit_code = 2).
std::optional<common::ParsedArgs> ParseCommandArgs(const CommandContext& context, std::string_view command,
                                                   const common::ArgParser& parser, CommandArgs args,
                                                   int* exit_code);

int RunConfigCommand(const CommandContext& context, CommandArgs args);
int RunEnvCommand(const CommandContext& context, CommandArgs args);
int RunLaunchCommand(const CommandContext& context, CommandArgs args);
int RunEstimateMemoryCommand(const CommandContext& context, CommandArgs args);
int RunTpuConfigCommand(const CommandContext& context, CommandArgs args);
int RunTestCommand(const CommandContext& context, CommandArgs args);

/// A program shipped with accelctl (the self-test, the cluster client): next to this accelctl (the
/// build tree's bin/), else in <prefix>/libexec/accel/ of an installed one. nullopt when neither is an
/// executable file.
std::optional<std::filesystem::path> FindCompanionProgram(const std::filesystem::path& self, std::string_view name);

}  // namespace accel::client
