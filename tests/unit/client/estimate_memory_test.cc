// `accelctl estimate-memory`: the real binary as a subprocess, with HOME and every Hugging Face cache
// variable pointed into a temp dir, on checkpoints built by the test (real headers, sparse zero data).
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/safetensors_writer.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::client {
namespace {

namespace fs = std::filesystem;
using ::accel::testing::FakeTensor;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// 5,280 parameters in mixed stored dtypes (sizes are always counted as float32, as accelerate builds
// the model in float32). Layers: model.embed_tokens 1600, model.layers.0 1040, model.layers.1 1040,
// lm_head 1600: the tie between lm_head and embed_tokens goes to "lm_head", first in name order.
const std::vector<FakeTensor> kTinyModel = {
    {"model.embed_tokens.weight", "BF16", {100, 16}}, {"model.layers.0.mlp.weight", "F32", {16, 64}},
    {"model.layers.0.norm.weight", "F32", {16}},      {"model.layers.1.mlp.weight", "F8_E4M3", {16, 64}},
    {"model.layers.1.norm.weight", "F32", {16}},      {"lm_head.weight", "F16", {100, 16}},
};

// By hand, from T = 4 x 5,280 = 21,120 bytes and L = 4 x 1,600 = 6,400 bytes:
// float32: 6400 / 1024 = 6.25 KB, 21120 / 1024 = 20.625 -> 20.62 KB (tie, to even), 4T = 84480 -> 82.5 KB;
// float16: 3.125 -> 3.12 KB, 10.3125 -> 10.31 KB, 2T = 42240 -> 41.25 KB;
// int8: 1.5625 -> 1.56 KB, 5.15625 -> 5.16 KB; int4: L / 8 = 800.0 bytes (a Python float), 2.578 -> 2.58 KB.
constexpr std::string_view kTinyTable =
    "┌────────────────────────────────────────────────────┐\n"
    "│          Memory Usage for loading `tiny`           │\n"
    "├───────┬─────────────┬──────────┬───────────────────┤\n"
    "│ dtype │Largest Layer│Total Size│Training using Adam│\n"
    "├───────┼─────────────┼──────────┼───────────────────┤\n"
    "│float32│   6.25 KB   │ 20.62 KB │      82.5 KB      │\n"
    "│float16│   3.12 KB   │ 10.31 KB │      41.25 KB     │\n"
    "│  int8 │   1.56 KB   │ 5.16 KB  │        N/A        │\n"
    "│  int4 │ 800.0 bytes │ 2.58 KB  │        N/A        │\n"
    "└───────┴─────────────┴──────────┴───────────────────┘\n";

// A llama config with small sizes: embed 6400 + lm_head 6400 + norm 64 + 2 layers x 34,944 = 82,752.
constexpr std::string_view kTinyLlamaConfig =
    R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 100})";

class EstimateMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(temp_.path().empty());
    dir_ = temp_.path();
    fs::create_directories(dir_ / "home");
    env_ = {{"HOME", (dir_ / "home").string()},
            {"HF_HUB_CACHE", ""},
            {"HUGGINGFACE_HUB_CACHE", ""},
            {"HF_HOME", ""},
            {"XDG_CACHE_HOME", ""}};
  }

  testing::ProcessResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {testing::BinaryPath("accelctl"), "estimate-memory"});
    return testing::RunProcess(args, testing::EnvWith(env_), std::chrono::seconds(30), dir_);
  }

  nlohmann::json RunJson(std::vector<std::string> args) {
    args.push_back("--json");
    const testing::ProcessResult result = Run(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    auto parsed = nlohmann::json::parse(result.out, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << result.out;
    return parsed;
  }

  // One line on stderr, nothing on stdout, and the exit code.
  std::string ExpectError(std::vector<std::string> args, int exit_code) {
    const testing::ProcessResult result = Run(args);
    EXPECT_EQ(result.exit_code, exit_code) << result.out << result.err;
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_THAT(result.err, StartsWith("accelctl estimate-memory: error: "));
    return result.err;
  }

  // models--ORG--NAME/snapshots/<revision>/ with the files as links into blobs/, as huggingface_hub does.
  fs::path CacheSnapshot(const fs::path& hub, const std::string& repo_folder, const std::string& revision,
                         const std::vector<FakeTensor>& tensors) {
    const fs::path repo = hub / repo_folder;
    const fs::path blob = repo / "blobs" / (revision + "-weights");
    testing::WriteFakeSafetensors(blob, tensors);
    const fs::path snapshot = repo / "snapshots" / revision;
    fs::create_directories(snapshot);
    fs::create_symlink(fs::path("../../blobs") / (revision + "-weights"), snapshot / "model.safetensors");
    return snapshot;
  }

  testing::TempDir temp_;
  fs::path dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(EstimateMemoryTest, LocalFolderPrintsAcceleratesTable) {
  testing::WriteFakeSafetensors(dir_ / "tiny" / "model.safetensors", kTinyModel);
  const testing::ProcessResult result = Run({"tiny"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_EQ(result.out,
            "Loading tensor shapes for `tiny` from tiny/model.safetensors (local folder; 1 file; 5,280 parameters "
            "in 6 tensors, largest layer `lm_head`)...\n" +
                std::string(kTinyTable));
  // The underscore spelling and a path to the file itself give the same table.
  const testing::ProcessResult file = testing::RunProcess(
      {testing::BinaryPath("accelctl"), "estimate_memory", "tiny/model.safetensors"}, testing::EnvWith(env_),
      std::chrono::seconds(30), dir_);
  ASSERT_EQ(file.exit_code, 0) << file.err;
  EXPECT_THAT(file.out, HasSubstr("5,280 parameters"));
}

TEST_F(EstimateMemoryTest, DtypesInTheOrderGivenAndJson) {
  testing::WriteFakeSafetensors(dir_ / "tiny" / "model.safetensors", kTinyModel);
  const testing::ProcessResult result = Run({"tiny", "--dtypes", "int4", "float32"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("│  int4 │ 800.0 bytes │ 2.58 KB  │        N/A        │\n"
                                    "│float32│   6.25 KB   │ 20.62 KB │      82.5 KB      │\n└"));

  const nlohmann::json json = RunJson({"tiny"});
  EXPECT_EQ(json["model"], "tiny");
  EXPECT_EQ(json["source"], "safetensors");
  EXPECT_EQ(json["parameters"], 5280);
  EXPECT_EQ(json["tensors"], 6);
  EXPECT_EQ(json["largest_layer"]["name"], "lm_head");
  EXPECT_EQ(json["largest_layer"]["parameters"], 1600);
  EXPECT_EQ(json["dtypes"]["float32"]["total_bytes"], 21120);
  EXPECT_EQ(json["dtypes"]["float32"]["largest_layer_bytes"], 6400);
  EXPECT_EQ(json["dtypes"]["float32"]["training_adam_bytes"], 84480);
  EXPECT_EQ(json["dtypes"]["float16"]["total_bytes"], 10560);
  EXPECT_EQ(json["dtypes"]["float16"]["training_adam_bytes"], 42240);
  EXPECT_EQ(json["dtypes"]["int8"]["total_bytes"], 5280);
  EXPECT_TRUE(json["dtypes"]["int8"]["training_adam_bytes"].is_null());
  EXPECT_EQ(json["dtypes"]["int4"]["total_bytes"], 2640);
  EXPECT_FALSE(json.contains("sharding"));
  // An odd element count gives half bytes at int4.
  testing::WriteFakeSafetensors(dir_ / "odd.safetensors", {{"w", "F32", {3}}});
  EXPECT_EQ(RunJson({"odd.safetensors", "--dtypes", "int4"})["dtypes"]["int4"]["total_bytes"], 1.5);
  // Integer tensors (int64 position ids) keep their width in the float32 model, as in accelerate.
  testing::WriteFakeSafetensors(dir_ / "ids.safetensors", {{"w", "BF16", {10}}, {"position_ids", "I64", {5}}});
  const nlohmann::json ids = RunJson({"ids.safetensors", "--dtypes", "float32"});
  EXPECT_EQ(ids["parameters"], 15);
  EXPECT_EQ(ids["dtypes"]["float32"]["total_bytes"], 4 * 10 + 8 * 5);
}

TEST_F(EstimateMemoryTest, HubCacheFollowsRefsMainElseNewestSnapshot) {
  const fs::path hub = dir_ / "hub";
  env_["HF_HUB_CACHE"] = hub.string();
  const fs::path pinned = CacheSnapshot(hub, "models--org--tiny", "1111aaaa", kTinyModel);
  const fs::path newer = CacheSnapshot(hub, "models--org--tiny", "2222bbbb", {{"w", "F32", {7}}});
  fs::last_write_time(pinned, fs::file_time_type::clock::now() - std::chrono::hours(2));
  fs::last_write_time(newer, fs::file_time_type::clock::now() - std::chrono::hours(1));
  fs::create_directories(hub / "models--org--tiny" / "refs");
  std::ofstream(hub / "models--org--tiny" / "refs" / "main") << "1111aaaa";

  const nlohmann::json with_ref = RunJson({"org/tiny"});
  EXPECT_EQ(with_ref["parameters"], 5280);
  EXPECT_EQ(with_ref["origin"], "Hugging Face cache, revision 1111aaaa");
  EXPECT_EQ(with_ref["path"], (pinned / "model.safetensors").string());

  fs::remove(hub / "models--org--tiny" / "refs" / "main");
  const nlohmann::json newest = RunJson({"org/tiny"});
  EXPECT_EQ(newest["parameters"], 7);
  EXPECT_EQ(newest["origin"], "Hugging Face cache, revision 2222bbbb");

  // refs/main naming a snapshot that is not there.
  std::ofstream(hub / "models--org--tiny" / "refs" / "main") << "3333cccc\n";
  EXPECT_THAT(ExpectError({"org/tiny"}, 1), HasSubstr("names revision 3333cccc but"));
}

TEST_F(EstimateMemoryTest, CacheFolderFromHfHomeXdgOrHome) {
  CacheSnapshot(dir_ / "home" / ".cache" / "huggingface" / "hub", "models--gpt2", "aa", {{"w", "F32", {1}}});
  CacheSnapshot(dir_ / "xdg" / "huggingface" / "hub", "models--gpt2", "bb", {{"w", "F32", {2}}});
  CacheSnapshot(dir_ / "hfhome" / "hub", "models--gpt2", "cc", {{"w", "F32", {3}}});
  CacheSnapshot(dir_ / "explicit", "models--gpt2", "dd", {{"w", "F32", {4}}});
  EXPECT_EQ(RunJson({"gpt2"})["parameters"], 1);  // ~/.cache/huggingface/hub
  env_["XDG_CACHE_HOME"] = (dir_ / "xdg").string();
  EXPECT_EQ(RunJson({"gpt2"})["parameters"], 2);
  env_["HF_HOME"] = (dir_ / "hfhome").string();
  EXPECT_EQ(RunJson({"gpt2"})["parameters"], 3);
  env_["HF_HUB_CACHE"] = (dir_ / "explicit").string();
  EXPECT_EQ(RunJson({"gpt2"})["parameters"], 4);
}

TEST_F(EstimateMemoryTest, ShardedCheckpointInTheCache) {
  const fs::path hub = dir_ / "hub";
  env_["HF_HUB_CACHE"] = hub.string();
  const fs::path snapshot = hub / "models--org--sharded" / "snapshots" / "abc";
  testing::WriteFakeShardedCheckpoint(snapshot, {{{"model.embed_tokens.weight", "BF16", {1000, 64}},
                                                  {"model.layers.0.w", "BF16", {64, 256}}},
                                                 {{"model.layers.0.v", "BF16", {64, 64}},
                                                  {"model.layers.1.w", "BF16", {64, 256}}},
                                                 {{"lm_head.weight", "BF16", {1000, 64}}}});
  const testing::ProcessResult result = Run({"org/sharded"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // 64,000 + 16,384 + 4,096 + 16,384 + 64,000 = 164,864 parameters; layers.0 (20,480) spans two shards.
  EXPECT_THAT(result.out, HasSubstr("(Hugging Face cache, revision abc; 3 files; 164,864 parameters in 5 tensors, "
                                    "largest layer `lm_head`)"));
  const nlohmann::json json = RunJson({"org/sharded"});
  EXPECT_EQ(json["parameters"], 164864);
  EXPECT_EQ(json["dtypes"]["float32"]["total_bytes"], 164864 * 4);

  fs::remove(snapshot / "model-00002-of-00003.safetensors");
  EXPECT_THAT(ExpectError({"org/sharded"}, 1),
              HasSubstr("shard model-00002-of-00003.safetensors is missing"));
}

TEST_F(EstimateMemoryTest, ConfigOnlyFallsBackToTheFormulaAndSaysSo) {
  const fs::path folder = dir_ / "llama";
  temp_.Write("llama/config.json", std::string(kTinyLlamaConfig));
  temp_.Write("llama/pytorch_model.bin", "not read");
  const testing::ProcessResult result = Run({"llama", "--dtypes", "float32"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith("Loading pretrained config for `llama` from llama/config.json (local folder; "
                                     "82,752 parameters in 21 tensors, largest layer `model.layers.0`)...\n"
                                     "Note: no .safetensors weights found (pytorch_model.bin not read); the sizes "
                                     "are an estimate by formula from config.json (model_type llama), not an exact "
                                     "count.\n┌"));
  // 4 x 82,752 = 331,008 bytes = 323.25 KB.
  EXPECT_THAT(result.out, HasSubstr("│323.25 KB │"));
  const nlohmann::json json = RunJson({"llama"});
  EXPECT_EQ(json["source"], "config");
  EXPECT_EQ(json["parameters"], 82752);
  EXPECT_EQ(json["largest_layer"]["name"], "model.layers.0");
  EXPECT_EQ(json["largest_layer"]["parameters"], 34944);

  EXPECT_THAT(ExpectError({"llama", "--library_name", "timm"}, 1), HasSubstr("timm config.json does not give"));
  temp_.Write("llama/config.json", R"({"model_type": "mamba"})");
  EXPECT_THAT(ExpectError({"llama"}, 1), HasSubstr("model_type 'mamba' has no parameter formula here"));
  temp_.Write("llama/config.json", "{not json");
  EXPECT_THAT(ExpectError({"llama"}, 1), HasSubstr("config.json is not valid JSON"));
}

TEST_F(EstimateMemoryTest, PerGpuShareUnderShardingFromFlags) {
  testing::WriteFakeSafetensors(dir_ / "tiny" / "model.safetensors", kTinyModel);
  const testing::ProcessResult result = Run({"tiny", "--num_processes", "4", "--zero_stage", "3"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Mixed precision, P = 5,280: (2 + 2 + 12) x P / 4 = 21,120 bytes = 20.62 KB per GPU.
  EXPECT_THAT(result.out, HasSubstr(std::string(kTinyTable) + "\n┌"));
  EXPECT_THAT(result.out,
              HasSubstr("ZeRO-3 over 4 processes; P = 5,280 parameters, N = 4 processes share each copy.\n"));
  EXPECT_THAT(result.out, HasSubstr("│float16│2.58 KB│ 2.58 KB │  15.47 KB │20.62 KB│"));

  const nlohmann::json zero1 = RunJson({"tiny", "--num_processes", "4", "--zero_stage", "1"});
  EXPECT_EQ(zero1["sharding"]["strategy"], "ZeRO-1");
  EXPECT_EQ(zero1["sharding"]["per_gpu"]["float16"]["weights_bytes"], 2 * 5280);
  EXPECT_EQ(zero1["sharding"]["per_gpu"]["float16"]["gradients_bytes"], 2 * 5280);
  EXPECT_EQ(zero1["sharding"]["per_gpu"]["float16"]["optimizer_states_bytes"], 12 * 5280 / 4);
  EXPECT_EQ(zero1["sharding"]["per_gpu"]["float32"]["optimizer_states_bytes"], 8 * 5280 / 4);
  EXPECT_FALSE(zero1["sharding"]["per_gpu"].contains("int8"));

  const nlohmann::json fsdp = RunJson({"tiny", "--num_processes", "8", "--use_fsdp"});
  EXPECT_EQ(fsdp["sharding"]["strategy"], "FSDP FULL_SHARD");
  EXPECT_EQ(fsdp["sharding"]["per_gpu"]["float32"]["total_bytes"], 16 * 5280 / 8);

  const nlohmann::json ddp = RunJson({"tiny", "--num_processes", "2"});
  EXPECT_EQ(ddp["sharding"]["strategy"], "DDP (no sharding)");
  EXPECT_EQ(ddp["sharding"]["per_gpu"]["float32"]["total_bytes"], 16 * 5280);

  const testing::ProcessResult quantized = Run({"tiny", "--num_processes", "2", "--dtypes", "int8"});
  EXPECT_THAT(quantized.out, HasSubstr("No per-GPU training table"));
}

TEST_F(EstimateMemoryTest, ShardingFromTheAccelerateConfigFile) {
  testing::WriteFakeSafetensors(dir_ / "tiny" / "model.safetensors", kTinyModel);
  temp_.Write("ds.yaml",
              "compute_environment: LOCAL_MACHINE\ndistributed_type: DEEPSPEED\nnum_processes: 8\n"
              "deepspeed_config:\n  zero_stage: 2\n");
  const nlohmann::json ds = RunJson({"tiny", "--config_file", "ds.yaml"});
  EXPECT_EQ(ds["sharding"]["strategy"], "ZeRO-2");
  EXPECT_EQ(ds["sharding"]["num_processes"], 8);
  // Flags win over the file.
  EXPECT_EQ(RunJson({"tiny", "--config_file", "ds.yaml", "--zero_stage", "3", "--num_processes", "2"})["sharding"]
               ["strategy"],
            "ZeRO-3");

  temp_.Write("fsdp.yaml",
              "distributed_type: FSDP\nnum_processes: 2\nfsdp_config:\n  fsdp_sharding_strategy: SHARD_GRAD_OP\n");
  const nlohmann::json fsdp = RunJson({"tiny", "--config_file", "fsdp.yaml"});
  EXPECT_EQ(fsdp["sharding"]["strategy"], "FSDP SHARD_GRAD_OP");
  EXPECT_EQ(fsdp["sharding"]["zero_stage_equivalent"], 2);

  temp_.Write("hybrid.yaml",
              "distributed_type: FSDP\nnum_machines: 2\nnum_processes: 16\nfsdp_config:\n"
              "  fsdp_version: 2\n  fsdp_reshard_after_forward: HYBRID_SHARD\n");
  const nlohmann::json hybrid = RunJson({"tiny", "--config_file", "hybrid.yaml"});
  EXPECT_EQ(hybrid["sharding"]["strategy"], "FSDP HYBRID_SHARD");
  EXPECT_EQ(hybrid["sharding"]["shard_group_size"], 8);

  temp_.Write("fsdp2.yaml",
              "distributed_type: FSDP\nnum_processes: 4\nfsdp_config:\n  fsdp_reshard_after_forward: true\n");
  EXPECT_EQ(RunJson({"tiny", "--config_file", "fsdp2.yaml"})["sharding"]["strategy"], "FSDP FULL_SHARD");

  temp_.Write("ddp.yaml", "distributed_type: MULTI_GPU\nnum_processes: 4\n");
  EXPECT_EQ(RunJson({"tiny", "--config_file", "ddp.yaml"})["sharding"]["strategy"], "DDP (no sharding)");

  temp_.Write("nostage.yaml", "distributed_type: DEEPSPEED\nnum_processes: 4\ndeepspeed_config: {}\n");
  EXPECT_THAT(ExpectError({"tiny", "--config_file", "nostage.yaml"}, 1), HasSubstr("has no zero_stage"));
  temp_.Write("badstrategy.yaml",
              "distributed_type: FSDP\nnum_processes: 4\nfsdp_config:\n  fsdp_sharding_strategy: EVERYTHING\n");
  EXPECT_THAT(ExpectError({"tiny", "--config_file", "badstrategy.yaml"}, 1),
              HasSubstr("not an FSDP sharding strategy"));
  EXPECT_THAT(ExpectError({"tiny", "--config_file", "missing.yaml"}, 1), HasSubstr("missing.yaml"));
}

TEST_F(EstimateMemoryTest, CommandLineErrorsExit2) {
  testing::WriteFakeSafetensors(dir_ / "tiny" / "model.safetensors", kTinyModel);
  EXPECT_THAT(ExpectError({"tiny", "--frobnicate"}, 2), HasSubstr("unrecognized arguments: --frobnicate"));
  EXPECT_THAT(ExpectError({"tiny", "--dtypes", "bfloat16"}, 2),
              HasSubstr("argument --dtypes: invalid choice: 'bfloat16' (choose from 'float32', 'float16', 'int8', "
                        "'int4')"));
  EXPECT_THAT(ExpectError({"tiny", "--library_name", "diffusers"}, 2), HasSubstr("invalid choice: 'diffusers'"));
  EXPECT_THAT(ExpectError({}, 2), HasSubstr("the following arguments are required: model_name"));
  EXPECT_THAT(ExpectError({"tiny", "--zero_stage", "2", "--use_fsdp", "--num_processes", "2"}, 2),
              HasSubstr("not allowed with argument --zero_stage"));
  EXPECT_THAT(ExpectError({"tiny", "--zero_stage", "2"}, 2), HasSubstr("needs --num_processes"));
  EXPECT_THAT(ExpectError({"tiny", "--num_processes", "0"}, 2), HasSubstr("must be at least 1"));
  EXPECT_THAT(ExpectError({"tiny", "--zero_stage", "4", "--num_processes", "2"}, 2), HasSubstr("invalid choice: '4'"));
  // --trust_remote_code is accepted (nothing is run).
  EXPECT_EQ(Run({"tiny", "--trust_remote_code"}).exit_code, 0);
  const testing::ProcessResult help = Run({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--dtypes {float32,float16,int8,int4}"));
}

TEST_F(EstimateMemoryTest, ModelNotFoundSaysWhereItLooked) {
  env_["HF_HUB_CACHE"] = (dir_ / "hub").string();
  EXPECT_EQ(ExpectError({"org/missing"}, 1),
            "accelctl estimate-memory: error: model `org/missing` not found: no local folder ./org/missing and not "
            "in the Hugging Face cache (" +
                (dir_ / "hub" / "models--org--missing").string() +
                " does not exist); download it first, e.g. `huggingface-cli download org/missing`\n");
  EXPECT_THAT(ExpectError({"not a/valid/name"}, 1), HasSubstr("no such file or folder, and not a Hub model name"));
  fs::create_directories(dir_ / "hub" / "models--org--empty" / "snapshots");
  EXPECT_THAT(ExpectError({"org/empty"}, 1), HasSubstr("has no snapshot"));
}

TEST_F(EstimateMemoryTest, BadFilesAreOneLineNeverACrash) {
  // Header length far beyond the file.
  temp_.Write("bad/model.safetensors", std::string("\xff\xff\xff\x7f\0\0\0\0{}", 10));
  EXPECT_THAT(ExpectError({"bad"}, 1), HasSubstr("bad/model.safetensors: header length 2147483647 is over the"));
  // Valid length, JSON garbage.
  temp_.Write("bad/model.safetensors", testing::SafetensorsPrefix("{\"a\":"));
  EXPECT_THAT(ExpectError({"bad"}, 1), HasSubstr("header is not valid JSON"));
  // Shape and offsets disagree.
  temp_.Write("bad/model.safetensors",
              testing::SafetensorsPrefix(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}})") +
                  std::string(8, '\0'));
  EXPECT_THAT(ExpectError({"bad"}, 1), HasSubstr("needs 16 bytes but data_offsets span 8"));
  // Unknown dtype.
  temp_.Write("bad/model.safetensors",
              testing::SafetensorsPrefix(R"({"w":{"dtype":"Q4_K","shape":[4],"data_offsets":[0,8]}})") +
                  std::string(8, '\0'));
  EXPECT_THAT(ExpectError({"bad"}, 1), HasSubstr("unknown dtype 'Q4_K'"));
  // No tensors at all.
  temp_.Write("bad/model.safetensors", testing::SafetensorsPrefix("{}      "));
  EXPECT_THAT(ExpectError({"bad"}, 1), HasSubstr("holds no tensors"));
  // Empty folder; several unindexed files; a file that is not a checkpoint.
  fs::create_directories(dir_ / "empty");
  EXPECT_THAT(ExpectError({"empty"}, 1), HasSubstr("has no .safetensors weights and no config.json"));
  testing::WriteFakeSafetensors(dir_ / "two" / "a.safetensors", {{"w", "F32", {1}}});
  testing::WriteFakeSafetensors(dir_ / "two" / "b.safetensors", {{"w", "F32", {1}}});
  EXPECT_THAT(ExpectError({"two"}, 1), HasSubstr("several .safetensors files (a.safetensors, b.safetensors)"));
  temp_.Write("notes.txt", "hello");
  EXPECT_THAT(ExpectError({"notes.txt"}, 1), HasSubstr("is not a .safetensors file"));
  // An index that points outside the folder.
  temp_.Write("escape/model.safetensors.index.json", R"({"weight_map": {"w": "../tiny/model.safetensors"}})");
  EXPECT_THAT(ExpectError({"escape"}, 1), HasSubstr("not a file inside the model folder"));
}

}  // namespace
}  // namespace accel::client
