// The cluster side of accelctl: `launch --cluster`, `status`, `logs`, `stop`, `nodes`.
#pragma once

#include "client/commands/command.h"
#include "common/launch/launch_options.h"

namespace accel::client {

/// The coordinator address: --cluster, else $ACCEL_CLUSTER, else the config file's `cluster` key;
/// nullopt when none is set (the launch runs here).
std::optional<std::string> ClusterAddress(const CommandContext& context, const common::LaunchArgs& args,
                                          const std::optional<std::string>& config_cluster);

/// `accelctl launch --cluster ADDR ...`: submits the launch line and follows the job. `args` are the
/// words after `launch`, as typed.
int RunClusterLaunch(const CommandContext& context, CommandArgs args, const common::LaunchArgs& parsed,
                     const std::string& address);

int RunStatusCommand(const CommandContext& context, CommandArgs args);
int RunLogsCommand(const CommandContext& context, CommandArgs args);
int RunStopCommand(const CommandContext& context, CommandArgs args);
int RunNodesCommand(const CommandContext& context, CommandArgs args);

}  // namespace accel::client
