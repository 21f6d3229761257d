// Authenticator: the daemon's single authentication point (slurmd's model). Every handler of
// AgentService and CoordinatorService calls Authenticate() first and gets a domain Caller, or refuses
// the call with UNAUTHENTICATED; no request field ever names the caller.
//
// How a call is identified, by transport:
//   * unix socket (accepted by UnixAcceptor, gRPC peer "fd:N"): the kernel's SO_PEERCRED uid/gid of
//     the connecting process, recorded when the connection was accepted;
//   * TLS (any TCP listener once tls_cert is configured): a bearer token ("authorization: Bearer T")
//     looked up in the token table, else the verified client certificate's subject CN looked up in
//     the identity map; neither: refused;
//   * plaintext TCP (loopback only; acceld refuses to listen elsewhere without TLS): the uid that owns
//     the peer's socket, from the kernel's socket table (common/security/socket_owner.h).
// The mapped user must be a local account (or "@node": another acceld of the cluster). A caller is a
// daemon when it is root or acceld's own uid on a local transport, or maps to "@node"; an admin when
// it is root or a member of the admin group.
//
// Thread-safe: Authenticate() may run on any gRPC thread. The PeerRegistry is written by the
// UnixAcceptor thread.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/security/accounts.h"
#include "common/security/caller.h"
#include "grpcpp/grpcpp.h"

namespace accel::daemon::rpc {

/// The kernel credentials of unix-socket connections, by the descriptor gRPC serves them on.
/// A descriptor number is reused only after gRPC closed the connection, and a call keeps its
/// connection open, so the entry a live call finds is its own connection's.
class PeerRegistry {
 public:
  void Record(int fd, const ucred& credentials);
  std::optional<ucred> Find(int fd) const;

 private:
  mutable absl::Mutex mu_;
  std::map<int, ucred> peers_ ABSL_GUARDED_BY(mu_);
};

struct AuthenticatorOptions {
  common::IdentityTable certificate_identities;  // client certificate CN -> user or @node
  common::IdentityTable tokens;                  // bearer token -> user or @node
  std::string admin_group;                       // members see and cancel every job ("" : root only)
  std::set<int> tcp_ports;                       // this daemon's TCP ports (narrows the socket-table lookup)
  std::string proc_net = "/proc/net";
};

class Authenticator {
 public:
  explicit Authenticator(AuthenticatorOptions options = {});

  /// The caller of a call in progress. UNAUTHENTICATED (with the reason) when it cannot be identified.
  absl::StatusOr<common::Caller> Authenticate(const grpc::ServerContextBase& context) const;

  /// Where UnixAcceptor records the peers of the connections it accepts.
  PeerRegistry& unix_peers() { return peers_; }

  /// Replaces the TCP ports once the server has bound them (before it serves).
  void SetTcpPorts(std::set<int> ports) { options_.tcp_ports = std::move(ports); }

 private:
  absl::StatusOr<common::Caller> FromUid(uid_t uid, gid_t gid, bool local, std::string via) const;
  absl::StatusOr<common::Caller> FromUser(const std::string& user, std::string via) const;
  bool IsAdmin(const common::Account& account) const;

  AuthenticatorOptions options_;
  std::optional<gid_t> admin_gid_;
  PeerRegistry peers_;
};

/// grpc::Status for a refused Authenticate() / an authorisation failure.
grpc::Status AuthError(const absl::Status& status);

}  // namespace accel::daemon::rpc
