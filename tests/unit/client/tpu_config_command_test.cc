// `accelctl tpu-config`: the gcloud command accelerate builds, for each flag and config key, checked
// through the real binary with --debug; its errors; and a fake `gcloud` on PATH that records its argv,
// proving the non-debug path runs exactly that command. The pure builder is checked directly too.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "client/commands/tpu_config_command.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::client {
namespace {

using testing::BinaryPath;
using testing::EnvWith;
using testing::ProcessResult;
using testing::RunProcess;
using testing::TempDir;
using std::chrono::seconds;

class TpuConfigTest : public ::testing::Test {
 protected:
  // HF_HOME in the temp dir: no default config unless a test writes one.
  ProcessResult Run(std::vector<std::string> args, std::map<std::string, std::string> env = {}) const {
    args.insert(args.begin(), {BinaryPath("accelctl"), "tpu-config"});
    env.emplace("HF_HOME", (dir_.path() / "hf").string());
    return RunProcess(args, EnvWith(env), seconds(30));
  }
  // The argv line --debug prints for `words` after "gcloud".
  static std::string Debug(const std::string& command_and_rest) { return "Running gcloud " + command_and_rest + "\n"; }

  TempDir dir_;
};

TEST_F(TpuConfigTest, DebugPrintsTheGcloudCommand) {
  const ProcessResult result = Run({"--tpu_name", "pod", "--tpu_zone", "us-central1-a", "--command", "echo hello", "--debug"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out,
            Debug("compute tpus tpu-vm ssh pod --zone us-central1-a --command cd /usr/share; echo hello --worker all"));
  EXPECT_EQ(result.err, "");
}

TEST_F(TpuConfigTest, EveryCommandWordBecomesItsOwnCommand) {
  const ProcessResult result =
      Run({"--tpu_name", "pod", "--tpu_zone", "z", "--command", "echo", "hi", "--command", "ls", "--debug"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, Debug("compute tpus tpu-vm ssh pod --zone z --command cd /usr/share; echo; hi; ls --worker all"));
}

TEST_F(TpuConfigTest, AlphaAndInstallAccelerateVersions) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--use_alpha"}, "gcloud alpha compute tpus tpu-vm ssh pod --zone z --command cd /usr/share; ls --worker all"},
      {{"--install_accelerate"},
       "gcloud compute tpus tpu-vm ssh pod --zone z --command cd /usr/share; pip install accelerate -U; ls --worker all"},
      {{"--install-accelerate", "--accelerate_version", "dev"},
       "gcloud compute tpus tpu-vm ssh pod --zone z --command cd /usr/share; pip install "
       "git+https://github.com/huggingface/accelerate.git; ls --worker all"},
      {{"--install_accelerate", "--accelerate-version=1.2.3"},
       "gcloud compute tpus tpu-vm ssh pod --zone z --command cd /usr/share; pip install accelerate==1.2.3; ls --worker all"},
      // The version is checked (and used) even without --install_accelerate, as in accelerate.
      {{"--accelerate_version", "0.20.0rc1"}, "gcloud compute tpus tpu-vm ssh pod --zone z --command cd /usr/share; ls --worker all"},
      {{"--use_alpha", "--install_accelerate", "--accelerate_version", "latest"},
       "gcloud alpha compute tpus tpu-vm ssh pod --zone z --command cd /usr/share; pip install accelerate -U; ls --worker all"},
      // Unambiguous prefixes are accepted (argparse's allow_abbrev, on for this command).
      {{"--install_acc", "--use_a"},
       "gcloud alpha compute tpus tpu-vm ssh pod --zone z --command cd /usr/share; pip install accelerate -U; ls --worker all"},
  };
  for (const auto& [flags, expected] : cases) {
    std::vector<std::string> args = {"--tpu_name", "pod", "--tpu_zone", "z", "--command", "ls", "--debug"};
    args.insert(args.end(), flags.begin(), flags.end());
    const ProcessResult result = Run(args);
    EXPECT_EQ(result.exit_code, 0) << flags.front() << ": " << result.err;
    EXPECT_EQ(result.out, "Running " + expected + "\n") << flags.front();
  }
}

TEST_F(TpuConfigTest, CommandFileLinesReplaceTheCommands) {
  const auto file = dir_.Write("setup.sh", "pip install -r requirements.txt\r\n\necho done\n");
  const ProcessResult result = Run({"--tpu_name", "pod", "--tpu_zone", "z", "--command_file", file.string(),
                                    "--command", "ignored", "--debug"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, Debug("compute tpus tpu-vm ssh pod --zone z --command cd /usr/share; pip install -r "
                              "requirements.txt; ; echo done --worker all"));
}

TEST_F(TpuConfigTest, ConfigFileFillsWhatTheFlagsLeaveOut) {
  const auto config = dir_.Write("tpu.yaml",
                                 "compute_environment: LOCAL_MACHINE\ndistributed_type: XLA\n"
                                 "tpu_name: config-pod\ntpu_zone: europe-west4-a\n"
                                 "commands:\n- pip install transformers\n- echo ready now\n");
  // Config commands are whole commands (not split into words).
  ProcessResult result = Run({"--config_file", config.string(), "--debug"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, Debug("compute tpus tpu-vm ssh config-pod --zone europe-west4-a --command cd /usr/share; pip "
                              "install transformers; echo ready now --worker all"));
  // Flags win over the config.
  result = Run({"--config_file", config.string(), "--tpu_name", "flag-pod", "--command", "ls", "--debug"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, Debug("compute tpus tpu-vm ssh flag-pod --zone europe-west4-a --command cd /usr/share; ls "
                              "--worker all"));
}

TEST_F(TpuConfigTest, ConfigCommandFileAndTheDefaultConfig) {
  const auto commands = dir_.Write("cmds.txt", "echo one\necho two");
  // The default config (HF_HOME/accelerate/default_config.yaml) is read without --config_file.
  dir_.Write("hf/accelerate/default_config.yaml",
             "compute_environment: LOCAL_MACHINE\ndistributed_type: XLA\ntpu_name: default-pod\ntpu_zone: z1\n"
             "command_file: " + commands.string() + "\ncommands:\n- not used, the file wins\n");
  ProcessResult result = Run({"--debug"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, Debug("compute tpus tpu-vm ssh default-pod --zone z1 --command cd /usr/share; echo one; echo two "
                              "--worker all"));
  // A --command keeps the config's command_file away.
  result = Run({"--command", "ls", "--debug"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, Debug("compute tpus tpu-vm ssh default-pod --zone z1 --command cd /usr/share; ls --worker all"));
}

TEST_F(TpuConfigTest, ErrorsAreOneLineAndExit1) {
  const auto empty_config = dir_.Write("empty.yaml", "compute_environment: LOCAL_MACHINE\ndistributed_type: XLA\ntpu_name: p\ntpu_zone: z\ncommands: []\n");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--tpu_name", "p", "--tpu_zone", "z", "--debug"}, "a command file or a command to run on the pod is required"},
      {{"--config_file", empty_config.string(), "--debug"}, "a command file or a command to run on the pod is required"},
      {{"--tpu_zone", "z", "--command", "ls", "--debug"}, "a TPU name is required: --tpu_name or tpu_name in the config file"},
      {{"--tpu_name", "p", "--command", "ls", "--debug"}, "a TPU zone is required"},
      {{"--tpu_name", "p", "--tpu_zone", "z", "--command", "ls", "--accelerate_version", "banana", "--debug"},
       "--accelerate_version banana: expected `latest`, `dev` or a version such as 1.15.0"},
      {{"--tpu_name", "p", "--tpu_zone", "z", "--command_file", "/nonexistent/cmds", "--debug"},
       "the command file `/nonexistent/cmds` cannot be read"},
      {{"--config_file", "/nonexistent/config.yaml", "--command", "ls", "--debug"},
       "the passed configuration file `/nonexistent/config.yaml` does not exist"},
  };
  for (const auto& [args, message] : cases) {
    const ProcessResult result = Run(args);
    EXPECT_EQ(result.exit_code, 1) << message;
    EXPECT_EQ(result.out, "") << message;
    EXPECT_EQ(result.err.rfind("accelctl tpu-config: error: ", 0), 0u) << result.err;
    EXPECT_NE(result.err.find(message), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << "one line: " << result.err;
  }
  // Bad command lines are argparse errors: exit 2.
  EXPECT_EQ(Run({"--frobnicate"}).exit_code, 2);
  EXPECT_EQ(Run({"--command"}).exit_code, 2);
}

TEST_F(TpuConfigTest, RunsGcloudFromPathWithTheSameArguments) {
  const auto bin = dir_.path() / "bin";
  const auto record = dir_.path() / "argv.txt";
  dir_.Write("bin/gcloud", "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> " + record.string() + "; done\n",
             /*executable=*/true);
  const ProcessResult result =
      Run({"--tpu_name", "pod", "--tpu_zone", "z", "--command", "echo a b", "--command", "ls", "--use_alpha",
           "--install_accelerate", "--accelerate_version", "1.15.0"},
          {{"PATH", bin.string() + ":/usr/bin:/bin"}});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "Successfully setup pod.\n");
  // One argument per line: the joined command is a single argument, spaces and all.
  EXPECT_EQ(testing::ReadFile(record),
            "alpha\ncompute\ntpus\ntpu-vm\nssh\npod\n--zone\nz\n--command\n"
            "cd /usr/share; pip install accelerate==1.15.0; echo a b; ls\n--worker\nall\n");
}

TEST_F(TpuConfigTest, MissingOrFailingGcloud) {
  const auto empty_bin = dir_.path() / "empty_bin";
  std::filesystem::create_directories(empty_bin);
  ProcessResult result = Run({"--tpu_name", "p", "--tpu_zone", "z", "--command", "ls"}, {{"PATH", empty_bin.string()}});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err.rfind("accelctl tpu-config: error: gcloud was not found on PATH", 0), 0u) << result.err;
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << result.err;

  // accelerate ignores gcloud's status and claims success; a failed ssh is reported here instead.
  dir_.Write("failing_bin/gcloud", "#!/bin/sh\necho 'ERROR: (gcloud) no such TPU' >&2\nexit 3\n", /*executable=*/true);
  result = Run({"--tpu_name", "p", "--tpu_zone", "z", "--command", "ls"},
               {{"PATH", (dir_.path() / "failing_bin").string() + ":/usr/bin:/bin"}});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("ERROR: (gcloud) no such TPU\n"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("accelctl tpu-config: error: gcloud exited with status 3"), std::string::npos) << result.err;
}

TEST(TpuConfigBuilderTest, InstallSpecAndLines) {
  EXPECT_EQ(*AccelerateInstallSpec("latest"), "accelerate -U");
  EXPECT_EQ(*AccelerateInstallSpec("dev"), "git+https://github.com/huggingface/accelerate.git");
  for (const char* version : {"1.15.0", "v1.0", "2!1.0.post1", "1.0.dev3", "1.0-1", "1.0+local.7", "1.0RC1", "0.20"}) {
    ASSERT_TRUE(AccelerateInstallSpec(version).ok()) << version;
    EXPECT_EQ(*AccelerateInstallSpec(version), std::string("accelerate==") + version);
  }
  for (const char* version : {"", "banana", "1..0", "1.0 beta gamma", "==1.0"}) {
    EXPECT_FALSE(AccelerateInstallSpec(version).ok()) << version;
  }
  EXPECT_EQ(SplitLines("a\nb\r\nc\rd"), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(SplitLines("a\n\nb\n"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(SplitLines(""), std::vector<std::string>{});
}

TEST(TpuConfigBuilderTest, ConfigOnlyFillsGaps) {
  common::ClusterConfig config;
  config.tpu_name = "cfg";
  config.tpu_zone = "cfg-zone";
  config.commands = std::vector<std::string>{"from config"};
  const ReadFileFn no_files = [](const std::string& path) -> absl::StatusOr<std::string> {
    return absl::NotFoundError(path);
  };
  TpuConfigArgs args;
  args.tpu_zone = "flag-zone";
  auto argv = BuildTpuConfigArgv(args, config, no_files);
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_EQ(*argv, (std::vector<std::string>{"gcloud", "compute", "tpus", "tpu-vm", "ssh", "cfg", "--zone", "flag-zone",
                                             "--command", "cd /usr/share; from config", "--worker", "all"}));
  // Without a config there is nothing to fill the gaps.
  EXPECT_FALSE(BuildTpuConfigArgv(args, std::nullopt, no_files).ok());
}

}  // namespace
}  // namespace accel::client
