#include "common/host/runtime_probe.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

#include "common/strings.h"

namespace accel::common {
namespace {

// The identity of an ELF object that matters for loading it: 32/64-bit, byte order, machine.
struct ElfIdentity {
  unsigned char elf_class = 0;
  unsigned char data = 0;
  uint16_t machine = 0;

  bool operator==(const ElfIdentity&) const = default;
};

std::optional<ElfIdentity> ReadElfIdentity(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<unsigned char, 20> header{};
  if (!in.read(reinterpret_cast<char*>(header.data()), header.size())) return std::nullopt;
  if (std::memcmp(header.data(), ELFMAG, SELFMAG) != 0) return std::nullopt;
  ElfIdentity identity{.elf_class = header[EI_CLASS], .data = header[EI_DATA]};
  // e_machine sits at offset 18 in both ELF32 and ELF64 headers, in the file's byte order.
  identity.machine = identity.data == ELFDATA2MSB ? static_cast<uint16_t>(header[18] << 8 | header[19])
                                                  : static_cast<uint16_t>(header[19] << 8 | header[18]);
  return identity;
}

bool IsRegularFile(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error);  // follows symlinks, as the loader does
}

// Entries of /etc/ld.so.cache named `soname`, in cache order. Only the "glibc-ld.so.cache1.1" format
// that glibc has written by default since 2.32 is read; anything else (an old-format file, a short or
// corrupt one) yields nothing and the search goes on to the default directories, which is what the
// loader would then do too.
std::vector<std::filesystem::path> LdCacheEntries(const std::filesystem::path& cache_path, std::string_view soname) {
  std::vector<std::filesystem::path> found;
  // The cache is a few hundred KiB at most; refuse anything absurd rather than read it whole.
  constexpr uintmax_t kMaxCacheBytes = 64u << 20;
  std::error_code error;
  const uintmax_t size = std::filesystem::file_size(cache_path, error);
  if (error || size > kMaxCacheBytes) return found;
  std::ifstream in(cache_path, std::ios::binary);
  if (!in) return found;
  const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};

  constexpr std::string_view kMagic = "glibc-ld.so.cache1.1";
  constexpr size_t kHeaderSize = 48;  // magic+version (20), nlibs, len_strings, flags+pad, ext, unused[3]
  constexpr size_t kEntrySize = 24;   // int32 flags, uint32 key, uint32 value, uint32 osversion, uint64 hwcap
  if (data.size() < kHeaderSize || std::string_view(data).substr(0, kMagic.size()) != kMagic) return found;
  auto read_u32 = [&](size_t offset) {
    uint32_t value = 0;
    std::memcpy(&value, data.data() + offset, sizeof(value));  // the cache is in host byte order
    return value;
  };
  const uint64_t nlibs = read_u32(20);
  if (nlibs > (data.size() - kHeaderSize) / kEntrySize) return found;
  // String offsets are relative to the start of this header; each string runs to a NUL in the file.
  auto string_at = [&](uint32_t offset) -> std::optional<std::string_view> {
    if (offset >= data.size()) return std::nullopt;
    const size_t end = data.find('\0', offset);
    if (end == std::string::npos) return std::nullopt;
    return std::string_view(data).substr(offset, end - offset);
  };
  for (uint64_t i = 0; i < nlibs; ++i) {
    const size_t entry = kHeaderSize + i * kEntrySize;
    const auto key = string_at(read_u32(entry + 4));
    if (!key || *key != soname) continue;
    if (const auto value = string_at(read_u32(entry + 8)); value && !value->empty()) found.emplace_back(*value);
  }
  return found;
}

// The version string that ships next to a libtorch_cpu.so, if any: the C++ distribution has
// `<root>/build-version` with `<root>/lib/libtorch_cpu.so`; the Python wheel has `torch/version.py`
// with `torch/lib/libtorch_cpu.so`.
std::string LibtorchVersionNextTo(const std::filesystem::path& library) {
  std::error_code error;
  std::filesystem::path real = std::filesystem::canonical(library, error);
  if (error) real = library;
  const std::filesystem::path root = real.parent_path().parent_path();
  if (std::ifstream in(root / "build-version"); in) {
    std::string line;
    std::getline(in, line);
    if (auto version = StripWhitespace(line); !version.empty()) return std::string(version);
  }
  if (std::ifstream in(root / "version.py"); in) {
    std::string line;
    while (std::getline(in, line)) {
      std::string_view text = StripWhitespace(line);
      if (!text.starts_with("__version__")) continue;
      const size_t open = text.find_first_of("'\"");
      if (open == std::string_view::npos) break;
      const size_t close = text.find(text[open], open + 1);
      if (close == std::string_view::npos) break;
      return std::string(text.substr(open + 1, close - open - 1));
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<DynamicLibrary> DynamicLibrary::Open(const std::string& name) {
  // dlerror() state is per thread, so reading it right after the failing call is safe.
  void* handle = ::dlopen(name.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = ::dlerror();
    return absl::NotFoundError(StrCat("cannot load ", name, ": ", error != nullptr ? error : "unknown error"));
  }
  return DynamicLibrary(handle);
}

DynamicLibrary::~DynamicLibrary() {
  if (handle_ != nullptr) ::dlclose(handle_);
}

DynamicLibrary& DynamicLibrary::operator=(DynamicLibrary&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) ::dlclose(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

void* DynamicLibrary::RawSymbol(const char* name) const {
  if (handle_ == nullptr) return nullptr;
  return ::dlsym(handle_, name);
}

std::string DynamicLibrary::LoadedPath() const {
  if (handle_ == nullptr) return "";
  link_map* map = nullptr;
  if (::dlinfo(handle_, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr || map->l_name == nullptr) return "";
  return map->l_name;
}

absl::StatusOr<RuntimeComponent> ProbeCudaDriver(const std::string& library) {
  auto cuda = DynamicLibrary::Open(library);
  if (!cuda.ok()) return cuda.status();
  // CUresult cuDriverGetVersion(int*): answers without cuInit, so no device is opened.
  auto* get_version = cuda->Symbol<int(int*)>("cuDriverGetVersion");
  if (get_version == nullptr) return absl::UnavailableError(StrCat(library, " has no cuDriverGetVersion"));
  int version = 0;
  if (const int result = get_version(&version); result != 0 || version <= 0) {
    return absl::UnavailableError(StrCat("cuDriverGetVersion failed (CUresult ", result, ")"));
  }
  return RuntimeComponent{.version = FormatCudaVersion(version), .path = cuda->LoadedPath()};
}

absl::StatusOr<RuntimeComponent> ProbeNccl(const std::string& library) {
  auto nccl = DynamicLibrary::Open(library);
  if (!nccl.ok()) return nccl.status();
  // ncclResult_t ncclGetVersion(int*): a constant, no communicator or device involved.
  auto* get_version = nccl->Symbol<int(int*)>("ncclGetVersion");
  if (get_version == nullptr) return absl::UnavailableError(StrCat(library, " has no ncclGetVersion"));
  int version = 0;
  if (const int result = get_version(&version); result != 0 || version <= 0) {
    return absl::UnavailableError(StrCat("ncclGetVersion failed (ncclResult ", result, ")"));
  }
  return RuntimeComponent{.version = FormatNcclVersion(version), .path = nccl->LoadedPath()};
}

std::vector<std::filesystem::path> DefaultLibraryDirs() {
  std::vector<std::filesystem::path> dirs;
#if defined(__x86_64__)
  dirs = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"};
#elif defined(__aarch64__)
  dirs = {"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"};
#endif
  for (const char* dir : {"/lib64", "/usr/lib64", "/lib", "/usr/lib"}) dirs.emplace_back(dir);
  return dirs;
}

absl::StatusOr<std::filesystem::path> FindSharedLibrary(std::string_view soname,
                                                        const LibrarySearchOptions& options) {
  // A file built for another architecture (a 32-bit copy on LD_LIBRARY_PATH, say) is skipped by the
  // loader with "wrong ELF class", so it is skipped here too.
  const std::optional<ElfIdentity> self = ReadElfIdentity("/proc/self/exe");
  auto loadable = [&](const std::filesystem::path& path) {
    if (!IsRegularFile(path)) return false;
    const auto identity = ReadElfIdentity(path);
    return identity.has_value() && (!self.has_value() || *identity == *self);
  };
  for (std::string_view dir : StrSplit(options.ld_library_path, ':')) {
    if (dir.empty()) continue;  // the loader reads an empty entry as ".", which nobody means
    const std::filesystem::path candidate = std::filesystem::path(dir) / soname;
    if (loadable(candidate)) return candidate;
  }
  if (!options.ld_so_cache.empty()) {
    for (const auto& candidate : LdCacheEntries(options.ld_so_cache, soname)) {
      if (loadable(candidate)) return candidate;
    }
  }
  for (const auto& dir : options.default_dirs) {
    const std::filesystem::path candidate = dir / soname;
    if (loadable(candidate)) return candidate;
  }
  return absl::NotFoundError(StrCat(soname, " not found on LD_LIBRARY_PATH, in ", options.ld_so_cache.string(),
                                    " or in the default library directories"));
}

absl::StatusOr<RuntimeComponent> FindLibtorch(const Environment& env) {
  LibrarySearchOptions options;
  options.ld_library_path = env.Get("LD_LIBRARY_PATH").value_or("");
  auto path = FindSharedLibrary("libtorch_cpu.so", options);
  if (!path.ok()) return path.status();
  return RuntimeComponent{.version = LibtorchVersionNextTo(*path), .path = *path};
}

std::string FormatCudaVersion(int version) {
  return StrCat(version / 1000, ".", (version % 1000) / 10);
}

std::string FormatNcclVersion(int version) {
  if (version >= 10000) return StrCat(version / 10000, ".", (version % 10000) / 100, ".", version % 100);
  return StrCat(version / 1000, ".", (version % 1000) / 100, ".", version % 100);
}

}  // namespace accel::common
