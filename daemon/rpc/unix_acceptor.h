// UnixAcceptor: acceld's unix-socket listener. gRPC 1.51 serves unix sockets without telling the
// handler who connected, so acceld accepts them itself: for each connection it reads the kernel's
// SO_PEERCRED (uid, gid, pid of the connecting process), records it in the Authenticator's
// PeerRegistry under the descriptor, and hands the descriptor to the running grpc::Server
// (grpc::AddInsecureChannelFromFd; its calls then show the peer "fd:N").
//
// The socket file gets mode 0660 and, when given, the group `group`, so only its owner (root or
// acceld's user) and that group's members can connect at all.
//
// Owns one thread from Start() until destruction; the server must outlive it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "daemon/rpc/authenticator.h"
#include "grpcpp/grpcpp.h"

namespace accel::daemon::rpc {

class UnixAcceptor {
 public:
  /// Binds and listens on `path` (a stale socket file is replaced; its folder is created), mode 0660,
  /// group `group` when set. FailedPrecondition / Internal naming the path otherwise.
  static absl::StatusOr<std::unique_ptr<UnixAcceptor>> Listen(const std::string& path, std::optional<gid_t> group);
  ~UnixAcceptor();
  UnixAcceptor(const UnixAcceptor&) = delete;
  UnixAcceptor& operator=(const UnixAcceptor&) = delete;

  /// Starts accepting: every connection is recorded in `peers` and served by `server`.
  void Start(grpc::Server* server, PeerRegistry* peers);

 private:
  UnixAcceptor(std::string path, int fd, int wake_fd) : path_(std::move(path)), fd_(fd), wake_fd_(wake_fd) {}
  void Loop(grpc::Server* server, PeerRegistry* peers);

  const std::string path_;
  const int fd_;
  const int wake_fd_;  // eventfd that ends Loop()
  std::thread thread_;
};

}  // namespace accel::daemon::rpc
