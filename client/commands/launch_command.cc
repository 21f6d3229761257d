// `accelctl launch`: plan the launch from flags + config (common::PlanLaunch), then supervise the
// workers in-process (agent::LocalAgent). No daemon involved.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netdb.h>

#include <atomic>
#include <csignal>
#include <filesystem>

#include "agent/local_agent.h"
#include "agent/signal_watcher.h"
#include "agent/static_rendezvous.h"
#include "agent/std_spec.h"
#include "agent/metrics/node_metrics.h"
#include "client/commands/cluster_commands.h"
#include "client/commands/command.h"
#include "common/host/gpu_probe.h"
#include "common/host/host_info.h"
#include "common/launch/launch_plan.h"
#include "common/launch/slurm.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace accel::client {
namespace {

// A stop signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) that arrived while the main thread waited for other
// machines; they are blocked, so they wait here until taken. 0 when none.
int TakePendingStopSignal() {
  sigset_t set;
  sigemptyset(&set);
  for (int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, signal);
  const timespec zero{};
  const int signal = ::sigtimedwait(&set, nullptr, &zero);
  return signal > 0 ? signal : 0;
}

// The coordinator address: --cluster, else $ACCEL_CLUSTER, else the config file's `cluster` key;
// nullopt when none is set (the launch runs here).
std::optional<std::string> ClusterAddress(const CommandContext& context, const common::LaunchArgs& args,
                                          const std::optional<std::string>& config_cluster) {
  if (!args.IsNone("cluster")) return common::PythonStr(args.Get("cluster"));
  if (auto env = context.env.GetNonEmpty("ACCEL_CLUSTER")) return env;
  return config_cluster;
}

absl::StatusOr<int> RdzvPort(const common::LaunchPlan& plan) {
  if (auto it = plan.rdzv_conf.find("rdzv_port"); it != plan.rdzv_conf.end()) {
    auto port = common::ParseInt64(it->second);
    if (!port || *port < 1 || *port > 65535) {
      return absl::InvalidArgumentError(common::StrCat("--rdzv_conf rdzv_port=", it->second, ": expected a port"));
    }
    return static_cast<int>(*port);
  }
  // MASTER_PORT itself belongs to rank 0's TCPStore, which the workers create.
  return plan.master_port + 1;
}

// True when `ip` is one of this machine's addresses (binding it works).
bool IsLocalAddress(const in_addr& ip) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr = ip;
  const bool local = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return local;
}

// The rendezvous listens on main_process_ip when it is one of this machine's addresses (loopback in
// tests stays loopback), else on all interfaces.
absl::StatusOr<std::unique_ptr<agent::RendezvousServer>> StartRendezvousServer(const common::LaunchPlan& plan, int port) {
  std::string bind_address = "0.0.0.0";
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (::getaddrinfo(plan.master_addr.c_str(), nullptr, &hints, &result) == 0 && result != nullptr) {
    const in_addr ip = reinterpret_cast<sockaddr_in*>(result->ai_addr)->sin_addr;
    ::freeaddrinfo(result);
    char text[INET_ADDRSTRLEN] = {};
    if (IsLocalAddress(ip) && ::inet_ntop(AF_INET, &ip, text, sizeof(text)) != nullptr) bind_address = text;
  }
  return agent::RendezvousServer::Start(bind_address, port, plan.num_machines, plan.max_restarts);
}

}  // namespace

int RunLaunchCommand(const CommandContext& context, CommandArgs args) {
  // Before any thread exists: the supervisor reads these signals through a signalfd.
  if (auto status = agent::BlockSupervisorSignals(); !status.ok()) return ReportError(context, "launch", status);

  const common::ArgParser parser = common::MakeLaunchParser("accelctl launch");
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "launch", parser, args, &exit_code);
  if (!parsed) return exit_code;
  auto launch_args = common::ParseLaunchArgs(parser, args);
  if (!launch_args.ok()) return ReportError(context, "launch", launch_args.status(), /*usage_error=*/true);

  std::optional<common::ClusterConfig> config;
  if (auto path = common::LaunchConfigPath(*launch_args, context.env)) {
    auto loaded = common::LoadClusterConfig(*path);
    if (!loaded.ok()) {
      if (loaded.status().code() == absl::StatusCode::kNotFound) {
        return ReportError(context, "launch",
                           absl::NotFoundError(common::StrCat("the passed configuration file `", path->string(),
                                                              "` does not exist")));
      }
      return ReportError(context, "launch", loaded.status());
    }
    for (const auto& warning : loaded->warnings) *context.err << "warning: " << warning << "\n";
    config = std::move(loaded->config);
  }
  if (auto cluster = ClusterAddress(context, *launch_args, config ? config->cluster : std::nullopt)) {
    return RunClusterLaunch(context, args, *launch_args, *cluster);
  }
  if (launch_args->ns.contains("min_machines")) {
    return ReportError(context, "launch",
                       absl::InvalidArgumentError("--num_machines MIN:MAX (elastic) needs --cluster: a static "
                                                  "launch runs a fixed number of machines"),
                       /*usage_error=*/true);
  }

  auto slurm = common::ApplySlurmEnvironment(*launch_args, context.env);
  if (!slurm.ok()) return ReportError(context, "launch", slurm.status());
  if (!slurm->empty()) *context.err << "accelctl launch: SLURM allocation: " << common::StrJoin(*slurm, ", ") << "\n";

  std::error_code cwd_error;
  const common::HostFacts host = agent::CollectHostFacts(context.env, std::filesystem::current_path(cwd_error));
  auto plan = common::PlanLaunch(*std::move(launch_args), config, host);
  if (!plan.ok()) return ReportError(context, "launch", plan.status());
  for (const auto& warning : plan->warnings) *context.err << warning << "\n";
  context.err->flush();

  auto options = agent::SupervisorOptionsFor(*plan, context.env);
  if (!options.ok()) return ReportError(context, "launch", options.status(), /*usage_error=*/true);
  const common::LaunchPlan& launch = *plan;
  // --metrics_port: the same /metrics and /healthz an acceld node serves, while the workers run.
  std::unique_ptr<metrics::NodeMetrics> node_metrics;
  if (launch.metrics_port != 0) {
    auto started = metrics::NodeMetrics::Start(
        {.node = common::HostName(), .role = "launch", .server = {.address = "127.0.0.1", .port = launch.metrics_port},
         .nvml_library = common::GpuProbeOptionsFromEnv(context.env).nvml_library});
    if (!started.ok()) return ReportError(context, "launch", started.status());
    node_metrics = *std::move(started);
  }
  common::WorkerStatsSink* const stats = node_metrics ? &node_metrics->workers() : nullptr;
  const bool several_machines = launch.num_machines > 1 && launch.launcher != common::LauncherKind::kSimple;

  // This machine's place in the job; the rendezvous may change it before each attempt.
  agent::GroupLayout layout = agent::LayoutFromPlan(launch);
  std::unique_ptr<agent::RendezvousServer> server;
  std::unique_ptr<agent::RendezvousClient> client;
  // torchrun's static rendezvous default: 900 s.
  const absl::Duration rdzv_timeout = absl::Seconds(launch.rdzv_join_timeout.value_or(900));
  // Which attempt's group runs now (-1 between attempts), so that a restart pushed for an attempt
  // that is already over is ignored.
  std::atomic<int> running_attempt{-1};
  absl::Mutex abort_mu;
  std::optional<std::pair<std::string, int>> aborted;  // reason, exit code; guarded by abort_mu

  agent::AgentHooks hooks;
  if (several_machines) {
    hooks.before_attempt = [&](const agent::AttemptInfo& attempt) -> absl::Status {
      if (attempt.restart_count > 0) {
        const absl::Time joining = absl::Now();
        ASSIGN_OR_RETURN(const agent::RendezvousRound round,
                         client->Join(attempt.restart_count, absl::Now() + rdzv_timeout, nullptr));
        if (stats != nullptr) stats->RecordRendezvous(absl::ToDoubleSeconds(absl::Now() - joining));
        layout = round.layout;
      }
      running_attempt = attempt.restart_count;
      return absl::OkStatus();
    };
    hooks.on_group_failure = [&](const agent::AttemptInfo& attempt, const std::vector<agent::WorkerFailure>& failures) {
      running_attempt = -1;
      const agent::WorkerFailure& root = failures.front();
      client->ReportFailure(attempt.restart_count,
                            common::StrCat("rank ", root.global_rank, " exited with code ", root.ShellExitCode()),
                            root.ShellExitCode());
    };
  }
  agent::LocalAgent agent(
      *options,
      [&](int local_rank, const agent::AttemptInfo& attempt) {
        return agent::WorkerCommandFor(launch, layout, local_rank, attempt);
      },
      hooks, /*console=*/nullptr, stats);

  if (several_machines) {
    auto port = RdzvPort(launch);
    if (!port.ok()) return ReportError(context, "launch", port.status(), /*usage_error=*/true);
    if (launch.machine_rank == 0) {
      auto started = StartRendezvousServer(launch, *port);
      if (!started.ok()) return ReportError(context, "launch", started.status());
      server = *std::move(started);
    }
    int interrupted = 0;
    auto cancelled = [&] { return (interrupted = interrupted ? interrupted : TakePendingStopSignal()) != 0; };
    agent::RendezvousClient::Callbacks callbacks;
    callbacks.on_restart = [&](int next_attempt, const std::string& reason) {
      if (running_attempt != next_attempt - 1) return;
      *context.err << "accelctl launch: restarting the workers on this machine: " << reason << "\n";
      context.err->flush();
      agent.RequestRestart(reason, next_attempt - 1);
    };
    callbacks.on_abort = [&](const std::string& reason, int abort_code) {
      {
        absl::MutexLock lock(&abort_mu);
        aborted.emplace(reason, abort_code);
      }
      agent.RequestStop(SIGTERM);
    };
    const absl::Time joining = absl::Now();
    const absl::Time deadline = joining + rdzv_timeout;
    auto connected = agent::RendezvousClient::Connect(
        agent::RendezvousClientOptions{.server_host = launch.master_addr,
                                       .server_port = *port,
                                       .machine_rank = launch.machine_rank,
                                       .num_machines = launch.num_machines,
                                       .local_world_size = launch.nproc_per_node,
                                       .node_name = common::HostName(),
                                       .run_id = launch.run_id},
        callbacks, deadline, cancelled);
    if (!connected.ok()) return interrupted ? 128 + interrupted : ReportError(context, "launch", connected.status());
    client = *std::move(connected);
    auto first_round = client->Join(0, deadline, cancelled);
    if (!first_round.ok()) return interrupted ? 128 + interrupted : ReportError(context, "launch", first_round.status());
    layout = first_round->layout;
    if (stats != nullptr) stats->RecordRendezvous(absl::ToDoubleSeconds(absl::Now() - joining));
  }

  agent::RunResult result = agent.Run();
  std::optional<std::pair<std::string, int>> abort_info;
  {
    absl::MutexLock lock(&abort_mu);
    abort_info = aborted;
  }
  if (!result.failures.empty()) {
    *context.err << (launch.quiet ? agent::FormatFailureLine(result, launch.entrypoint)
                                  : agent::FormatFailureSummary(result, launch.entrypoint));
  }
  if (abort_info && result.failures.empty()) {
    // Another machine failed (or vanished): its reason and its worker's exit code are the job's.
    *context.err << "accelctl launch: error: the job stopped on every machine: " << abort_info->first << "\n";
    context.err->flush();
    return abort_info->second == 0 ? kExitFailure : abort_info->second;
  }
  if (!result.status.ok()) ReportError(context, "launch", result.status);
  if (several_machines && result.exit_code == 0) {
    // Exit barrier: succeed only when every machine did.
    client->ReportSuccess(result.restarts);
    int interrupted = 0;
    auto finished = client->WaitForFinish(absl::Now() + absl::Seconds(300), [&] {
      return (interrupted = interrupted ? interrupted : TakePendingStopSignal()) != 0;
    });
    if (!finished.ok()) {
      if (interrupted) return 128 + interrupted;
      return ReportError(context, "launch", finished);
    }
  }
  context.err->flush();
  return result.exit_code;
}

}  // namespace accel::client
