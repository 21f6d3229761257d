// Builds safetensors files for tests and benchmarks: a real header (8-byte length + JSON, padded to 8
// bytes with spaces as the reference writer does) followed by zero bytes. On disk the data section is
// made with resize_file, so even a "7B" checkpoint is a sparse file of a few KB.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace accel::testing {

struct FakeTensor {
  std::string name;
  std::string dtype = "F32";
  std::vector<uint64_t> shape;
};

inline uint64_t FakeTensorBytes(const FakeTensor& tensor) {
  uint64_t elements = 1;
  for (uint64_t dim : tensor.shape) elements *= dim;
  uint64_t bits = 32;
  if (tensor.dtype == "F64" || tensor.dtype == "I64" || tensor.dtype == "U64" || tensor.dtype == "C64") bits = 64;
  if (tensor.dtype == "F16" || tensor.dtype == "BF16" || tensor.dtype == "I16" || tensor.dtype == "U16") bits = 16;
  if (tensor.dtype == "I8" || tensor.dtype == "U8" || tensor.dtype == "BOOL" || tensor.dtype.starts_with("F8")) bits = 8;
  if (tensor.dtype == "F4") bits = 4;
  return elements * bits / 8;
}

/// The JSON header with tensors laid out contiguously in the given order; `data_bytes` gets the total.
inline std::string FakeSafetensorsHeader(const std::vector<FakeTensor>& tensors, uint64_t* data_bytes,
                                         bool with_metadata = true) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (with_metadata) header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const FakeTensor& tensor : tensors) {
    const uint64_t bytes = FakeTensorBytes(tensor);
    header[tensor.name] = {{"dtype", tensor.dtype}, {"shape", tensor.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  *data_bytes = offset;
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  return json;
}

/// 8-byte little-endian length + `json`.
inline std::string SafetensorsPrefix(const std::string& json) {
  std::string out;
  uint64_t length = json.size();
  for (int i = 0; i < 8; ++i) out += static_cast<char>((length >> (8 * i)) & 0xff);
  return out + json;
}

/// A whole file in memory (zero data); for small tensors only.
inline std::string FakeSafetensorsBytes(const std::vector<FakeTensor>& tensors) {
  uint64_t data_bytes = 0;
  const std::string json = FakeSafetensorsHeader(tensors, &data_bytes);
  std::string out = SafetensorsPrefix(json);
  out.append(data_bytes, '\0');
  return out;
}

/// Writes `prefix` and extends the file (sparsely) to `total_size` bytes.
inline void WriteSparseFile(const std::filesystem::path& path, const std::string& prefix, uint64_t total_size) {
  std::filesystem::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  }
  std::filesystem::resize_file(path, total_size);
}

/// Writes a safetensors file for `tensors`; returns the file size.
inline uint64_t WriteFakeSafetensors(const std::filesystem::path& path, const std::vector<FakeTensor>& tensors) {
  uint64_t data_bytes = 0;
  const std::string prefix = SafetensorsPrefix(FakeSafetensorsHeader(tensors, &data_bytes));
  WriteSparseFile(path, prefix, prefix.size() + data_bytes);
  return prefix.size() + data_bytes;
}

/// Writes shards plus model.safetensors.index.json into `folder`; shard i is named like HF's
/// "model-0000{i+1}-of-0000{n}.safetensors".
inline void WriteFakeShardedCheckpoint(const std::filesystem::path& folder,
                                       const std::vector<std::vector<FakeTensor>>& shards) {
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  uint64_t total = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    WriteFakeSafetensors(folder / name, shards[i]);
    for (const FakeTensor& tensor : shards[i]) {
      weight_map[tensor.name] = name;
      total += FakeTensorBytes(tensor);
    }
  }
  nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  std::ofstream(folder / "model.safetensors.index.json") << index.dump(2);
}

}  // namespace accel::testing
