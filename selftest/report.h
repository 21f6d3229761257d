// The self-test's vocabulary (collectives, element types, sizes) and its bandwidth table, which follows
// nccl-tests: algbw = size / time, busbw = algbw x a per-collective factor that makes the figure
// comparable to the link's bandwidth (doc/PERFORMANCE.md of nccl-tests).
//
// Standard library only (see launch_env.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace accel::selftest {

enum class Collective { kAllReduce, kBroadcast, kAllGather, kReduceScatter };
enum class DType { kFloat32, kFloat64, kFloat16, kBFloat16, kInt32, kInt64 };

inline constexpr Collective kAllCollectives[] = {Collective::kAllReduce, Collective::kBroadcast,
                                                 Collective::kAllGather, Collective::kReduceScatter};

std::string_view Name(Collective collective);  // "all_reduce", ...
std::string_view Name(DType dtype);            // "float32", ...
int ElementSize(DType dtype);

/// busbw / algbw for `ranks` processes: all_reduce 2(n-1)/n, all_gather and reduce_scatter (n-1)/n,
/// broadcast 1.
double BusBandwidthFactor(Collective collective, int ranks);

/// Element counts are totals: the all_reduce / broadcast buffer, the all_gather output, the
/// reduce_scatter input (what nccl-tests calls "size"); each rank owns count / ranks of them in
/// all_gather and reduce_scatter. RoundCount gives the largest multiple of `ranks` elements that fits
/// in `bytes` (at least `ranks`).
int64_t RoundCount(int64_t bytes, DType dtype, int ranks);

/// Sizes in bytes from `min_bytes` to `max_bytes`, multiplying by `factor` (> 1).
std::vector<int64_t> SizeSweep(int64_t min_bytes, int64_t max_bytes, int64_t factor);

/// The value every rank puts at element `index` of its input: small integers, so that every sum the
/// test makes is exact in each element type (at most 13 * n(n+1)/2, exact in float16 up to n = 16).
/// Rank r holds (index % 13 + 1) * (r + 1).
double InputValue(int64_t index, int rank);

struct BandwidthRow {
  Collective collective;
  std::string note;   // e.g. "emulated" when the backend lacks the collective
  int64_t bytes = 0;
  int64_t count = 0;
  DType dtype = DType::kFloat32;
  double seconds = 0;  // per iteration, the slowest rank's
  int64_t wrong = 0;   // elements that differed from the expected result in the checked run
};

/// "#  collective   size(B)  count  type  time(us)  algbw(GB/s)  busbw(GB/s)  #wrong" and its rows.
std::string BandwidthTableHeader();
std::string FormatBandwidthRow(const BandwidthRow& row, int ranks);

/// Parses "1K", "64M", "1G", "4096" (powers of 1024). Returns -1 when malformed.
int64_t ParseByteSize(std::string_view text);

}  // namespace accel::selftest
