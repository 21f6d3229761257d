#include "common/launch/slurm.h"

#include "common/status_macros.h"
#include "common/strings.h"

namespace accel::common {
namespace {

// Splits on commas that are not inside brackets.
absl::StatusOr<std::vector<std::string_view>> SplitTopLevel(std::string_view text) {
  std::vector<std::string_view> items;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '[') ++depth;
    if (text[i] == ']' && --depth < 0) break;
    if (text[i] == ',' && depth == 0) {
      items.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (depth != 0) return absl::InvalidArgumentError(StrCat("hostlist '", text, "': unbalanced brackets"));
  items.push_back(text.substr(start));
  return items;
}

// "01-04,07" -> 01 02 03 04 07 (width of the lower bound kept, as SLURM does).
absl::StatusOr<std::vector<std::string>> ExpandRanges(std::string_view ranges, std::string_view hostlist) {
  std::vector<std::string> values;
  for (std::string_view range : StrSplit(ranges, ',')) {
    const size_t dash = range.find('-');
    const std::string_view low_text = range.substr(0, dash);
    const std::string_view high_text = dash == std::string_view::npos ? low_text : range.substr(dash + 1);
    const auto low = ParseInt64(low_text);
    const auto high = ParseInt64(high_text);
    if (low_text.empty() || !low || !high || *low < 0 || *high < *low || *high - *low > 100000) {
      return absl::InvalidArgumentError(StrCat("hostlist '", hostlist, "': bad range '", range, "'"));
    }
    for (int64_t value = *low; value <= *high; ++value) {
      std::string text = std::to_string(value);
      if (text.size() < low_text.size()) text.insert(0, low_text.size() - text.size(), '0');
      values.push_back(std::move(text));
    }
  }
  return values;
}

absl::StatusOr<std::vector<std::string>> ExpandItem(std::string_view item, std::string_view hostlist) {
  const size_t open = item.find('[');
  if (open == std::string_view::npos) return std::vector<std::string>{std::string(item)};
  const size_t close = item.find(']', open);
  if (close == std::string_view::npos) return absl::InvalidArgumentError(StrCat("hostlist '", hostlist, "': unbalanced brackets"));
  ASSIGN_OR_RETURN(const auto values, ExpandRanges(item.substr(open + 1, close - open - 1), hostlist));
  ASSIGN_OR_RETURN(const auto suffixes, ExpandItem(item.substr(close + 1), hostlist));
  std::vector<std::string> hosts;
  for (const auto& value : values) {
    for (const auto& suffix : suffixes) hosts.push_back(StrCat(item.substr(0, open), value, suffix));
  }
  return hosts;
}

std::optional<int64_t> PositiveInt(const Environment& env, std::string_view name) {
  auto text = env.GetNonEmpty(name);
  if (!text) return std::nullopt;
  // SLURM_NTASKS_PER_NODE can read "2(x3)" in some versions: the leading count is what matters.
  std::string_view digits = *text;
  digits = digits.substr(0, digits.find('('));
  auto value = ParseInt64(digits);
  if (!value || *value < 1) return std::nullopt;
  return value;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ExpandSlurmHostList(std::string_view hostlist) {
  hostlist = StripWhitespace(hostlist);
  std::vector<std::string> hosts;
  ASSIGN_OR_RETURN(const auto items, SplitTopLevel(hostlist));
  for (std::string_view item : items) {
    if (item.empty()) continue;
    ASSIGN_OR_RETURN(auto expanded, ExpandItem(item, hostlist));
    hosts.insert(hosts.end(), expanded.begin(), expanded.end());
  }
  return hosts;
}

absl::StatusOr<std::vector<std::string>> ApplySlurmEnvironment(LaunchArgs& args, const Environment& env) {
  std::vector<std::string> filled;
  if (!env.GetNonEmpty("SLURM_JOB_ID") || !env.GetNonEmpty("SLURM_NODEID")) return filled;
  // One launcher per node starts all of the node's workers: a second task of the same srun step on this
  // node would claim the same machine rank and start a second set of workers.
  if (auto local_id = PositiveInt(env, "SLURM_LOCALID"); local_id && args.IsNone("machine_rank")) {
    return absl::InvalidArgumentError(
        StrCat("SLURM_LOCALID=", *local_id, ": accelctl launch runs once per node and starts the node's workers "
               "itself; run it with `srun --ntasks-per-node=1`"));
  }
  const auto nodes = PositiveInt(env, "SLURM_NNODES").value_or(PositiveInt(env, "SLURM_JOB_NUM_NODES").value_or(1));
  auto set_if_unset = [&](const std::string& name, ConfigValue value, std::string_view source) {
    if (!args.IsNone(name)) return;
    filled.push_back(StrCat(name, "=", PythonStr(value), " (from ", source, ")"));
    args.ns[name] = std::move(value);
  };
  set_if_unset("num_machines", nodes, "SLURM_NNODES");
  if (auto node_id = ParseInt64(*env.Get("SLURM_NODEID")); node_id && *node_id >= 0) {
    set_if_unset("machine_rank", *node_id, "SLURM_NODEID");
  }
  const auto nodelist = env.GetNonEmpty("SLURM_STEP_NODELIST") ? env.GetNonEmpty("SLURM_STEP_NODELIST")
                                                               : env.GetNonEmpty("SLURM_JOB_NODELIST");
  if (nodelist && args.IsNone("main_process_ip")) {
    ASSIGN_OR_RETURN(const auto hosts, ExpandSlurmHostList(*nodelist));
    if (!hosts.empty()) set_if_unset("main_process_ip", hosts.front(), "the first host of the SLURM node list");
  }
  std::optional<int64_t> per_node = PositiveInt(env, "SLURM_GPUS_ON_NODE");
  std::string_view per_node_source = "SLURM_GPUS_ON_NODE";
  if (!per_node) {
    per_node = PositiveInt(env, "SLURM_NTASKS_PER_NODE");
    per_node_source = "SLURM_NTASKS_PER_NODE";
  }
  if (per_node) set_if_unset("num_processes", *per_node * nodes, StrCat(per_node_source, " x SLURM_NNODES"));
  return filled;
}

}  // namespace accel::common
