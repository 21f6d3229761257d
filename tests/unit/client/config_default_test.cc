// `accelctl config default` and `accelctl config update`: the real binary as a subprocess, with the
// cache-location variables, the GPU probe (a fake /proc/driver/nvidia tree, NVML pointed at nothing)
// and the files on disk under the test's control. Expected file contents are spelled out in full: a
// key added, dropped, renamed or reordered fails the comparison.
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::client {
namespace {

namespace fs = std::filesystem;
using accel::testing::ProcessResult;
using accel::testing::ReadFile;
using ::testing::HasSubstr;
using ::testing::StartsWith;

size_t LineCount(const std::string& text) {
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  return lines + (!text.empty() && text.back() != '\n');
}

// What accelerate's write_basic_config writes: ClusterConfig(...).to_json_file(), i.e.
// json.dumps(to_dict(), indent=2, sort_keys=True) + "\n", with exactly these 15 keys.
std::string ExpectedDefaultJson(std::string_view distributed_type, std::string_view mixed_precision,
                                int num_processes, bool use_cpu) {
  return fmt::format(
      "{{\n"
      "  \"compute_environment\": \"LOCAL_MACHINE\",\n"
      "  \"debug\": false,\n"
      "  \"distributed_type\": \"{}\",\n"
      "  \"downcast_bf16\": false,\n"
      "  \"enable_cpu_affinity\": false,\n"
      "  \"machine_rank\": 0,\n"
      "  \"main_training_function\": \"main\",\n"
      "  \"mixed_precision\": \"{}\",\n"
      "  \"num_machines\": 1,\n"
      "  \"num_processes\": {},\n"
      "  \"rdzv_backend\": \"static\",\n"
      "  \"same_network\": false,\n"
      "  \"tpu_use_cluster\": false,\n"
      "  \"tpu_use_sudo\": false,\n"
      "  \"use_cpu\": {}\n"
      "}}\n",
      distributed_type, mixed_precision, num_processes, use_cpu ? "true" : "false");
}

class ConfigDefaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(temp_.path().empty());
    dir_ = temp_.path();
    // No cache variable by default: each test sets the ones it is about.
    env_ = {
        {"PATH", "/usr/bin:/bin"},
        {"ACCEL_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1"},
        {"ACCEL_PROC_NVIDIA_GPUS", (dir_ / "nvidia" / "gpus").string()},
    };
  }
  // Runs `accelctl <args>` with exactly env_ as its environment.
  ProcessResult Run(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {accel::testing::BinaryPath("accelctl")};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult result = accel::testing::RunProcess(argv, env_, std::chrono::seconds(30));
    EXPECT_FALSE(result.timed_out);
    return result;
  }

  void WriteFile(const fs::path& path, std::string_view text) const {
    temp_.Write(fs::relative(path, dir_).string(), std::string(text));
  }

  void AddFakeGpus(int count) {
    for (int i = 0; i < count; ++i) {
      const std::string bus_id = fmt::format("0000:{:02x}:00.0", 0x19 + i);
      WriteFile(dir_ / "nvidia" / "gpus" / bus_id / "information",
                fmt::format("Model: \t\t NVIDIA H200\nBus Location: \t {}\n", bus_id));
    }
  }

  // Runs `config default <extra>` and checks the message and that the file landed at `expected`.
  void ExpectDefaultWrittenTo(const fs::path& expected, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"config", "default"};
    args.insert(args.end(), extra.begin(), extra.end());
    const ProcessResult result = Run(args);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, "accelerate configuration saved at " + expected.string() + "\n");
    EXPECT_EQ(result.err, "");
    ASSERT_TRUE(fs::exists(expected)) << expected;
  }

  accel::testing::TempDir temp_;
  fs::path dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(ConfigDefaultTest, HfHomeWinsOverXdgAndHome) {
  env_["HF_HOME"] = (dir_ / "hf").string();
  env_["XDG_CACHE_HOME"] = (dir_ / "xdg").string();
  env_["HOME"] = (dir_ / "home").string();
  const fs::path expected = dir_ / "hf" / "accelerate" / "default_config.yaml";
  ExpectDefaultWrittenTo(expected);
  // No GPU: CPU only, one process. JSON content even though the name ends in .yaml.
  EXPECT_EQ(ReadFile(expected), ExpectedDefaultJson("NO", "no", 1, true));
  EXPECT_FALSE(fs::exists(dir_ / "xdg"));
  EXPECT_FALSE(fs::exists(dir_ / "home" / ".cache"));
}

TEST_F(ConfigDefaultTest, XdgCacheHomeWhenNoHfHome) {
  env_["XDG_CACHE_HOME"] = (dir_ / "xdg").string();
  env_["HOME"] = (dir_ / "home").string();
  const fs::path expected = dir_ / "xdg" / "huggingface" / "accelerate" / "default_config.yaml";
  ExpectDefaultWrittenTo(expected);
  EXPECT_EQ(ReadFile(expected), ExpectedDefaultJson("NO", "no", 1, true));
  EXPECT_FALSE(fs::exists(dir_ / "home" / ".cache"));
}

TEST_F(ConfigDefaultTest, HomeCacheWhenNeitherIsSet) {
  env_["HOME"] = (dir_ / "home").string();
  const fs::path expected = dir_ / "home" / ".cache" / "huggingface" / "accelerate" / "default_config.yaml";
  ExpectDefaultWrittenTo(expected);
  EXPECT_EQ(ReadFile(expected), ExpectedDefaultJson("NO", "no", 1, true));
}

TEST_F(ConfigDefaultTest, ConfigFileOverridesTheCacheLocation) {
  env_["HF_HOME"] = (dir_ / "hf").string();
  const fs::path explicit_path = dir_ / "nested" / "dir" / "mine.yaml";
  ExpectDefaultWrittenTo(explicit_path, {"--config_file", explicit_path.string()});
  EXPECT_EQ(ReadFile(explicit_path), ExpectedDefaultJson("NO", "no", 1, true));
  EXPECT_FALSE(fs::exists(dir_ / "hf" / "accelerate" / "default_config.yaml"));
}

TEST_F(ConfigDefaultTest, GpuCountDecidesDistributedTypeAndProcesses) {
  env_["HF_HOME"] = (dir_ / "hf").string();
  AddFakeGpus(2);
  const fs::path two = dir_ / "two.yaml";
  ExpectDefaultWrittenTo(two, {"--config_file", two.string()});
  EXPECT_EQ(ReadFile(two), ExpectedDefaultJson("MULTI_GPU", "no", 2, false));

  fs::remove_all(dir_ / "nvidia");
  AddFakeGpus(1);
  const fs::path one = dir_ / "one.yaml";
  ExpectDefaultWrittenTo(one, {"--config_file", one.string()});
  EXPECT_EQ(ReadFile(one), ExpectedDefaultJson("NO", "no", 1, false));
}

TEST_F(ConfigDefaultTest, MixedPrecisionFlagIsWrittenAndChecked) {
  env_["HF_HOME"] = (dir_ / "hf").string();
  const fs::path path = dir_ / "bf16.yaml";
  ExpectDefaultWrittenTo(path, {"--config_file", path.string(), "--mixed_precision", "bf16"});
  EXPECT_EQ(ReadFile(path), ExpectedDefaultJson("NO", "bf16", 1, true));

  const ProcessResult bad = Run({"config", "default", "--config_file", (dir_ / "fp32.yaml").string(), "--mixed_precision", "fp32"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(LineCount(bad.err), 1u) << bad.err;
  EXPECT_FALSE(fs::exists(dir_ / "fp32.yaml"));
}

TEST_F(ConfigDefaultTest, ExistingFileIsNeverOverwritten) {
  env_["HF_HOME"] = (dir_ / "hf").string();
  const fs::path path = dir_ / "hf" / "accelerate" / "default_config.yaml";
  const std::string mine = "distributed_type: NO\n# hand edited\n";
  WriteFile(path, mine);
  AddFakeGpus(2);  // would change the content if it were rewritten
  const ProcessResult result = Run({"config", "default", "--mixed_precision", "fp16"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("already exists"));
  EXPECT_THAT(result.out, HasSubstr(path.string()));
  EXPECT_EQ(ReadFile(path), mine);
}

TEST_F(ConfigDefaultTest, UpdateConvertsLegacyKeysAddsDefaultsAndSorts) {
  env_["HF_HOME"] = (dir_ / "hf").string();
  const fs::path path = dir_ / "hf" / "accelerate" / "default_config.yaml";
  WriteFile(path,
            "distributed_type: MULTI_GPU\n"
            "num_processes: 4\n"
            "fp16: true\n"
            "dynamo_backend: INDUCTOR\n"
            "gpu_ids: 0,1,2,3\n"
            "main_process_port: 29555\n"
            "my_custom_key: hello\n"
            "fsdp_config: {}\n"
            "main_process_ip: null\n");
  const ProcessResult result = Run({"config", "update"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "Successfully updated the configuration file at " + path.string() + ".\n");
  // accelerate refuses unknown keys; accelctl keeps them and says so, once, on stderr.
  EXPECT_EQ(LineCount(result.err), 1u) << result.err;
  EXPECT_THAT(result.err, StartsWith("warning: "));
  EXPECT_THAT(result.err, HasSubstr("my_custom_key"));
  EXPECT_EQ(ReadFile(path),
            "compute_environment: LOCAL_MACHINE\n"
            "debug: false\n"
            "distributed_type: MULTI_GPU\n"
            "downcast_bf16: false\n"
            "dynamo_config:\n"
            "  dynamo_backend: INDUCTOR\n"
            "enable_cpu_affinity: false\n"
            "gpu_ids: 0,1,2,3\n"
            "machine_rank: 0\n"
            "main_process_port: 29555\n"
            "main_training_function: main\n"
            "mixed_precision: fp16\n"
            "my_custom_key: hello\n"
            "num_machines: 1\n"
            "num_processes: 4\n"
            "rdzv_backend: static\n"
            "same_network: false\n"
            "tpu_use_cluster: false\n"
            "tpu_use_sudo: false\n"
            "use_cpu: false\n");

  // Idempotent: a second update leaves the file as it is.
  const std::string once = ReadFile(path);
  ASSERT_EQ(Run({"config", "update"}).exit_code, 0);
  EXPECT_EQ(ReadFile(path), once);
}

TEST_F(ConfigDefaultTest, UpdateOfMissingExplicitFileFailsWithOneLine) {
  env_["HF_HOME"] = (dir_ / "hf").string();
  const fs::path missing = dir_ / "missing.yaml";
  const ProcessResult result = Run({"config", "update", "--config_file", missing.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(LineCount(result.err), 1u) << result.err;
  EXPECT_THAT(result.err, HasSubstr(missing.string()));
  EXPECT_THAT(result.err, HasSubstr("doesn't exist"));
  EXPECT_FALSE(fs::exists(missing));
}

}  // namespace
}  // namespace accel::client
