// RunDirectory: torchrun's log layout (contract 4.5) for one run.
//
//   <root>/<run_id>_<random>/attempt_<n>/<local_rank>/{stdout.log,stderr.log,error.json}
//
// The root is --log_dir (created if missing), or a private temporary directory that this object
// removes when it is destroyed, or "/dev/null" (no files at all).
//
// Thread: one owner (the supervisor's loop thread). Move-only; the destructor removes a temporary root.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace accel::agent {

class RunDirectory {
 public:
  /// Creates the root if needed and a fresh run directory inside it. `log_root` as in
  /// SupervisorOptions; `tmp_dir` is used when it is empty. FailedPrecondition when the root exists
  /// and is not a directory; Internal for other file-system errors, naming the path.
  static absl::StatusOr<RunDirectory> Create(const std::string& log_root, const std::string& run_id,
                                             const std::string& tmp_dir);

  /// Uses `run_dir` itself (created with its parents if missing) as the run directory.
  static absl::StatusOr<RunDirectory> AtPath(const std::string& run_dir);

  RunDirectory(RunDirectory&& other) noexcept;
  RunDirectory& operator=(RunDirectory&& other) noexcept;
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;
  ~RunDirectory();

  /// Creates <run_dir>/attempt_<n> afresh (removing an existing one) with one sub-directory per local
  /// rank, and returns its path; "" when logs are disabled.
  absl::StatusOr<std::string> PrepareAttempt(int restart_count, int local_world_size);

  bool enabled() const { return !run_dir_.empty(); }
  bool temporary() const { return !temp_root_.empty(); }
  const std::string& run_dir() const { return run_dir_; }

 private:
  RunDirectory() = default;
  void RemoveTemporaryRoot();

  std::string run_dir_;    // Empty when disabled.
  std::string temp_root_;  // Set when this object created the root and must remove it.
};

}  // namespace accel::agent
