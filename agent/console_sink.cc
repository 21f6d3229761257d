#include "agent/console_sink.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace accel::agent {

bool WriteFully(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Someone made our stdout non-blocking (shared open file description); wait instead of spinning.
      pollfd pfd{fd, POLLOUT, 0};
      ::poll(&pfd, 1, -1);
      continue;
    }
    return false;
  }
  return true;
}

void FdConsoleSink::Write(int /*local_rank*/, StdStream stream, std::string_view text) {
  WriteFully(stream == StdStream::kStdout ? stdout_fd_ : stderr_fd_, text);
}

}  // namespace accel::agent
