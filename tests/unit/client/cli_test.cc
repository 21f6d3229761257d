// The two binaries' command lines: help, version, and one-line errors with exit 2 for bad input.
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace accel::testing {
namespace {

using std::chrono::seconds;

ProcessResult Accelctl(std::vector<std::string> args) {
  args.insert(args.begin(), BinaryPath("accelctl"));
  return RunProcess(args, EnvWith({}), seconds(30));
}

TEST(AccelctlCliTest, HelpListsEverySubcommand) {
  const ProcessResult result = Accelctl({"--help"});
  ASSERT_EQ(result.exit_code, 0);
  for (const char* command : {"config", "env", "launch", "estimate-memory", "tpu-config", "test"}) {
    EXPECT_NE(result.out.find(std::string("  ") + command + " "), std::string::npos) << command << "\n" << result.out;
  }
}

TEST(AccelctlCliTest, NoCommandPrintsUsageAndFails) {
  const ProcessResult result = Accelctl({});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("usage: accelctl"), std::string::npos);
}

TEST(AccelctlCliTest, UnknownSubcommandOrFlagIsOneLineAndExit2) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"frobnicate"}, {"--frobnicate"},
                                                                {"env", "--frobnicate"},
                                                                {"config", "default", "--frobnicate"}}) {
    const ProcessResult result = Accelctl(args);
    EXPECT_EQ(result.exit_code, 2) << args.front();
    EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << result.err;
    EXPECT_NE(result.err.find("error:"), std::string::npos) << result.err;
  }
}

TEST(AccelctlCliTest, SubcommandHelpShowsBothSpellingsWork) {
  const ProcessResult help = Accelctl({"launch", "--help"});
  ASSERT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--num_processes NUM_PROCESSES"), std::string::npos);
  EXPECT_NE(help.out.find("--mixed_precision {no,fp16,bf16,fp8}"), std::string::npos);
}

TEST(AccelctlCliTest, VersionsOfBothBinaries) {
  const ProcessResult accelctl = Accelctl({"--version"});
  EXPECT_EQ(accelctl.exit_code, 0);
  EXPECT_TRUE(accelctl.out.starts_with("accelctl ")) << accelctl.out;
  const ProcessResult acceld = RunProcess({BinaryPath("acceld"), "--version"}, EnvWith({}), seconds(30));
  EXPECT_EQ(acceld.exit_code, 0);
  EXPECT_TRUE(acceld.out.starts_with("acceld ")) << acceld.out;
  const ProcessResult acceld_help = RunProcess({BinaryPath("acceld"), "--help"}, EnvWith({}), seconds(30));
  EXPECT_EQ(acceld_help.exit_code, 0);
  EXPECT_NE(acceld_help.out.find("usage: acceld"), std::string::npos);
}

}  // namespace
}  // namespace accel::testing
