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
