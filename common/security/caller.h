// Caller: who made a control-plane call, as established by the daemon's single authentication point
// (daemon/rpc/authenticator.h). Domain code (the coordinator, the node agent) receives it and never
// learns how it was established (kernel peer credentials, a client certificate or a bearer token).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/types/cluster_types.h"

namespace accel::common {

struct Caller {
  int64_t uid = -1;    // the local account the caller maps to
  int64_t gid = -1;    // its primary group
  std::string user;    // its name ("alice")
  bool admin = false;  // member of the configured admin group, or root: sees and cancels every job
  bool daemon = false; // another acceld of this cluster (agent or coordinator), or root / acceld's own uid
                       // on a local socket: may register nodes and start workers as any job owner
  std::string via;     // how it was identified ("unix peer credentials", "certificate CN=...", "token"), for logs
};

/// True when `caller` may see, follow and cancel `job`: its owner (same uid), an admin or a daemon.
bool MayAccessJob(const Caller& caller, const JobRecord& job);

}  // namespace accel::common
