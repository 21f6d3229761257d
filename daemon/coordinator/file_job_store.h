// FileJobStore: job records and logs in the coordinator's state directory.
//
//   <state_dir>/jobs/<id>.json   one JobRecord as JSON, replaced atomically on every Save
//                                (common::WriteFileAtomically): a crash leaves the old or the new record.
//   <state_dir>/logs/<id>.log    the job's log lines, one JSON object per line, appended (not fsynced).
//
// Not thread-safe: the coordinator's loop thread owns it. Lifetime: keeps one descriptor per open job
// log until CloseLog or destruction.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"
#include "daemon/coordinator/job_store.h"

namespace accel::daemon {

class FileJobStore final : public JobStore {
 public:
  /// Creates `state_dir`/jobs and `state_dir`/logs if needed. Fails when they cannot be created or
  /// opened (permissions, a file in the way).
  static absl::StatusOr<std::unique_ptr<FileJobStore>> Create(const std::filesystem::path& state_dir);
  ~FileJobStore() override;

  absl::StatusOr<std::vector<common::JobRecord>> LoadAll() override;
  absl::Status Save(const common::JobRecord& job) override;
  absl::Status AppendLog(const std::string& job_id, const common::LogLine& line) override;
  void CloseLog(const std::string& job_id) override;
  absl::StatusOr<std::vector<common::LogLine>> ReadLogs(const std::string& job_id) override;

  std::filesystem::path JobPath(const std::string& job_id) const;
  std::filesystem::path LogPath(const std::string& job_id) const;

 private:
  explicit FileJobStore(std::filesystem::path state_dir);

  const std::filesystem::path state_dir_;
  std::map<std::string, common::UniqueFd> open_logs_;
};

/// The JSON form of a record (what FileJobStore writes), and back. Exposed for tests and tools.
std::string JobRecordToJson(const common::JobRecord& job);
absl::StatusOr<common::JobRecord> JobRecordFromJson(const std::string& text);

/// True for ids that are safe as file names: 1-128 of [A-Za-z0-9_.-], not starting with '.'.
bool IsValidJobId(const std::string& job_id);

}  // namespace accel::daemon
