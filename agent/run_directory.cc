#include "agent/run_directory.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "common/strings.h"

namespace accel::agent {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> MakeTempDir(const std::string& pattern_prefix) {
  std::string pattern = common::StrCat(pattern_prefix, "XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) {
    return absl::InternalError(common::StrCat("mkdtemp(", pattern, "): ", std::strerror(errno)));
  }
  return std::string(buffer.data());
}

}  // namespace

absl::StatusOr<RunDirectory> RunDirectory::Create(const std::string& log_root, const std::string& run_id,
                                                  const std::string& tmp_dir) {
  RunDirectory dir;
  if (log_root == "/dev/null") return dir;

  std::string root = log_root;
  if (root.empty()) {
    auto temp = MakeTempDir(common::StrCat(tmp_dir.empty() ? "/tmp" : tmp_dir, "/accel_"));
    if (!temp.ok()) return temp.status();
    root = *temp;
    dir.temp_root_ = root;
  } else {
    std::error_code ec;
    if (fs::exists(root, ec) && !fs::is_directory(root, ec)) {
      return absl::FailedPreconditionError(common::StrCat("log directory ", root, " exists and is not a directory"));
    }
    fs::create_directories(root, ec);
    if (ec) return absl::InternalError(common::StrCat("cannot create log directory ", root, ": ", ec.message()));
  }
  auto run_dir = MakeTempDir(common::StrCat(root, "/", run_id, "_"));
  if (!run_dir.ok()) return run_dir.status();  // The destructor removes a temporary root.
  dir.run_dir_ = *run_dir;
  return dir;
}

absl::StatusOr<RunDirectory> RunDirectory::AtPath(const std::string& run_dir) {
  std::error_code ec;
  if (fs::exists(run_dir, ec) && !fs::is_directory(run_dir, ec)) {
    return absl::FailedPreconditionError(common::StrCat("run directory ", run_dir, " exists and is not a directory"));
  }
  fs::create_directories(run_dir, ec);
  if (ec) return absl::InternalError(common::StrCat("cannot create run directory ", run_dir, ": ", ec.message()));
  RunDirectory dir;
  dir.run_dir_ = run_dir;
  return dir;
}

RunDirectory::RunDirectory(RunDirectory&& other) noexcept
    : run_dir_(std::move(other.run_dir_)), temp_root_(std::move(other.temp_root_)) {
  other.run_dir_.clear();
  other.temp_root_.clear();
}

RunDirectory& RunDirectory::operator=(RunDirectory&& other) noexcept {
  if (this != &other) {
    RemoveTemporaryRoot();
    run_dir_ = std::move(other.run_dir_);
    temp_root_ = std::move(other.temp_root_);
    other.run_dir_.clear();
    other.temp_root_.clear();
  }
  return *this;
}

RunDirectory::~RunDirectory() { RemoveTemporaryRoot(); }

void RunDirectory::RemoveTemporaryRoot() {
  if (temp_root_.empty()) return;
  std::error_code ec;
  fs::remove_all(temp_root_, ec);  // Best effort: a leftover temp dir is not worth failing a run.
  temp_root_.clear();
  run_dir_.clear();
}

absl::StatusOr<std::string> RunDirectory::PrepareAttempt(int restart_count, int local_world_size) {
  if (!enabled()) return std::string();
  const std::string attempt = common::StrCat(run_dir_, "/attempt_", restart_count);
  std::error_code ec;
  fs::remove_all(attempt, ec);
  for (int rank = 0; rank < local_world_size; ++rank) {
    const std::string rank_dir = common::StrCat(attempt, "/", rank);
    fs::create_directories(rank_dir, ec);
    if (ec) return absl::InternalError(common::StrCat("cannot create ", rank_dir, ": ", ec.message()));
  }
  return attempt;
}

}  // namespace accel::agent
