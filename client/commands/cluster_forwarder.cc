// accelctl's side of the cluster commands (see cluster_commands.h): each one execs the accelctl-cluster
// companion with the command's words as typed. The process, its pid, its standard streams and its
// signal mask carry over, so to the caller nothing changes but the time that accelctl itself saves.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "client/commands/cluster_commands.h"
#include "common/strings.h"

namespace accel::client {
namespace {

constexpr char kClusterProgram[] = "accelctl-cluster";

int ExecClusterProgram(const CommandContext& context, std::string_view command, CommandArgs args) {
  const std::optional<std::filesystem::path> program = FindCompanionProgram(context.self, kClusterProgram);
  if (!program) {
    return ReportError(context, command,
                       absl::NotFoundError(common::StrCat(
                           "the cluster client ", kClusterProgram, " is not installed next to ", context.self.string(),
                           " or in ", (context.self.parent_path().parent_path() / "libexec" / "accel").string())));
  }
  std::vector<std::string> argv = {program->string(), std::string(command)};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> argv_pointers;
  for (std::string& word : argv) argv_pointers.push_back(word.data());
  argv_pointers.push_back(nullptr);
  std::vector<std::string> envp = context.env.ToEnvp();
  std::vector<char*> envp_pointers;
  for (std::string& entry : envp) envp_pointers.push_back(entry.data());
  envp_pointers.push_back(nullptr);

  // Whatever this process printed so far must come out before the program that replaces it.
  context.out->flush();
  context.err->flush();
  std::cout.flush();
  std::cerr.flush();
  ::execve(program->c_str(), argv_pointers.data(), envp_pointers.data());
  return ReportError(context, command,
                     absl::InternalError(common::StrCat("execve(", program->string(), "): ", std::strerror(errno))));
}

}  // namespace

int RunClusterLaunch(const CommandContext& context, CommandArgs args, const common::LaunchArgs& /*parsed*/,
                     const std::string& /*address*/) {
  return ExecClusterProgram(context, "launch", args);
}

int RunStatusCommand(const CommandContext& context, CommandArgs args) {
  return ExecClusterProgram(context, "status", args);
}

int RunLogsCommand(const CommandContext& context, CommandArgs args) {
  return ExecClusterProgram(context, "logs", args);
}

int RunStopCommand(const CommandContext& context, CommandArgs args) {
  return ExecClusterProgram(context, "stop", args);
}

int RunNodesCommand(const CommandContext& context, CommandArgs args) {
  return ExecClusterProgram(context, "nodes", args);
}

int RunAllocationCommand(const CommandContext& context, CommandArgs args) {
  return ExecClusterProgram(context, "allocation", args);
}

}  // namespace accel::client
