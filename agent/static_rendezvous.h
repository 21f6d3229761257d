// Static rendezvous for `accelctl launch` on several machines, and the channel that keeps them in
// step afterwards.
//
// Machine rank 0 runs a RendezvousServer; every machine (rank 0 included, over loopback) runs a
// RendezvousClient. Before each attempt all machines report "ready"; when all num_machines are ready
// the server assigns contiguous blocks of global ranks in machine-rank order (torchrun's layout) and
// tells everyone to start. Afterwards the connections stay open, which is what torchrun lacks: when
// a machine's workers fail, the server pushes "restart" (or "abort" when no restarts remain) to all
// machines at once, and a machine whose launcher dies closes its connection, so the others learn of
// it immediately instead of from a collective timeout.
//
// Wire format: one JSON object per line ({"type": "...", ...}), at most 64 KiB per line. The server
// treats every byte as untrusted: malformed input closes that connection, nothing else.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/launch_runner.h"
#include "common/unique_fd.h"

namespace accel::agent {

/// Runs on its own thread from Start() until destruction. Thread-safe.
class RendezvousServer {
 public:
  /// Listens on `bind_address:port` (0.0.0.0 for all interfaces) for `num_machines` machines; a failed
  /// attempt below `max_restarts` restarts everyone, a later one aborts.
  static absl::StatusOr<std::unique_ptr<RendezvousServer>> Start(const std::string& bind_address, int port,
                                                                 int num_machines, int max_restarts);
  ~RendezvousServer();
  RendezvousServer(const RendezvousServer&) = delete;
  RendezvousServer& operator=(const RendezvousServer&) = delete;

  int port() const { return port_; }

 private:
  class State;
  RendezvousServer(common::UniqueFd listener, common::UniqueFd wakeup, int port, std::unique_ptr<State> state);
  void Serve();

  common::UniqueFd listener_;
  common::UniqueFd wakeup_;  // eventfd: wakes Serve() for shutdown
  const int port_;
  std::unique_ptr<State> state_;
  std::thread thread_;
};

/// What the server assigned to this machine for one attempt.
struct RendezvousRound {
  int attempt = 0;
  GroupLayout layout;
};

struct RendezvousClientOptions {
  std::string server_host;
  int server_port = 0;
  int machine_rank = 0;
  int num_machines = 1;
  int local_world_size = 1;
  std::string node_name;
  std::string run_id = "none";
};

/// One machine's side. Join/WaitForFinish block the calling thread; events pushed by the server are
/// delivered on the client's reader thread through the callbacks. Thread-safe.
class RendezvousClient {
 public:
  struct Callbacks {
    /// Another machine failed: stop the local group; attempt `next_attempt` follows.
    std::function<void(int next_attempt, const std::string& reason)> on_restart;
    /// The job is over: a machine failed with no restarts left, or a machine was lost.
    std::function<void(const std::string& reason, int exit_code)> on_abort;
  };

  /// Connects (retrying until `deadline`: machine 0 may start later than the others) and says hello.
  /// `cancelled` is polled while waiting; true gives up with Cancelled.
  static absl::StatusOr<std::unique_ptr<RendezvousClient>> Connect(const RendezvousClientOptions& options,
                                                                   Callbacks callbacks, absl::Time deadline,
                                                                   const std::function<bool()>& cancelled);
  ~RendezvousClient();
  RendezvousClient(const RendezvousClient&) = delete;
  RendezvousClient& operator=(const RendezvousClient&) = delete;

  /// Reports ready for `attempt` and waits until every machine is. DeadlineExceeded names the
  /// machine ranks that never joined; Aborted when the job was aborted meanwhile.
  absl::StatusOr<RendezvousRound> Join(int attempt, absl::Time deadline, const std::function<bool()>& cancelled);
  /// This machine's group failed in `attempt` (root-cause description and exit code).
  void ReportFailure(int attempt, const std::string& description, int exit_code);
  /// This machine's group succeeded in `attempt`.
  void ReportSuccess(int attempt);
  /// Exit barrier after success: OK once every machine succeeded; Aborted if one failed instead.
  absl::Status WaitForFinish(absl::Time deadline, const std::function<bool()>& cancelled);

 private:
  RendezvousClient(common::UniqueFd socket, RendezvousClientOptions options, Callbacks callbacks);
  void ReadLoop();
  void Send(const std::string& line);

  const RendezvousClientOptions options_;
  const Callbacks callbacks_;
  common::UniqueFd socket_;
  absl::Mutex send_mu_;
  absl::Mutex mu_;
  absl::CondVar changed_;  // signalled whenever the reader changes the state below
  std::optional<RendezvousRound> started_ ABSL_GUARDED_BY(mu_);
  std::vector<int> joined_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<std::string> aborted_ ABSL_GUARDED_BY(mu_);
  std::thread reader_;
};

}  // namespace accel::agent
