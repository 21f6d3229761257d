// torchrun's --tee / --redirects values and where each worker stream ends up (contract 4.4).
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace accel::agent {

/// Which of a worker's standard streams a --tee / --redirects value selects (torch's `Std`).
enum class StdMask : uint8_t { kNone = 0, kOut = 1, kErr = 2, kAll = 3 };

inline bool Selects(StdMask mask, StdMask stream) {
  return (static_cast<uint8_t>(mask) & static_cast<uint8_t>(stream)) != 0;
}

/// Where one worker stream goes.
enum class StreamTarget {
  kConsole,  // The launcher's console only (neither tee'd nor redirected).
  kFile,     // <attempt>/<local_rank>/stdout.log (or stderr.log) only (redirected).
  kTee,      // Both: the file gets the raw bytes, the console gets prefixed lines (tee'd).
};

struct RankOutputTargets {
  StreamTarget stdout_target = StreamTarget::kConsole;
  StreamTarget stderr_target = StreamTarget::kConsole;
};

/// Parses a --tee / --redirects value into one mask per local rank (size `local_world_size`):
///   "0".."3"       the same mask for every rank;
///   "r:v,r:v,..."  per-rank masks, single-digit ranks only, ranks not listed get kNone, ranks at or
///                  beyond local_world_size are ignored (as torch does).
/// InvalidArgument names the offending value.
absl::StatusOr<std::vector<StdMask>> ParseStdSpec(std::string_view spec, int local_world_size);

/// Combines parsed --tee and --redirects masks (either may be empty, meaning all kNone) into per-rank
/// targets: tee wins over redirect, as in torch (a tee'd stream is also written to its file).
std::vector<RankOutputTargets> ResolveOutputTargets(const std::vector<StdMask>& tee,
                                                    const std::vector<StdMask>& redirects,
                                                    int local_world_size);

}  // namespace accel::agent
