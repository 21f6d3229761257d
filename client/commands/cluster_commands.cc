#include "client/commands/cluster_commands.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>

#include "absl/time/clock.h"
#include "agent/signal_watcher.h"
#include "common/event_loop.h"
#include "client/remote/coordinator_client.h"
#include "common/cli/arg_parser.h"
#include "common/config/cluster_config.h"
#include "common/launch/launch_plan.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace accel::client {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kDefaultCluster[] = "unix:/run/accel/acceld.sock";

Json ToJson(const common::RankExit& exit) {
  return Json{{"rank", exit.rank}, {"local_rank", exit.local_rank}, {"node", exit.node}, {"exit_code", exit.exit_code},
              {"signal", exit.signal}, {"time_unix_ms", exit.time_unix_ms}, {"message", exit.message}};
}

Json ToJson(const common::JobRecord& job) {
  Json exits = Json::array();
  for (const auto& exit : job.exits) exits.push_back(ToJson(exit));
  return Json{{"id", job.id},
              {"state", std::string(common::ToString(job.state))},
              {"attempt", job.attempt},
              {"nodes", job.nodes},
              {"world_size", job.world_size},
              {"exit_code", job.exit_code},
              {"reason", job.reason},
              {"user", job.spec.user},
              {"command", job.spec.launch_args},
              {"submitted_unix_ms", job.submitted_unix_ms},
              {"started_unix_ms", job.started_unix_ms},
              {"ended_unix_ms", job.ended_unix_ms},
              {"exits", exits}};
}

Json ToJson(const common::LogLine& line) {
  return {{"job", line.job_id},     {"attempt", line.attempt}, {"rank", line.rank}, {"local_rank", line.local_rank},
          {"node", line.node},      {"stream", line.stream == common::LogStream::kStderr ? "stderr" : "stdout"},
          {"text", line.text}};
}

Json ToJson(const common::NodeInfo& node) {
  return Json{{"name", node.name}, {"address", node.agent_address}, {"alive", node.alive}, {"gpus", node.gpus},
              {"cpus", node.cpus}, {"gpu_names", node.gpu_names}, {"version", node.version},
              {"last_heartbeat_unix_ms", node.last_heartbeat_unix_ms}, {"running_jobs", node.running_jobs}};
}

std::string Age(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  const int64_t seconds = (absl::ToUnixMillis(absl::Now()) - unix_ms) / 1000;
  if (seconds < 120) return common::StrCat(seconds, "s");
  if (seconds < 7200) return common::StrCat(seconds / 60, "m");
  return common::StrCat(seconds / 3600, "h");
}

// Columns padded to their widest cell.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string LogPrefix(const common::LogLine& line) { return common::StrCat("[rank", line.rank, "]:"); }

void PrintLogLine(const CommandContext& context, const common::LogLine& line) {
  std::ostream& stream = line.stream == common::LogStream::kStderr ? *context.err : *context.out;
  stream << LogPrefix(line) << line.text << "\n";
  stream.flush();
}

// A cluster command's own flags: --cluster, plus what `extra` adds.
common::ArgParser ClusterParser(const std::string& prog, const std::string& description) {
  common::ArgParser parser(prog, description);
  parser.Add({.name = "cluster", .kind = common::ArgKind::kValue, .metavar = "ADDRESS",
              .help = "the coordinator (unix:PATH or HOST:PORT; default $ACCEL_CLUSTER, else unix:/run/accel/acceld.sock)"});
  parser.Add({.name = "tls_ca", .kind = common::ArgKind::kValue, .metavar = "PEM",
              .help = "the cluster CA: TLS to a TCP coordinator (default $ACCEL_TLS_CA)"});
  parser.Add({.name = "tls_cert", .kind = common::ArgKind::kValue, .metavar = "PEM",
              .help = "client certificate (default $ACCEL_TLS_CERT)"});
  parser.Add({.name = "tls_key", .kind = common::ArgKind::kValue, .metavar = "PEM",
              .help = "its private key (default $ACCEL_TLS_KEY)"});
  parser.Add({.name = "token_file", .kind = common::ArgKind::kValue, .metavar = "FILE",
              .help = "file holding a bearer token (default $ACCEL_TOKEN_FILE)"});
  return parser;
}

// The security files: flags over the environment.
CoordinatorClient::SecurityFiles SecurityFrom(const CommandContext& context, const common::ParsedArgs& parsed) {
  CoordinatorClient::SecurityFiles files = CoordinatorClient::SecurityFilesFromEnvironment(context.env);
  if (auto value = parsed.Value("tls_ca")) files.tls_ca = *value;
  if (auto value = parsed.Value("tls_cert")) files.tls_cert = *value;
  if (auto value = parsed.Value("tls_key")) files.tls_key = *value;
  if (auto value = parsed.Value("token_file")) files.token_file = *value;
  return files;
}

std::string AddressFrom(const CommandContext& context, const common::ParsedArgs& parsed) {
  if (auto flag = parsed.Value("cluster")) return *flag;
  return context.env.GetNonEmpty("ACCEL_CLUSTER").value_or(kDefaultCluster);
}

// Takes SIGINT/SIGTERM/SIGHUP/SIGQUIT (blocked in every thread) on a thread of its own and calls
// `on_signal` for each, until destroyed: a signalfd on an EventLoop, so the destructor ends it at once
// and a finished command does not wait out a polling slice (it used to add up to 100 ms to every one).
class SignalThread {
 public:
  explicit SignalThread(agent::SignalWatcher::Handler on_signal) {
    auto loop = common::EventLoop::Create();
    if (!loop.ok()) {
      spdlog::warn("cannot watch for Ctrl-C ({}); it will not cancel the job", loop.status().message());
      return;
    }
    loop_ = *std::move(loop);
    thread_ = std::thread([this, on_signal = std::move(on_signal)]() mutable {
      auto watcher = agent::SignalWatcher::Create(*loop_, agent::ForwardedSignals(), std::move(on_signal));
      if (!watcher.ok()) spdlog::warn("cannot watch for Ctrl-C ({}); it will not cancel the job", watcher.status().message());
      loop_->Run();
    });
  }
  ~SignalThread() {
    if (!loop_) return;
    // Posted rather than called: a Stop() that came before Run() started would be forgotten by Run().
    loop_->Post([loop = loop_.get()] { loop->Stop(); });
    thread_.join();
  }
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

 private:
  std::unique_ptr<common::EventLoop> loop_;
  std::thread thread_;
};

absl::StatusOr<common::JobSpec> BuildJobSpec(const CommandContext& context, CommandArgs args,
                                             const common::LaunchArgs& parsed) {
  common::JobSpec spec;
  spec.launch_args.assign(args.begin(), args.end());
  if (auto path = common::LaunchConfigPath(parsed, context.env)) {
    // Checked here so that a bad file fails before anything is submitted.
    auto loaded = common::LoadClusterConfig(*path);
    if (!loaded.ok()) return loaded.status();
    std::ifstream in(*path);
    std::stringstream text;
    text << in.rdbuf();
    spec.config_text = text.str();
    spec.config_name = path->filename().string();
  }
  spec.env = context.env.vars();
  std::error_code error;
  spec.working_dir = std::filesystem::current_path(error).string();
  if (!parsed.IsNone("nodes")) {
    for (std::string_view node : common::StrSplit(common::PythonStr(parsed.Get("nodes")), ',')) {
      if (!node.empty()) spec.nodes.emplace_back(node);
    }
  }
  const int machines = parsed.Get("num_machines").is_number() ? parsed.Get("num_machines").get<int>() : 1;
  spec.min_nodes = parsed.ns.contains("min_machines") ? parsed.ns["min_machines"].get<int>() : machines;
  spec.max_nodes = machines;
  if (!spec.nodes.empty()) spec.min_nodes = spec.max_nodes = static_cast<int>(spec.nodes.size());
  spec.max_restarts = parsed.Get("max_restarts").is_number() ? parsed.Get("max_restarts").get<int>() : 0;
  // torchrun's rendezvous windows, per job.
  ASSIGN_OR_RETURN(const auto rdzv_conf, common::ParseRdzvConf(common::PythonStr(parsed.Get("rdzv_conf"))));
  ASSIGN_OR_RETURN(const std::optional<double> join_timeout, common::RdzvJoinTimeout(rdzv_conf));
  ASSIGN_OR_RETURN(const std::optional<double> last_call, common::RdzvConfSeconds(rdzv_conf, "last_call_timeout"));
  if (join_timeout) spec.join_timeout_s = *join_timeout;
  if (last_call) spec.last_call_s = *last_call;
  return spec;
}

}  // namespace

// How long a followed job's client keeps trying to reach a coordinator that went away.
constexpr absl::Duration kReconnectWindow = absl::Minutes(2);

int RunClusterLaunch(const CommandContext& context, CommandArgs args, const common::LaunchArgs& parsed,
                     const std::string& address) {
  auto spec = BuildJobSpec(context, args, parsed);
  if (!spec.ok()) return ReportError(context, "launch", spec.status());
  const bool detach = parsed.Truthy("detach");
  const std::optional<int> rank_filter =
      parsed.Get("rank").is_number() ? std::optional<int>(parsed.Get("rank").get<int>()) : std::nullopt;

  // The same flags over the environment as the other cluster commands (SecurityFrom).
  CoordinatorClient::SecurityFiles security = CoordinatorClient::SecurityFilesFromEnvironment(context.env);
  for (auto [flag, file] : {std::pair{"tls_ca", &security.tls_ca}, std::pair{"tls_cert", &security.tls_cert},
                            std::pair{"tls_key", &security.tls_key}, std::pair{"token_file", &security.token_file}}) {
    if (!parsed.IsNone(flag)) *file = common::PythonStr(parsed.Get(flag));
  }
  CoordinatorClient client(address, security);
  std::atomic<int> signals{0};
  absl::Mutex mu;
  std::string job_id;  // guarded by mu
  std::optional<int> exit_code;
  SignalThread signal_thread([&](int) {
    // First Ctrl-C: cancel the job everywhere (or, detached, just stop following); second: give up.
    std::string id;
    {
      absl::MutexLock lock(&mu);
      id = job_id;
    }
    if (++signals > 1 || detach || id.empty()) {
      client.Cancel();
      return;
    }
    *context.err << "accelctl launch: cancelling job " << id << " on every node (Ctrl-C again to stop waiting)\n";
    CoordinatorClient canceller(address, security);
    if (auto cancelled = canceller.CancelJob(id); !cancelled.ok()) {
      *context.err << "accelctl launch: " << cancelled.status().message() << "\n";
    }
  });

  const auto on_event = [&](const common::JobEvent& event) {
    {
      absl::MutexLock lock(&mu);
      if (job_id.empty()) {
        job_id = event.job_id;
        *context.err << "accelctl launch: submitted job " << job_id << " to " << address << "\n";
        context.err->flush();
        if (detach) {
          *context.out << job_id << "\n";
          context.out->flush();
          client.Cancel();  // stop following; the job goes on
          return;
        }
      }
    }
    switch (event.kind) {
      case common::JobEvent::Kind::kLog:
        if (event.log && (!rank_filter || event.log->rank == *rank_filter)) PrintLogLine(context, *event.log);
        break;
      case common::JobEvent::Kind::kRankExit:
        if (event.exit) {
          *context.err << "accelctl launch: rank " << event.exit->rank << " on " << event.exit->node
                       << " exited with code " << event.exit->exit_code
                       << (event.exit->message.empty() ? "" : ": " + event.exit->message) << "\n";
        }
        break;
      case common::JobEvent::Kind::kState:
        *context.err << "accelctl launch: job " << event.job_id << " " << common::ToString(event.state)
                     << " (attempt " << event.attempt << ")" << (event.message.empty() ? "" : ": " + event.message)
                     << "\n";
        if (common::IsFinal(event.state)) exit_code = event.exit_code;
        break;
    }
    context.err->flush();
  };
  absl::Status status = client.SubmitJob(*spec, on_event);
  if (detach) return job_id.empty() ? ReportError(context, "launch", status) : kExitOk;

  // The stream broke before the job ended: the coordinator restarted or the network failed, and the job
  // goes on. Follow it again once the coordinator is back (lines written meanwhile: `accelctl logs`).
  const absl::Time give_up = absl::Now() + kReconnectWindow;
  bool told = false;
  while (!exit_code && signals == 0 && !job_id.empty() && absl::Now() < give_up &&
         (status.ok() || absl::IsUnavailable(status))) {
    if (!told) {
      *context.err << "accelctl launch: lost the coordinator (" << (status.ok() ? "stream ended" : status.message())
                   << "); following job " << job_id << " again when it is back\n";
      context.err->flush();
      told = true;
    }
    absl::SleepFor(absl::Milliseconds(500));
    if (signals != 0) break;
    status = client.WatchJob(job_id, /*logs=*/true, rank_filter.value_or(-1), on_event);
  }
  if (exit_code) return *exit_code;
  if (signals > 1) return 130;
  if (!status.ok()) return ReportError(context, "launch", status);
  return ReportError(context, "launch",
                     absl::UnavailableError(common::StrCat("the coordinator stopped streaming job ", job_id,
                                                           " before it ended; see `accelctl status ", job_id, "`")));
}

int RunStatusCommand(const CommandContext& context, CommandArgs args) {
  common::ArgParser parser = ClusterParser("accelctl status", "Show the cluster's jobs, or one job in detail.");
  parser.Add({.name = "json", .kind = common::ArgKind::kFlag, .help = "machine-readable output"});
  parser.AddPositional({"job", "a job id", /*optional=*/true});
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "status", parser, args, &exit_code);
  if (!parsed) return exit_code;
  CoordinatorClient client(AddressFrom(context, *parsed), SecurityFrom(context, *parsed));
  const bool json = parsed->Flag("json");
  if (!parsed->positionals.empty()) {
    auto job = client.GetJob(parsed->positionals.front());
    if (!job.ok()) return ReportError(context, "status", job.status());
    if (json) {
      *context.out << ToJson(*job).dump(2) << "\n";
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows = {
        {"job", job->id}, {"state", std::string(common::ToString(job->state))}, {"attempt", common::StrCat(job->attempt)},
        {"nodes", common::StrJoin(job->nodes, ",")}, {"world size", common::StrCat(job->world_size)},
        {"exit code", common::StrCat(job->exit_code)}, {"user", job->spec.user},
        {"command", common::StrJoin(job->spec.launch_args, " ")}, {"age", Age(job->submitted_unix_ms)}};
    if (!job->reason.empty()) rows.push_back({"reason", job->reason});
    *context.out << Table(rows);
    for (const auto& exit : job->exits) {
      *context.out << "rank " << exit.rank << " on " << exit.node << ": exit code " << exit.exit_code
                   << (exit.message.empty() ? "" : ": " + exit.message) << "\n";
    }
    return kExitOk;
  }
  auto jobs = client.ListJobs();
  if (!jobs.ok()) return ReportError(context, "status", jobs.status());
  if (json) {
    Json out = Json::array();
    for (const auto& job : *jobs) out.push_back(ToJson(job));
    *context.out << out.dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"JOB", "STATE", "ATTEMPT", "NODES", "WORLD", "EXIT", "AGE", "COMMAND"}};
  for (const auto& job : *jobs) {
    rows.push_back({job.id, std::string(common::ToString(job.state)), common::StrCat(job.attempt),
                    common::StrJoin(job.nodes, ","), common::StrCat(job.world_size),
                    common::IsFinal(job.state) ? common::StrCat(job.exit_code) : "-", Age(job.submitted_unix_ms),
                    common::StrJoin(job.spec.launch_args, " ")});
  }
  *context.out << Table(rows);
  return kExitOk;
}

int RunLogsCommand(const CommandContext& context, CommandArgs args) {
  common::ArgParser parser = ClusterParser("accelctl logs", "Print a job's worker output.");
  parser.Add({.name = "follow", .kind = common::ArgKind::kFlag, .short_names = {"-f"}, .help = "keep printing new lines until the job ends"});
  parser.Add({.name = "rank", .kind = common::ArgKind::kValue, .type = common::ArgType::kInt, .help = "only this rank's lines"});
  parser.Add({.name = "json", .kind = common::ArgKind::kFlag, .help = "one JSON object per line, for scripts"});
  parser.AddPositional({"job", "the job id"});
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "logs", parser, args, &exit_code);
  if (!parsed) return exit_code;
  CoordinatorClient client(AddressFrom(context, *parsed), SecurityFrom(context, *parsed));
  const int rank = parsed->Value("rank") ? static_cast<int>(*common::ParseInt64(*parsed->Value("rank"))) : -1;
  SignalThread signal_thread([&](int) { client.Cancel(); });
  const bool json = parsed->Flag("json");
  const absl::Status status =
      client.StreamLogs(parsed->positionals.front(), parsed->Flag("follow"), rank, [&](const common::LogLine& line) {
        if (json) {
          *context.out << ToJson(line).dump() << "\n";
          context.out->flush();
        } else {
          PrintLogLine(context, line);
        }
      });
  if (!status.ok() && status.code() != absl::StatusCode::kCancelled) return ReportError(context, "logs", status);
  return kExitOk;
}

int RunStopCommand(const CommandContext& context, CommandArgs args) {
  common::ArgParser parser = ClusterParser("accelctl stop", "Cancel a job on every node.");
  parser.Add({.name = "json", .kind = common::ArgKind::kFlag, .help = "print the job's record as JSON"});
  parser.AddPositional({"job", "the job id"});
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "stop", parser, args, &exit_code);
  if (!parsed) return exit_code;
  CoordinatorClient client(AddressFrom(context, *parsed), SecurityFrom(context, *parsed));
  auto job = client.CancelJob(parsed->positionals.front());
  if (!job.ok()) return ReportError(context, "stop", job.status());
  if (parsed->Flag("json")) {
    *context.out << ToJson(*job).dump(2) << "\n";
    return kExitOk;
  }
  *context.out << "job " << job->id << " " << common::ToString(job->state) << "\n";
  return kExitOk;
}

int RunNodesCommand(const CommandContext& context, CommandArgs args) {
  common::ArgParser parser = ClusterParser("accelctl nodes", "List the nodes registered with the coordinator.");
  parser.Add({.name = "json", .kind = common::ArgKind::kFlag, .help = "machine-readable output"});
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "nodes", parser, args, &exit_code);
  if (!parsed) return exit_code;
  CoordinatorClient client(AddressFrom(context, *parsed), SecurityFrom(context, *parsed));
  auto nodes = client.ListNodes();
  if (!nodes.ok()) return ReportError(context, "nodes", nodes.status());
  if (parsed->Flag("json")) {
    Json out = Json::array();
    for (const auto& node : *nodes) out.push_back(ToJson(node));
    *context.out << out.dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"NODE", "STATE", "GPUS", "CPUS", "JOBS", "LAST HEARTBEAT", "ADDRESS"}};
  for (const auto& node : *nodes) {
    rows.push_back({node.name, node.alive ? "alive" : "lost", common::StrCat(node.gpus), common::StrCat(node.cpus),
                    node.running_jobs.empty() ? "-" : common::StrJoin(node.running_jobs, ","),
                    Age(node.last_heartbeat_unix_ms), node.agent_address});
  }
  *context.out << Table(rows);
  return kExitOk;
}

}  // namespace accel::client
