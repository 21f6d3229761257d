#include "common/model/memory_table.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common/strings.h"

namespace accel::common {
namespace {

constexpr std::string_view kVertical = "│";
constexpr std::string_view kHorizontal = "─";

// Python's len() of UTF-8 text: code points, i.e. bytes that do not continue a sequence.
size_t CodePoints(std::string_view text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string Repeat(std::string_view piece, size_t count) {
  std::string out;
  out.reserve(piece.size() * count);
  for (size_t i = 0; i < count; ++i) out.append(piece);
  return out;
}

uint64_t CeilDiv(uint64_t value, uint64_t divisor) { return value / divisor + (value % divisor != 0 ? 1 : 0); }

}  // namespace

std::string FormatThousands(uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string PyRoundTwoRepr(double x) {
  // printf's %.2f rounds the exact binary value correctly (ties to even), as CPython's round() does
  // through _Py_dg_dtoa; reading it back gives the double round() returns.
  char rounded[512];
  std::snprintf(rounded, sizeof(rounded), "%.2f", x);
  const double value = std::strtod(rounded, nullptr);
  // fmt's shortest round-trip form follows repr's rules (exponent below 1e-4 and from 1e16) except
  // that repr keeps ".0" on integral values.
  std::string text = fmt::format("{}", value);
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";  // 'n': nan / inf stay as they are
  return text;
}

std::string ConvertBytes(PyBytes bytes) {
  static constexpr std::string_view kUnits[] = {"bytes", "KB", "MB", "GB", "TB"};
  double size = bytes.value;
  bool is_int = bytes.is_int;
  for (std::string_view unit : kUnits) {
    if (size < 1024.0) {
      // round(int, 2) is the int itself.
      const std::string number = is_int ? fmt::format("{}", static_cast<uint64_t>(size)) : PyRoundTwoRepr(size);
      return StrCat(number, " ", unit);
    }
    size /= 1024.0;
    is_int = false;
  }
  return StrCat(PyRoundTwoRepr(size), " PB");
}

std::string CenterText(std::string_view text, size_t width) {
  const size_t length = CodePoints(text);
  if (width <= length) return std::string(text);
  const size_t margin = width - length;
  const size_t left = margin / 2 + (margin & width & 1);
  return StrCat(std::string(left, ' '), text, std::string(margin - left, ' '));
}

std::string RenderAsciiTable(std::span<const std::string> headers, std::span<const std::vector<std::string>> rows,
                             std::string_view title) {
  std::vector<size_t> widths;
  for (size_t i = 0; i < headers.size(); ++i) {
    size_t width = CodePoints(headers[i]);
    for (const auto& row : rows) width = std::max(width, CodePoints(row[i]));
    widths.push_back(width);
  }
  size_t sum = 0;
  for (size_t width : widths) sum += width;
  const size_t title_length = CodePoints(title);
  // accelerate widens the last column once before drawing the title rows and once more before the
  // cells, and pads the title rows by the same amount again: 2d in all, on every row.
  size_t diff = 0;
  if (title_length > sum) {
    const size_t separator_length = sum + widths.size() + 1;
    diff = title_length > separator_length ? title_length - separator_length : separator_length - title_length;
    widths.back() += diff;
  }
  auto make_row = [&](std::string_view left, std::string_view middle, std::string_view right) {
    std::string row(left);
    for (size_t i = 0; i < widths.size(); ++i) {
      if (i > 0) row += middle;
      row += Repeat(kHorizontal, widths[i]);
    }
    return StrCat(row, Repeat(kHorizontal, diff), right);
  };
  const std::string separator = make_row("├", "┼", "┤");
  size_t inner = diff + widths.size() - 1;
  for (size_t width : widths) inner += width;

  std::string table = make_row("┌", kHorizontal, "┐") + "\n";
  table += StrCat(kVertical, CenterText(title, inner), kVertical, "\n");
  table += make_row("├", "┬", "┤") + "\n";
  widths.back() += diff;
  auto cells = [&](std::span<const std::string> values) {
    std::string line(kVertical);
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) line += kVertical;
      line += CenterText(values[i], widths[i]);
    }
    return StrCat(line, kVertical, "\n");
  };
  table += cells(headers);
  table += separator + "\n";
  for (const auto& row : rows) table += cells(row);
  table += "└";
  for (size_t i = 0; i < widths.size(); ++i) {
    if (i > 0) table += "┴";
    table += Repeat(kHorizontal, widths[i]);
  }
  return table + "┘";
}

std::optional<EstimateDtype> ParseEstimateDtype(std::string_view name) {
  if (name == "float32") return EstimateDtype::kFloat32;
  if (name == "float16") return EstimateDtype::kFloat16;
  if (name == "int8") return EstimateDtype::kInt8;
  if (name == "int4") return EstimateDtype::kInt4;
  return std::nullopt;
}

std::string_view ToString(EstimateDtype dtype) {
  switch (dtype) {
    case EstimateDtype::kFloat32: return "float32";
    case EstimateDtype::kFloat16: return "float16";
    case EstimateDtype::kInt8: return "int8";
    case EstimateDtype::kInt4: return "int4";
  }
  return "?";
}

DtypeMemory EstimateDtypeMemory(EstimateDtype dtype, uint64_t total_fp32_bytes, uint64_t largest_layer_fp32_bytes) {
  DtypeMemory row;
  row.dtype = dtype;
  const auto total = static_cast<double>(total_fp32_bytes);
  const auto largest = static_cast<double>(largest_layer_fp32_bytes);
  switch (dtype) {
    case EstimateDtype::kFloat32:
      row.total = {total, true};
      row.largest_layer = {largest, true};
      row.training_adam = 4 * total_fp32_bytes;  // max(T, T, 2T, 4T)
      break;
    case EstimateDtype::kFloat16:
      row.total = {total / 2, false};
      row.largest_layer = {largest / 2, false};
      row.training_adam = 2 * total_fp32_bytes;  // max(T, T + T // 2, 2T, 2T)
      break;
    case EstimateDtype::kInt8:
      row.total = {total / 4, false};
      row.largest_layer = {largest / 4, false};
      break;
    case EstimateDtype::kInt4:
      row.total = {total / 8, false};
      row.largest_layer = {largest / 8, false};
      break;
  }
  return row;
}

std::string RenderMemoryTable(std::string_view model, std::span<const DtypeMemory> rows) {
  const std::vector<std::string> headers = {"dtype", "Largest Layer", "Total Size", "Training using Adam"};
  std::vector<std::vector<std::string>> cells;
  for (const DtypeMemory& row : rows) {
    cells.push_back({std::string(ToString(row.dtype)), ConvertBytes(row.largest_layer), ConvertBytes(row.total),
                     row.training_adam ? ConvertBytes({static_cast<double>(*row.training_adam), true}) : "N/A"});
  }
  return RenderAsciiTable(headers, cells, StrCat("Memory Usage for loading `", model, "`"));
}

std::optional<PerGpuTrainingMemory> EstimatePerGpuTraining(EstimateDtype dtype, uint64_t parameters,
                                                            const ShardingPlan& plan) {
  uint64_t weight_bytes = 0;
  uint64_t gradient_bytes = 0;
  uint64_t optimizer_bytes = 0;
  switch (dtype) {
    case EstimateDtype::kFloat32:
      weight_bytes = 4;
      gradient_bytes = 4;
      optimizer_bytes = 8;  // Adam momentum + variance
      break;
    case EstimateDtype::kFloat16:
      weight_bytes = 2;
      gradient_bytes = 2;
      optimizer_bytes = 12;  // fp32 master weights + momentum + variance
      break;
    case EstimateDtype::kInt8:
    case EstimateDtype::kInt4:
      return std::nullopt;
  }
  const uint64_t group = std::max<uint64_t>(plan.shard_group, 1);
  auto share = [&](uint64_t bytes_per_parameter, ShardingStage from) {
    const uint64_t bytes = bytes_per_parameter * parameters;
    return plan.stage >= from ? CeilDiv(bytes, group) : bytes;
  };
  PerGpuTrainingMemory memory;
  memory.weights = share(weight_bytes, ShardingStage::kParameters);
  memory.gradients = share(gradient_bytes, ShardingStage::kGradients);
  memory.optimizer_states = share(optimizer_bytes, ShardingStage::kOptimizer);
  memory.total = memory.weights + memory.gradients + memory.optimizer_states;
  return memory;
}

std::string RenderShardingReport(uint64_t parameters, std::span<const EstimateDtype> dtypes,
                                 const ShardingPlan& plan) {
  std::vector<std::vector<std::string>> rows;
  for (EstimateDtype dtype : dtypes) {
    const auto memory = EstimatePerGpuTraining(dtype, parameters, plan);
    if (!memory) continue;
    auto bytes = [](uint64_t value) { return ConvertBytes({static_cast<double>(value), true}); };
    rows.push_back({std::string(ToString(dtype)), bytes(memory->weights), bytes(memory->gradients),
                    bytes(memory->optimizer_states), bytes(memory->total)});
  }
  if (rows.empty()) return "";
  const std::vector<std::string> headers = {"dtype", "Weights", "Gradients", "Adam states", "Per GPU"};
  // A short title: accelerate's renderer widens the last column for a title longer than the columns.
  std::string report = RenderAsciiTable(headers, rows, "Training with Adam, per GPU") + "\n";
  report += StrCat(plan.label, " over ", plan.num_processes, plan.num_processes == 1 ? " process" : " processes",
                   "; P = ", FormatThousands(parameters), " parameters");
  if (plan.stage != ShardingStage::kNone) report += StrCat(", N = ", plan.shard_group, " processes share each copy");
  report +=
      ".\n"
      "  float32: weights 4P + gradients 4P + Adam states 8P (momentum, variance)\n"
      "  float16: weights 2P + gradients 2P + Adam states 12P (fp32 master weights, momentum, variance);\n"
      "           fp16 / bf16 mixed precision\n"
      "  ZeRO-1 divides the Adam states by N; ZeRO-2 and FSDP SHARD_GRAD_OP also the gradients;\n"
      "  ZeRO-3 and FSDP FULL_SHARD also the weights. Activations and temporary buffers come on top.\n";
  return report;
}

}  // namespace accel::common
