#include "agent/supervisor_options.h"

#include "common/strings.h"

namespace accel::agent {
namespace {

absl::Status Bad(std::string_view field, std::string_view value, std::string_view rule) {
  return absl::InvalidArgumentError(common::StrCat(field, "=", value, ": ", rule));
}

}  // namespace

std::string AttemptInfo::RankDir(int local_rank) const {
  if (attempt_dir.empty()) return "";
  return common::StrCat(attempt_dir, "/", local_rank);
}

std::string AttemptInfo::ErrorFile(int local_rank) const {
  if (attempt_dir.empty()) return "";
  return common::StrCat(attempt_dir, "/", local_rank, "/error.json");
}

absl::Status ValidateSupervisorOptions(const SupervisorOptions& o) {
  if (o.local_world_size < 1) return Bad("local_world_size", common::StrCat(o.local_world_size), "must be >= 1");
  if (o.base_rank < 0) return Bad("base_rank", common::StrCat(o.base_rank), "must be >= 0");
  if (o.max_restarts < 0) return Bad("max_restarts", common::StrCat(o.max_restarts), "must be >= 0");
  if (o.monitor_interval <= absl::ZeroDuration()) {
    return Bad("monitor_interval", absl::FormatDuration(o.monitor_interval), "must be > 0");
  }
  if (o.stop_grace < absl::ZeroDuration()) {
    return Bad("stop_grace", absl::FormatDuration(o.stop_grace), "must be >= 0");
  }
  if (o.restart_backoff < absl::ZeroDuration()) {
    return Bad("restart_backoff", absl::FormatDuration(o.restart_backoff), "must be >= 0");
  }
  if (o.hang_timeout < absl::ZeroDuration()) {
    return Bad("hang_timeout", absl::FormatDuration(o.hang_timeout), "must be >= 0");
  }
  if (o.stats_interval <= absl::ZeroDuration()) {
    return Bad("stats_interval", absl::FormatDuration(o.stats_interval), "must be > 0");
  }
  if (o.output_idle_flush <= absl::ZeroDuration()) {
    return Bad("output_idle_flush", absl::FormatDuration(o.output_idle_flush), "must be > 0");
  }
  if (!o.output_targets.empty() && o.output_targets.size() != static_cast<size_t>(o.local_world_size)) {
    return Bad("output_targets.size()", common::StrCat(o.output_targets.size()),
               common::StrCat("must be 0 or local_world_size (", o.local_world_size, ")"));
  }
  if (o.run_id.empty() || o.run_id.find('/') != std::string::npos) {
    return Bad("run_id", common::StrCat("'", o.run_id, "'"), "must be non-empty and contain no '/'");
  }
  if (o.log_root.empty() && o.tmp_dir.empty()) return Bad("tmp_dir", "''", "must be set when log_root is empty");
  return absl::OkStatus();
}

std::string ExpandLinePrefix(std::string_view templ, std::string_view role, int rank, int local_rank) {
  if (templ.empty()) templ = "[${role_name}${local_rank}]:";
  const std::string rank_text = common::StrCat(rank);
  const std::string local_rank_text = common::StrCat(local_rank);
  std::string out;
  size_t pos = 0;
  while (pos < templ.size()) {
    const size_t start = templ.find("${", pos);
    const size_t end = start == std::string_view::npos ? std::string_view::npos : templ.find('}', start);
    if (end == std::string_view::npos) break;
    out.append(templ.substr(pos, start - pos));
    const std::string_view name = templ.substr(start + 2, end - start - 2);
    if (name == "role_name") {
      out.append(role);
    } else if (name == "rank") {
      out.append(rank_text);
    } else if (name == "local_rank") {
      out.append(local_rank_text);
    } else {
      out.append(templ.substr(start, end - start + 1));  // Unknown names stay, as safe_substitute does.
    }
    pos = end + 1;
  }
  out.append(templ.substr(pos));
  return out;
}

}  // namespace accel::agent
