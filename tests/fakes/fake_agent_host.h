// FakeAgentHost: light in-process agents behind a real gRPC AgentService, for integration tests and
// the coordinator benchmark. One host is one grpc::Server that serves any number of virtual agents,
// each on its own loopback port (so the coordinator opens one channel and one connection per agent,
// as with real agents); calls are routed by the "accel-node" metadata the coordinator sends.
//
// A virtual agent runs no processes. StartGroup records the attempt and, following the host's
// Behavior, emits on the job's watch streams: kStarted, some kLog lines (rank = base_rank + local
// rank), then kSucceeded / kFailed, or nothing more (it "runs" until StopGroup, Finish or Kill).
// WatchGroup sends its initial metadata at once and replays the group's current state first, as the
// coordinator expects from real agents (daemon/coordinator/agent_client.h).
//
// The host also plays the agents' coordinator side: Register() and a heartbeat thread (re-registering
// with running_groups when the coordinator answers known=false).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/types/cluster_types.h"

namespace grpc {
class Server;
}

namespace accel::testing {

class FakeAgentService;

class FakeAgentHost {
 public:
  /// What a virtual agent does with one attempt.
  struct Behavior {
    enum class Outcome { kRun, kSucceed, kFail };
    Outcome outcome = Outcome::kSucceed;
    int local_world_size = 1;
    int log_lines = 0;                            // per local rank, after kStarted
    int exit_code = 1;                            // kFail: of local rank 0
    absl::Status start_error = absl::OkStatus();  // StartGroup answers with it instead
  };
  using Policy = std::function<Behavior(const std::string& node, const common::Assignment& assignment)>;

  struct StartRecord {
    std::string node;
    common::Assignment assignment;
    common::JobSpec spec;
    std::chrono::steady_clock::time_point received;
  };

  /// Starts a server for `nodes` (one loopback port each). The server's callbacks run on gRPC threads.
  static std::unique_ptr<FakeAgentHost> Start(const std::vector<std::string>& nodes);
  ~FakeAgentHost();

  void SetPolicy(Policy policy);
  std::string AddressOf(const std::string& node) const;
  const std::vector<std::string>& nodes() const { return nodes_; }

  /// Registers every node with the coordinator at `coordinator_address` (blocking, in parallel).
  absl::Status RegisterAll(const std::string& coordinator_address);
  /// Heartbeats every node every `interval` from a thread until StopHeartbeats() / Kill().
  void StartHeartbeats(absl::Duration interval);
  void StopHeartbeats();

  /// Ends `job_id`'s running attempt on `node` (every node when empty) as succeeded or failed.
  void Finish(const std::string& job_id, bool succeed, int exit_code = 1, const std::string& node = "");
  /// Like a SIGKILLed agent: heartbeats stop, the server shuts down now (streams break).
  void Kill();

  std::vector<StartRecord> Starts() const;
  /// StopGroup calls received: node -> job ids.
  std::vector<std::pair<std::string, std::string>> Stops() const;
  /// Number of StartGroup calls received so far (cheap; for polling).
  int start_count() const { return start_count_.load(); }
  /// Blocks until `count` StartGroup calls arrived or `timeout` passed.
  bool WaitForStarts(int count, std::chrono::milliseconds timeout) const;

 private:
  friend class FakeAgentService;
  FakeAgentHost() = default;
  void HeartbeatLoop(absl::Duration interval);

  std::vector<std::string> nodes_;
  std::map<std::string, int> ports_;
  std::string coordinator_address_;
  std::unique_ptr<FakeAgentService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<int> start_count_{0};
  std::thread heartbeat_thread_;
  mutable absl::Mutex mu_;
  bool heartbeats_stop_ ABSL_GUARDED_BY(mu_) = false;
  bool killed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace accel::testing
