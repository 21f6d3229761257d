// AcceldConfig: acceld's settings from /etc/accel/acceld.yaml, every key also a flag
// (`--heartbeat_interval 2` = `heartbeat_interval: 2`), parsed once into an immutable value.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace accel::daemon {

enum class AcceldRole {
  kAgent,        // runs workers; registers with `coordinator`
  kCoordinator,  // only the coordinator (can restart without touching any worker)
  kBoth,         // the rank-0 node's default: agent and coordinator in one process
};

struct AcceldConfig {
  AcceldRole role = AcceldRole::kAgent;
  std::string node_name;                      // default: the host name
  std::vector<std::string> listen = {"unix:/run/accel/acceld.sock"};  // gRPC addresses: unix:PATH or HOST:PORT
  std::string advertise_address;              // what the coordinator dials to reach this agent (default: the first TCP listen address, else the first)
  std::string coordinator;                    // the coordinator's address (agents); default for role both: this process
  std::string log_root = "/var/log/accel";    // workers' logs: <log_root>/<job>/attempt_<n>/<local_rank>/
  std::string state_dir = "/var/lib/accel";   // the coordinator's job records; the node's allocation.json
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration heartbeat_timeout = absl::Seconds(5);
  absl::Duration join_timeout = absl::Seconds(600);  // coordinator: a job waits this long for MIN nodes
  absl::Duration last_call = absl::Seconds(30);      // coordinator: then this long for more, up to MAX
  int metrics_port = 0;                       // 0: no /metrics endpoint
  std::string metrics_address = "127.0.0.1";  // interface of /metrics and /healthz
  absl::Duration metrics_retention = absl::Seconds(300);  // finished jobs' series stay this long

  // Control-plane security (docs/security.md). TCP listeners use TLS once tls_cert/tls_key are set.
  // identity_map (lines "CN USER") makes them require client certificates signed by tls_ca (the
  // cluster CA) and maps the certificate's subject CN to a local user (or @node, another acceld);
  // token_file maps bearer tokens the same way. Outgoing calls (agent <-> coordinator) verify servers
  // against tls_ca and present tls_cert/tls_key and the token in node_token_file.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  std::string identity_map;
  std::string token_file;
  std::string node_token_file;
  std::string admin_group;   // members see and cancel every job (root always does)
  std::string socket_group;  // group of the unix sockets (mode 0660); empty: acceld's own group
  bool slurm_integration = false;  // a node runs only jobs of its current SLURM allocation's owner
};

/// `acceld` arguments (without argv[0]): `--config FILE` loads YAML first, flags then override.
/// InvalidArgument names the flag or key and the value; `help` is set for -h/--help, `version` for
/// --version.
struct AcceldCommandLine {
  AcceldConfig config;
  bool help = false;
  bool version = false;
};
absl::StatusOr<AcceldCommandLine> ParseAcceldCommandLine(std::span<const std::string> args);

std::string AcceldUsage();

/// Refuses a listen address that is neither a unix socket nor loopback TCP unless TLS is configured
/// (tls_cert and tls_key) together with a way to authenticate clients (tls_ca for client
/// certificates, or token_file for bearer tokens): FailedPrecondition with a one-line reason.
absl::Status ValidateListenAddresses(const AcceldConfig& config);

/// True for a TCP listen address on 127.0.0.0/8, localhost or [::1].
bool IsLoopbackListenAddress(std::string_view address);

}  // namespace accel::daemon
