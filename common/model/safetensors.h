// Safetensors headers: the tensor table of a checkpoint, read without touching the weights.
//
// A .safetensors file is an 8-byte little-endian length N, N bytes of JSON (the header), then the data
// section. The header maps each tensor name to {dtype, shape, data_offsets}, where data_offsets are
// [begin, end) relative to the data section; the optional "__metadata__" entry (string -> string) is
// skipped. Only those 8 + N bytes are ever read, so a 15 GB shard costs one small read.
//
// Validation follows the reference implementation (huggingface/safetensors, Metadata::validate), so a
// file accepted here is one `safetensors.safe_open` would load too:
//   - N <= 100,000,000 (its MAX_HEADER_SIZE) and 8 + N <= file size;
//   - the header is a JSON object; every tensor entry has a known dtype, a shape of non-negative
//     integers, and two data_offsets with begin <= end;
//   - elements(shape) x dtype bits / 8 == end - begin, computed without overflow (sub-byte dtypes such
//     as F4 must fill whole bytes);
//   - sorted by offset, the tensors tile the data section exactly: no gap, no overlap, and the last
//     one ends where the file ends.
// Any violation is one InvalidArgument line naming the file (for the file readers) and the tensor.
//
// Everything here is pure (bytes in, values out) except the two readers, which only open and read the
// files they are given. Thread-compatible: no shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace accel::common {

/// The reference implementation's cap on the JSON header (100 MB): a larger length is a corrupt file.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

/// Bits per element of a safetensors dtype name ("F32" -> 32, "F4" -> 4), or nullopt when unknown.
std::optional<int> SafetensorsDtypeBits(std::string_view dtype);

struct SafetensorsTensor {
  std::string name;
  std::string dtype;            // as written: "BF16", "F32", ...
  std::vector<uint64_t> shape;  // empty for a scalar (one element)
  uint64_t begin = 0;           // data_offsets, relative to the data section
  uint64_t end = 0;
  uint64_t elements = 0;        // product of shape

  uint64_t bytes() const { return end - begin; }
};

struct SafetensorsHeader {
  uint64_t header_bytes = 0;  // N, the JSON length
  uint64_t data_bytes = 0;    // file size - 8 - N
  std::vector<SafetensorsTensor> tensors;  // ordered by data offset
};

/// Reads N from the first 8 bytes and checks it against the cap and `file_size`.
/// InvalidArgument when fewer than 8 bytes are given or N does not fit.
absl::StatusOr<uint64_t> ParseSafetensorsHeaderLength(std::string_view prefix, uint64_t file_size);

/// Parses and validates the JSON header `json` of a file whose data section has `data_bytes` bytes.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeaderJson(std::string_view json, uint64_t data_bytes);

/// Parses a file held in memory as far as its header: `bytes` must hold at least 8 + N bytes of a file
/// that is `file_size` bytes long in total (`bytes` may stop after the header).
absl::StatusOr<SafetensorsHeader> ParseSafetensorsPrefix(std::string_view bytes, uint64_t file_size);

/// Opens `path` and reads its 8 + N header bytes only. Errors start with the file name. NotFound when
/// the file does not exist (a dangling Hugging Face cache link counts as missing).
absl::StatusOr<SafetensorsHeader> ReadSafetensorsHeader(const std::filesystem::path& path);

/// model.safetensors.index.json: which shard file holds which tensor.
struct SafetensorsIndex {
  std::map<std::string, std::string> weight_map;  // tensor name -> shard file, relative to the index
  std::vector<std::string> shard_files;           // distinct files, in name order
};

/// Parses an index. Shard names must be relative paths that stay inside the index's folder.
absl::StatusOr<SafetensorsIndex> ParseSafetensorsIndex(std::string_view json);

/// Every tensor of a checkpoint, and the files they came from.
struct SafetensorsCheckpoint {
  std::vector<std::filesystem::path> files;
  std::vector<SafetensorsTensor> tensors;  // file by file, each in offset order
  uint64_t total_elements = 0;
  uint64_t header_bytes_read = 0;          // what it cost: 8 + N summed over the files
};

/// Reads one file's header as a checkpoint.
absl::StatusOr<SafetensorsCheckpoint> ReadSafetensorsFile(const std::filesystem::path& path);

/// Reads a sharded checkpoint through its index. Every shard named in weight_map must exist and hold
/// the tensors the index assigns to it; a tensor found in two shards is an error too (both mean a
/// download mixed from two revisions). A tensor in a shard that the index does not list is counted:
/// it is in the file, and loaders read whole shards.
absl::StatusOr<SafetensorsCheckpoint> ReadSafetensorsIndex(const std::filesystem::path& index_path);

}  // namespace accel::common
