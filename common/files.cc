#include "common/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/strings.h"
#include "common/unique_fd.h"

namespace accel::common {

absl::Status ErrnoError(std::string_view what, const std::filesystem::path& path, int err) {
  return absl::InternalError(StrCat(what, " ", path.string(), ": ", std::strerror(err)));
}

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(StrCat(path.string(), ": ", std::strerror(err)));
    return ErrnoError("open", path, err);
  }
  std::string text;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n == 0) return text;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path, errno);
    }
    text.append(buffer, static_cast<size_t>(n));
  }
}

absl::Status WriteAll(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view text, int mode) {
  const std::filesystem::path directory = path.has_parent_path() ? path.parent_path() : ".";
  const std::filesystem::path temporary =
      directory / StrCat(".", path.filename().string(), ".tmp.", ::getpid());
  {
    UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) return ErrnoError("open", temporary, errno);
    absl::Status written = WriteAll(fd.get(), text, temporary);
    if (written.ok() && ::fdatasync(fd.get()) != 0) written = ErrnoError("fdatasync", temporary, errno);
    if (!written.ok()) {
      ::unlink(temporary.c_str());
      return written;
    }
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temporary.c_str());
    return ErrnoError("rename", path, err);
  }
  UniqueFd directory_fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!directory_fd) return ErrnoError("open", directory, errno);
  if (::fsync(directory_fd.get()) != 0) return ErrnoError("fsync", directory, errno);
  return absl::OkStatus();
}

}  // namespace accel::common
