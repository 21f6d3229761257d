// UniqueFd: sole owner of one file descriptor, closed when the owner goes away.
//
// Not thread-safe (like std::unique_ptr): one thread owns a UniqueFd at a time. Move-only.
#pragma once

#include <unistd.h>

#include <utility>

namespace accel::common {

class UniqueFd {
 public:
  UniqueFd() = default;
  /// Takes ownership of `fd`; a negative value means "no descriptor".
  explicit UniqueFd(int fd) : fd_(fd < 0 ? -1 : fd) {}
  ~UniqueFd() { Reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  /// Gives up ownership without closing; returns the descriptor (-1 if none).
  int Release() { return std::exchange(fd_, -1); }

  /// Closes the owned descriptor (if any) and takes `fd` instead.
  void Reset(int fd = -1) {
    const int old = std::exchange(fd_, fd < 0 ? -1 : fd);
    // Not retried on EINTR: on Linux the descriptor is released even then, and a retry could close a
    // descriptor that another thread has just been handed.
    if (old >= 0) ::close(old);
  }

 private:
  int fd_ = -1;
};

}  // namespace accel::common
