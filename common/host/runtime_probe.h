// Which native GPU runtime pieces this machine can load: the CUDA driver, NCCL and libtorch.
//
// Everything here is found at run time, never linked: accelctl must start on machines without CUDA.
// Small libraries whose version can only be had by calling them (libcuda, libnccl) are dlopen'ed and
// asked; libtorch is only located, the way the dynamic loader would, because loading it would run the
// static initialisers of a half-gigabyte library (hundreds of milliseconds, and an abort on a broken
// install) just to print one line of `accelctl env`.
//
// Nothing here keeps state between calls; every function may be called from any thread.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/environment.h"

namespace accel::common {

/// A shared library opened with dlopen(RTLD_LAZY | RTLD_LOCAL), closed when this object goes away.
///
/// Move-only, like UniqueFd. Symbols looked up through it are valid only while it lives.
class DynamicLibrary {
 public:
  /// `name` is a bare soname ("libnccl.so.2", searched as dlopen searches) or a path. NotFound carries
  /// dlerror()'s text.
  static absl::StatusOr<DynamicLibrary> Open(const std::string& name);

  DynamicLibrary() = default;
  ~DynamicLibrary();
  DynamicLibrary(DynamicLibrary&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  DynamicLibrary& operator=(DynamicLibrary&& other) noexcept;
  DynamicLibrary(const DynamicLibrary&) = delete;
  DynamicLibrary& operator=(const DynamicLibrary&) = delete;

  /// The function `name` as a `Fn*` (e.g. `Symbol<int(int*)>("cuDriverGetVersion")`), or nullptr.
  template <typename Fn>
  Fn* Symbol(const char* name) const {
    // POSIX guarantees that a data pointer from dlsym converts to a function pointer.
    return reinterpret_cast<Fn*>(RawSymbol(name));
  }

  /// The file the loader actually opened (dlinfo RTLD_DI_LINKMAP); empty if unknown.
  std::string LoadedPath() const;

 private:
  explicit DynamicLibrary(void* handle) : handle_(handle) {}
  void* RawSymbol(const char* name) const;

  void* handle_ = nullptr;
};

/// A runtime component that was found: its version ("12.4", "2.28.3", "2.5.1+cu124"; empty when the
/// component does not say) and the file it lives in.
struct RuntimeComponent {
  std::string version;
  std::filesystem::path path;
};

/// The CUDA driver API version, from cuDriverGetVersion in `library` (no cuInit, so no GPU is
/// touched). NotFound when the library cannot be loaded, Unavailable when it does not answer.
absl::StatusOr<RuntimeComponent> ProbeCudaDriver(const std::string& library = "libcuda.so.1");

/// NCCL's version, from ncclGetVersion in `library`. NotFound / Unavailable as above.
absl::StatusOr<RuntimeComponent> ProbeNccl(const std::string& library = "libnccl.so.2");

/// Where the dynamic loader would find libtorch_cpu.so for a program started with `env`:
/// LD_LIBRARY_PATH, then /etc/ld.so.cache, then the default directories; only files built for this
/// machine's architecture count. The version comes from the file that ships next to it (libtorch's
/// `build-version`, or the Python package's `version.py`), when there is one. Never loads the library.
/// NotFound naming the places searched.
absl::StatusOr<RuntimeComponent> FindLibtorch(const Environment& env);

// Lower-level pieces, exposed for tests.

/// The directories the loader searches last: the multiarch ones, then /lib64, /usr/lib64, /lib, /usr/lib.
std::vector<std::filesystem::path> DefaultLibraryDirs();

struct LibrarySearchOptions {
  std::string ld_library_path;                             // colon list, as the variable
  std::filesystem::path ld_so_cache = "/etc/ld.so.cache";  // empty: skip the cache
  std::vector<std::filesystem::path> default_dirs = DefaultLibraryDirs();
};
/// The first file named `soname` in the places `options` lists, that is an ELF object of this
/// process's class and machine. NotFound naming what was searched.
absl::StatusOr<std::filesystem::path> FindSharedLibrary(std::string_view soname,
                                                        const LibrarySearchOptions& options);

/// 12040 -> "12.4" (cuDriverGetVersion's encoding: 1000 * major + 10 * minor).
std::string FormatCudaVersion(int version);
/// 22803 -> "2.28.3", 2708 -> "2.7.8" (NCCL_VERSION_CODE: major * 10000 + minor * 100 + patch since
/// 2.9, major * 1000 + minor * 100 + patch before).
std::string FormatNcclVersion(int version);

}  // namespace accel::common
