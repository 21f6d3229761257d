#include "daemon/node/run_as.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/strings.h"

namespace accel::daemon {

absl::StatusOr<RunAsDecision> DecideRunAs(const common::JobSpec& spec, uid_t daemon_uid, bool slurm_integration,
                                          const std::optional<AllocationOwner>& allocation,
                                          const std::string& node_name) {
  if (spec.uid < 0) {
    return absl::InvalidArgumentError("spec.uid: not set (the coordinator sets it from the authenticated submitter)");
  }
  const auto uid = static_cast<uid_t>(spec.uid);
  if (slurm_integration) {
    if (!allocation) {
      return absl::PermissionDeniedError(
          common::StrCat(node_name, " has no current SLURM allocation; it runs only jobs of its allocation's owner"));
    }
    const bool owner = allocation->uid >= 0 ? allocation->uid == spec.uid : allocation->user == spec.user;
    if (!owner) {
      return absl::PermissionDeniedError(common::StrCat(node_name, " is allocated to ", allocation->user,
                                                        " (SLURM job ", allocation->job_id, "); a job of ", spec.user,
                                                        " cannot run on it"));
    }
  }
  RunAsDecision decision;
  if (daemon_uid != 0) {
    if (uid != daemon_uid) {
      return absl::PermissionDeniedError(common::StrCat("acceld on ", node_name, " runs as uid ", daemon_uid,
                                                        " and runs only that user's jobs; this job belongs to ",
                                                        spec.user, " (uid ", spec.uid, ")"));
    }
    return decision;
  }
  auto account = common::LookupAccount(uid);
  if (!account.ok()) {
    return absl::FailedPreconditionError(
        common::StrCat("the job's user ", spec.user, " (uid ", spec.uid, ") has no account on ", node_name));
  }
  decision.run_as = agent::RunAs{.uid = account->uid, .gid = account->gid, .groups = account->groups};
  decision.account = *std::move(account);
  return decision;
}

void SetAccountEnvironment(const common::Account& account, std::map<std::string, std::string>& env) {
  env["HOME"] = account.home;
  env["USER"] = account.name;
  env["LOGNAME"] = account.name;
}

absl::Status CreateOwnedFile(const std::string& path, const agent::RunAs& run_as) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(common::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  const bool owned = ::fchown(fd, run_as.uid, run_as.gid) == 0;
  const int err = errno;
  ::close(fd);
  if (!owned) return absl::InternalError(common::StrCat("cannot give ", path, " to uid ", run_as.uid, ": ", std::strerror(err)));
  return absl::OkStatus();
}

}  // namespace accel::daemon
