// JobStore: where the coordinator keeps job records and job logs so that they outlive it.
// FileJobStore (file_job_store.h) writes them under the state directory; tests use
// tests/fakes/in_memory_job_store.h.
//
// Threading: the coordinator calls it from its loop thread only; implementations need no locking
// unless they are shared with other threads.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/types/cluster_types.h"

namespace accel::daemon {

class JobStore {
 public:
  virtual ~JobStore() = default;

  /// Every stored record, in no particular order. Records that cannot be read are skipped (and
  /// logged), so one bad file never keeps the coordinator from starting.
  virtual absl::StatusOr<std::vector<common::JobRecord>> LoadAll() = 0;
  /// Stores `job`, replacing the record with the same id. Durable when it returns OK.
  virtual absl::Status Save(const common::JobRecord& job) = 0;
  /// Appends one log line of `job_id` (not fsynced: logs may lose their last lines in a crash).
  virtual absl::Status AppendLog(const std::string& job_id, const common::LogLine& line) = 0;
  /// Releases whatever AppendLog keeps open for `job_id` (the job ended).
  virtual void CloseLog(const std::string& job_id) = 0;
  /// Every stored log line of `job_id`, oldest first (NotFound: no log).
  virtual absl::StatusOr<std::vector<common::LogLine>> ReadLogs(const std::string& job_id) = 0;
};

}  // namespace accel::daemon
