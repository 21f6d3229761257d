#include "agent/error_file.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace accel::agent {
namespace {

TEST(ErrorFileTest, ParsesTorchRecordFormat) {
  auto parsed = ParseErrorFile(R"({"message": {"message": "ValueError: boom",
      "extraInfo": {"py_callstack": "Traceback (most recent call last):\n  ...\nValueError: boom\n",
                    "timestamp": "1700000000"}}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->message, "ValueError: boom");
  EXPECT_EQ(parsed->traceback, "Traceback (most recent call last):\n  ...\nValueError: boom\n");
  ASSERT_TRUE(parsed->timestamp.has_value());
  EXPECT_EQ(absl::ToUnixSeconds(*parsed->timestamp), 1700000000);
}

TEST(ErrorFileTest, AcceptsPlainStringMessageAndNumericTimestamp) {
  auto plain = ParseErrorFile(R"({"message": "RuntimeError: plain"})");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->message, "RuntimeError: plain");
  EXPECT_TRUE(plain->traceback.empty());
  EXPECT_FALSE(plain->timestamp.has_value());

  auto numeric = ParseErrorFile(R"({"message": {"message": "x", "extraInfo": {"timestamp": 1700000001}}})");
  ASSERT_TRUE(numeric.ok());
  EXPECT_EQ(absl::ToUnixSeconds(*numeric->timestamp), 1700000001);
}

TEST(ErrorFileTest, ToleratesWrongFieldTypes) {
  auto odd = ParseErrorFile(R"({"message": {"message": 5, "extraInfo": {"py_callstack": [], "timestamp": "soon"}}})");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->message, "");
  EXPECT_EQ(odd->traceback, "");
  EXPECT_FALSE(odd->timestamp.has_value());
}

TEST(ErrorFileTest, RejectsNonJsonAndMissingMessage) {
  EXPECT_EQ(ParseErrorFile("not json").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseErrorFile(R"({"other": 1})").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseErrorFile(R"({"message": 3})").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseErrorFile("[]").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ErrorFileTest, ReadsFileAndReportsMissingAsNotFound) {
  char dir_template[] = "/tmp/accel_error_file_test_XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/error.json";
  EXPECT_EQ(ReadErrorFile(path).status().code(), absl::StatusCode::kNotFound);
  {
    std::ofstream out(path);
    out << R"({"message": {"message": "KeyError: 'x'", "extraInfo": {"py_callstack": "tb", "timestamp": "12"}}})";
  }
  auto read = ReadErrorFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->message, "KeyError: 'x'");
  {
    std::ofstream out(path);
    out << "{truncated";
  }
  EXPECT_EQ(ReadErrorFile(path).status().code(), absl::StatusCode::kInvalidArgument);
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace accel::agent
