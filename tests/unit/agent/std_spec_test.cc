#include "agent/std_spec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace accel::agent {
namespace {

using ::testing::ElementsAre;

TEST(ParseStdSpecTest, SingleDigitAppliesToEveryRank) {
  EXPECT_THAT(*ParseStdSpec("0", 2), ElementsAre(StdMask::kNone, StdMask::kNone));
  EXPECT_THAT(*ParseStdSpec("1", 2), ElementsAre(StdMask::kOut, StdMask::kOut));
  EXPECT_THAT(*ParseStdSpec("2", 1), ElementsAre(StdMask::kErr));
  EXPECT_THAT(*ParseStdSpec("3", 3), ElementsAre(StdMask::kAll, StdMask::kAll, StdMask::kAll));
}

TEST(ParseStdSpecTest, PerRankMapLeavesOthersNoneAndIgnoresRanksBeyondWorldSize) {
  EXPECT_THAT(*ParseStdSpec("0:3,2:1", 4), ElementsAre(StdMask::kAll, StdMask::kNone, StdMask::kOut, StdMask::kNone));
  EXPECT_THAT(*ParseStdSpec("1:2,7:3", 2), ElementsAre(StdMask::kNone, StdMask::kErr));
  EXPECT_THAT(*ParseStdSpec("0:1", 1), ElementsAre(StdMask::kOut));
}

TEST(ParseStdSpecTest, RejectsMalformedValues) {
  for (const char* bad : {"", "4", "-1", "03", "0:4", "10:1", "0:", ":1", "0:1,", "a:1", "0=1", "0:1;1:2"}) {
    auto parsed = ParseStdSpec(bad, 4);
    EXPECT_FALSE(parsed.ok()) << "'" << bad << "'";
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  EXPECT_FALSE(ParseStdSpec("1", 0).ok());
}

TEST(ResolveOutputTargetsTest, TeeWinsOverRedirectPerStream) {
  const std::vector<StdMask> tee = {StdMask::kOut, StdMask::kNone, StdMask::kAll};
  const std::vector<StdMask> redirects = {StdMask::kAll, StdMask::kErr, StdMask::kNone};
  const auto targets = ResolveOutputTargets(tee, redirects, 4);
  ASSERT_EQ(targets.size(), 4u);
  EXPECT_EQ(targets[0].stdout_target, StreamTarget::kTee);
  EXPECT_EQ(targets[0].stderr_target, StreamTarget::kFile);
  EXPECT_EQ(targets[1].stdout_target, StreamTarget::kConsole);
  EXPECT_EQ(targets[1].stderr_target, StreamTarget::kFile);
  EXPECT_EQ(targets[2].stdout_target, StreamTarget::kTee);
  EXPECT_EQ(targets[2].stderr_target, StreamTarget::kTee);
  EXPECT_EQ(targets[3].stdout_target, StreamTarget::kConsole);  // Missing from both lists.
  EXPECT_EQ(targets[3].stderr_target, StreamTarget::kConsole);
}

}  // namespace
}  // namespace accel::agent
