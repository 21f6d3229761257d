#include "selftest/report.h"

#include <cstdio>

namespace accel::selftest {

std::string_view Name(Collective collective) {
  switch (collective) {
    case Collective::kAllReduce: return "all_reduce";
    case Collective::kBroadcast: return "broadcast";
    case Collective::kAllGather: return "all_gather";
    case Collective::kReduceScatter: return "reduce_scatter";
  }
  return "?";
}

std::string_view Name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
  }
  return "?";
}

int ElementSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat16:
    case DType::kBFloat16: return 2;
    case DType::kFloat32:
    case DType::kInt32: return 4;
    case DType::kFloat64:
    case DType::kInt64: return 8;
  }
  return 1;
}

double BusBandwidthFactor(Collective collective, int ranks) {
  const double n = ranks;
  switch (collective) {
    case Collective::kAllReduce: return 2.0 * (n - 1) / n;
    case Collective::kAllGather:
    case Collective::kReduceScatter: return (n - 1) / n;
    case Collective::kBroadcast: return 1.0;
  }
  return 1.0;
}

int64_t RoundCount(int64_t bytes, DType dtype, int ranks) {
  const int64_t count = bytes / ElementSize(dtype) / ranks * ranks;
  return count < ranks ? ranks : count;
}

std::vector<int64_t> SizeSweep(int64_t min_bytes, int64_t max_bytes, int64_t factor) {
  std::vector<int64_t> sizes;
  if (factor < 2) factor = 2;
  for (int64_t bytes = min_bytes; bytes <= max_bytes && bytes > 0; bytes *= factor) sizes.push_back(bytes);
  return sizes;
}

double InputValue(int64_t index, int rank) { return static_cast<double>((index % 13 + 1) * (rank + 1)); }

std::string BandwidthTableHeader() {
  char line[256];
  std::snprintf(line, sizeof(line), "#%17s %13s %12s %9s %11s %12s %12s %7s\n", "collective", "size(B)", "count",
                "type", "time(us)", "algbw(GB/s)", "busbw(GB/s)", "#wrong");
  return line;
}

std::string FormatBandwidthRow(const BandwidthRow& row, int ranks) {
  const double algbw = row.seconds > 0 ? static_cast<double>(row.bytes) / row.seconds / 1e9 : 0.0;
  const double busbw = algbw * BusBandwidthFactor(row.collective, ranks);
  std::string name(Name(row.collective));
  if (!row.note.empty()) name += "*";
  char line[256];
  std::snprintf(line, sizeof(line), " %17s %13lld %12lld %9s %11.1f %12.2f %12.2f %7lld\n", name.c_str(),
                static_cast<long long>(row.bytes), static_cast<long long>(row.count),
                std::string(Name(row.dtype)).c_str(), row.seconds * 1e6, algbw, busbw,
                static_cast<long long>(row.wrong));
  return line;
}

int64_t ParseByteSize(std::string_view text) {
  if (text.empty()) return -1;
  int64_t multiplier = 1;
  switch (text.back()) {
    case 'K': case 'k': multiplier = int64_t{1} << 10; break;
    case 'M': case 'm': multiplier = int64_t{1} << 20; break;
    case 'G': case 'g': multiplier = int64_t{1} << 30; break;
    default: break;
  }
  if (multiplier != 1) text.remove_suffix(1);
  if (text.empty()) return -1;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
    if (value > (int64_t{1} << 40)) return -1;
  }
  return value * multiplier;
}

}  // namespace accel::selftest
