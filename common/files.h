// Reading small files whole, and writing them so that a crash never leaves a torn one: the daemon's
// job records and allocation, the client's config files.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace accel::common {

/// The whole content of `path`; NotFound or Internal naming the path and the system's reason.
absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path);

/// InternalError "<what> <path>: <strerror(err)>".
absl::Status ErrnoError(std::string_view what, const std::filesystem::path& path, int err);

/// Writes all of `data` to `fd`, retrying short writes and EINTR; `path` names the file in errors.
absl::Status WriteAll(int fd, std::string_view data, const std::filesystem::path& path);

/// Replaces `path` with `text` so that a crash leaves the old content or the new, never a mix: a
/// temporary file beside it (".<name>.tmp.<pid>", removed on failure), flushed to disk, renamed over
/// `path`, then the directory flushed so the rename itself survives. The directory must exist.
/// A reader that finds ".<name>.tmp.*" files may delete them: they are writes that never finished.
absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view text, int mode = 0644);

}  // namespace accel::common
