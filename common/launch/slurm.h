// Launch defaults from a SLURM allocation, so that `srun accelctl launch train.py` needs no flags.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/environment.h"
#include "common/launch/launch_options.h"

namespace accel::common {

/// Expands a SLURM hostlist ("gpu[01-04,07],login1", "rack[1-2]-n[1-2]") into host names, keeping
/// zero padding. InvalidArgument for unbalanced brackets or bad ranges.
absl::StatusOr<std::vector<std::string>> ExpandSlurmHostList(std::string_view hostlist);

/// Inside a SLURM job step (SLURM_JOB_ID and SLURM_NODEID set), fills the options the command line
/// left unset: num_machines from SLURM_NNODES, machine_rank from SLURM_NODEID, main_process_ip from
/// the first host of SLURM_STEP_NODELIST / SLURM_JOB_NODELIST, and num_processes from
/// SLURM_GPUS_ON_NODE (else SLURM_NTASKS_PER_NODE) times the node count. Values the command line
/// gave win; SLURM's win over the config file (they describe the allocation actually granted).
/// Returns one line per value it filled, for the launch log; nothing outside SLURM.
absl::StatusOr<std::vector<std::string>> ApplySlurmEnvironment(LaunchArgs& args, const Environment& env);

}  // namespace accel::common
