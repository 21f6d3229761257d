// Coordinator: the authorised entry points (see coordinator.h). Authorisation is decided here, once,
// on the loop thread, against the job record's owner; the gRPC handlers only pass the Caller on.
#include "common/strings.h"
#include "daemon/coordinator/coordinator.h"

namespace accel::daemon {
namespace {

absl::Status CheckAccess(const common::Caller& caller, const common::JobRecord& job) {
  if (common::MayAccessJob(caller, job)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      common::StrCat("job ", job.id, " belongs to another user (", caller.user, " may only see its own jobs)"));
}

}  // namespace

absl::StatusOr<Coordinator::Submitted> Coordinator::Submit(const common::Caller& caller, common::JobSpec spec,
                                                           EventSink sink, ClosedCallback closed) {
  if (caller.uid < 0 || caller.gid < 0) {
    return absl::PermissionDeniedError(common::StrCat(caller.user, " (", caller.via, ") has no local account to run a job as"));
  }
  spec.user = caller.user;
  spec.uid = caller.uid;
  spec.gid = caller.gid;
  return Submit(std::move(spec), std::move(sink), std::move(closed));
}

absl::StatusOr<Coordinator::SubscriptionId> Coordinator::Watch(const common::Caller& caller, const std::string& job_id,
                                                               WatchOptions options, EventSink sink,
                                                               ClosedCallback closed) {
  auto job = GetJob(caller, job_id);
  if (!job.ok()) return job.status();
  return Watch(job_id, options, std::move(sink), std::move(closed));
}

absl::StatusOr<Coordinator::SubscriptionId> Coordinator::StreamLogs(const common::Caller& caller,
                                                                    const std::string& job_id, int rank, bool follow,
                                                                    LogSink sink, ClosedCallback closed) {
  auto job = GetJob(caller, job_id);
  if (!job.ok()) return job.status();
  return StreamLogs(job_id, rank, follow, std::move(sink), std::move(closed));
}

absl::StatusOr<common::JobRecord> Coordinator::GetJob(const common::Caller& caller, const std::string& job_id) const {
  auto job = GetJob(job_id);
  if (!job.ok()) return job.status();
  if (auto status = CheckAccess(caller, *job); !status.ok()) return status;
  return job;
}

std::vector<common::JobRecord> Coordinator::ListJobs(const common::Caller& caller) const {
  std::vector<common::JobRecord> visible;
  for (auto& job : ListJobs()) {
    if (common::MayAccessJob(caller, job)) visible.push_back(std::move(job));
  }
  return visible;
}

absl::StatusOr<common::JobRecord> Coordinator::Cancel(const common::Caller& caller, const std::string& job_id) {
  auto job = GetJob(caller, job_id);
  if (!job.ok()) return job.status();
  return Cancel(job_id);
}

}  // namespace accel::daemon
