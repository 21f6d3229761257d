#include "daemon/rpc/unix_acceptor.h"

#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/strings.h"
#include "spdlog/spdlog.h"

namespace accel::daemon::rpc {

absl::StatusOr<std::unique_ptr<UnixAcceptor>> UnixAcceptor::Listen(const std::string& path, std::optional<gid_t> group) {
  sockaddr_un address{};
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(common::StrCat("unix:", path, ": path empty or too long"));
  }
  std::error_code error;
  const std::filesystem::path file(path);
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), error);
  if (std::filesystem::is_socket(file, error)) std::filesystem::remove(file, error);
  if (std::filesystem::exists(file, error)) {
    return absl::FailedPreconditionError(common::StrCat("cannot use unix:", path, ": a file is in the way"));
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(common::StrCat("socket: ", std::strerror(errno)));
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size());
  // Nobody may connect before the mode and group are right: bind with a umask that leaves the file
  // owner-only, then widen it to 0660.
  const mode_t old_umask = ::umask(0177);
  const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  ::umask(old_umask);
  if (bound != 0 || ::listen(fd, 128) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::FailedPreconditionError(common::StrCat("cannot listen on unix:", path, ": ", std::strerror(err)));
  }
  if (group && ::chown(path.c_str(), static_cast<uid_t>(-1), *group) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::FailedPreconditionError(common::StrCat("cannot give unix:", path, " its group: ", std::strerror(err)));
  }
  ::chmod(path.c_str(), 0660);
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    ::close(fd);
    return absl::InternalError(common::StrCat("eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<UnixAcceptor>(new UnixAcceptor(path, fd, wake));
}

UnixAcceptor::~UnixAcceptor() {
  const uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof(one)) < 0) {
    // Nothing to do: the thread also ends when the listening socket closes below.
  }
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
  ::close(wake_fd_);
  std::error_code error;
  std::filesystem::remove(path_, error);
}

void UnixAcceptor::Start(grpc::Server* server, PeerRegistry* peers) {
  thread_ = std::thread([this, server, peers] { Loop(server, peers); });
}

void UnixAcceptor::Loop(grpc::Server* server, PeerRegistry* peers) {
  while (true) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("unix:{}: poll: {}", path_, std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    const int connection = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (connection < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        spdlog::warn("unix:{}: accept: {}", path_, std::strerror(errno));
        ::usleep(10000);  // EMFILE and friends: do not spin
      }
      continue;
    }
    ucred credentials{};
    socklen_t length = sizeof(credentials);
    if (::getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
      ::close(connection);
      continue;
    }
    peers->Record(connection, credentials);
    grpc::AddInsecureChannelFromFd(server, connection);  // gRPC owns the descriptor from here
  }
}

}  // namespace accel::daemon::rpc
