#include "agent/run_directory.h"

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/agent/test_util.h"

namespace accel::agent {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

TEST(RunDirectoryTest, TorchrunLayoutUnderGivenRoot) {
  TempDir tmp;
  const std::string root = tmp.Sub("logs/nested");  // Created if missing.
  auto dir = RunDirectory::Create(root, "job42", "/unused");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE(dir->enabled());
  EXPECT_FALSE(dir->temporary());
  EXPECT_EQ(fs::path(dir->run_dir()).parent_path(), root);
  EXPECT_EQ(fs::path(dir->run_dir()).filename().string().rfind("job42_", 0), 0u);

  auto attempt = dir->PrepareAttempt(0, 3);
  ASSERT_TRUE(attempt.ok());
  EXPECT_EQ(*attempt, dir->run_dir() + "/attempt_0");
  for (int r = 0; r < 3; ++r) EXPECT_TRUE(fs::is_directory(*attempt + "/" + std::to_string(r)));
  // An existing attempt directory is replaced, not reused.
  testing::WriteFile(*attempt + "/0/error.json", "{}");
  ASSERT_TRUE(dir->PrepareAttempt(0, 1).ok());
  EXPECT_FALSE(fs::exists(*attempt + "/0/error.json"));

  const std::string run_dir = dir->run_dir();
  dir = absl::InternalError("drop");  // Destroying a non-temporary directory keeps the files.
  EXPECT_TRUE(fs::is_directory(run_dir));
}

TEST(RunDirectoryTest, TemporaryRootIsRemoved) {
  TempDir tmp;
  std::string run_dir;
  {
    auto dir = RunDirectory::Create("", "none", tmp.path());
    ASSERT_TRUE(dir.ok());
    EXPECT_TRUE(dir->temporary());
    run_dir = dir->run_dir();
    EXPECT_EQ(run_dir.rfind(tmp.path() + "/accel_", 0), 0u);
    ASSERT_TRUE(dir->PrepareAttempt(0, 2).ok());
    RunDirectory moved = *std::move(dir);  // Ownership moves; only the last owner removes.
    EXPECT_TRUE(fs::is_directory(run_dir));
  }
  EXPECT_FALSE(fs::exists(run_dir));
  EXPECT_TRUE(fs::is_empty(tmp.path()));
}

TEST(RunDirectoryTest, DevNullDisablesFiles) {
  auto dir = RunDirectory::Create("/dev/null", "none", "/tmp");
  ASSERT_TRUE(dir.ok());
  EXPECT_FALSE(dir->enabled());
  EXPECT_EQ(*dir->PrepareAttempt(0, 2), "");
}

TEST(RunDirectoryTest, RootThatIsAFileIsAnError) {
  TempDir tmp;
  testing::WriteFile(tmp.Sub("file"), "x");
  auto dir = RunDirectory::Create(tmp.Sub("file"), "none", "/tmp");
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace accel::agent
