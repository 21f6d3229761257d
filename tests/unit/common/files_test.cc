// ReadFile and WriteFileAtomically on real files: replaces, leaves no temporary behind, keeps the mode it is given,
// and fails with the path named (nothing written) when it cannot.
#include "common/files.h"

#include <sys/stat.h>

#include <filesystem>

#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace accel::common {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;

TEST(WriteFileAtomicallyTest, ReplacesTheFileAndLeavesNothingElse) {
  TempDir dir;
  const fs::path path = dir.path() / "record.json";
  ASSERT_TRUE(WriteFileAtomically(path, "first\n").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second, longer\n").ok());
  EXPECT_EQ(ReadFile(path), "second, longer\n");
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
}

TEST(WriteFileAtomicallyTest, CreatesWithTheModeGivenUnderTheUmask) {
  TempDir dir;
  const mode_t old_umask = ::umask(022);
  ASSERT_TRUE(WriteFileAtomically(dir.path() / "private", "x", 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(dir.path() / "shared", "x", 0666).ok());
  ::umask(old_umask);
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "private").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir.path() / "shared").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(WriteFileAtomicallyTest, FailureNamesThePathAndKeepsTheOldContent) {
  TempDir dir;
  const absl::Status missing = WriteFileAtomically(dir.path() / "no" / "such" / "dir.json", "x");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find((dir.path() / "no" / "such").string()), std::string::npos) << missing;
  // A directory in the way of the rename: the old file stays as it was, and no temporary is left.
  const fs::path blocked = dir.path() / "blocked";
  fs::create_directories(blocked / "inside");
  EXPECT_FALSE(WriteFileAtomically(blocked, "x").ok());
  EXPECT_TRUE(fs::is_directory(blocked / "inside"));
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

TEST(ReadFileTest, ReadsEverythingAndSaysWhyNot) {
  TempDir dir;
  const std::string big(100'000, 'x');  // more than one read
  ASSERT_TRUE(WriteFileAtomically(dir.path() / "big", big).ok());
  const absl::StatusOr<std::string> read = common::ReadFile(dir.path() / "big");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, big);
  const absl::StatusOr<std::string> missing = common::ReadFile(dir.path() / "missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find((dir.path() / "missing").string()), std::string::npos);
  EXPECT_FALSE(common::ReadFile(dir.path()).ok());  // a directory: read() fails with EISDIR
}

}  // namespace
}  // namespace accel::common
