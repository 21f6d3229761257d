// InMemoryJobStore: a JobStore in a map, shared by the coordinators of one test (to "restart" one).
// Thread: the test thread only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/strings.h"
#include "daemon/coordinator/job_store.h"

namespace accel::testing {

class InMemoryJobStore final : public daemon::JobStore {
 public:
  absl::StatusOr<std::vector<common::JobRecord>> LoadAll() override {
    std::vector<common::JobRecord> out;
    for (const auto& [id, job] : jobs) out.push_back(job);
    return out;
  }
  absl::Status Save(const common::JobRecord& job) override {
    ++saves;
    if (fail_saves) return absl::InternalError("disk full (fake)");
    jobs[job.id] = job;
    return absl::OkStatus();
  }
  absl::Status AppendLog(const std::string& job_id, const common::LogLine& line) override {
    logs[job_id].push_back(line);
    return absl::OkStatus();
  }
  void CloseLog(const std::string& job_id) override { closed_logs.push_back(job_id); }
  absl::StatusOr<std::vector<common::LogLine>> ReadLogs(const std::string& job_id) override {
    auto it = logs.find(job_id);
    if (it == logs.end()) return absl::NotFoundError(common::StrCat("no log for job ", job_id));
    return it->second;
  }

  std::map<std::string, common::JobRecord> jobs;
  std::map<std::string, std::vector<common::LogLine>> logs;
  std::vector<std::string> closed_logs;
  int saves = 0;
  bool fail_saves = false;
};

}  // namespace accel::testing
