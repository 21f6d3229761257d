// Allocation: a batch system's grant of this node to one job (SLURM's Prolog reports it, the Epilog
// ends it). Plain value; proto/convert translates it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace accel::common {

struct Allocation {
  std::string job_id;              // SLURM_JOB_ID: 1 to 64 of [A-Za-z0-9_.-]
  std::string user;                // SLURM_JOB_USER
  int64_t uid = -1;                // SLURM_JOB_UID; -1: unknown
  std::vector<std::string> gpus;   // SLURM_JOB_GPUS: GPU indices or UUIDs
  int64_t begin_unix_ms = 0;       // when the agent learned of it

  bool operator==(const Allocation&) const = default;
};

/// What ending an allocation did.
struct AllocationEnd {
  std::vector<std::string> stopped_jobs;  // accel jobs whose groups on this node were stopped
  bool was_current = false;               // the allocation was the node's current one
};

/// {"job_id", "user", "uid", "gpus", "begin_unix_ms"}: what `accelctl allocation show --json` prints
/// and what acceld keeps in <state_dir>/allocation.json.
nlohmann::ordered_json AllocationToJson(const Allocation& allocation);
/// The inverse; InvalidArgument naming the field that is missing or of the wrong type.
absl::StatusOr<Allocation> AllocationFromJson(std::string_view text);

}  // namespace accel::common
