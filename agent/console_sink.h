// ConsoleSink: where console-bound worker output goes (the launcher's terminal, or later a log stream).
#pragma once

#include <string_view>

namespace accel::agent {

enum class StdStream { kStdout, kStderr };

/// Receives console text of captured worker streams.
///
/// Thread: called only on the supervisor's loop thread. Calls may block (a slow terminal slows the
/// workers through their pipes, which is the intended back-pressure).
class ConsoleSink {
 public:
  virtual ~ConsoleSink() = default;
  /// `text` is one or more whole lines (each ending in '\n'), already prefixed, from `local_rank`'s
  /// `stream`; in passthrough mode (one worker, no prefix) it is raw bytes and may end mid-line.
  virtual void Write(int local_rank, StdStream stream, std::string_view text) = 0;
};

/// Writes to two file descriptors (default: the launcher's own 1 and 2), each Write() in a single
/// write() call where the kernel allows, so lines never interleave with other writers of the same fd.
/// Write errors (a closed terminal, EPIPE) drop the text: losing console output must not stop training.
class FdConsoleSink final : public ConsoleSink {
 public:
  explicit FdConsoleSink(int stdout_fd = 1, int stderr_fd = 2) : stdout_fd_(stdout_fd), stderr_fd_(stderr_fd) {}
  void Write(int local_rank, StdStream stream, std::string_view text) override;

 private:
  const int stdout_fd_;
  const int stderr_fd_;
};

/// Writes everything, retrying on EINTR, short writes and EAGAIN (waiting for POLLOUT). Returns false
/// on any other error. Blocking; any thread.
bool WriteFully(int fd, std::string_view data);

}  // namespace accel::agent
