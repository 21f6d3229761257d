#include "client/commands/command.h"

#include "common/strings.h"

namespace accel::client {

int ReportError(const CommandContext& context, std::string_view command, const absl::Status& status,
                bool usage_error) {
  const std::string message(status.message());
  // ArgParser errors already start with "accelctl <command>: error:".
  if (message.starts_with("accelctl")) {
    *context.err << message << "\n";
  } else {
    *context.err << "accelctl " << command << ": error: " << message << "\n";
  }
  context.err->flush();
  return usage_error ? kExitUsage : kExitFailure;
}

}  // namespace accel::client
