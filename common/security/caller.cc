#include "common/security/caller.h"

namespace accel::common {

bool MayAccessJob(const Caller& caller, const JobRecord& job) {
  if (caller.admin || caller.daemon) return true;
  return caller.uid >= 0 && job.spec.uid == caller.uid;
}

}  // namespace accel::common
