// libFuzzer target for the config parser (common/config): YAML and JSON text, then the accelerate
// config schema on whatever parsed. Promises checked: no crash or sanitizer report, and every error
// is a non-empty message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/config/cluster_config.h"
#include "common/config/config_value.h"

namespace {
void Require(bool condition) {
  if (!condition) __builtin_trap();
}
}  // namespace

void FuzzConfig(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (int json = 0; json < 2; ++json) {
    auto parsed = json ? accel::common::ParseJson(text) : accel::common::ParseYaml(text);
    if (!parsed.ok()) {
      Require(!parsed.status().message().empty());
      continue;
    }
    auto config = accel::common::ClusterConfigFromValue(*parsed, "fuzz.yaml");
    if (!config.ok()) Require(!config.status().message().empty());
    (void)accel::common::EmitYaml(*parsed);
  }
}

#ifdef ACCEL_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzConfig(data, size);
  return 0;
}
#endif
