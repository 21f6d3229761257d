#include "daemon/rpc/coordinator_server.h"

#include <utility>

#include "absl/synchronization/notification.h"

namespace accel::daemon::rpc {

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Create(const CoordinatorServerOptions& options) {
  CoordinatorOptions coordinator_options;
  coordinator_options.heartbeat_interval = options.heartbeat_interval;
  coordinator_options.heartbeat_timeout = options.heartbeat_timeout;
  coordinator_options.join_timeout = options.join_timeout;
  coordinator_options.last_call = options.last_call;
  coordinator_options.master_port_min = options.master_port_min;
  coordinator_options.master_port_max = options.master_port_max;
  if (auto status = ValidateCoordinatorOptions(coordinator_options); !status.ok()) return status;
  if (options.state_dir.empty()) return absl::InvalidArgumentError("state_dir: empty");

  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  auto loop = common::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  server->loop_ = *std::move(loop);
  auto store = FileJobStore::Create(options.state_dir);
  if (!store.ok()) return store.status();
  server->store_ = *std::move(store);
  server->clock_ = std::make_unique<LoopClock>(*server->loop_);
  server->agents_ = std::make_unique<GrpcAgentClient>(options.agent_client);
  // Built and started here, before the loop thread exists: this thread counts as the loop thread.
  server->coordinator_ = std::make_unique<Coordinator>(*server->loop_, *server->clock_, *server->agents_,
                                                       *server->store_, coordinator_options);
  if (auto status = server->coordinator_->Start(); !status.ok()) return status;
  server->authenticator_ = options.authenticator ? options.authenticator : std::make_shared<const Authenticator>();
  server->service_ =
      std::make_unique<CoordinatorServiceImpl>(*server->loop_, *server->coordinator_, *server->authenticator_);
  server->thread_ = std::thread([loop = server->loop_.get()] { loop->Run(); });
  return server;
}

CoordinatorServer::~CoordinatorServer() {
  Shutdown();
  // The loop has stopped: this thread may touch the coordinator. The agent client waits for its calls
  // in flight, whose callbacks only post to the (still alive) loop.
  coordinator_.reset();
  agents_.reset();
}

grpc::Service* CoordinatorServer::service() { return service_.get(); }

void CoordinatorServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (service_) service_->StopAccepting();
  if (thread_.joinable()) {
    // Everything the service posted before StopAccepting runs first, then the shutdown.
    loop_->Post([this] {
      coordinator_->Shutdown();
      loop_->Stop();
    });
    thread_.join();
  }
}

bool CoordinatorServer::RunOnLoop(const std::function<void(Coordinator&)>& fn) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return false;
  }
  // Shared, so a loop that runs it after we stopped waiting touches nothing on this stack.
  auto done = std::make_shared<absl::Notification>();
  loop_->Post([coordinator = coordinator_.get(), fn, done] {
    fn(*coordinator);
    done->Notify();
  });
  return done->WaitForNotificationWithTimeout(absl::Seconds(30));
}

}  // namespace accel::daemon::rpc
