#include "client/commands/command.h"

#include <unistd.h>

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

std::optional<common::ParsedArgs> ParseCommandArgs(const CommandContext& context, std::string_view command,
                                                   const common::ArgParser& parser, CommandArgs args,
                                                   int* exit_code) {
  absl::StatusOr<common::ParsedArgs> parsed = parser.Parse(args);
  if (!parsed.ok()) {
    *exit_code = ReportError(context, command, parsed.status(), /*usage_error=*/true);
    return std::nullopt;
  }
  if (parsed->help) {
    *context.out << parser.Help();
    *exit_code = kExitOk;
    return std::nullopt;
  }
  return *std::move(parsed);
}

std::optional<std::filesystem::path> FindCompanionProgram(const std::filesystem::path& self, std::string_view name) {
  const std::filesystem::path dir = self.parent_path();
  for (const std::filesystem::path& candidate : {dir / name, dir.parent_path() / "libexec" / "accel" / name}) {
    std::error_code error;
    if (std::filesystem::is_regular_file(candidate, error) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

}  // namespace accel::client
