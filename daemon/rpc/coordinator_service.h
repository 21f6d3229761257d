// CoordinatorServiceImpl: the CoordinatorService gRPC surface (proto/accel/v1/coordinator.proto) over
// a daemon::Coordinator. Handlers only translate: FromProto (bad input: INVALID_ARGUMENT, nothing
// posted), post the domain call to the coordinator's loop, and finish the RPC from its result. Streams
// (SubmitJob, WatchJob, StreamLogs) are fed through a per-call queue (stream_writer.h); a client that
// goes away unsubscribes. Handlers never block and keep no state of their own.
//
// Threading: gRPC calls the handlers on its threads; the coordinator is touched only on its loop.
// Lifetime: the coordinator and the loop must outlive every call this service accepted. StopAccepting()
// makes every later call fail with UNAVAILABLE without touching the loop, so the owner can stop the
// loop afterwards (see CoordinatorServer::Shutdown).
#pragma once

#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "accel/v1/coordinator.grpc.pb.h"
#include "common/event_loop.h"
#include "daemon/coordinator/coordinator.h"
#include "daemon/rpc/authenticator.h"

namespace accel::daemon::rpc {

class CoordinatorServiceImpl final : public v1::CoordinatorService::CallbackService {
 public:
  /// Every call is authenticated by `authenticator` (which must outlive the service) before anything
  /// else; RegisterAgent and Heartbeat need a daemon caller, job calls act for the caller.
  CoordinatorServiceImpl(common::EventLoop& loop, Coordinator& coordinator, const Authenticator& authenticator);

  /// From now on every call fails with UNAVAILABLE. Thread-safe; calls already posted still run.
  void StopAccepting();

  grpc::ServerUnaryReactor* RegisterAgent(grpc::CallbackServerContext* context, const v1::RegisterAgentRequest* request,
                                          v1::RegisterAgentResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context, const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) override;
  grpc::ServerWriteReactor<v1::JobEvent>* SubmitJob(grpc::CallbackServerContext* context,
                                                    const v1::SubmitJobRequest* request) override;
  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(grpc::CallbackServerContext* context,
                                                   const v1::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context, const v1::GetJobRequest* request,
                                   v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context, const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context, const v1::CancelJobRequest* request,
                                      v1::CancelJobResponse* response) override;
  grpc::ServerWriteReactor<v1::LogLine>* StreamLogs(grpc::CallbackServerContext* context,
                                                    const v1::StreamLogsRequest* request) override;
  grpc::ServerUnaryReactor* ListNodes(grpc::CallbackServerContext* context, const v1::ListNodesRequest* request,
                                      v1::ListNodesResponse* response) override;

 private:
  // Posts `fn` to the loop unless StopAccepting() was called; false then.
  bool Post(std::function<void()> fn);
  // OK for a cluster daemon; UNAUTHENTICATED / PERMISSION_DENIED otherwise.
  grpc::Status RequireDaemon(const grpc::CallbackServerContext& context) const;

  common::EventLoop& loop_;
  Coordinator& coordinator_;
  const Authenticator& authenticator_;
  absl::Mutex mu_;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
};

/// The host of a gRPC peer string ("ipv4:10.0.0.5:41234" -> "10.0.0.5", "ipv6:[::1]:5" -> "::1");
/// empty for local sockets and anything unrecognised.
std::string PeerHost(const std::string& peer);

}  // namespace accel::daemon::rpc
