// Who a job's workers run as on this node, decided once per StartGroup from the job's owner (which
// the coordinator took from the authenticated submitter, never from the request) and acceld's own
// account:
//   * acceld is root: the owner's account (uid, primary gid, supplementary groups), HOME, USER and
//     LOGNAME set to it; the owner must have an account on this node.
//   * acceld is not root: only jobs of acceld's own uid run (no switch); others are PermissionDenied.
//   * with SLURM integration on: only jobs of the owner of the node's current allocation run.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/process_launcher.h"
#include "common/security/accounts.h"
#include "common/types/cluster_types.h"

namespace accel::daemon {

/// The owner of the node's current batch allocation (NodeAgent's SLURM allocation record).
struct AllocationOwner {
  std::string job_id;  // the batch job id
  int64_t uid = -1;    // -1: unknown, then `user` decides
  std::string user;
};

struct RunAsDecision {
  std::optional<agent::RunAs> run_as;  // unset: workers keep acceld's account
  std::optional<common::Account> account;
};

/// InvalidArgument when spec.uid is unset; PermissionDenied when this node must not run the owner's
/// jobs (see above); FailedPrecondition when the owner has no account here.
absl::StatusOr<RunAsDecision> DecideRunAs(const common::JobSpec& spec, uid_t daemon_uid, bool slurm_integration,
                                          const std::optional<AllocationOwner>& allocation,
                                          const std::string& node_name);

/// The job's environment with HOME, USER and LOGNAME of `account`.
void SetAccountEnvironment(const common::Account& account, std::map<std::string, std::string>& env);

/// Creates `path` empty, owned by `run_as` (mode 0600), so the worker may write its error file into a
/// folder it does not own. Refuses to follow a symbolic link.
absl::Status CreateOwnedFile(const std::string& path, const agent::RunAs& run_as);

}  // namespace accel::daemon
