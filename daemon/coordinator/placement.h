// Pure helpers of placement: where a job's master runs and on which port, how job ids look.
// No state beyond MasterPortAllocator's cursor; loop thread only like the coordinator that owns them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace accel::daemon {

/// An agent address split into its parts: "unix:/p", "unix:///p" and "unix-abstract:n" are local
/// sockets; "dns:///h:p", "ipv4:h:p", "ipv6:[h]:p", "h:p", "[h]:p" and "h" are network addresses.
struct ParsedAddress {
  bool local_socket = false;
  std::string host;  // without brackets; empty for local sockets
  std::string port;  // may be empty
};
ParsedAddress ParseAgentAddress(const std::string& address);

/// True for hosts that mean "every interface" (0.0.0.0, ::, empty): not reachable from elsewhere.
bool IsUnspecifiedHost(const std::string& host);

/// The address to dial for an agent that registered `address` from `observed_host` (the gRPC peer's
/// host): `address` itself unless its host is unspecified (an agent listening on 0.0.0.0), in which
/// case the observed host takes its place.
std::string DialableAddress(const std::string& address, const std::string& observed_host);

/// MASTER_ADDR for a job whose machine rank 0 is the agent at `address`: its host, "127.0.0.1" for a
/// local socket (every node of such a job is this machine) or when the host is unspecified.
std::string MasterAddrFor(const std::string& address);

/// Hands out master ports from [min, max], round robin so consecutive attempts on the same node get
/// different ports (a port of the previous attempt may still be in TIME_WAIT).
class MasterPortAllocator {
 public:
  MasterPortAllocator(int min_port, int max_port, int start_offset = 0);
  /// The next port in the range for which `in_use(port)` is false; ResourceExhausted when none is.
  absl::StatusOr<int> Next(const std::function<bool(int port)>& in_use);

 private:
  const int min_;
  const int max_;
  int cursor_;
};

/// `j-<unix seconds, base 36>-<counter, base 36, at least 3 digits>`: short, sorts by submission time
/// (fixed-width seconds until 2059), unique as long as the caller checks against known ids.
std::string MakeJobId(absl::Time now, uint64_t counter);

}  // namespace accel::daemon
