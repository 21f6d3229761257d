// Subcommands whose issues are still open. Each parses nothing and says so plainly, exit 1.
#include "client/commands/command.h"

namespace accel::client {
namespace {

int NotYet(const CommandContext& context, std::string_view command, CommandArgs args) {
  for (const std::string& arg : args) {
    if (arg == "-h" || arg == "--help") {
      *context.out << "usage: accelctl " << command << " ...\n\n(not implemented in this version of accelctl)\n";
      return kExitOk;
    }
  }
  *context.err << "accelctl " << command << ": error: not implemented in this version of accelctl\n";
  return kExitFailure;
}

}  // namespace

int RunEstimateMemoryCommand(const CommandContext& context, CommandArgs args) {
  return NotYet(context, "estimate-memory", args);
}
int RunTpuConfigCommand(const CommandContext& context, CommandArgs args) { return NotYet(context, "tpu-config", args); }
int RunTestCommand(const CommandContext& context, CommandArgs args) { return NotYet(context, "test", args); }

}  // namespace accel::client
