// libFuzzer target for job-spec validation (common/security/job_spec_validation.h), the check every
// SubmitJob and StartGroup passes. The input is a line-per-field encoding of a JobSpec: the first byte
// of a line picks the field (a: launch word, e: NAME=VALUE, w: working_dir, n: node, m/M: min/max
// nodes, r: max_restarts, c: config text, u: user). Promises checked on every accepted spec: the
// limits the header documents hold (so nothing the validator lets through can traverse a path, break
// the environment block or exceed the sizes).
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/security/job_spec_validation.h"
#include "common/strings.h"

namespace {

using accel::common::JobSpecLimits;

void Require(bool condition) {
  if (!condition) __builtin_trap();
}

int Number(std::string_view text) {
  auto value = accel::common::ParseInt64(text);
  if (!value) return 0;
  if (*value > 1 << 30) return 1 << 30;
  if (*value < -(1 << 30)) return -(1 << 30);
  return static_cast<int>(*value);
}

}  // namespace

void FuzzJobSpec(const uint8_t* data, size_t size) {
  accel::common::JobSpec spec;
  for (std::string_view line : accel::common::StrSplit(std::string_view(reinterpret_cast<const char*>(data), size), '\n')) {
    if (line.empty()) continue;
    const std::string_view value = line.substr(1);
    switch (line[0]) {
      case 'a': spec.launch_args.emplace_back(value); break;
      case 'e': {
        const size_t eq = value.find('=');
        spec.env[std::string(value.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(value.substr(eq + 1));
        break;
      }
      case 'w': spec.working_dir = std::string(value); break;
      case 'n': spec.nodes.emplace_back(value); break;
      case 'm': spec.min_nodes = Number(value); break;
      case 'M': spec.max_nodes = Number(value); break;
      case 'r': spec.max_restarts = Number(value); break;
      case 'c': spec.config_text += std::string(value) + "\n"; break;
      case 'u': spec.user = std::string(value); break;
      default: break;
    }
  }
  const absl::Status status = accel::common::ValidateJobSpec(spec);
  if (!status.ok()) {
    Require(status.code() == absl::StatusCode::kInvalidArgument);
    Require(std::string(status.message()).starts_with("spec"));
    return;
  }
  Require(!spec.launch_args.empty() && spec.launch_args.size() <= JobSpecLimits::kMaxArgs);
  for (const auto& [name, env_value] : spec.env) {
    Require(accel::common::IsValidEnvName(name));
    Require(env_value.find('\0') == std::string::npos);
  }
  Require(spec.working_dir.empty() || (spec.working_dir[0] == '/' && accel::common::HasNoTraversal(spec.working_dir)));
  Require(spec.working_dir.find("/../") == std::string::npos && !spec.working_dir.ends_with("/.."));
  Require(spec.min_nodes >= 1 && spec.min_nodes <= spec.max_nodes && spec.max_nodes <= JobSpecLimits::kMaxNodes);
  Require(spec.max_restarts >= 0);
}

#ifdef ACCEL_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzJobSpec(data, size);
  return 0;
}
#endif
