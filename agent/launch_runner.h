// From a LaunchPlan to a running LocalAgent: what `accelctl launch` and acceld share, so both start
// workers the same way (the same host facts, supervisor options and per-rank environment).
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "agent/supervisor_options.h"
#include "common/environment.h"
#include "common/launch/launch_plan.h"

namespace accel::agent {

/// This machine's facts for PlanLaunch: GPUs (the driver's procfs files first, NVML only if they
/// are absent, since NVML's init costs tens of ms), physical cores, a TCP connect to 127.0.0.1 to
/// test ports, a bind to port 0 for a free one, PATH lookups in `env`.
common::HostFacts CollectHostFacts(const common::Environment& env, const std::filesystem::path& working_dir);

/// Where one machine's workers sit among all of a job's workers in one attempt.
struct GroupLayout {
  int base_rank = 0;  // global rank of local rank 0
  int world_size = 1;
  int group_rank = 0;  // machine rank
  int group_world_size = 1;
};

/// The layout the plan itself implies (machine_rank * nproc_per_node, ...), before any rendezvous.
GroupLayout LayoutFromPlan(const common::LaunchPlan& plan);

/// Supervisor options for `plan`: local world size, restarts, monitor interval, grace, backoff, logs,
/// --tee/--redirects targets, prefix template (TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE from `env`).
/// InvalidArgument for a bad --tee/--redirects value.
absl::StatusOr<SupervisorOptions> SupervisorOptionsFor(const common::LaunchPlan& plan, const common::Environment& env);

/// The command of local rank `local_rank` in `attempt`: the plan's argv and the full per-rank
/// environment (common::WorkerEnvironment).
WorkerCommand WorkerCommandFor(const common::LaunchPlan& plan, const GroupLayout& layout, int local_rank,
                               const AttemptInfo& attempt);

}  // namespace accel::agent
