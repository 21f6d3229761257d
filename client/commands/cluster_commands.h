// The cluster side of accelctl: `launch --cluster`, `status`, `logs`, `stop`, `nodes`, `allocation`.
//
// Two implementations, chosen at link time:
//   * accel_client_remote (cluster_commands.cc, allocation_command.cc): the gRPC client itself. It
//     goes into `accelctl-cluster`, installed in <prefix>/libexec/accel/.
//   * accel_client_forward (cluster_forwarder.cc): goes into `accelctl` and execs accelctl-cluster
//     with the same words. gRPC, protobuf and the 50 shared objects they pull in cost 15-25 ms of
//     dynamic loading before main(); this keeps that cost off every local command, `accelctl launch`
//     above all, and charges a cluster command one extra execve().
#pragma once

#include "client/commands/command.h"
#include "common/launch/launch_options.h"

namespace accel::client {

/// `accelctl launch --cluster ADDR ...`: submits the launch line and follows the job. `args` are the
/// words after `launch`, as typed.
int RunClusterLaunch(const CommandContext& context, CommandArgs args, const common::LaunchArgs& parsed,
                     const std::string& address);

int RunStatusCommand(const CommandContext& context, CommandArgs args);
int RunLogsCommand(const CommandContext& context, CommandArgs args);
int RunStopCommand(const CommandContext& context, CommandArgs args);
int RunNodesCommand(const CommandContext& context, CommandArgs args);
int RunAllocationCommand(const CommandContext& context, CommandArgs args);

}  // namespace accel::client
