#include "common/model/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "common/status_macros.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"

namespace accel::common {
namespace {

using Json = nlohmann::json;

// Tensor names come from untrusted files and end up in a one-line error: keep them printable and
// short.
std::string Quoted(std::string_view name) {
  constexpr size_t kMaxShown = 120;
  std::string out = "'";
  for (size_t i = 0; i < name.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (name.size() > kMaxShown) out += "...";
  return out + "'";
}

std::optional<uint64_t> CheckedMul(uint64_t a, uint64_t b) {
  uint64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

absl::StatusOr<uint64_t> UnsignedField(const Json& value, std::string_view tensor, std::string_view what) {
  if (!value.is_number_unsigned()) {
    return absl::InvalidArgumentError(
        StrCat("tensor ", Quoted(tensor), ": ", what, " must be a non-negative integer"));
  }
  return value.get<uint64_t>();
}

absl::StatusOr<SafetensorsTensor> ParseTensorEntry(const std::string& name, const Json& entry) {
  if (!entry.is_object()) {
    return absl::InvalidArgumentError(StrCat("tensor ", Quoted(name), ": entry is not an object"));
  }
  SafetensorsTensor tensor;
  tensor.name = name;

  const auto dtype = entry.find("dtype");
  if (dtype == entry.end() || !dtype->is_string()) {
    return absl::InvalidArgumentError(StrCat("tensor ", Quoted(name), ": missing string field 'dtype'"));
  }
  tensor.dtype = dtype->get<std::string>();
  const std::optional<int> bits = SafetensorsDtypeBits(tensor.dtype);
  if (!bits) {
    return absl::InvalidArgumentError(StrCat("tensor ", Quoted(name), ": unknown dtype ", Quoted(tensor.dtype)));
  }

  const auto shape = entry.find("shape");
  if (shape == entry.end() || !shape->is_array()) {
    return absl::InvalidArgumentError(StrCat("tensor ", Quoted(name), ": missing array field 'shape'"));
  }
  tensor.elements = 1;
  bool overflow = false;
  for (const Json& dim : *shape) {
    ASSIGN_OR_RETURN(const uint64_t size, UnsignedField(dim, name, "every shape entry"));
    tensor.shape.push_back(size);
    // Keep checking after an overflow: a later zero dimension would make the product 0, but the
    // reference implementation rejects the overflow regardless of order; so do we.
    if (auto product = CheckedMul(tensor.elements, size)) {
      tensor.elements = *product;
    } else {
      overflow = true;
    }
  }
  if (overflow) {
    return absl::InvalidArgumentError(StrCat("tensor ", Quoted(name), ": shape element count overflows"));
  }

  const auto offsets = entry.find("data_offsets");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2) {
    return absl::InvalidArgumentError(
        StrCat("tensor ", Quoted(name), ": 'data_offsets' must be an array of two integers"));
  }
  ASSIGN_OR_RETURN(tensor.begin, UnsignedField((*offsets)[0], name, "data_offsets"));
  ASSIGN_OR_RETURN(tensor.end, UnsignedField((*offsets)[1], name, "data_offsets"));
  if (tensor.end < tensor.begin) {
    return absl::InvalidArgumentError(StrCat("tensor ", Quoted(name), ": data_offsets [", tensor.begin, ", ",
                                             tensor.end, "] end before they begin"));
  }

  const std::optional<uint64_t> total_bits = CheckedMul(tensor.elements, static_cast<uint64_t>(*bits));
  if (!total_bits) {
    return absl::InvalidArgumentError(StrCat("tensor ", Quoted(name), ": byte size overflows"));
  }
  if (*total_bits % 8 != 0) {
    return absl::InvalidArgumentError(StrCat("tensor ", Quoted(name), ": ", tensor.elements, " elements of ",
                                             tensor.dtype, " do not fill whole bytes"));
  }
  if (*total_bits / 8 != tensor.bytes()) {
    return absl::InvalidArgumentError(StrCat("tensor ", Quoted(name), ": shape [", StrJoin(tensor.shape, ", "),
                                             "] of ", tensor.dtype, " needs ", *total_bits / 8,
                                             " bytes but data_offsets span ", tensor.bytes()));
  }
  return tensor;
}

std::string ErrnoText(int error) { return std::strerror(error); }

// Reads exactly `size` bytes at `offset`; a short file is an error.
absl::Status ReadExactly(int fd, uint64_t offset, uint64_t size, std::string* out) {
  out->resize(size);
  uint64_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd, out->data() + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(StrCat("read failed: ", ErrnoText(errno)));
    }
    if (got == 0) return absl::InvalidArgumentError("file is shorter than its header says (truncated?)");
    done += static_cast<uint64_t>(got);
  }
  return absl::OkStatus();
}

absl::Status WithFile(const std::filesystem::path& path, const absl::Status& status) {
  return absl::Status(status.code(), StrCat(path.string(), ": ", status.message()));
}

struct OpenFile {
  UniqueFd fd;
  uint64_t size = 0;
};

// Opens a regular file for reading; errors name the path.
absl::StatusOr<OpenFile> OpenRegularFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    if (error == ENOENT) return absl::NotFoundError(StrCat(path.string(), ": no such file"));
    return absl::FailedPreconditionError(StrCat(path.string(), ": cannot open: ", ErrnoText(error)));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(StrCat(path.string(), ": not a regular file"));
  }
  return OpenFile{std::move(fd), static_cast<uint64_t>(info.st_size)};
}

absl::StatusOr<std::string> ReadSmallFile(const std::filesystem::path& path, uint64_t max_bytes) {
  ASSIGN_OR_RETURN(const OpenFile file, OpenRegularFile(path));
  const uint64_t size = file.size;
  if (size > max_bytes) {
    return absl::InvalidArgumentError(StrCat(path.string(), ": ", size, " bytes, more than the ", max_bytes,
                                             "-byte limit for this kind of file"));
  }
  std::string text;
  if (auto status = ReadExactly(file.fd.get(), 0, size, &text); !status.ok()) return WithFile(path, status);
  return text;
}

// A weight_map value must name a file inside the index's folder.
bool IsSafeRelativePath(std::string_view name) {
  if (name.empty() || name.front() == '/') return false;
  for (std::string_view part : StrSplit(name, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return name.find('\0') == std::string_view::npos;
}

}  // namespace

std::optional<int> SafetensorsDtypeBits(std::string_view dtype) {
  // Every dtype the reference implementation defines (safetensors 0.6), with its bit width.
  static constexpr std::pair<std::string_view, int> kDtypes[] = {
      {"BOOL", 8},    {"F4", 4},       {"F6_E2M3", 6},  {"F6_E3M2", 6}, {"U8", 8},   {"I8", 8},
      {"F8_E5M2", 8}, {"F8_E4M3", 8},  {"F8_E8M0", 8},  {"I16", 16},    {"U16", 16}, {"F16", 16},
      {"BF16", 16},   {"I32", 32},     {"U32", 32},     {"F32", 32},    {"C64", 64}, {"F64", 64},
      {"I64", 64},    {"U64", 64},
  };
  for (const auto& [name, bits] : kDtypes) {
    if (name == dtype) return bits;
  }
  return std::nullopt;
}

absl::StatusOr<uint64_t> ParseSafetensorsHeaderLength(std::string_view prefix, uint64_t file_size) {
  if (prefix.size() < 8 || file_size < 8) {
    return absl::InvalidArgumentError(
        StrCat("file is ", file_size, " bytes, too short for the 8-byte safetensors header length"));
  }
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(prefix[static_cast<size_t>(i)]);
  if (length > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(StrCat("header length ", length, " is over the ", kMaxSafetensorsHeaderBytes,
                                             "-byte limit (not a safetensors file, or corrupt)"));
  }
  if (length > file_size - 8) {
    return absl::InvalidArgumentError(StrCat("header length ", length, " is larger than the file (", file_size,
                                             " bytes; truncated download?)"));
  }
  return length;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeaderJson(std::string_view json, uint64_t data_bytes) {
  const Json root = Json::parse(json.begin(), json.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError("header is not valid JSON");
  if (!root.is_object()) return absl::InvalidArgumentError("header is not a JSON object");

  SafetensorsHeader header;
  header.header_bytes = json.size();
  header.data_bytes = data_bytes;
  header.tensors.reserve(root.size());
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") continue;
    ASSIGN_OR_RETURN(SafetensorsTensor tensor, ParseTensorEntry(name, entry));
    header.tensors.push_back(std::move(tensor));
  }
  std::sort(header.tensors.begin(), header.tensors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t expected = 0;
  const SafetensorsTensor* previous = nullptr;
  for (const SafetensorsTensor& tensor : header.tensors) {
    if (tensor.begin < expected) {
      return absl::InvalidArgumentError(StrCat("tensor ", Quoted(tensor.name), " (bytes ", tensor.begin, "..",
                                               tensor.end, ") overlaps tensor ", Quoted(previous->name),
                                               " (bytes ", previous->begin, "..", previous->end, ")"));
    }
    if (tensor.begin > expected) {
      return absl::InvalidArgumentError(StrCat("tensor ", Quoted(tensor.name), " starts at byte ", tensor.begin,
                                               " but the data before it ends at ", expected,
                                               " (safetensors data must be contiguous)"));
    }
    if (tensor.end > data_bytes) {
      return absl::InvalidArgumentError(StrCat("tensor ", Quoted(tensor.name), " ends at byte ", tensor.end,
                                               ", beyond the ", data_bytes, "-byte data section (truncated file?)"));
    }
    expected = tensor.end;
    previous = &tensor;
  }
  if (expected != data_bytes) {
    return absl::InvalidArgumentError(StrCat("tensors cover ", expected, " bytes of data but the file holds ",
                                             data_bytes, " (trailing or missing data)"));
  }
  return header;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsPrefix(std::string_view bytes, uint64_t file_size) {
  ASSIGN_OR_RETURN(const uint64_t length, ParseSafetensorsHeaderLength(bytes, file_size));
  if (bytes.size() - 8 < length) {
    return absl::InvalidArgumentError(StrCat("only ", bytes.size(), " bytes given of a ", length, "-byte header"));
  }
  return ParseSafetensorsHeaderJson(bytes.substr(8, length), file_size - 8 - length);
}

absl::StatusOr<SafetensorsHeader> ReadSafetensorsHeader(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(const OpenFile file, OpenRegularFile(path));
  const uint64_t file_size = file.size;
  const int fd = file.fd.get();
  std::string prefix;
  if (file_size < 8) {
    return WithFile(path, ParseSafetensorsHeaderLength(prefix, file_size).status());
  }
  if (auto status = ReadExactly(fd, 0, 8, &prefix); !status.ok()) return WithFile(path, status);
  auto length = ParseSafetensorsHeaderLength(prefix, file_size);
  if (!length.ok()) return WithFile(path, length.status());
  std::string json;
  if (auto status = ReadExactly(fd, 8, *length, &json); !status.ok()) return WithFile(path, status);
  auto header = ParseSafetensorsHeaderJson(json, file_size - 8 - *length);
  if (!header.ok()) return WithFile(path, header.status());
  return header;
}

absl::StatusOr<SafetensorsIndex> ParseSafetensorsIndex(std::string_view json) {
  const Json root = Json::parse(json.begin(), json.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError("index is not valid JSON");
  if (!root.is_object()) return absl::InvalidArgumentError("index is not a JSON object");
  const auto weight_map = root.find("weight_map");
  if (weight_map == root.end() || !weight_map->is_object()) {
    return absl::InvalidArgumentError("index has no 'weight_map' object");
  }
  SafetensorsIndex index;
  std::set<std::string> files;
  for (const auto& [tensor, file] : weight_map->items()) {
    if (!file.is_string()) {
      return absl::InvalidArgumentError(StrCat("weight_map entry ", Quoted(tensor), " is not a file name"));
    }
    const std::string& name = file.get_ref<const std::string&>();
    if (!IsSafeRelativePath(name)) {
      return absl::InvalidArgumentError(
          StrCat("weight_map entry ", Quoted(tensor), " names ", Quoted(name), ", not a file inside the model folder"));
    }
    index.weight_map.emplace(tensor, name);
    files.insert(name);
  }
  if (index.weight_map.empty()) return absl::InvalidArgumentError("index 'weight_map' is empty");
  index.shard_files.assign(files.begin(), files.end());
  return index;
}

absl::StatusOr<SafetensorsCheckpoint> ReadSafetensorsFile(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(SafetensorsHeader header, ReadSafetensorsHeader(path));
  SafetensorsCheckpoint checkpoint;
  checkpoint.files.push_back(path);
  checkpoint.header_bytes_read = 8 + header.header_bytes;
  for (const SafetensorsTensor& tensor : header.tensors) checkpoint.total_elements += tensor.elements;
  checkpoint.tensors = std::move(header.tensors);
  return checkpoint;
}

absl::StatusOr<SafetensorsCheckpoint> ReadSafetensorsIndex(const std::filesystem::path& index_path) {
  // The index of a 400B-parameter model is a few hundred KB; the cap only stops nonsense.
  ASSIGN_OR_RETURN(const std::string text, ReadSmallFile(index_path, kMaxSafetensorsHeaderBytes));
  auto index = ParseSafetensorsIndex(text);
  if (!index.ok()) return WithFile(index_path, index.status());

  const std::filesystem::path folder = index_path.parent_path();
  SafetensorsCheckpoint checkpoint;
  std::map<std::string, std::string> found_in;  // tensor -> shard that holds it
  for (const std::string& shard : index->shard_files) {
    const std::filesystem::path path = folder / shard;
    auto header = ReadSafetensorsHeader(path);
    if (!header.ok()) {
      if (absl::IsNotFound(header.status())) {
        return absl::NotFoundError(StrCat(index_path.string(), ": shard ", shard, " is missing (", path.string(),
                                          "); the download is incomplete"));
      }
      return header.status();
    }
    checkpoint.files.push_back(path);
    checkpoint.header_bytes_read += 8 + header->header_bytes;
    for (SafetensorsTensor& tensor : header->tensors) {
      auto [it, inserted] = found_in.emplace(tensor.name, shard);
      if (!inserted) {
        return absl::InvalidArgumentError(StrCat("tensor ", Quoted(tensor.name), " is in both ", it->second,
                                                 " and ", shard, " (shards from different revisions?)"));
      }
      checkpoint.total_elements += tensor.elements;
      checkpoint.tensors.push_back(std::move(tensor));
    }
  }
  for (const auto& [tensor, shard] : index->weight_map) {
    auto it = found_in.find(tensor);
    if (it == found_in.end() || it->second != shard) {
      return absl::InvalidArgumentError(StrCat(index_path.string(), ": the index puts tensor ", Quoted(tensor), " in ",
                                               shard, ", which does not hold it (shards from different revisions?)"));
    }
  }
  return checkpoint;
}

}  // namespace accel::common
