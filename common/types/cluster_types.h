// Types that cross process boundaries in the cluster control plane (client <-> coordinator <->
// agents). Plain values; proto/convert translates them to and from the wire, and nothing else here
// knows the wire exists.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace accel::common {

/// What `accelctl launch --cluster` submits: the launch line and config exactly as the user gave
/// them, so every node plans its workers with the same PlanLaunch as an embedded launch.
struct JobSpec {
  std::vector<std::string> launch_args;   // the words after `launch` (flags, script, script args)
  std::string config_text;                // the config file's content; empty when none was used
  std::string config_name;                // its file name (".json" decides the parser), for messages
  std::map<std::string, std::string> env;  // the submitter's environment; workers start from it
  std::string working_dir;
  std::vector<std::string> nodes;         // --nodes a,b: exactly these; empty: the coordinator picks
  int min_nodes = 1;                      // --num_machines MIN:MAX
  int max_nodes = 1;
  int max_restarts = 0;
  // Rendezvous windows of this job (--rdzv_conf join_timeout=S,last_call_timeout=S); negative: the
  // coordinator's defaults.
  double join_timeout_s = -1;
  double last_call_s = -1;
  std::string user;                       // who submitted (filled by the coordinator, not the client)
  // The submitter's account, from the coordinator's authentication of the call (never from the
  // client): workers run as this uid/gid when acceld runs as root. -1: unknown.
  int64_t uid = -1;
  int64_t gid = -1;
};

enum class JobState { kPending, kRunning, kRestarting, kSucceeded, kFailed, kCancelled };
std::string_view ToString(JobState state);
std::optional<JobState> ParseJobState(std::string_view text);
inline bool IsFinal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed || state == JobState::kCancelled;
}

/// One worker's end.
struct RankExit {
  int rank = 0;
  int local_rank = 0;
  std::string node;
  int exit_code = 0;  // 128 + signal when signalled
  int signal = 0;
  int64_t time_unix_ms = 0;
  std::string message;  // from the worker's error file, when it wrote one
};

/// Where one node's workers sit in one attempt.
struct Assignment {
  std::string job_id;
  int attempt = 0;  // TORCHELASTIC_RESTART_COUNT
  int machine_rank = 0;
  int num_machines = 1;
  std::string master_addr;
  int master_port = 0;
  int base_rank = 0;
  int world_size = 0;
};

struct JobRecord {
  std::string id;
  JobSpec spec;
  JobState state = JobState::kPending;
  int attempt = 0;
  std::vector<std::string> nodes;  // of the current attempt, in machine-rank order
  int world_size = 0;
  int exit_code = 0;
  std::string reason;              // why it failed / was cancelled / restarted last
  std::vector<RankExit> exits;     // of the final (or current) attempt
  int64_t submitted_unix_ms = 0;
  int64_t started_unix_ms = 0;
  int64_t ended_unix_ms = 0;
};

struct NodeInfo {
  std::string name;
  std::string agent_address;  // where its AgentService listens
  int gpus = 0;
  int cpus = 0;
  std::vector<std::string> gpu_names;
  std::string version;
  bool alive = false;
  int64_t last_heartbeat_unix_ms = 0;
  std::vector<std::string> running_jobs;
};

enum class LogStream { kStdout, kStderr };

struct LogLine {
  std::string job_id;
  int attempt = 0;
  int rank = 0;
  int local_rank = 0;
  std::string node;
  LogStream stream = LogStream::kStdout;
  std::string text;  // without the newline
};

/// What an agent reports about its part of a job.
struct GroupEvent {
  enum class Kind {
    kStarted,    // every local worker of the attempt is running
    kSucceeded,  // every local worker exited 0
    kFailed,     // a worker failed; `exits` holds the failures, root cause first
    kStopped,    // stopped on request
    kLog,        // one output line
  };
  Kind kind = Kind::kStarted;
  std::string job_id;
  int attempt = 0;
  std::string node;
  std::vector<RankExit> exits;
  std::optional<LogLine> log;
  std::string message;
};

/// What the coordinator streams to a client following a job.
struct JobEvent {
  enum class Kind { kState, kLog, kRankExit };
  Kind kind = Kind::kState;
  std::string job_id;
  JobState state = JobState::kPending;  // kState
  int attempt = 0;
  std::string message;                  // kState: reason; kRankExit: the exit's message
  std::optional<LogLine> log;           // kLog
  std::optional<RankExit> exit;         // kRankExit
  int exit_code = 0;                    // kState in a final state
};

}  // namespace accel::common
