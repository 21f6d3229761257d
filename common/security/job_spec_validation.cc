#include "common/security/job_spec_validation.h"

#include "common/launch/launch_options.h"
#include "common/strings.h"

namespace accel::common {
namespace {

using L = JobSpecLimits;

absl::Status Invalid(std::string_view field, std::string_view message) {
  return absl::InvalidArgumentError(StrCat("spec.", field, ": ", message));
}

// A value for an error message: short and printable.
std::string Shown(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > 64) out += "...";
  return out;
}

bool IsNodeNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.';
}

std::optional<int64_t> Int(std::string_view text) { return ParseInt64(text); }

// The parts of a launch line that reach paths and counts on the node.
absl::Status ValidateLaunchLine(const std::vector<std::string>& launch_args) {
  static const ArgParser* parser = new ArgParser(MakeLaunchParser("accelctl launch"));
  auto parsed = ParseLaunchArgs(*parser, launch_args);
  if (!parsed.ok()) return absl::OkStatus();  // the agent reports it, exactly as an embedded launch would
  const ConfigValue& processes = parsed->Get("num_processes");
  if (processes.is_number_integer()) {
    const int64_t n = processes.get<int64_t>();
    if (n < 0 || n > L::kMaxProcesses) {
      return Invalid("launch_args", StrCat("--num_processes ", n, ": must be 0..", L::kMaxProcesses));
    }
  }
  const ConfigValue& machines = parsed->Get("num_machines");
  if (machines.is_string() || machines.is_number_integer()) {
    const std::string text = machines.is_string() ? machines.get<std::string>() : StrCat(machines.get<int64_t>());
    for (std::string_view part : StrSplit(text, ':')) {
      const auto n = Int(part);
      if (n && (*n < 1 || *n > L::kMaxNodes)) {
        return Invalid("launch_args", StrCat("--num_machines ", Shown(text), ": must be 1..", L::kMaxNodes));
      }
    }
  }
  const ConfigValue& run_id = parsed->Get("rdzv_id");
  if (run_id.is_string()) {
    const std::string id = run_id.get<std::string>();
    bool ok = !id.empty() && id.size() <= L::kMaxRunIdBytes && id != "." && id != "..";
    for (char c : id) ok = ok && IsNodeNameChar(c);
    if (!ok) return Invalid("launch_args", StrCat("--rdzv_id '", Shown(id), "': use 1-128 of [A-Za-z0-9._-]"));
  }
  const ConfigValue& log_dir = parsed->Get("log_dir");
  if (log_dir.is_string()) {
    const std::string dir = log_dir.get<std::string>();
    if (dir.size() > L::kMaxPathBytes || !HasNoTraversal(dir)) {
      return Invalid("launch_args", StrCat("--log_dir '", Shown(dir), "': no '..' components, at most 4096 bytes"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsValidEnvName(std::string_view name) {
  if (name.empty() || name.size() > L::kMaxEnvNameBytes || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool HasNoTraversal(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) return false;
  for (std::string_view part : StrSplit(path, '/')) {
    if (part == "..") return false;
  }
  return true;
}

absl::Status ValidateJobSpec(const JobSpec& spec) {
  if (spec.launch_args.empty()) return Invalid("launch_args", "empty (no training script)");
  if (spec.launch_args.size() > static_cast<size_t>(L::kMaxArgs)) {
    return Invalid("launch_args", StrCat("more than ", L::kMaxArgs, " words"));
  }
  size_t total = 0;
  for (const auto& arg : spec.launch_args) {
    if (arg.size() > L::kMaxArgBytes) return Invalid("launch_args", StrCat("a word over ", L::kMaxArgBytes, " bytes"));
    if (arg.find('\0') != std::string::npos) return Invalid("launch_args", "a word with a NUL byte");
    total += arg.size();
  }
  if (total > L::kMaxArgsTotalBytes) return Invalid("launch_args", "over 1 MiB in all");
  if (spec.config_text.size() > L::kMaxConfigBytes) return Invalid("config_text", "over 1 MiB");
  if (spec.config_name.size() > L::kMaxConfigNameBytes || spec.config_name.find('/') != std::string::npos ||
      spec.config_name.find('\0') != std::string::npos) {
    return Invalid("config_name", "over 255 bytes, or a '/' or NUL in it");
  }
  if (spec.env.size() > static_cast<size_t>(L::kMaxEnvEntries)) {
    return Invalid("env", StrCat("more than ", L::kMaxEnvEntries, " variables"));
  }
  total = 0;
  for (const auto& [name, value] : spec.env) {
    if (!IsValidEnvName(name)) return Invalid("env", StrCat("invalid variable name '", Shown(name), "'"));
    if (value.size() > L::kMaxEnvValueBytes) {
      return Invalid("env", StrCat("value of ", name, " over ", L::kMaxEnvValueBytes, " bytes"));
    }
    if (value.find('\0') != std::string::npos) return Invalid("env", StrCat("value of ", name, " has a NUL byte"));
    total += name.size() + value.size() + 2;
  }
  if (total > L::kMaxEnvTotalBytes) return Invalid("env", "over 1 MiB in all");
  if (!spec.working_dir.empty()) {
    if (spec.working_dir.size() > L::kMaxPathBytes) return Invalid("working_dir", "over 4096 bytes");
    if (spec.working_dir[0] != '/') return Invalid("working_dir", StrCat("'", Shown(spec.working_dir), "': not absolute"));
    if (!HasNoTraversal(spec.working_dir)) {
      return Invalid("working_dir", StrCat("'", Shown(spec.working_dir), "': a '..' component or a NUL byte"));
    }
  }
  if (spec.nodes.size() > static_cast<size_t>(L::kMaxNodes)) return Invalid("nodes", StrCat("more than ", L::kMaxNodes));
  for (const auto& node : spec.nodes) {
    bool ok = !node.empty() && node.size() <= L::kMaxNodeNameBytes;
    for (char c : node) ok = ok && IsNodeNameChar(c);
    if (!ok) return Invalid("nodes", StrCat("invalid node name '", Shown(node), "'"));
  }
  if (spec.min_nodes < 1 || spec.max_nodes < spec.min_nodes || spec.max_nodes > L::kMaxNodes) {
    return absl::InvalidArgumentError(StrCat("spec: min_nodes ", spec.min_nodes, " / max_nodes ", spec.max_nodes,
                                             ": need 1 <= min <= max <= ", L::kMaxNodes));
  }
  // Not NaN, at most a week; negative means the coordinator's default.
  for (const auto& [name, value] : {std::pair<const char*, double>{"join_timeout_s", spec.join_timeout_s},
                                    std::pair<const char*, double>{"last_call_s", spec.last_call_s}}) {
    if (!(value <= 7 * 24 * 3600.0)) return Invalid(name, StrCat(value, ": must be at most 604800 seconds"));
  }
  if (spec.max_restarts < 0 || spec.max_restarts > L::kMaxRestarts) {
    return Invalid("max_restarts", StrCat(spec.max_restarts, ": must be 0..", L::kMaxRestarts));
  }
  if (spec.user.size() > L::kMaxUserBytes) return Invalid("user", "over 256 bytes");
  return ValidateLaunchLine(spec.launch_args);
}

}  // namespace accel::common
