#include "agent/std_spec.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "common/strings.h"

namespace accel::agent {
namespace {

bool ParseMaskDigit(std::string_view text, StdMask* mask) {
  if (text.size() != 1 || text[0] < '0' || text[0] > '3') return false;
  *mask = static_cast<StdMask>(text[0] - '0');
  return true;
}

absl::Status SpecError(std::string_view spec, std::string_view why) {
  return absl::InvalidArgumentError(common::StrCat(
      "invalid tee/redirects value '", spec, "': ", why,
      " (expected 0-3, or local_rank:value pairs such as 0:3,1:2 with single-digit ranks)"));
}

}  // namespace

absl::StatusOr<std::vector<StdMask>> ParseStdSpec(std::string_view spec, int local_world_size) {
  if (local_world_size < 1) {
    return absl::InvalidArgumentError(common::StrCat("local_world_size=", local_world_size, ": must be >= 1"));
  }
  std::vector<StdMask> masks(static_cast<size_t>(local_world_size), StdMask::kNone);
  StdMask all = StdMask::kNone;
  if (ParseMaskDigit(spec, &all)) {
    masks.assign(masks.size(), all);
    return masks;
  }
  if (spec.empty()) return SpecError(spec, "empty");
  for (std::string_view pair : common::StrSplit(spec, ',')) {
    std::vector<std::string_view> parts = common::StrSplit(pair, ':');
    if (parts.size() != 2 || parts[0].size() != 1 || parts[0][0] < '0' || parts[0][0] > '9') {
      return SpecError(spec, common::StrCat("bad pair '", pair, "'"));
    }
    StdMask mask = StdMask::kNone;
    if (!ParseMaskDigit(parts[1], &mask)) {
      return SpecError(spec, common::StrCat("bad value in '", pair, "'"));
    }
    const int rank = parts[0][0] - '0';
    if (rank < local_world_size) masks[static_cast<size_t>(rank)] = mask;
  }
  return masks;
}

std::vector<RankOutputTargets> ResolveOutputTargets(const std::vector<StdMask>& tee,
                                                    const std::vector<StdMask>& redirects,
                                                    int local_world_size) {
  std::vector<RankOutputTargets> targets(static_cast<size_t>(std::max(local_world_size, 0)));
  auto pick = [](StdMask tee_mask, StdMask redirect_mask, StdMask stream) {
    if (Selects(tee_mask, stream)) return StreamTarget::kTee;
    if (Selects(redirect_mask, stream)) return StreamTarget::kFile;
    return StreamTarget::kConsole;
  };
  for (size_t rank = 0; rank < targets.size(); ++rank) {
    const StdMask t = rank < tee.size() ? tee[rank] : StdMask::kNone;
    const StdMask r = rank < redirects.size() ? redirects[rank] : StdMask::kNone;
    targets[rank].stdout_target = pick(t, r, StdMask::kOut);
    targets[rank].stderr_target = pick(t, r, StdMask::kErr);
  }
  return targets;
}

}  // namespace accel::agent
