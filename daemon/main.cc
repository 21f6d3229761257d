// acceld: the per-node agent (and, on the rank-0 node or as its own process, the coordinator).
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "agent/signal_watcher.h"
#include "common/host/gpu_probe.h"
#include "common/host/host_info.h"
#include "common/strings.h"
#include "common/version.h"
#include "daemon/acceld_config.h"
#include "daemon/metrics/daemon_metrics.h"
#include "daemon/node/node_agent.h"
#include "daemon/rpc/agent_service.h"
#include "daemon/rpc/coordinator_link.h"
#include "daemon/rpc/coordinator_server.h"
#include "daemon/rpc/unix_acceptor.h"
#include "proto/convert/channel_security.h"
#include "daemon/systemd_notifier.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace {

using accel::daemon::AcceldConfig;
using accel::daemon::AcceldRole;

// Static facts about this node, reported at registration and in GetStatus.
accel::common::NodeInfo DescribeNode(const AcceldConfig& config, const accel::common::GpuInventory& gpus) {
  accel::common::NodeInfo node;
  node.name = config.node_name;
  node.agent_address = config.advertise_address;
  node.gpus = gpus.count();
  node.cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  for (const auto& gpu : gpus.devices) node.gpu_names.push_back(gpu.name);
  node.version = ACCEL_VERSION;
  node.alive = true;
  return node;
}

// The single authentication point's tables, from the config files.
absl::StatusOr<std::shared_ptr<accel::daemon::rpc::Authenticator>> MakeAuthenticator(const AcceldConfig& config) {
  accel::daemon::rpc::AuthenticatorOptions options;
  if (!config.identity_map.empty()) {
    auto table = accel::common::IdentityTable::Load(config.identity_map, "identity_map");
    if (!table.ok()) return table.status();
    options.certificate_identities = *std::move(table);
  }
  if (!config.token_file.empty()) {
    auto table = accel::common::IdentityTable::Load(config.token_file, "token_file", /*min_key_bytes=*/16, /*secret=*/true);
    if (!table.ok()) return table.status();
    options.tokens = *std::move(table);
  }
  options.admin_group = config.admin_group;
  // Ports of the TCP listeners narrow the loopback owner lookup; port 0 (chosen at bind) leaves it open.
  for (const auto& address : config.listen) {
    if (address.starts_with("unix:")) continue;
    const auto port = accel::common::ParseInt64(std::string_view(address).substr(address.rfind(':') + 1));
    if (!port || *port == 0) {
      options.tcp_ports.clear();
      break;
    }
    options.tcp_ports.insert(static_cast<int>(*port));
  }
  return std::make_shared<accel::daemon::rpc::Authenticator>(std::move(options));
}

// TLS on TCP listeners once a certificate is configured; client certificates required with an identity map.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TcpServerCredentials(const AcceldConfig& config,
                                                                              const accel::wire::ChannelSecurity& files) {
  if (config.tls_cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(config.identity_map.empty()
                                                ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!config.identity_map.empty()) options.pem_root_certs = files.ca_pem;
  options.pem_key_cert_pairs.push_back({files.key_pem, files.cert_pem});
  return grpc::SslServerCredentials(options);
}

int Fail(const std::string& message) {
  std::cerr << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_logger_mt("acceld"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e acceld %l: %v");
  // Before any thread exists: the workers' supervisors and this thread read signals synchronously.
  if (auto status = accel::agent::BlockSupervisorSignals(); !status.ok()) return Fail(std::string(status.message()));

  const std::vector<std::string> args(argv + 1, argv + argc);
  auto command_line = accel::daemon::ParseAcceldCommandLine(args);
  if (!command_line.ok()) {
    std::cerr << command_line.status().message() << "\n";
    return command_line.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (command_line->help) {
    std::cout << accel::daemon::AcceldUsage();
    return 0;
  }
  if (command_line->version) {
    std::cout << "acceld " << ACCEL_VERSION << "\n";
    return 0;
  }
  const AcceldConfig& config = command_line->config;
  const bool runs_agent = config.role != AcceldRole::kCoordinator;
  const bool runs_coordinator = config.role != AcceldRole::kAgent;

  // Credentials: this daemon's certificate, the cluster CA and its token, for serving and for dialing.
  auto security = accel::wire::LoadChannelSecurity(
      {.ca = config.tls_ca, .cert = config.tls_cert, .key = config.tls_key, .token = config.node_token_file});
  if (!security.ok()) return Fail(accel::common::StrCat("acceld: ", security.status().message()));
  auto authenticator = MakeAuthenticator(config);
  if (!authenticator.ok()) return Fail(accel::common::StrCat("acceld: ", authenticator.status().message()));
  auto tcp_credentials = TcpServerCredentials(config, *security);
  if (!tcp_credentials.ok()) return Fail(accel::common::StrCat("acceld: ", tcp_credentials.status().message()));
  std::optional<gid_t> socket_group;
  if (!config.socket_group.empty()) {
    auto gid = accel::common::LookupGroup(config.socket_group);
    if (!gid.ok()) return Fail(accel::common::StrCat("acceld: socket_group: ", gid.status().message()));
    socket_group = *gid;
  }

  const accel::common::GpuProbeOptions gpu_probe =
      accel::common::GpuProbeOptionsFromEnv(accel::common::Environment::FromProcess());
  // Prometheus /metrics and /healthz (metrics_port); before the node agent, whose workers publish there.
  std::unique_ptr<accel::daemon::DaemonMetrics> metrics;
  if (config.metrics_port != 0) {
    auto started = accel::daemon::DaemonMetrics::Start(
        {.node = config.node_name, .role = runs_agent ? (runs_coordinator ? "both" : "agent") : "coordinator",
         .server = {.address = config.metrics_address, .port = config.metrics_port},
         .retention = config.metrics_retention,
         .nvml_library = gpu_probe.nvml_library});
    if (!started.ok()) return Fail(accel::common::StrCat("acceld: ", started.status().message()));
    metrics = *std::move(started);
  }

  const auto gpus = accel::common::ProbeGpus(gpu_probe);
  const accel::common::NodeInfo node = DescribeNode(config, gpus);
  std::unique_ptr<accel::daemon::NodeAgent> node_agent;
  std::unique_ptr<accel::daemon::AgentServiceImpl> agent_service;
  if (runs_agent) {
    node_agent = std::make_unique<accel::daemon::NodeAgent>(
        accel::daemon::NodeAgentOptions{.node_name = config.node_name, .log_root = config.log_root,
                                        .slurm_integration = config.slurm_integration,
                                        .allocation_file = config.state_dir + "/allocation.json"},
        metrics ? &metrics->workers() : nullptr);
    agent_service = std::make_unique<accel::daemon::AgentServiceImpl>(*node_agent, [node] { return node; }, *authenticator);
  }

  std::unique_ptr<accel::daemon::rpc::CoordinatorServer> coordinator;
  if (runs_coordinator) {
    auto created = accel::daemon::rpc::CoordinatorServer::Create(
        {.state_dir = config.state_dir, .heartbeat_interval = config.heartbeat_interval,
         .heartbeat_timeout = config.heartbeat_timeout, .join_timeout = config.join_timeout,
         .last_call = config.last_call, .agent_client = {.security = *security}, .authenticator = *authenticator});
    if (!created.ok()) return Fail(accel::common::StrCat("acceld: ", created.status().message()));
    coordinator = *std::move(created);
    if (metrics) metrics->AttachCoordinator([&coordinator](const auto& fn) { return coordinator->RunOnLoop(fn); });
  }

  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(accel::wire::kMaxMessageBytes);
  // Unix sockets are accepted here, not by gRPC, to learn each connection's kernel credentials.
  std::vector<std::unique_ptr<accel::daemon::rpc::UnixAcceptor>> unix_acceptors;
  for (const auto& address : config.listen) {
    if (address.starts_with("unix:")) {
      auto acceptor = accel::daemon::rpc::UnixAcceptor::Listen(address.substr(5), socket_group);
      if (!acceptor.ok()) return Fail(accel::common::StrCat("acceld: ", acceptor.status().message()));
      unix_acceptors.push_back(*std::move(acceptor));
    } else {
      builder.AddListeningPort(address, *tcp_credentials);
    }
  }
  if (metrics) builder.experimental().SetInterceptorCreators(metrics->rpc().InterceptorCreators());
  if (agent_service) builder.RegisterService(agent_service.get());
  if (coordinator) builder.RegisterService(coordinator->service());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return Fail(accel::common::StrCat("acceld: cannot listen on ", accel::common::StrJoin(config.listen, ", ")));
  for (auto& acceptor : unix_acceptors) acceptor->Start(server.get(), &(*authenticator)->unix_peers());
  spdlog::info("node {} serving on {}", config.node_name, accel::common::StrJoin(config.listen, ", "));

  std::unique_ptr<accel::daemon::CoordinatorLink> link;
  if (runs_agent) {
    const std::string coordinator_address = config.coordinator.empty() ? config.listen.front() : config.coordinator;
    link = std::make_unique<accel::daemon::CoordinatorLink>(
        coordinator_address, [node] { return node; }, [&node_agent] { return node_agent->RunningGroups(); },
        config.heartbeat_interval, *security);
    link->Start();
  }

  // systemd (Type=notify): ready once serving; then the watchdog pings while the node agent answers
  // (in this order: a ping thread started first could beat READY=1 to the socket).
  accel::daemon::SystemdNotifier systemd;
  systemd.Ready(accel::common::StrCat("serving on ", accel::common::StrJoin(config.listen, ", ")));
  systemd.StartWatchdog([&node_agent] {
    if (node_agent) node_agent->RunningGroups();  // blocks (no ping) if the agent's lock is stuck
    return true;
  });

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&stop_signals, signal);
  int received = 0;
  sigwait(&stop_signals, &received);
  spdlog::info("stopping on signal {}", received);
  systemd.Stopping();
  if (metrics) metrics->StopServing();  // a scrape reaches into the coordinator's loop
  link.reset();
  if (coordinator) coordinator->Shutdown();  // jobs keep running on the agents
  unix_acceptors.clear();  // no new connections
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server.reset();
  coordinator.reset();
  node_agent.reset();  // stops every worker group of this node
  return 0;
}
