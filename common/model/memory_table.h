// Memory estimates from a parameter count, and the tables that show them.
//
// The first part reproduces `accelerate estimate-memory` exactly (accelerate/commands/estimate.py):
//   - sizes start from float32 (the model is built in float32): total T = 4 x parameters, largest
//     layer L = 4 x its parameters; float16 / int8 / int4 divide both by 2 / 4 / 8;
//   - "Training using Adam" is max(model, gradients, optimizer, step) of estimate_training_usage:
//     4T for float32, 2T for float16, N/A for int8 and int4;
//   - convert_bytes: divide by 1024 while >= 1024 over bytes/KB/MB/GB/TB, then PB, and print Python's
//     repr(round(x, 2)); a Python int below 1024 prints as an int ("512 bytes") while the divided sizes,
//     Python floats, keep their ".0" ("64.0 bytes");
//   - create_ascii_table: box drawing, every cell centred with CPython str.center, and its widening
//     rule for a long title (see RenderAsciiTable).
//
// The second part goes beyond accelerate: the per-GPU share of weights, gradients and Adam states when
// training is sharded over N processes, with the ZeRO paper's accounting (Rajbhandari et al., 2020):
//   - float32 training: weights 4P, gradients 4P, Adam states 8P (momentum + variance), P parameters;
//   - float16 / bf16 mixed precision: weights 2P, gradients 2P, Adam states 12P (fp32 master weights
//     4P + momentum 4P + variance 4P);
//   - ZeRO-1 divides the Adam states by N, ZeRO-2 also the gradients, ZeRO-3 (and FSDP FULL_SHARD)
//     also the weights; FSDP SHARD_GRAD_OP is ZeRO-2; DDP divides nothing. Each share is rounded up
//     to a whole byte. Activations, buffers and communication scratch space come on top.
//
// Pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace accel::common {

/// A byte count as accelerate's Python holds it: an int, or a float once divided with `/=`.
struct PyBytes {
  double value = 0;
  bool is_int = true;
};

/// 124439808 -> "124,439,808".
std::string FormatThousands(uint64_t value);

/// CPython's repr(round(x, 2)): correctly rounded to 2 decimals, then the shortest repr ("1.6", "2.0").
std::string PyRoundTwoRepr(double x);

/// accelerate's convert_bytes: "89.42 MB", "1.6 GB", "512 bytes", "64.0 bytes".
std::string ConvertBytes(PyBytes bytes);

/// CPython str.center(width) with spaces; widths count code points of UTF-8 text.
std::string CenterText(std::string_view text, size_t width);

/// accelerate's create_ascii_table, byte for byte (no trailing newline). Column width = the longest of
/// header and cells. If the title is longer than the sum of the widths, d = |len(title) - (sum +
/// columns + 1)| and the last column grows by 2d (accelerate's quirk, kept so outputs compare equal).
/// Every row of `rows` has headers.size() cells.
std::string RenderAsciiTable(std::span<const std::string> headers, std::span<const std::vector<std::string>> rows,
                             std::string_view title);

enum class EstimateDtype { kFloat32, kFloat16, kInt8, kInt4 };

/// "float32", "float16", "int8", "int4", in accelerate's default order.
inline constexpr std::string_view kEstimateDtypeNames[] = {"float32", "float16", "int8", "int4"};

std::optional<EstimateDtype> ParseEstimateDtype(std::string_view name);
std::string_view ToString(EstimateDtype dtype);

struct DtypeMemory {
  EstimateDtype dtype = EstimateDtype::kFloat32;
  PyBytes largest_layer;
  PyBytes total;
  std::optional<uint64_t> training_adam;  // nullopt: accelerate's "N/A"
};

/// One row of accelerate's table from the float32 sizes (4 x elements).
DtypeMemory EstimateDtypeMemory(EstimateDtype dtype, uint64_t total_fp32_bytes, uint64_t largest_layer_fp32_bytes);

/// accelerate's table: title "Memory Usage for loading `<model>`", columns dtype / Largest Layer /
/// Total Size / Training using Adam.
std::string RenderMemoryTable(std::string_view model, std::span<const DtypeMemory> rows);

enum class ShardingStage {
  kNone = 0,        // DDP / FSDP NO_SHARD: every process holds everything
  kOptimizer = 1,   // ZeRO-1
  kGradients = 2,   // ZeRO-2, FSDP SHARD_GRAD_OP
  kParameters = 3,  // ZeRO-3, FSDP FULL_SHARD
};

struct ShardingPlan {
  ShardingStage stage = ShardingStage::kNone;
  uint64_t num_processes = 1;  // total processes
  uint64_t shard_group = 1;    // processes one copy is split over (num_processes, or per machine for HYBRID)
  std::string label;           // "ZeRO-2", "FSDP FULL_SHARD", ...
};

struct PerGpuTrainingMemory {
  uint64_t weights = 0;
  uint64_t gradients = 0;
  uint64_t optimizer_states = 0;
  uint64_t total = 0;
};

/// The per-process share under `plan`; nullopt for int8 / int4 (no training estimate).
std::optional<PerGpuTrainingMemory> EstimatePerGpuTraining(EstimateDtype dtype, uint64_t parameters,
                                                            const ShardingPlan& plan);

/// The sharding table (same layout as accelerate's) for the float32 / float16 entries of `dtypes`,
/// followed by the lines that state the formula. Empty when `dtypes` has neither.
std::string RenderShardingReport(uint64_t parameters, std::span<const EstimateDtype> dtypes,
                                 const ShardingPlan& plan);

}  // namespace accel::common
