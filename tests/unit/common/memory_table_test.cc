// accelerate's estimate-memory arithmetic and table, reproduced exactly: Python number formatting,
// str.center, the title-widening quirk, dtype scaling and the Adam column; plus the per-GPU sharding
// arithmetic that accelctl adds.
#include "common/model/memory_table.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace accel::common {
namespace {

using ::testing::HasSubstr;

std::vector<DtypeMemory> AllDtypes(uint64_t total_fp32_bytes, uint64_t largest_fp32_bytes) {
  std::vector<DtypeMemory> rows;
  for (EstimateDtype dtype : {EstimateDtype::kFloat32, EstimateDtype::kFloat16, EstimateDtype::kInt8,
                              EstimateDtype::kInt4}) {
    rows.push_back(EstimateDtypeMemory(dtype, total_fp32_bytes, largest_fp32_bytes));
  }
  return rows;
}

TEST(PyRoundTwoReprTest, MatchesCPython) {
  EXPECT_EQ(PyRoundTwoRepr(413.17364501953125), "413.17");
  EXPECT_EQ(PyRoundTwoRepr(1.6), "1.6");
  EXPECT_EQ(PyRoundTwoRepr(2.0), "2.0");
  EXPECT_EQ(PyRoundTwoRepr(0.0), "0.0");
  EXPECT_EQ(PyRoundTwoRepr(0.125), "0.12");  // exact binary tie: half to even
  EXPECT_EQ(PyRoundTwoRepr(0.375), "0.38");
  EXPECT_EQ(PyRoundTwoRepr(2.675), "2.67");  // 2.67499999... in binary
  EXPECT_EQ(PyRoundTwoRepr(1.005), "1.0");
  EXPECT_EQ(PyRoundTwoRepr(1023.999), "1024.0");
  EXPECT_EQ(PyRoundTwoRepr(0.001), "0.0");
  EXPECT_EQ(PyRoundTwoRepr(1e16), "1e+16");
  EXPECT_EQ(PyRoundTwoRepr(123456789012.345), "123456789012.35");
}

TEST(ConvertBytesTest, UnitsAndPythonIntVersusFloat) {
  EXPECT_EQ(ConvertBytes({512, true}), "512 bytes");    // a Python int stays an int below 1024
  EXPECT_EQ(ConvertBytes({0, true}), "0 bytes");
  EXPECT_EQ(ConvertBytes({1023, true}), "1023 bytes");
  EXPECT_EQ(ConvertBytes({64, false}), "64.0 bytes");   // total / 2 is a Python float
  EXPECT_EQ(ConvertBytes({0.375, false}), "0.38 bytes");
  EXPECT_EQ(ConvertBytes({1024, true}), "1.0 KB");      // divided once: a float
  EXPECT_EQ(ConvertBytes({93763584, true}), "89.42 MB");
  EXPECT_EQ(ConvertBytes({1717986918.4, false}), "1.6 GB");
  EXPECT_EQ(ConvertBytes({1099511627776.0 * 2.5, true}), "2.5 TB");
  EXPECT_EQ(ConvertBytes({3.0 * 1125899906842624.0, true}), "3.0 PB");
  EXPECT_EQ(ConvertBytes({1152921504606846976.0, true}), "1024.0 PB");  // PB is the last unit
}

TEST(CenterTextTest, CPythonStrCenter) {
  EXPECT_EQ(CenterText("int8", 7), "  int8 ");  // odd margin, odd width: the extra space goes left
  EXPECT_EQ(CenterText("ab", 5), "  ab ");
  EXPECT_EQ(CenterText("abc", 6), " abc  ");    // odd margin, even width: the extra space goes right
  EXPECT_EQ(CenterText("dtype", 7), " dtype ");
  EXPECT_EQ(CenterText("toolong", 3), "toolong");
  EXPECT_EQ(CenterText("é", 3), " é ");  // widths count code points, not bytes
}

TEST(FormatThousandsTest, Groups) {
  EXPECT_EQ(FormatThousands(0), "0");
  EXPECT_EQ(FormatThousands(999), "999");
  EXPECT_EQ(FormatThousands(1000), "1,000");
  EXPECT_EQ(FormatThousands(6738415616), "6,738,415,616");
}

TEST(EstimateDtypeMemoryTest, ScalingAndAdam) {
  const DtypeMemory f32 = EstimateDtypeMemory(EstimateDtype::kFloat32, 1000, 300);
  EXPECT_EQ(f32.total.value, 1000);
  EXPECT_TRUE(f32.total.is_int);
  EXPECT_EQ(f32.largest_layer.value, 300);
  EXPECT_EQ(f32.training_adam, 4000u);  // model, gradients, optimizer 2T, step 4T: max is 4T
  const DtypeMemory f16 = EstimateDtypeMemory(EstimateDtype::kFloat16, 1000, 300);
  EXPECT_EQ(f16.total.value, 500);
  EXPECT_FALSE(f16.total.is_int);
  EXPECT_EQ(f16.largest_layer.value, 150);
  EXPECT_EQ(f16.training_adam, 2000u);  // max(T, T + T // 2, 2T, 2T) = 2T
  const DtypeMemory i8 = EstimateDtypeMemory(EstimateDtype::kInt8, 1000, 300);
  EXPECT_EQ(i8.total.value, 250);
  EXPECT_EQ(i8.training_adam, std::nullopt);
  const DtypeMemory i4 = EstimateDtypeMemory(EstimateDtype::kInt4, 1000, 300);
  EXPECT_EQ(i4.total.value, 125);
  EXPECT_EQ(i4.largest_layer.value, 37.5);
  EXPECT_EQ(i4.training_adam, std::nullopt);
}

TEST(EstimateDtypeTest, Names) {
  EXPECT_EQ(ParseEstimateDtype("float16"), EstimateDtype::kFloat16);
  EXPECT_EQ(ParseEstimateDtype("bfloat16"), std::nullopt);
  for (std::string_view name : kEstimateDtypeNames) EXPECT_EQ(ToString(*ParseEstimateDtype(name)), name);
}

// The contract's bert-base-cased example. accelerate's byte totals there: T = 433,245,184 (108,310,272
// float32 parameters + the 4,096-byte int64 position_ids buffer) and L = 93,763,584 (a 30522 x 768
// float32 embedding). By hand: T / 2^20 = 413.1738 -> 413.17 MB; T/2 -> 206.587 -> 206.59 MB;
// T/4 -> 103.29 MB; T/8 -> 51.647 -> 51.65 MB; 4T / 2^30 = 1.614 -> 1.61 GB; 2T / 2^20 = 826.348 ->
// 826.35 MB; L / 2^20 = 89.4199 -> 89.42 MB; L/2 -> 44.71 MB; L/4 = 22.355 -> 22.35 MB; L/8 -> 11.18 MB.
TEST(RenderMemoryTableTest, BertBaseCasedFromTheContract) {
  const std::string expected =
      "┌────────────────────────────────────────────────────┐\n"
      "│     Memory Usage for loading `bert-base-cased`     │\n"
      "├───────┬─────────────┬──────────┬───────────────────┤\n"
      "│ dtype │Largest Layer│Total Size│Training using Adam│\n"
      "├───────┼─────────────┼──────────┼───────────────────┤\n"
      "│float32│   89.42 MB  │413.17 MB │      1.61 GB      │\n"
      "│float16│   44.71 MB  │206.59 MB │     826.35 MB     │\n"
      "│  int8 │   22.35 MB  │103.29 MB │        N/A        │\n"
      "│  int4 │   11.18 MB  │ 51.65 MB │        N/A        │\n"
      "└───────┴─────────────┴──────────┴───────────────────┘";
  EXPECT_EQ(RenderMemoryTable("bert-base-cased", AllDtypes(433245184, 93763584)), expected);
}

// Title 51 code points > column widths 7 + 13 + 10 + 19 = 49, so d = |51 - (49 + 4 + 1)| = 3 even though
// the title would fit: the last column grows by 2d = 6 to 25 and the title is centred in 49 + 3 + 6 = 58.
TEST(RenderMemoryTableTest, TitleSlightlyLongerThanTheColumnsWidensByAccelerateRule) {
  const std::string expected =
      "┌──────────────────────────────────────────────────────────┐\n"
      "│   Memory Usage for loading `meta-llama/Llama-2-7b-hf`    │\n"
      "├───────┬─────────────┬──────────┬─────────────────────────┤\n"
      "│ dtype │Largest Layer│Total Size│   Training using Adam   │\n"
      "├───────┼─────────────┼──────────┼─────────────────────────┤\n"
      "│float32│  772.03 MB  │ 25.1 GB  │        100.41 GB        │\n"
      "│float16│  386.02 MB  │ 12.55 GB │         50.21 GB        │\n"
      "│  int8 │  193.01 MB  │ 6.28 GB  │           N/A           │\n"
      "│  int4 │   96.5 MB   │ 3.14 GB  │           N/A           │\n"
      "└───────┴─────────────┴──────────┴─────────────────────────┘";
  // Llama-2-7b: 6,738,415,616 parameters; one decoder layer 202,383,360.
  EXPECT_EQ(RenderMemoryTable("meta-llama/Llama-2-7b-hf", AllDtypes(6738415616ull * 4, 202383360ull * 4)), expected);
}

// Title 87 > 7 + 13 + 11 + 19 = 50: d = 87 - 55 = 32 and the last column is 19 + 64 = 83 wide. Tiny sizes
// show the int / float difference: "1000 bytes" (int) against "500.0 bytes" (float).
TEST(RenderMemoryTableTest, LongTitleAndByteSizedValues) {
  const std::string expected =
      "┌─────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┐\n"
      "│               Memory Usage for loading `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`               │\n"
      "├───────┬─────────────┬───────────┬───────────────────────────────────────────────────────────────────────────────────┤\n"
      "│ dtype │Largest Layer│ Total Size│                                Training using Adam                                │\n"
      "├───────┼─────────────┼───────────┼───────────────────────────────────────────────────────────────────────────────────┤\n"
      "│float32│   3 bytes   │ 1000 bytes│                                      3.91 KB                                      │\n"
      "│float16│  1.5 bytes  │500.0 bytes│                                      1.95 KB                                      │\n"
      "│  int8 │  0.75 bytes │250.0 bytes│                                        N/A                                        │\n"
      "│  int4 │  0.38 bytes │125.0 bytes│                                        N/A                                        │\n"
      "└───────┴─────────────┴───────────┴───────────────────────────────────────────────────────────────────────────────────┘";
  EXPECT_EQ(RenderMemoryTable(std::string(60, 'a'), AllDtypes(1000, 3)), expected);
}

TEST(RenderMemoryTableTest, OneDtypeNarrowsTheFirstColumn) {
  const std::string expected =
      "┌───────────────────────────────────────────────────┐\n"
      "│            Memory Usage for loading `x`           │\n"
      "├─────┬─────────────┬───────────┬───────────────────┤\n"
      "│dtype│Largest Layer│ Total Size│Training using Adam│\n"
      "├─────┼─────────────┼───────────┼───────────────────┤\n"
      "│ int4│  0.38 bytes │125.0 bytes│        N/A        │\n"
      "└─────┴─────────────┴───────────┴───────────────────┘";
  const DtypeMemory row = EstimateDtypeMemory(EstimateDtype::kInt4, 1000, 3);
  EXPECT_EQ(RenderMemoryTable("x", std::vector<DtypeMemory>{row}), expected);
}

TEST(EstimatePerGpuTrainingTest, ZeroStagesShardMoreAndMore) {
  const uint64_t p = 1000;
  auto memory = [&](EstimateDtype dtype, ShardingStage stage, uint64_t n) {
    return *EstimatePerGpuTraining(dtype, p, ShardingPlan{.stage = stage, .num_processes = n, .shard_group = n});
  };
  // Mixed precision: 2P + 2P + 12P = 16 KB at 1000 parameters.
  PerGpuTrainingMemory ddp = memory(EstimateDtype::kFloat16, ShardingStage::kNone, 8);
  EXPECT_EQ(ddp.weights, 2000u);
  EXPECT_EQ(ddp.gradients, 2000u);
  EXPECT_EQ(ddp.optimizer_states, 12000u);
  EXPECT_EQ(ddp.total, 16000u);
  PerGpuTrainingMemory zero1 = memory(EstimateDtype::kFloat16, ShardingStage::kOptimizer, 8);
  EXPECT_EQ(zero1.total, 2000u + 2000 + 1500);
  PerGpuTrainingMemory zero2 = memory(EstimateDtype::kFloat16, ShardingStage::kGradients, 8);
  EXPECT_EQ(zero2.total, 2000u + 250 + 1500);
  PerGpuTrainingMemory zero3 = memory(EstimateDtype::kFloat16, ShardingStage::kParameters, 8);
  EXPECT_EQ(zero3.weights, 250u);
  EXPECT_EQ(zero3.total, 16000u / 8);
  // float32: 4P + 4P + 8P.
  PerGpuTrainingMemory f32 = memory(EstimateDtype::kFloat32, ShardingStage::kGradients, 4);
  EXPECT_EQ(f32.weights, 4000u);
  EXPECT_EQ(f32.gradients, 1000u);
  EXPECT_EQ(f32.optimizer_states, 2000u);
  // Shares round up to whole bytes: 4 x 1001 / 8 = 500.5.
  EXPECT_EQ(EstimatePerGpuTraining(EstimateDtype::kFloat32, 1001, {ShardingStage::kParameters, 8, 8, ""})->weights, 501u);
  // HYBRID: 16 processes, but each copy is split over the 8 of one machine.
  EXPECT_EQ(EstimatePerGpuTraining(EstimateDtype::kFloat32, p, {ShardingStage::kParameters, 16, 8, ""})->weights, 500u);
  EXPECT_EQ(EstimatePerGpuTraining(EstimateDtype::kInt8, p, {ShardingStage::kParameters, 8, 8, ""}), std::nullopt);
}

TEST(RenderShardingReportTest, TableAndFormula) {
  const std::vector<EstimateDtype> dtypes = {EstimateDtype::kFloat32, EstimateDtype::kFloat16, EstimateDtype::kInt8};
  const ShardingPlan plan{.stage = ShardingStage::kParameters, .num_processes = 8, .shard_group = 8, .label = "ZeRO-3"};
  // float32: 4000/8, 4000/8, 8000/8 = 500, 500, 1000 bytes, 2000 in all (1.95 KB);
  // float16: 2000/8, 2000/8, 12000/8 = 250, 250, 1500 bytes (1.46 KB), 2000 in all.
  const std::string expected =
      "┌───────────────────────────────────────────────┐\n"
      "│          Training with Adam, per GPU          │\n"
      "├───────┬─────────┬─────────┬───────────┬───────┤\n"
      "│ dtype │ Weights │Gradients│Adam states│Per GPU│\n"
      "├───────┼─────────┼─────────┼───────────┼───────┤\n"
      "│float32│500 bytes│500 bytes│ 1000 bytes│1.95 KB│\n"
      "│float16│250 bytes│250 bytes│  1.46 KB  │1.95 KB│\n"
      "└───────┴─────────┴─────────┴───────────┴───────┘\n"
      "ZeRO-3 over 8 processes; P = 1,000 parameters, N = 8 processes share each copy.\n"
      "  float32: weights 4P + gradients 4P + Adam states 8P (momentum, variance)\n"
      "  float16: weights 2P + gradients 2P + Adam states 12P (fp32 master weights, momentum, variance);\n"
      "           fp16 / bf16 mixed precision\n"
      "  ZeRO-1 divides the Adam states by N; ZeRO-2 and FSDP SHARD_GRAD_OP also the gradients;\n"
      "  ZeRO-3 and FSDP FULL_SHARD also the weights. Activations and temporary buffers come on top.\n";
  EXPECT_EQ(RenderShardingReport(1000, dtypes, plan), expected);
  const std::vector<EstimateDtype> quantized = {EstimateDtype::kInt8, EstimateDtype::kInt4};
  EXPECT_EQ(RenderShardingReport(1000, quantized, plan), "");
  const ShardingPlan ddp{.stage = ShardingStage::kNone, .num_processes = 1, .shard_group = 1, .label = "DDP (no sharding)"};
  EXPECT_THAT(RenderShardingReport(1000, dtypes, ddp),
              HasSubstr("\nDDP (no sharding) over 1 process; P = 1,000 parameters.\n"));
}

}  // namespace
}  // namespace accel::common
