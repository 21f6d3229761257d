// Safetensors header parsing: exact element counts and offsets from valid files, and one clear error
// for every kind of corrupt header, in memory and on disk (single files and sharded indexes).
#include "common/model/safetensors.h"

#include <chrono>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/safetensors_writer.h"
#include "tests/support/temp_dir.h"

namespace accel::common {
namespace {

using ::accel::testing::FakeSafetensorsBytes;
using ::accel::testing::FakeTensor;
using ::accel::testing::SafetensorsPrefix;
using ::accel::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::string_literals;

// A file whose JSON header is `json` and whose data section has `data_bytes` zero bytes.
std::string FileWith(const std::string& json, uint64_t data_bytes) {
  return SafetensorsPrefix(json) + std::string(data_bytes, '\0');
}

absl::StatusOr<SafetensorsHeader> Parse(const std::string& bytes) {
  return ParseSafetensorsPrefix(bytes, bytes.size());
}

std::string ErrorOf(const std::string& json, uint64_t data_bytes) {
  auto header = Parse(FileWith(json, data_bytes));
  EXPECT_FALSE(header.ok()) << json;
  EXPECT_TRUE(absl::IsInvalidArgument(header.status())) << header.status();
  const std::string message(header.status().message());
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
  return message;
}

TEST(SafetensorsDtypeTest, BitsOfEveryDtype) {
  EXPECT_EQ(SafetensorsDtypeBits("F64"), 64);
  EXPECT_EQ(SafetensorsDtypeBits("F32"), 32);
  EXPECT_EQ(SafetensorsDtypeBits("F16"), 16);
  EXPECT_EQ(SafetensorsDtypeBits("BF16"), 16);
  EXPECT_EQ(SafetensorsDtypeBits("I64"), 64);
  EXPECT_EQ(SafetensorsDtypeBits("I32"), 32);
  EXPECT_EQ(SafetensorsDtypeBits("I16"), 16);
  EXPECT_EQ(SafetensorsDtypeBits("I8"), 8);
  EXPECT_EQ(SafetensorsDtypeBits("U8"), 8);
  EXPECT_EQ(SafetensorsDtypeBits("U16"), 16);
  EXPECT_EQ(SafetensorsDtypeBits("U32"), 32);
  EXPECT_EQ(SafetensorsDtypeBits("U64"), 64);
  EXPECT_EQ(SafetensorsDtypeBits("BOOL"), 8);
  EXPECT_EQ(SafetensorsDtypeBits("F8_E4M3"), 8);
  EXPECT_EQ(SafetensorsDtypeBits("F8_E5M2"), 8);
  EXPECT_EQ(SafetensorsDtypeBits("F8_E8M0"), 8);
  EXPECT_EQ(SafetensorsDtypeBits("F6_E2M3"), 6);
  EXPECT_EQ(SafetensorsDtypeBits("F6_E3M2"), 6);
  EXPECT_EQ(SafetensorsDtypeBits("F4"), 4);
  EXPECT_EQ(SafetensorsDtypeBits("C64"), 64);
  EXPECT_EQ(SafetensorsDtypeBits("f32"), std::nullopt);  // names are case-sensitive, as in the spec
  EXPECT_EQ(SafetensorsDtypeBits("F128"), std::nullopt);
}

TEST(SafetensorsParseTest, ReadsShapesOffsetsAndSkipsMetadata) {
  const std::string bytes = FakeSafetensorsBytes({{"b.weight", "BF16", {3, 4}},  // 24 bytes at 0
                                                  {"a.bias", "F32", {4}},        // 16 bytes at 24
                                                  {"scale", "F64", {}}});        // scalar, 8 bytes at 40
  auto header = Parse(bytes);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->data_bytes, 48u);
  EXPECT_EQ(header->header_bytes % 8, 0u);  // the writer pads to 8 as the reference does
  EXPECT_EQ(bytes.size(), 8 + header->header_bytes + 48);
  ASSERT_EQ(header->tensors.size(), 3u);  // __metadata__ is not a tensor
  const SafetensorsTensor& first = header->tensors[0];
  EXPECT_EQ(first.name, "b.weight");
  EXPECT_EQ(first.dtype, "BF16");
  EXPECT_THAT(first.shape, ElementsAre(3u, 4u));
  EXPECT_EQ(first.elements, 12u);
  EXPECT_EQ(first.begin, 0u);
  EXPECT_EQ(first.end, 24u);
  EXPECT_EQ(header->tensors[1].name, "a.bias");
  EXPECT_EQ(header->tensors[1].elements, 4u);
  EXPECT_EQ(header->tensors[2].name, "scale");
  EXPECT_TRUE(header->tensors[2].shape.empty());
  EXPECT_EQ(header->tensors[2].elements, 1u);
  EXPECT_EQ(header->tensors[2].bytes(), 8u);
}

TEST(SafetensorsParseTest, OrdersByOffsetWhateverTheJsonOrder) {
  const std::string json = R"({"second":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},)"
                           R"("first":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})";
  auto header = Parse(FileWith(json, 6));
  ASSERT_TRUE(header.ok()) << header.status();
  ASSERT_EQ(header->tensors.size(), 2u);
  EXPECT_EQ(header->tensors[0].name, "first");
  EXPECT_EQ(header->tensors[1].name, "second");
}

TEST(SafetensorsParseTest, EmptyHeaderAndZeroSizedTensorsAreValid) {
  auto empty = Parse(FileWith("{}      ", 0));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->tensors.empty());
  auto zero = Parse(FileWith(R"({"z":{"dtype":"F32","shape":[0,7],"data_offsets":[0,0]}})", 0));
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ(zero->tensors[0].elements, 0u);
}

TEST(SafetensorsParseTest, SubByteDtypesMustFillWholeBytes) {
  auto packed = Parse(FileWith(R"({"q":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]}})", 3));
  ASSERT_TRUE(packed.ok()) << packed.status();
  EXPECT_EQ(packed->tensors[0].elements, 6u);
  EXPECT_THAT(ErrorOf(R"({"q":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", 2),
              HasSubstr("3 elements of F4 do not fill whole bytes"));
  auto six = Parse(FileWith(R"({"q":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[0,3]}})", 3));
  EXPECT_TRUE(six.ok()) << six.status();
}

TEST(SafetensorsParseTest, HeaderLengthChecks) {
  EXPECT_THAT(std::string(Parse("").status().message()), HasSubstr("too short"));
  EXPECT_THAT(std::string(Parse("\x02\0\0\0\0\0\0"s).status().message()), HasSubstr("too short"));
  // Length 1000 in a 20-byte file.
  std::string too_long = "\xe8\x03\0\0\0\0\0\0{}          "s;
  EXPECT_THAT(std::string(Parse(too_long).status().message()), HasSubstr("header length 1000 is larger than the file"));
  // Over the 100 MB cap, checked before any allocation: 0x0000000100000000.
  std::string huge = "\0\0\0\0\x01\0\0\0{}"s;
  EXPECT_THAT(std::string(ParseSafetensorsPrefix(huge, uint64_t{1} << 40).status().message()),
              HasSubstr("over the 100000000-byte limit"));
  std::string max = "\xff\xff\xff\xff\xff\xff\xff\xff"s;
  EXPECT_THAT(std::string(ParseSafetensorsPrefix(max, uint64_t{1} << 62).status().message()), HasSubstr("over the"));
  // A prefix that stops inside the header.
  EXPECT_THAT(std::string(ParseSafetensorsPrefix(SafetensorsPrefix("{}      ").substr(0, 12), 16).status().message()),
              HasSubstr("only 12 bytes given"));
}

TEST(SafetensorsParseTest, BadJson) {
  EXPECT_THAT(ErrorOf("{\"a\": ", 0), HasSubstr("header is not valid JSON"));
  EXPECT_THAT(ErrorOf("[1, 2]", 0), HasSubstr("header is not a JSON object"));
  EXPECT_THAT(ErrorOf("{} trailing", 0), HasSubstr("not valid JSON"));
  EXPECT_THAT(ErrorOf("{\"\xff\": 1}", 0), HasSubstr("not valid JSON"));  // not UTF-8
  EXPECT_THAT(ErrorOf(R"({"a": 3})", 0), HasSubstr("tensor 'a': entry is not an object"));
}

TEST(SafetensorsParseTest, BadFields) {
  EXPECT_THAT(ErrorOf(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4),
              HasSubstr("tensor 'w': missing string field 'dtype'"));
  EXPECT_THAT(ErrorOf(R"({"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16),
              HasSubstr("tensor 'w': unknown dtype 'F128'"));
  EXPECT_THAT(ErrorOf(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4), HasSubstr("missing array field 'shape'"));
  EXPECT_THAT(ErrorOf(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
              HasSubstr("every shape entry must be a non-negative integer"));
  EXPECT_THAT(ErrorOf(R"({"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", 4),
              HasSubstr("non-negative integer"));
  EXPECT_THAT(ErrorOf(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
              HasSubstr("'data_offsets' must be an array of two integers"));
  EXPECT_THAT(ErrorOf(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4),
              HasSubstr("data_offsets [4, 0] end before they begin"));
  EXPECT_THAT(ErrorOf(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}})", 4),
              HasSubstr("data_offsets must be a non-negative integer"));
}

TEST(SafetensorsParseTest, ShapeMustMatchTheByteSpan) {
  EXPECT_EQ(ErrorOf(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12),
            "tensor 'w': shape [2, 2] of F32 needs 16 bytes but data_offsets span 12");
  EXPECT_THAT(ErrorOf(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,4]}})", 4),
              HasSubstr("shape element count overflows"));
  EXPECT_THAT(ErrorOf(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]}})", 4),
              HasSubstr("byte size overflows"));
}

TEST(SafetensorsParseTest, OffsetsMustTileTheDataSection) {
  const std::string overlap = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                              R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})";
  EXPECT_EQ(ErrorOf(overlap, 24), "tensor 'b' (bytes 8..24) overlaps tensor 'a' (bytes 0..16)");
  const std::string same = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                           R"("b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  EXPECT_THAT(ErrorOf(same, 16), HasSubstr("overlaps"));
  const std::string gap =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  EXPECT_THAT(ErrorOf(gap, 12), HasSubstr("tensor 'b' starts at byte 8 but the data before it ends at 4"));
  EXPECT_THAT(ErrorOf(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
              HasSubstr("tensor 'a' ends at byte 16, beyond the 8-byte data section"));
  EXPECT_THAT(ErrorOf(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 10),
              HasSubstr("tensors cover 4 bytes of data but the file holds 10"));
}

TEST(SafetensorsParseTest, HostileNamesStayOnOneLine) {
  const std::string message = ErrorOf(R"({"a\nb\u0001":{"dtype":"X","shape":[],"data_offsets":[0,0]}})", 0);
  EXPECT_THAT(message, HasSubstr("'a\\x0ab\\x01'"));
  const std::string long_name(1000, 'n');
  EXPECT_LT(ErrorOf("{\"" + long_name + R"(":{"dtype":"X","shape":[],"data_offsets":[0,0]}})", 0).size(), 300u);
}

TEST(SafetensorsFileTest, ReadsOnlyTheHeaderOfAHugeFile) {
  TempDir dir;
  // A 64 GiB file (sparse): reading it whole would take minutes; the header takes microseconds.
  const uint64_t elements = uint64_t{1} << 34;  // 2^34 x F32 = 64 GiB
  const uint64_t size = testing::WriteFakeSafetensors(dir.path() / "big.safetensors",
                                                      {{"embed.weight", "F32", {elements}}});
  const auto start = std::chrono::steady_clock::now();
  auto checkpoint = ReadSafetensorsFile(dir.path() / "big.safetensors");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->total_elements, elements);
  EXPECT_LT(checkpoint->header_bytes_read, 200u);
  EXPECT_EQ(checkpoint->header_bytes_read + (elements * 4), size);
  EXPECT_LT(elapsed, std::chrono::seconds(1));
}

TEST(SafetensorsFileTest, FileErrorsNameTheFile) {
  TempDir dir;
  auto missing = ReadSafetensorsHeader(dir.path() / "nope.safetensors");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.safetensors: no such file"));

  auto folder = ReadSafetensorsHeader(dir.path());
  EXPECT_THAT(std::string(folder.status().message()), HasSubstr("not a regular file"));

  const auto tiny = dir.Write("tiny.safetensors", "abc");
  EXPECT_THAT(std::string(ReadSafetensorsHeader(tiny).status().message()),
              HasSubstr("tiny.safetensors: file is 3 bytes, too short"));

  // A download cut inside the data section.
  const std::string whole = FakeSafetensorsBytes({{"w", "F32", {100}}});
  const auto cut = dir.Write("cut.safetensors", whole.substr(0, whole.size() - 10));
  EXPECT_THAT(std::string(ReadSafetensorsHeader(cut).status().message()),
              HasSubstr("cut.safetensors: tensor 'w' ends at byte 400, beyond the 390-byte data section"));

  // A download cut inside the header.
  const auto cut_header = dir.Write("cut_header.safetensors", whole.substr(0, 20));
  EXPECT_THAT(std::string(ReadSafetensorsHeader(cut_header).status().message()), HasSubstr("is larger than the file"));

  // A dangling Hugging Face cache link (blob not downloaded) is a missing file.
  std::filesystem::create_symlink(dir.path() / "blobs" / "abc", dir.path() / "link.safetensors");
  EXPECT_TRUE(absl::IsNotFound(ReadSafetensorsHeader(dir.path() / "link.safetensors").status()));
}

TEST(SafetensorsIndexTest, ParsesWeightMap) {
  auto index = ParseSafetensorsIndex(
      R"({"metadata":{"total_size":28},"weight_map":{"b":"model-00002-of-00002.safetensors",)"
      R"("a":"model-00001-of-00002.safetensors","c":"model-00001-of-00002.safetensors"}})");
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->weight_map.size(), 3u);
  EXPECT_THAT(index->shard_files,
              ElementsAre("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"));
}

TEST(SafetensorsIndexTest, RejectsBadIndexes) {
  auto message = [](const std::string& json) { return std::string(ParseSafetensorsIndex(json).status().message()); };
  EXPECT_THAT(message("{"), HasSubstr("index is not valid JSON"));
  EXPECT_THAT(message("[]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(message(R"({"metadata":{}})"), HasSubstr("no 'weight_map' object"));
  EXPECT_THAT(message(R"({"weight_map":{}})"), HasSubstr("'weight_map' is empty"));
  EXPECT_THAT(message(R"({"weight_map":{"a":3}})"), HasSubstr("entry 'a' is not a file name"));
  EXPECT_THAT(message(R"({"weight_map":{"a":"../secret.safetensors"}})"),
              HasSubstr("not a file inside the model folder"));
  EXPECT_THAT(message(R"({"weight_map":{"a":"/etc/passwd"}})"), HasSubstr("not a file inside the model folder"));
  EXPECT_THAT(message(R"({"weight_map":{"a":""}})"), HasSubstr("not a file inside the model folder"));
}

class ShardedCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteFakeShardedCheckpoint(dir_.path(), {{{"model.embed.weight", "BF16", {100, 8}},
                                                       {"model.layers.0.w", "BF16", {8, 8}}},
                                                      {{"model.layers.1.w", "BF16", {8, 8}}},
                                                      {{"lm_head.weight", "F32", {100, 8}}}});
  }
  std::filesystem::path Index() const { return dir_.path() / "model.safetensors.index.json"; }
  std::filesystem::path Shard(int i) const {
    return dir_.path() / ("model-0000" + std::to_string(i) + "-of-00003.safetensors");
  }
  TempDir dir_;
};

TEST_F(ShardedCheckpointTest, SumsEveryShard) {
  auto checkpoint = ReadSafetensorsIndex(Index());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->files.size(), 3u);
  EXPECT_EQ(checkpoint->tensors.size(), 4u);
  EXPECT_EQ(checkpoint->total_elements, 800u + 64 + 64 + 800);
}

TEST_F(ShardedCheckpointTest, MissingShard) {
  std::filesystem::remove(Shard(2));
  auto checkpoint = ReadSafetensorsIndex(Index());
  EXPECT_TRUE(absl::IsNotFound(checkpoint.status()));
  EXPECT_THAT(std::string(checkpoint.status().message()),
              HasSubstr("shard model-00002-of-00003.safetensors is missing"));
}

TEST_F(ShardedCheckpointTest, CorruptShardNamesTheShard) {
  dir_.Write("model-00003-of-00003.safetensors", "\xff\xff\xff\xff\xff\xff\xff\xff{}");
  EXPECT_THAT(std::string(ReadSafetensorsIndex(Index()).status().message()),
              HasSubstr("model-00003-of-00003.safetensors: header length"));
}

TEST_F(ShardedCheckpointTest, TensorInTwoShards) {
  testing::WriteFakeSafetensors(Shard(2), {{"model.layers.0.w", "BF16", {8, 8}}, {"model.layers.1.w", "BF16", {8, 8}}});
  EXPECT_THAT(std::string(ReadSafetensorsIndex(Index()).status().message()),
              HasSubstr("tensor 'model.layers.0.w' is in both model-00001-of-00003.safetensors and "
                        "model-00002-of-00003.safetensors"));
}

TEST_F(ShardedCheckpointTest, IndexPointsAtAShardThatLacksTheTensor) {
  testing::WriteFakeSafetensors(Shard(2), {{"model.layers.9.w", "BF16", {8, 8}}});
  EXPECT_THAT(std::string(ReadSafetensorsIndex(Index()).status().message()),
              HasSubstr("the index puts tensor 'model.layers.1.w' in model-00002-of-00003.safetensors, which does "
                        "not hold it"));
}

TEST_F(ShardedCheckpointTest, BadIndexFile) {
  dir_.Write("model.safetensors.index.json", "{\"weight_map\": ");
  EXPECT_THAT(std::string(ReadSafetensorsIndex(Index()).status().message()),
              HasSubstr("model.safetensors.index.json: index is not valid JSON"));
}

}  // namespace
}  // namespace accel::common
