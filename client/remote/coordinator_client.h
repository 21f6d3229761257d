// CoordinatorClient: accelctl's side of the coordinator service, returning domain types. The only
// client code that sees gRPC or proto.
//
// Thread-compatible, except Cancel(), which any thread may call to end the stream in progress.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/environment.h"
#include "common/types/cluster_types.h"

namespace grpc {
class Channel;
class ClientContext;
template <class R>
class ClientReader;
}  // namespace grpc

namespace accel::client {

class CoordinatorClient {
 public:
  /// Files that secure a TCP connection (see proto/convert/channel_security.h): the cluster CA (TLS
  /// when set), a client certificate and key, a file holding a bearer token.
  struct SecurityFiles {
    std::string tls_ca;
    std::string tls_cert;
    std::string tls_key;
    std::string token_file;
  };
  /// $ACCEL_TLS_CA, $ACCEL_TLS_CERT, $ACCEL_TLS_KEY, $ACCEL_TOKEN_FILE.
  static SecurityFiles SecurityFilesFromEnvironment(const common::Environment& env);

  /// `address`: unix:PATH or HOST:PORT. Connects lazily; calls fail with Unavailable, naming the
  /// address, when nothing answers, and with the load error when a security file is unusable.
  explicit CoordinatorClient(std::string address, const SecurityFiles& security = {});
  ~CoordinatorClient();

  absl::StatusOr<std::vector<common::JobRecord>> ListJobs();
  absl::StatusOr<common::JobRecord> GetJob(const std::string& job_id);
  absl::StatusOr<common::JobRecord> CancelJob(const std::string& job_id);
  absl::StatusOr<std::vector<common::NodeInfo>> ListNodes();

  /// Submits and follows the job until it ends (or Cancel()); every event goes to `on_event`.
  absl::Status SubmitJob(const common::JobSpec& spec, const std::function<void(const common::JobEvent&)>& on_event);
  /// Follows an existing job.
  absl::Status WatchJob(const std::string& job_id, bool logs, int rank,
                        const std::function<void(const common::JobEvent&)>& on_event);
  /// The job's log lines so far, then (with `follow`) new ones until it ends.
  absl::Status StreamLogs(const std::string& job_id, bool follow, int rank,
                          const std::function<void(const common::LogLine&)>& on_line);

  /// Ends the stream in progress (its call returns Cancelled). Thread-safe.
  void Cancel();

 private:
  std::unique_ptr<grpc::ClientContext> NewStreamContext();
  /// Reads a server stream to its end, translating each message, and finishes the call.
  template <typename Message, typename Domain>
  absl::Status Drain(const std::string& what, grpc::ClientContext& context, grpc::ClientReader<Message>& reader,
                     const std::function<void(const Domain&)>& on_item);
  absl::Status Error(const std::string& what, int code, const std::string& message) const;

  const std::string address_;
  absl::Status load_error_;
  std::shared_ptr<grpc::Channel> channel_;
  absl::Mutex mu_;
  grpc::ClientContext* active_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace accel::client
