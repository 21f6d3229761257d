#include "agent/line_framer.h"

#include <string>

#include "gtest/gtest.h"

namespace accel::agent {
namespace {

std::string FeedAll(LineFramer& framer, std::initializer_list<std::string_view> chunks) {
  std::string out;
  for (std::string_view chunk : chunks) framer.Feed(chunk, &out);
  return out;
}

TEST(LineFramerTest, PrefixesWholeLines) {
  LineFramer framer("[default0]:");
  EXPECT_EQ(FeedAll(framer, {"a\nbb\n"}), "[default0]:a\n[default0]:bb\n");
  EXPECT_FALSE(framer.has_partial());
}

TEST(LineFramerTest, HoldsPartialLineUntilNewline) {
  LineFramer framer("[r1]:");
  std::string out;
  framer.Feed("hel", &out);
  EXPECT_EQ(out, "");
  EXPECT_TRUE(framer.has_partial());
  framer.Feed("lo wor", &out);
  EXPECT_EQ(out, "");
  framer.Feed("ld\nnext", &out);
  EXPECT_EQ(out, "[r1]:hello world\n");
  out.clear();
  EXPECT_TRUE(framer.FlushPartial(&out));
  EXPECT_EQ(out, "[r1]:next\n");
  EXPECT_FALSE(framer.has_partial());
  EXPECT_FALSE(framer.FlushPartial(&out));
}

TEST(LineFramerTest, EmptyLinesAreKept) {
  LineFramer framer("[p]:");
  EXPECT_EQ(FeedAll(framer, {"\n\nx\n"}), "[p]:\n[p]:\n[p]:x\n");
}

TEST(LineFramerTest, CarriageReturnProgressUpdatesBecomeLines) {
  LineFramer framer("[default1]:");
  // tqdm: every update starts with '\r'; the final one ends with '\n'.
  EXPECT_EQ(FeedAll(framer, {"\r 10%|#", "  |\r 50%|#####|\r", "100%|##########|\n"}),
            "[default1]: 10%|#  |\n[default1]: 50%|#####|\n[default1]:100%|##########|\n");
}

TEST(LineFramerTest, CrLfIsOneLineEvenAcrossChunks) {
  LineFramer framer("[p]:");
  EXPECT_EQ(FeedAll(framer, {"a\r\nb\r", "\nc\r", "d\n"}), "[p]:a\r\n[p]:b\r\n[p]:c\n[p]:d\n");
}

TEST(LineFramerTest, TrailingCarriageReturnIsFlushedAsLine) {
  LineFramer framer("[p]:");
  std::string out;
  framer.Feed("50%\r", &out);
  EXPECT_EQ(out, "");
  EXPECT_TRUE(framer.has_partial());
  EXPECT_TRUE(framer.FlushPartial(&out));
  EXPECT_EQ(out, "[p]:50%\n");
}

TEST(LineFramerTest, OverlongPartialIsCutAtTheLimit) {
  LineFramer framer("[p]:", 8);
  std::string out;
  framer.Feed("0123456789abcdefXY", &out);
  EXPECT_EQ(out, "[p]:01234567\n[p]:89abcdef\n");
  out.clear();
  framer.Feed("\n", &out);
  EXPECT_EQ(out, "[p]:XY\n");
}

TEST(LineFramerTest, LongCompleteLineIsNotCut) {
  LineFramer framer("[p]:", 8);
  std::string out;
  framer.Feed("0123456789abcdef\n", &out);
  EXPECT_EQ(out, "[p]:0123456789abcdef\n");
}

TEST(LineFramerTest, PassthroughKeepsBytesUnchanged) {
  LineFramer framer = LineFramer::Passthrough();
  std::string out;
  framer.Feed("\r 10%", &out);
  framer.Feed("\r100%\nno newline", &out);
  EXPECT_EQ(out, "\r 10%\r100%\nno newline");
  EXPECT_FALSE(framer.has_partial());
  EXPECT_FALSE(framer.FlushPartial(&out));
}

TEST(LineFramerTest, ByteAtATimeGivesSameResult) {
  const std::string input = "one\r\ntwo\rthree\n\rfour\n";
  LineFramer whole("[p]:");
  std::string expected;
  whole.Feed(input, &expected);
  LineFramer bytes("[p]:");
  std::string got;
  for (char c : input) bytes.Feed(std::string_view(&c, 1), &got);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(expected, "[p]:one\r\n[p]:two\n[p]:three\n[p]:four\n");
}

}  // namespace
}  // namespace accel::agent
