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
#include "daemon/node/node_agent.h"
#include "daemon/rpc/agent_service.h"
#include "daemon/rpc/coordinator_link.h"
#include "daemon/rpc/coordinator_server.h"
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

// A unix socket's folder must exist and a stale socket file from a previous run must go.
bool PrepareUnixSocket(const std::string& address) {
  if (!address.starts_with("unix:")) return true;
  const std::filesystem::path path = address.substr(5);
  std::error_code error;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), error);
  if (std::filesystem::is_socket(path, error)) std::filesystem::remove(path, error);
  return !std::filesystem::exists(path, error);
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

  const auto gpus = accel::common::ProbeGpus(accel::common::GpuProbeOptionsFromEnv(accel::common::Environment::FromProcess()));
  const accel::common::NodeInfo node = DescribeNode(config, gpus);
  std::unique_ptr<accel::daemon::NodeAgent> node_agent;
  std::unique_ptr<accel::daemon::AgentServiceImpl> agent_service;
  if (runs_agent) {
    node_agent = std::make_unique<accel::daemon::NodeAgent>(
        accel::daemon::NodeAgentOptions{.node_name = config.node_name, .log_root = config.log_root});
    agent_service = std::make_unique<accel::daemon::AgentServiceImpl>(*node_agent, [node] { return node; });
  }

  std::unique_ptr<accel::daemon::rpc::CoordinatorServer> coordinator;
  if (runs_coordinator) {
    auto created = accel::daemon::rpc::CoordinatorServer::Create(
        {.state_dir = config.state_dir, .heartbeat_interval = config.heartbeat_interval,
         .heartbeat_timeout = config.heartbeat_timeout, .join_timeout = config.join_timeout,
         .last_call = config.last_call});
    if (!created.ok()) return Fail(accel::common::StrCat("acceld: ", created.status().message()));
    coordinator = *std::move(created);
  }

  grpc::ServerBuilder builder;
  for (const auto& address : config.listen) {
    if (!PrepareUnixSocket(address)) return Fail(accel::common::StrCat("acceld: cannot use ", address, ": a file is in the way"));
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  }
  if (agent_service) builder.RegisterService(agent_service.get());
  if (coordinator) builder.RegisterService(coordinator->service());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return Fail(accel::common::StrCat("acceld: cannot listen on ", accel::common::StrJoin(config.listen, ", ")));
  for (const auto& address : config.listen) {
    if (address.starts_with("unix:")) ::chmod(address.substr(5).c_str(), 0660);
  }
  spdlog::info("node {} serving on {}", config.node_name, accel::common::StrJoin(config.listen, ", "));

  std::unique_ptr<accel::daemon::CoordinatorLink> link;
  if (runs_agent) {
    const std::string coordinator_address = config.coordinator.empty() ? config.listen.front() : config.coordinator;
    link = std::make_unique<accel::daemon::CoordinatorLink>(
        coordinator_address, [node] { return node; }, [&node_agent] { return node_agent->RunningGroups(); },
        config.heartbeat_interval);
    link->Start();
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&stop_signals, signal);
  int received = 0;
  sigwait(&stop_signals, &received);
  spdlog::info("stopping on signal {}", received);
  link.reset();
  if (coordinator) coordinator->Shutdown();  // jobs keep running on the agents
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server.reset();
  coordinator.reset();
  node_agent.reset();  // stops every worker group of this node
  return 0;
}
