// libFuzzer target for the safetensors header parser (common/model/safetensors.h).
//
// Each input is tried three ways: as the start of a whole file (8-byte length + JSON + data, with the
// input's length as the file size), as a bare JSON header (so mutations need not keep the length
// prefix in step), and as a model.safetensors.index.json. Besides "no crash, no sanitizer report", the
// target checks what the parser promises about what it accepts, and traps when a promise is broken:
// accepted tensors tile the data section exactly, sizes agree with shape x dtype, and errors are one
// non-empty line.
//
// Built as a fuzzer only with clang (tests/fuzz/CMakeLists.txt); the same function is linked into
// safetensors_fuzz_replay_test, which replays the seed corpus and mutations of it under any compiler.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/model/param_count.h"
#include "common/model/safetensors.h"

namespace {

using accel::common::SafetensorsHeader;

void Require(bool condition) {
  if (!condition) __builtin_trap();
}

void CheckError(const absl::Status& status) {
  Require(!status.ok());
  Require(!status.message().empty());
  Require(status.message().find('\n') == absl::string_view::npos);
}

void CheckHeader(const absl::StatusOr<SafetensorsHeader>& header) {
  if (!header.ok()) {
    CheckError(header.status());
    return;
  }
  uint64_t offset = 0;
  std::vector<accel::common::NamedTensorSize> sizes;
  for (const accel::common::SafetensorsTensor& tensor : header->tensors) {
    Require(tensor.begin == offset);
    Require(tensor.end >= tensor.begin);
    const std::optional<int> bits = accel::common::SafetensorsDtypeBits(tensor.dtype);
    Require(bits.has_value());
    uint64_t elements = 1;
    for (uint64_t dim : tensor.shape) elements *= dim;  // cannot overflow: the parser checked
    Require(elements == tensor.elements);
    Require(tensor.bytes() * 8 == elements * static_cast<uint64_t>(*bits));
    offset = tensor.end;
    sizes.push_back({tensor.name, tensor.elements});
  }
  Require(offset == header->data_bytes);
  // The layer grouping runs on the same untrusted names.
  auto summary = accel::common::SummarizeParameters(sizes);
  if (summary.ok()) {
    Require(summary->largest_layer_elements <= summary->total_elements);
    Require(summary->tensor_count == sizes.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckHeader(accel::common::ParseSafetensorsPrefix(bytes, size));
  // The bare header, against a few data-section sizes, including the input's own length.
  for (uint64_t data_bytes : {uint64_t{0}, uint64_t{size}, uint64_t{1} << 20}) {
    CheckHeader(accel::common::ParseSafetensorsHeaderJson(bytes, data_bytes));
  }
  auto index = accel::common::ParseSafetensorsIndex(bytes);
  if (index.ok()) {
    Require(!index->weight_map.empty());
    Require(!index->shard_files.empty() && index->shard_files.size() <= index->weight_map.size());
  } else {
    CheckError(index.status());
  }
  return 0;
}
