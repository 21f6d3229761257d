#include "proto/convert/convert.h"

#include "common/security/job_spec_validation.h"
#include "common/strings.h"

namespace accel::wire {
namespace {

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

}  // namespace

v1::JobSpec ToProto(const common::JobSpec& spec) {
  v1::JobSpec out;
  for (const auto& arg : spec.launch_args) out.add_launch_args(arg);
  out.set_config_text(spec.config_text);
  out.set_config_name(spec.config_name);
  for (const auto& [key, value] : spec.env) (*out.mutable_env())[key] = value;
  out.set_working_dir(spec.working_dir);
  for (const auto& node : spec.nodes) out.add_nodes(node);
  out.set_min_nodes(spec.min_nodes);
  out.set_max_nodes(spec.max_nodes);
  out.set_max_restarts(spec.max_restarts);
  out.set_join_timeout_s(spec.join_timeout_s);
  out.set_last_call_s(spec.last_call_s);
  out.set_user(spec.user);
  out.set_uid(spec.uid);
  out.set_gid(spec.gid);
  return out;
}

absl::StatusOr<common::JobSpec> FromProto(const v1::JobSpec& spec) {
  // Counts first, so a huge repeated field is refused before it is copied.
  using L = common::JobSpecLimits;
  if (spec.launch_args_size() > L::kMaxArgs) return Invalid(common::StrCat("spec.launch_args: more than ", L::kMaxArgs, " words"));
  if (spec.env_size() > L::kMaxEnvEntries) return Invalid(common::StrCat("spec.env: more than ", L::kMaxEnvEntries, " variables"));
  if (spec.nodes_size() > L::kMaxNodes) return Invalid(common::StrCat("spec.nodes: more than ", L::kMaxNodes));
  common::JobSpec out;
  out.launch_args.assign(spec.launch_args().begin(), spec.launch_args().end());
  out.config_text = spec.config_text();
  out.config_name = spec.config_name();
  for (const auto& [key, value] : spec.env()) out.env[key] = value;
  out.working_dir = spec.working_dir();
  out.nodes.assign(spec.nodes().begin(), spec.nodes().end());
  out.min_nodes = spec.min_nodes();
  out.max_nodes = spec.max_nodes();
  out.max_restarts = spec.max_restarts();
  out.join_timeout_s = spec.join_timeout_s();
  out.last_call_s = spec.last_call_s();
  out.user = spec.user();
  out.uid = spec.uid();
  out.gid = spec.gid();
  if (auto status = common::ValidateJobSpec(out); !status.ok()) return status;
  return out;
}

v1::JobState ToProto(common::JobState state) {
  switch (state) {
    case common::JobState::kPending: return v1::JOB_STATE_PENDING;
    case common::JobState::kRunning: return v1::JOB_STATE_RUNNING;
    case common::JobState::kRestarting: return v1::JOB_STATE_RESTARTING;
    case common::JobState::kSucceeded: return v1::JOB_STATE_SUCCEEDED;
    case common::JobState::kFailed: return v1::JOB_STATE_FAILED;
    case common::JobState::kCancelled: return v1::JOB_STATE_CANCELLED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

common::JobState FromProto(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_RUNNING: return common::JobState::kRunning;
    case v1::JOB_STATE_RESTARTING: return common::JobState::kRestarting;
    case v1::JOB_STATE_SUCCEEDED: return common::JobState::kSucceeded;
    case v1::JOB_STATE_FAILED: return common::JobState::kFailed;
    case v1::JOB_STATE_CANCELLED: return common::JobState::kCancelled;
    default: return common::JobState::kPending;
  }
}

v1::RankExit ToProto(const common::RankExit& exit) {
  v1::RankExit out;
  out.set_rank(exit.rank);
  out.set_local_rank(exit.local_rank);
  out.set_node(exit.node);
  out.set_exit_code(exit.exit_code);
  out.set_signal(exit.signal);
  out.set_time_unix_ms(exit.time_unix_ms);
  out.set_message(exit.message);
  return out;
}

common::RankExit FromProto(const v1::RankExit& exit) {
  return common::RankExit{.rank = exit.rank(), .local_rank = exit.local_rank(), .node = exit.node(),
                          .exit_code = exit.exit_code(), .signal = exit.signal(),
                          .time_unix_ms = exit.time_unix_ms(), .message = exit.message()};
}

v1::Assignment ToProto(const common::Assignment& assignment) {
  v1::Assignment out;
  out.set_job_id(assignment.job_id);
  out.set_attempt(assignment.attempt);
  out.set_machine_rank(assignment.machine_rank);
  out.set_num_machines(assignment.num_machines);
  out.set_master_addr(assignment.master_addr);
  out.set_master_port(assignment.master_port);
  out.set_base_rank(assignment.base_rank);
  out.set_world_size(assignment.world_size);
  return out;
}

absl::StatusOr<common::Assignment> FromProto(const v1::Assignment& assignment) {
  common::Assignment out{.job_id = assignment.job_id(), .attempt = assignment.attempt(),
                         .machine_rank = assignment.machine_rank(), .num_machines = assignment.num_machines(),
                         .master_addr = assignment.master_addr(), .master_port = assignment.master_port(),
                         .base_rank = assignment.base_rank(), .world_size = assignment.world_size()};
  if (out.job_id.empty() || out.job_id.size() > 128) return Invalid("assignment.job_id: empty or too long");
  if (out.num_machines < 1 || out.machine_rank < 0 || out.machine_rank >= out.num_machines) {
    return Invalid(common::StrCat("assignment: machine_rank ", out.machine_rank, " of ", out.num_machines));
  }
  if (out.master_port < 1 || out.master_port > 65535) return Invalid("assignment.master_port: out of range");
  if (out.attempt < 0 || out.base_rank < 0 || out.world_size < 1) return Invalid("assignment: negative rank numbers");
  return out;
}

v1::Job ToProto(const common::JobRecord& job) {
  v1::Job out;
  out.set_id(job.id);
  *out.mutable_spec() = ToProto(job.spec);
  out.set_state(ToProto(job.state));
  out.set_attempt(job.attempt);
  for (const auto& node : job.nodes) out.add_nodes(node);
  out.set_world_size(job.world_size);
  out.set_exit_code(job.exit_code);
  out.set_reason(job.reason);
  for (const auto& exit : job.exits) *out.add_exits() = ToProto(exit);
  out.set_submitted_unix_ms(job.submitted_unix_ms);
  out.set_started_unix_ms(job.started_unix_ms);
  out.set_ended_unix_ms(job.ended_unix_ms);
  return out;
}

absl::StatusOr<common::JobRecord> FromProto(const v1::Job& job) {
  common::JobRecord out;
  out.id = job.id();
  auto spec = FromProto(job.spec());
  if (!spec.ok()) return spec.status();
  out.spec = *std::move(spec);
  out.state = FromProto(job.state());
  out.attempt = job.attempt();
  out.nodes.assign(job.nodes().begin(), job.nodes().end());
  out.world_size = job.world_size();
  out.exit_code = job.exit_code();
  out.reason = job.reason();
  for (const auto& exit : job.exits()) out.exits.push_back(FromProto(exit));
  out.submitted_unix_ms = job.submitted_unix_ms();
  out.started_unix_ms = job.started_unix_ms();
  out.ended_unix_ms = job.ended_unix_ms();
  return out;
}

v1::NodeInfo ToProto(const common::NodeInfo& node) {
  v1::NodeInfo out;
  out.set_name(node.name);
  out.set_agent_address(node.agent_address);
  out.set_gpus(node.gpus);
  out.set_cpus(node.cpus);
  for (const auto& name : node.gpu_names) out.add_gpu_names(name);
  out.set_version(node.version);
  out.set_alive(node.alive);
  out.set_last_heartbeat_unix_ms(node.last_heartbeat_unix_ms);
  for (const auto& job : node.running_jobs) out.add_running_jobs(job);
  return out;
}

absl::StatusOr<common::NodeInfo> FromProto(const v1::NodeInfo& node) {
  if (node.name().empty() || node.name().size() > 255) return Invalid("node.name: empty or over 255 bytes");
  if (node.agent_address().size() > 1024) return Invalid("node.agent_address: too long");
  if (node.gpus() < 0 || node.cpus() < 0) return Invalid("node: negative gpu or cpu count");
  common::NodeInfo out;
  out.name = node.name();
  out.agent_address = node.agent_address();
  out.gpus = node.gpus();
  out.cpus = node.cpus();
  out.gpu_names.assign(node.gpu_names().begin(), node.gpu_names().end());
  out.version = node.version();
  out.alive = node.alive();
  out.last_heartbeat_unix_ms = node.last_heartbeat_unix_ms();
  out.running_jobs.assign(node.running_jobs().begin(), node.running_jobs().end());
  return out;
}

v1::LogLine ToProto(const common::LogLine& line) {
  v1::LogLine out;
  out.set_job_id(line.job_id);
  out.set_attempt(line.attempt);
  out.set_rank(line.rank);
  out.set_local_rank(line.local_rank);
  out.set_node(line.node);
  out.set_stream(line.stream == common::LogStream::kStderr ? v1::LOG_STREAM_STDERR : v1::LOG_STREAM_STDOUT);
  out.set_text(line.text);
  return out;
}

common::LogLine FromProto(const v1::LogLine& line) {
  return common::LogLine{.job_id = line.job_id(), .attempt = line.attempt(), .rank = line.rank(),
                         .local_rank = line.local_rank(), .node = line.node(),
                         .stream = line.stream() == v1::LOG_STREAM_STDERR ? common::LogStream::kStderr
                                                                          : common::LogStream::kStdout,
                         .text = line.text()};
}

v1::GroupEvent ToProto(const common::GroupEvent& event) {
  v1::GroupEvent out;
  switch (event.kind) {
    case common::GroupEvent::Kind::kStarted: out.set_kind(v1::GroupEvent::KIND_STARTED); break;
    case common::GroupEvent::Kind::kSucceeded: out.set_kind(v1::GroupEvent::KIND_SUCCEEDED); break;
    case common::GroupEvent::Kind::kFailed: out.set_kind(v1::GroupEvent::KIND_FAILED); break;
    case common::GroupEvent::Kind::kStopped: out.set_kind(v1::GroupEvent::KIND_STOPPED); break;
    case common::GroupEvent::Kind::kLog: out.set_kind(v1::GroupEvent::KIND_LOG); break;
  }
  out.set_job_id(event.job_id);
  out.set_attempt(event.attempt);
  out.set_node(event.node);
  for (const auto& exit : event.exits) *out.add_exits() = ToProto(exit);
  if (event.log) *out.mutable_log() = ToProto(*event.log);
  out.set_message(event.message);
  return out;
}

common::GroupEvent FromProto(const v1::GroupEvent& event) {
  common::GroupEvent out;
  switch (event.kind()) {
    case v1::GroupEvent::KIND_SUCCEEDED: out.kind = common::GroupEvent::Kind::kSucceeded; break;
    case v1::GroupEvent::KIND_FAILED: out.kind = common::GroupEvent::Kind::kFailed; break;
    case v1::GroupEvent::KIND_STOPPED: out.kind = common::GroupEvent::Kind::kStopped; break;
    case v1::GroupEvent::KIND_LOG: out.kind = common::GroupEvent::Kind::kLog; break;
    default: out.kind = common::GroupEvent::Kind::kStarted; break;
  }
  out.job_id = event.job_id();
  out.attempt = event.attempt();
  out.node = event.node();
  for (const auto& exit : event.exits()) out.exits.push_back(FromProto(exit));
  if (event.has_log()) out.log = FromProto(event.log());
  out.message = event.message();
  return out;
}

v1::JobEvent ToProto(const common::JobEvent& event) {
  v1::JobEvent out;
  switch (event.kind) {
    case common::JobEvent::Kind::kState: out.set_kind(v1::JobEvent::KIND_STATE); break;
    case common::JobEvent::Kind::kLog: out.set_kind(v1::JobEvent::KIND_LOG); break;
    case common::JobEvent::Kind::kRankExit: out.set_kind(v1::JobEvent::KIND_RANK_EXIT); break;
  }
  out.set_job_id(event.job_id);
  out.set_state(ToProto(event.state));
  out.set_attempt(event.attempt);
  out.set_message(event.message);
  if (event.log) *out.mutable_log() = ToProto(*event.log);
  if (event.exit) *out.mutable_exit() = ToProto(*event.exit);
  out.set_exit_code(event.exit_code);
  return out;
}

common::JobEvent FromProto(const v1::JobEvent& event) {
  common::JobEvent out;
  switch (event.kind()) {
    case v1::JobEvent::KIND_LOG: out.kind = common::JobEvent::Kind::kLog; break;
    case v1::JobEvent::KIND_RANK_EXIT: out.kind = common::JobEvent::Kind::kRankExit; break;
    default: out.kind = common::JobEvent::Kind::kState; break;
  }
  out.job_id = event.job_id();
  out.state = FromProto(event.state());
  out.attempt = event.attempt();
  out.message = event.message();
  if (event.has_log()) out.log = FromProto(event.log());
  if (event.has_exit()) out.exit = FromProto(event.exit());
  out.exit_code = event.exit_code();
  return out;
}

v1::Allocation ToProto(const common::Allocation& allocation) {
  v1::Allocation out;
  out.set_job_id(allocation.job_id);
  out.set_user(allocation.user);
  out.set_uid(allocation.uid);
  for (const auto& gpu : allocation.gpus) out.add_gpus(gpu);
  out.set_begin_unix_ms(allocation.begin_unix_ms);
  return out;
}

absl::StatusOr<common::Allocation> FromProto(const v1::Allocation& allocation) {
  // The job id names processes to kill and files to write: a strict alphabet keeps it harmless.
  const std::string& id = allocation.job_id();
  if (id.empty() || id.size() > 64) return Invalid("allocation.job_id: need 1 to 64 characters");
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
    if (!ok) return Invalid(common::StrCat("allocation.job_id: '", id, "': only letters, digits, '_', '.', '-'"));
  }
  if (allocation.user().size() > 256) return Invalid("allocation.user: over 256 characters");
  if (allocation.uid() < -1 || allocation.uid() > 0xffffffffLL) {
    return Invalid(common::StrCat("allocation.uid: ", allocation.uid(), ": out of range"));
  }
  if (allocation.gpus_size() > 1024) return Invalid("allocation.gpus: more than 1024");
  common::Allocation out;
  out.job_id = id;
  out.user = allocation.user();
  out.uid = allocation.uid();
  for (const auto& gpu : allocation.gpus()) {
    if (gpu.empty() || gpu.size() > 128) return Invalid("allocation.gpus: an entry empty or over 128 characters");
    out.gpus.push_back(gpu);
  }
  out.begin_unix_ms = allocation.begin_unix_ms();
  return out;
}

}  // namespace accel::wire
