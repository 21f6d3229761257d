// NodeAgentClient: accelctl's side of the local acceld's AgentService, for the batch-system hooks
// (`accelctl allocation`, run by the SLURM Prolog/Epilog). Returns domain types; with
// coordinator_client.* the only client code that sees gRPC or proto.
//
// Thread-compatible.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/types/allocation.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace accel::client {

class NodeAgentClient {
 public:
  /// `address`: unix:PATH or HOST:PORT of the node's acceld. Calls fail with Unavailable, naming the
  /// address, when nothing answers within `timeout`.
  explicit NodeAgentClient(std::string address, absl::Duration timeout = absl::Seconds(10));
  ~NodeAgentClient();

  /// The node's current allocation (nullopt: none).
  absl::StatusOr<std::optional<common::Allocation>> GetAllocation();
  absl::Status SetAllocation(const common::Allocation& allocation);
  absl::StatusOr<common::AllocationEnd> EndAllocation(const std::string& job_id, int grace_seconds);

  const std::string& address() const { return address_; }

 private:
  absl::Status Error(int code, const std::string& message) const;

  const std::string address_;
  const absl::Duration timeout_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace accel::client
