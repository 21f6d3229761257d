// The two binaries' command lines: help, version, and one-line errors with exit 2 for bad input; and
// the split of accelctl from its gRPC client (client/commands/cluster_commands.h).
#include <filesystem>

#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

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

// What keeps `accelctl launch` fast: neither gRPC nor protobuf nor a shared Abseil is mapped at start.
TEST(AccelctlCliTest, AccelctlLoadsNoRpcLibraries) {
  const ProcessResult ldd = RunProcess({"/usr/bin/ldd", BinaryPath("accelctl")}, EnvWith({}), seconds(30));
  ASSERT_EQ(ldd.exit_code, 0) << ldd.err;
  for (const char* library : {"libgrpc", "libgpr", "libprotobuf", "libabsl_"}) {
    EXPECT_EQ(ldd.out.find(library), std::string::npos) << library << "\n" << ldd.out;
  }
  // The companion does link them: it is the one that talks to acceld.
  const ProcessResult companion =
      RunProcess({"/usr/bin/ldd", BinaryPath("accelctl-cluster")}, EnvWith({}), seconds(30));
  EXPECT_NE(companion.out.find("libgrpc++"), std::string::npos) << companion.out;
}

TEST(AccelctlCliTest, ClusterCommandsRunTheCompanionWithTheSameWords) {
  // --help of a cluster command is printed by accelctl-cluster, with the flags only it defines.
  const ProcessResult help = Accelctl({"status", "--help"});
  ASSERT_EQ(help.exit_code, 0) << help.err;
  EXPECT_NE(help.out.find("--token_file"), std::string::npos) << help.out;
  // Its errors and exit codes come back unchanged.
  const ProcessResult bad = Accelctl({"nodes", "--frobnicate"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("unrecognized arguments: --frobnicate"), std::string::npos) << bad.err;
}

TEST(AccelctlCliTest, MissingCompanionIsOneLineAndLocalCommandsStillWork) {
  TempDir dir;
  const std::filesystem::path lone = dir.path() / "bin" / "accelctl";
  std::filesystem::create_directories(lone.parent_path());
  std::filesystem::copy_file(BinaryPath("accelctl"), lone);
  const ProcessResult status = RunProcess({lone.string(), "status", "--cluster", "unix:/nonexistent"}, EnvWith({}),
                                          seconds(30));
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_EQ(status.err, "accelctl status: error: the cluster client accelctl-cluster is not installed next to " +
                            lone.string() + " or in " + (dir.path() / "libexec" / "accel").string() + "\n");
  const ProcessResult launch =
      RunProcess({lone.string(), "launch", "--cpu", "--num_processes", "1", "--no_python", "/bin/true"},
                 EnvWith({{"HF_HOME", dir.path().string()}}), seconds(30));
  EXPECT_EQ(launch.exit_code, 0) << launch.err;
  // An installed layout: <prefix>/libexec/accel/accelctl-cluster is found.
  const std::filesystem::path installed = dir.path() / "libexec" / "accel" / "accelctl-cluster";
  std::filesystem::create_directories(installed.parent_path());
  std::filesystem::copy_file(BinaryPath("accelctl-cluster"), installed);
  const ProcessResult found = RunProcess({lone.string(), "status", "--help"}, EnvWith({}), seconds(30));
  EXPECT_EQ(found.exit_code, 0) << found.err;
  EXPECT_NE(found.out.find("--token_file"), std::string::npos) << found.out;
}

}  // namespace
}  // namespace accel::testing
