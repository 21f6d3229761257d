#include "common/types/cluster_types.h"

#include <array>
#include <utility>

namespace accel::common {
namespace {

constexpr std::array<std::pair<JobState, std::string_view>, 6> kJobStateNames = {{
    {JobState::kPending, "PENDING"},
    {JobState::kRunning, "RUNNING"},
    {JobState::kRestarting, "RESTARTING"},
    {JobState::kSucceeded, "SUCCEEDED"},
    {JobState::kFailed, "FAILED"},
    {JobState::kCancelled, "CANCELLED"},
}};

}  // namespace

std::string_view ToString(JobState state) {
  for (const auto& [value, name] : kJobStateNames) {
    if (value == state) return name;
  }
  return "PENDING";
}

std::optional<JobState> ParseJobState(std::string_view text) {
  for (const auto& [value, name] : kJobStateNames) {
    if (name == text) return value;
  }
  return std::nullopt;
}

}  // namespace accel::common
