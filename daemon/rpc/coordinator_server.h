// CoordinatorServer: the coordinator as acceld hosts it. Owns its event loop thread, the Coordinator,
// the FileJobStore in the state directory, the GrpcAgentClient and the CoordinatorService
// implementation; acceld registers service() on its own grpc::ServerBuilder (next to AgentService).
//
//   auto coordinator = CoordinatorServer::Create({.state_dir = "/var/lib/accel/coordinator"});
//   if (!coordinator.ok()) ...;
//   builder.RegisterService((*coordinator)->service());
//   auto server = builder.BuildAndStart();
//   ...
//   (*coordinator)->Shutdown();  // first: ends its streams at once and stops judging heartbeats
//   server->Shutdown();
//   server.reset();              // the grpc::Server goes before the CoordinatorServer
//   coordinator->reset();
//
// Order matters: grpc::Server::Shutdown first would wait for the open job streams while refusing the
// agents' heartbeats, and a coordinator still running would count every node as lost meanwhile.
//
// Thread-safe: Create, service and Shutdown may be called from any thread. Destruction shuts down.
#pragma once

#include <filesystem>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/event_loop.h"
#include "daemon/coordinator/clock.h"
#include "daemon/coordinator/coordinator.h"
#include "daemon/coordinator/file_job_store.h"
#include "daemon/rpc/authenticator.h"
#include "daemon/rpc/coordinator_service.h"
#include "daemon/rpc/grpc_agent_client.h"
#include "grpcpp/grpcpp.h"

namespace accel::daemon::rpc {

struct CoordinatorServerOptions {
  std::filesystem::path state_dir;  // jobs/ and logs/ go here
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration heartbeat_timeout = absl::Seconds(5);
  absl::Duration join_timeout = absl::Seconds(600);
  absl::Duration last_call = absl::Seconds(30);
  int master_port_min = 29500;
  int master_port_max = 29999;
  GrpcAgentClientOptions agent_client;
  // Authenticates every call of the service; null: a default one (kernel identities only: unix
  // sockets through UnixAcceptor and loopback TCP).
  std::shared_ptr<const Authenticator> authenticator;
};

class CoordinatorServer {
 public:
  /// Validates the options, opens the state directory, loads the stored jobs and starts the loop
  /// thread. InvalidArgument for bad options; FailedPrecondition / Internal when the state directory
  /// cannot be used.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Create(const CoordinatorServerOptions& options);
  ~CoordinatorServer();
  CoordinatorServer(const CoordinatorServer&) = delete;
  CoordinatorServer& operator=(const CoordinatorServer&) = delete;

  /// The CoordinatorService implementation, for grpc::ServerBuilder::RegisterService. Valid until
  /// destruction; the grpc::Server that uses it must be destroyed first.
  grpc::Service* service();

  /// Refuses new calls (UNAVAILABLE), ends every open stream with UNAVAILABLE, stops watching agents
  /// and stops the loop thread. Jobs keep running on the agents; the next coordinator on the same
  /// state directory re-attaches to them. Idempotent.
  void Shutdown();

  /// Runs `fn` on the loop thread with the coordinator and waits for it (tests, benchmarks, metrics).
  /// Returns false when the loop no longer runs.
  bool RunOnLoop(const std::function<void(Coordinator&)>& fn);

 private:
  CoordinatorServer() = default;

  std::unique_ptr<common::EventLoop> loop_;
  std::unique_ptr<LoopClock> clock_;
  std::unique_ptr<FileJobStore> store_;
  std::unique_ptr<GrpcAgentClient> agents_;
  std::unique_ptr<Coordinator> coordinator_;
  std::shared_ptr<const Authenticator> authenticator_;
  std::unique_ptr<CoordinatorServiceImpl> service_;
  std::thread thread_;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace accel::daemon::rpc
