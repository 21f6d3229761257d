#include "common/config/cluster_config.h"

#include <unistd.h>

#include <fstream>

#include "gtest/gtest.h"

namespace accel::common {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "accel_config_test_XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path Write(const std::string& name, const std::string& text) const {
    const auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }

 private:
  std::filesystem::path path_;
};

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// What `accelerate config` (1.x) writes for a 2-GPU machine with bf16 and dynamo.
constexpr char kAccelerateYaml[] = R"(compute_environment: LOCAL_MACHINE
debug: false
distributed_type: MULTI_GPU
downcast_bf16: 'no'
dynamo_config:
  dynamo_backend: INDUCTOR
  dynamo_mode: default
  dynamo_use_dynamic: false
  dynamo_use_fullgraph: false
enable_cpu_affinity: false
gpu_ids: all
machine_rank: 0
main_training_function: main
mixed_precision: bf16
num_machines: 1
num_processes: 2
rdzv_backend: static
same_network: true
tpu_env: []
tpu_use_cluster: false
tpu_use_sudo: false
use_cpu: false
)";

TEST(ConfigLocationTest, HfHomeWins) {
  Environment env(std::map<std::string, std::string>{{"HF_HOME", "/data/hf"}, {"XDG_CACHE_HOME", "/xdg"}, {"HOME", "/home/u"}});
  EXPECT_EQ(DefaultConfigPath(env), "/data/hf/accelerate/default_config.yaml");
}

TEST(ConfigLocationTest, XdgCacheHomeNext) {
  Environment env(std::map<std::string, std::string>{{"XDG_CACHE_HOME", "/xdg"}, {"HOME", "/home/u"}});
  EXPECT_EQ(DefaultConfigPath(env), "/xdg/huggingface/accelerate/default_config.yaml");
}

TEST(ConfigLocationTest, HomeCacheLast) {
  Environment env(std::map<std::string, std::string>{{"HOME", "/home/u"}});
  EXPECT_EQ(DefaultConfigPath(env), "/home/u/.cache/huggingface/accelerate/default_config.yaml");
}

TEST(ConfigLocationTest, EmptyVariablesAreIgnoredAndTildeExpands) {
  Environment env(std::map<std::string, std::string>{{"HF_HOME", ""}, {"XDG_CACHE_HOME", "~/cache"}, {"HOME", "/home/u"}});
  EXPECT_EQ(DefaultConfigPath(env), "/home/u/cache/huggingface/accelerate/default_config.yaml");
}

TEST(ClusterConfigTest, LoadsWhatAccelerateWrites) {
  TempDir dir;
  auto loaded = LoadClusterConfig(dir.Write("default_config.yaml", kAccelerateYaml));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->warnings.empty());
  const ClusterConfig& config = loaded->config;
  EXPECT_EQ(config.distributed_type, DistributedType::kMultiGpu);
  EXPECT_EQ(config.mixed_precision, "bf16");
  EXPECT_EQ(config.num_processes, 2);
  EXPECT_EQ(config.gpu_ids, "all");
  EXPECT_TRUE(config.same_network);
  EXPECT_FALSE(config.downcast_bf16);  // the questionnaire's string 'no'
  EXPECT_EQ(config.dynamo_config["dynamo_backend"], "INDUCTOR");
  ASSERT_TRUE(config.tpu_env.has_value());
  EXPECT_TRUE(config.tpu_env->empty());
}

TEST(ClusterConfigTest, LoadsJsonByExtensionAndJsonInYamlName) {
  TempDir dir;
  const std::string json = R"({"compute_environment": "LOCAL_MACHINE", "distributed_type": "NO", "mixed_precision": "fp16", "use_cpu": true})";
  auto from_json = LoadClusterConfig(dir.Write("c.json", json));
  ASSERT_TRUE(from_json.ok()) << from_json.status();
  EXPECT_EQ(from_json->config.mixed_precision, "fp16");
  EXPECT_EQ(from_json->config.num_processes, 1);  // NO without num_processes means 1
  auto from_yaml_name = LoadClusterConfig(dir.Write("default_config.yaml", json));
  ASSERT_TRUE(from_yaml_name.ok()) << from_yaml_name.status();
  EXPECT_TRUE(from_yaml_name->config.use_cpu);
}

TEST(ClusterConfigTest, YamlPitfallsMeanWhatTheUserMeant) {
  TempDir dir;
  auto loaded = LoadClusterConfig(dir.Write("c.yaml",
                                            "distributed_type: NO\n"
                                            "mixed_precision: no\n"
                                            "gpu_ids: 0\n"
                                            "num_processes: 1\n"
                                            "dynamo_backend: NO\n"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.distributed_type, DistributedType::kNo);
  EXPECT_EQ(loaded->config.mixed_precision, "no");
  EXPECT_EQ(loaded->config.gpu_ids, "0");
  EXPECT_TRUE(loaded->config.dynamo_config.empty());
}

TEST(ClusterConfigTest, LegacyKeysAreConverted) {
  TempDir dir;
  auto loaded = LoadClusterConfig(dir.Write("c.yaml",
                                            "distributed_type: MULTI_GPU\n"
                                            "fp16: true\n"
                                            "dynamo_backend: INDUCTOR\n"
                                            "num_processes: 2\n"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.mixed_precision, "fp16");
  EXPECT_EQ(loaded->config.dynamo_config, (ConfigValue{{"dynamo_backend", "INDUCTOR"}}));
  const ConfigValue written = ClusterConfigToValue(loaded->config);
  EXPECT_FALSE(written.contains("fp16"));
  EXPECT_FALSE(written.contains("dynamo_backend"));
}

TEST(ClusterConfigTest, UnknownKeysWarnAndAreKept) {
  TempDir dir;
  auto loaded = LoadClusterConfig(dir.Write("c.yaml", "distributed_type: NO\nzeta_key: 1\nalpha_key: x\n"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->warnings.size(), 1u);
  EXPECT_NE(loaded->warnings[0].find("alpha_key, zeta_key"), std::string::npos) << loaded->warnings[0];
  EXPECT_NE(loaded->warnings[0].find("c.yaml"), std::string::npos);
  const ConfigValue written = ClusterConfigToValue(loaded->config);
  EXPECT_EQ(written["zeta_key"], 1);
  EXPECT_EQ(written["alpha_key"], "x");
}

// `cluster` is accel's own key (the coordinator to submit to): known, typed, and written back.
TEST(ClusterConfigTest, ClusterKeyIsAccelsOwn) {
  TempDir dir;
  auto loaded = LoadClusterConfig(dir.Write("c.yaml", "distributed_type: NO\ncluster: unix:/run/accel/acceld.sock\n"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->warnings.empty());
  EXPECT_EQ(loaded->config.cluster, "unix:/run/accel/acceld.sock");
  EXPECT_EQ(ClusterConfigToValue(loaded->config)["cluster"], "unix:/run/accel/acceld.sock");
  EXPECT_FALSE(ClusterConfigToValue(ClusterConfig{}).contains("cluster"));
  EXPECT_FALSE(LoadClusterConfig(dir.Write("b.yaml", "distributed_type: NO\ncluster: [a]\n")).ok());
}

struct BadFile {
  const char* name;
  const char* text;
  std::vector<const char*> message_parts;  // each must appear in the one-line error
  // Test names list the case by name rather than by its bytes.
  friend void PrintTo(const BadFile& value, std::ostream* os) { *os << value.name; }
};

class BadConfigTest : public ::testing::TestWithParam<BadFile> {};

TEST_P(BadConfigTest, OneLineNamingFileKeyValueAndAllowed) {
  TempDir dir;
  const auto path = dir.Write("bad.yaml", GetParam().text);
  auto loaded = LoadClusterConfig(path);
  ASSERT_FALSE(loaded.ok());
  const std::string message(loaded.status().message());
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  for (const char* part : GetParam().message_parts) EXPECT_NE(message.find(part), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadConfigTest,
    ::testing::Values(
        BadFile{"WrongMixedPrecision", "distributed_type: NO\nmixed_precision: fp32\n",
                {"mixed_precision", "\"fp32\"", "no, fp16, bf16, fp8"}},
        BadFile{"NumProcessesNotInt", "distributed_type: MULTI_GPU\nnum_processes: two\n",
                {"num_processes", "\"two\"", "integer"}},
        BadFile{"BadDistributedType", "distributed_type: TPU\n", {"distributed_type", "\"TPU\"", "XLA"}},
        BadFile{"MissingDistributedType", "num_processes: 2\n", {"distributed_type is missing"}},
        BadFile{"EmptyFile", "", {"empty"}},
        BadFile{"NotAMapping", "- a\n- b\n", {"mapping"}},
        BadFile{"SyntaxError", "distributed_type: [NO\n", {"invalid YAML", "line"}},
        BadFile{"BadBool", "distributed_type: NO\nuse_cpu: maybe\n", {"use_cpu", "\"maybe\"", "true or false"}},
        BadFile{"BadPort", "distributed_type: NO\nmain_process_port: 70000\n", {"main_process_port", "70000"}},
        BadFile{"RankBeyondMachines", "distributed_type: MULTI_GPU\nnum_machines: 2\nmachine_rank: 2\n",
                {"machine_rank", "below num_machines"}},
        BadFile{"BadGpuIds", "distributed_type: MULTI_GPU\ngpu_ids: first\n", {"gpu_ids", "\"first\""}},
        BadFile{"BadZeroStage", "distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 5\n",
                {"deepspeed_config.zero_stage", "5", "0 to 3"}},
        BadFile{"BadDynamoBackend", "distributed_type: NO\ndynamo_config:\n  dynamo_backend: TURBO\n",
                {"dynamo_config.dynamo_backend", "INDUCTOR"}},
        BadFile{"SectionNotAMapping", "distributed_type: FSDP\nfsdp_config: yes\n", {"fsdp_config", "mapping"}},
        BadFile{"BadComputeEnvironment", "compute_environment: CLOUD\ndistributed_type: NO\n",
                {"compute_environment", "LOCAL_MACHINE"}}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(ClusterConfigTest, MissingFileIsNotFound) {
  auto loaded = LoadClusterConfig("/nonexistent/accel/config.yaml");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(loaded.status().message().find("/nonexistent/accel/config.yaml"), std::string::npos);
}

TEST(ClusterConfigTest, BadJsonNamesFile) {
  TempDir dir;
  const auto path = dir.Write("c.json", "{\"distributed_type\": \"NO\",,}");
  auto loaded = LoadClusterConfig(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("invalid JSON"), std::string::npos) << loaded.status();
  EXPECT_NE(loaded.status().message().find(path.string()), std::string::npos);
}

TEST(ClusterConfigTest, SaveYamlRoundTripsAndSortsKeys) {
  TempDir dir;
  auto loaded = LoadClusterConfig(dir.Write("in.yaml", kAccelerateYaml));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const auto out = dir.path() / "sub" / "out.yaml";
  ASSERT_TRUE(SaveClusterConfig(loaded->config, out, ConfigFileFormat::kByExtension).ok());
  const std::string text = ReadAll(out);
  EXPECT_EQ(text.rfind("compute_environment: LOCAL_MACHINE\ndebug: false\ndistributed_type: MULTI_GPU\n", 0), 0u)
      << text;
  EXPECT_NE(text.find("mixed_precision: bf16\n"), std::string::npos);
  EXPECT_NE(text.find("tpu_env: []\n"), std::string::npos);
  auto again = LoadClusterConfig(out);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(ClusterConfigToValue(again->config), ClusterConfigToValue(loaded->config));
}

TEST(ClusterConfigTest, SaveJsonForJsonNameOrJsonFormat) {
  TempDir dir;
  ClusterConfig config;
  config.distributed_type = DistributedType::kNo;
  config.num_processes = 1;
  config.use_cpu = true;
  config.mixed_precision = "no";
  const auto path = dir.path() / "default_config.yaml";
  ASSERT_TRUE(SaveClusterConfig(config, path, ConfigFileFormat::kJson).ok());
  const std::string expected =
      "{\n"
      "  \"compute_environment\": \"LOCAL_MACHINE\",\n"
      "  \"debug\": false,\n"
      "  \"distributed_type\": \"NO\",\n"
      "  \"downcast_bf16\": false,\n"
      "  \"enable_cpu_affinity\": false,\n"
      "  \"machine_rank\": 0,\n"
      "  \"main_training_function\": \"main\",\n"
      "  \"mixed_precision\": \"no\",\n"
      "  \"num_machines\": 1,\n"
      "  \"num_processes\": 1,\n"
      "  \"rdzv_backend\": \"static\",\n"
      "  \"same_network\": false,\n"
      "  \"tpu_use_cluster\": false,\n"
      "  \"tpu_use_sudo\": false,\n"
      "  \"use_cpu\": true\n"
      "}\n";
  EXPECT_EQ(ReadAll(path), expected);
}

TEST(ClusterConfigTest, ToValueUsesAccelerateFieldOrderAndDropsEmpty) {
  ClusterConfig config;
  config.distributed_type = DistributedType::kFsdp;
  config.fsdp_config = ConfigValue{{"fsdp_version", 2}};
  const ConfigValue value = ClusterConfigToValue(config);
  std::vector<std::string> keys;
  for (const auto& [key, item] : value.items()) keys.push_back(key);
  ASSERT_GE(keys.size(), 3u);
  EXPECT_EQ(keys[0], "compute_environment");
  EXPECT_EQ(keys[1], "distributed_type");
  EXPECT_EQ(keys[2], "use_cpu");  // mixed_precision is None and dropped
  EXPECT_TRUE(value.contains("fsdp_config"));
  EXPECT_FALSE(value.contains("deepspeed_config"));
  EXPECT_FALSE(value.contains("gpu_ids"));
}

TEST(ClusterConfigTest, SageMakerConfigLoadsWithItsKeys) {
  TempDir dir;
  auto loaded = LoadClusterConfig(dir.Write("s.yaml",
                                            "compute_environment: AMAZON_SAGEMAKER\n"
                                            "distributed_type: DATA_PARALLEL\n"
                                            "ec2_instance_type: ml.p3.2xlarge\n"
                                            "iam_role_name: role\n"
                                            "region: us-east-1\n"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->warnings.empty());
  EXPECT_EQ(loaded->config.sagemaker["ec2_instance_type"], "ml.p3.2xlarge");
  auto missing_role = LoadClusterConfig(dir.Write("t.yaml",
                                                  "compute_environment: AMAZON_SAGEMAKER\n"
                                                  "distributed_type: NO\n"
                                                  "ec2_instance_type: ml.p3.2xlarge\n"));
  ASSERT_FALSE(missing_role.ok());
  EXPECT_NE(missing_role.status().message().find("iam_role_name"), std::string::npos);
}

}  // namespace
}  // namespace accel::common
