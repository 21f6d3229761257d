#include "common/types/allocation.h"

#include <algorithm>
#include <utility>

#include "common/strings.h"

namespace accel::common {

nlohmann::ordered_json AllocationToJson(const Allocation& allocation) {
  return {{"job_id", allocation.job_id}, {"user", allocation.user},  {"uid", allocation.uid},
          {"gpus", allocation.gpus},     {"begin_unix_ms", allocation.begin_unix_ms}};
}

absl::StatusOr<Allocation> AllocationFromJson(std::string_view text) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!json.is_object()) return absl::InvalidArgumentError("an allocation must be a JSON object");
  auto field = [&json](const char* name, auto is_type) -> absl::StatusOr<const nlohmann::json*> {
    const auto it = json.find(name);
    if (it == json.end() || !is_type(*it)) {
      return absl::InvalidArgumentError(StrCat("allocation field '", name, "' is missing or of the wrong type"));
    }
    return &*it;
  };
  const auto is_string = [](const nlohmann::json& j) { return j.is_string(); };
  const auto is_integer = [](const nlohmann::json& j) { return j.is_number_integer(); };
  const auto is_string_list = [](const nlohmann::json& j) {
    return j.is_array() && std::all_of(j.begin(), j.end(), [](const nlohmann::json& item) { return item.is_string(); });
  };
  Allocation allocation;
  for (auto [name, out] : {std::pair{"job_id", &allocation.job_id}, std::pair{"user", &allocation.user}}) {
    auto value = field(name, is_string);
    if (!value.ok()) return value.status();
    *out = (*value)->get<std::string>();
  }
  for (auto [name, out] : {std::pair{"uid", &allocation.uid}, std::pair{"begin_unix_ms", &allocation.begin_unix_ms}}) {
    auto value = field(name, is_integer);
    if (!value.ok()) return value.status();
    *out = (*value)->get<int64_t>();
  }
  auto gpus = field("gpus", is_string_list);
  if (!gpus.ok()) return gpus.status();
  allocation.gpus = (*gpus)->get<std::vector<std::string>>();
  if (allocation.job_id.empty()) return absl::InvalidArgumentError("allocation field 'job_id' is empty");
  return allocation;
}

}  // namespace accel::common
