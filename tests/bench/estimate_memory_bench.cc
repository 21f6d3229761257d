// estimate_memory_bench: how long `accelctl estimate-memory` needs to resolve a large sharded checkpoint.
//
//   estimate_memory_bench [--reps N]
//
// Builds, in a temporary Hugging Face cache (models--bench--NAME/snapshots/<rev>/ + refs/main), two
// checkpoints with real tensor names, shapes and dtypes, split into 30 shards with a
// model.safetensors.index.json, the data sections as sparse files:
//   - Llama-2-7b-like: 32 layers, 291 tensors, 6,738,415,616 parameters (13.5 GB of BF16);
//   - Llama-2-70b-like: 80 layers, 723 tensors, 68,976,648,192 parameters (138 GB of BF16).
// Then times, warm page cache, median / min / max over N repetitions:
//   1. in-process: LocateModel + ReadSafetensorsIndex (31 files opened, headers only) +
//      SummarizeParameters + the rendered table;
//   2. the whole command: fork + exec of `accelctl estimate-memory bench/NAME` until it exits.
// The first repetition of each (cold-ish: just-written files) is reported separately. Target: < 50 ms
// for the whole command. Not a ctest test: timings on a shared machine are not pass/fail material.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/model/memory_table.h"
#include "common/model/model_location.h"
#include "common/model/param_count.h"
#include "common/model/safetensors.h"
#include "tests/support/safetensors_writer.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using accel::testing::FakeTensor;

struct Shape {
  const char* name;
  uint64_t layers, hidden, intermediate, heads, kv_heads, vocab;
  uint64_t expected_parameters;
};

std::vector<FakeTensor> LlamaTensors(const Shape& shape) {
  const uint64_t head_dim = shape.hidden / shape.heads;
  std::vector<FakeTensor> tensors;
  tensors.push_back({"model.embed_tokens.weight", "BF16", {shape.vocab, shape.hidden}});
  for (uint64_t i = 0; i < shape.layers; ++i) {
    const std::string layer = "model.layers." + std::to_string(i);
    tensors.push_back({layer + ".self_attn.q_proj.weight", "BF16", {shape.heads * head_dim, shape.hidden}});
    tensors.push_back({layer + ".self_attn.k_proj.weight", "BF16", {shape.kv_heads * head_dim, shape.hidden}});
    tensors.push_back({layer + ".self_attn.v_proj.weight", "BF16", {shape.kv_heads * head_dim, shape.hidden}});
    tensors.push_back({layer + ".self_attn.o_proj.weight", "BF16", {shape.hidden, shape.heads * head_dim}});
    tensors.push_back({layer + ".mlp.gate_proj.weight", "BF16", {shape.intermediate, shape.hidden}});
    tensors.push_back({layer + ".mlp.up_proj.weight", "BF16", {shape.intermediate, shape.hidden}});
    tensors.push_back({layer + ".mlp.down_proj.weight", "BF16", {shape.hidden, shape.intermediate}});
    tensors.push_back({layer + ".input_layernorm.weight", "BF16", {shape.hidden}});
    tensors.push_back({layer + ".post_attention_layernorm.weight", "BF16", {shape.hidden}});
  }
  tensors.push_back({"model.norm.weight", "BF16", {shape.hidden}});
  tensors.push_back({"lm_head.weight", "BF16", {shape.vocab, shape.hidden}});
  return tensors;
}

// Writes the checkpoint as the cache holds it; returns the snapshot folder.
fs::path WriteCachedCheckpoint(const fs::path& hub, const Shape& shape, size_t shards) {
  const std::vector<FakeTensor> tensors = LlamaTensors(shape);
  std::vector<std::vector<FakeTensor>> split(shards);
  const size_t per_shard = (tensors.size() + shards - 1) / shards;
  for (size_t i = 0; i < tensors.size(); ++i) split[std::min(i / per_shard, shards - 1)].push_back(tensors[i]);
  const fs::path repo = hub / (std::string("models--bench--") + shape.name);
  const fs::path snapshot = repo / "snapshots" / "0123456789abcdef";
  accel::testing::WriteFakeShardedCheckpoint(snapshot, split);
  fs::create_directories(repo / "refs");
  std::ofstream(repo / "refs" / "main") << "0123456789abcdef";
  return snapshot;
}

double Ms(std::chrono::steady_clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Stats {
  double first = 0, median = 0, min = 0, max = 0;
};

Stats Summarize(std::vector<double> samples) {
  Stats stats;
  stats.first = samples.front();
  std::sort(samples.begin(), samples.end());
  stats.median = samples[samples.size() / 2];
  stats.min = samples.front();
  stats.max = samples.back();
  return stats;
}

// One in-process resolution; returns the parameter count (checked against the expected value).
uint64_t ResolveInProcess(const std::string& model, const fs::path& hub, uint64_t* header_bytes) {
  auto location = accel::common::LocateModel(model, hub);
  if (!location.ok()) {
    std::fprintf(stderr, "%s\n", std::string(location.status().message()).c_str());
    std::exit(1);
  }
  auto checkpoint = accel::common::ReadSafetensorsIndex(location->weights_path);
  if (!checkpoint.ok()) {
    std::fprintf(stderr, "%s\n", std::string(checkpoint.status().message()).c_str());
    std::exit(1);
  }
  *header_bytes = checkpoint->header_bytes_read;
  std::vector<accel::common::NamedTensorSize> sizes;
  sizes.reserve(checkpoint->tensors.size());
  for (const auto& tensor : checkpoint->tensors) sizes.push_back({tensor.name, tensor.elements});
  auto summary = accel::common::SummarizeParameters(sizes);
  std::vector<accel::common::DtypeMemory> rows;
  for (auto dtype : {accel::common::EstimateDtype::kFloat32, accel::common::EstimateDtype::kFloat16,
                     accel::common::EstimateDtype::kInt8, accel::common::EstimateDtype::kInt4}) {
    rows.push_back(accel::common::EstimateDtypeMemory(dtype, 4 * summary->total_elements,
                                                      4 * summary->largest_layer_elements));
  }
  const std::string table = accel::common::RenderMemoryTable(model, rows);
  if (table.empty()) std::exit(1);
  return summary->total_elements;
}

// fork + exec of accelctl until it exits; stdout and stderr to /dev/null.
double RunCommand(const std::string& accelctl, const std::string& model, const fs::path& hub) {
  const std::string cache = "HF_HUB_CACHE=" + hub.string();
  std::vector<std::string> env_strings = {cache, "PATH=/usr/bin:/bin"};
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = {accelctl, "estimate-memory", model};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, accelctl.c_str(), &actions, nullptr, argv.data(), envp.data()) != 0) {
    std::fprintf(stderr, "cannot start %s\n", accelctl.c_str());
    std::exit(1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double elapsed = Ms(std::chrono::steady_clock::now() - start);
  posix_spawn_file_actions_destroy(&actions);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "accelctl estimate-memory %s failed\n", model.c_str());
    std::exit(1);
  }
  return elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 30;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--reps") reps = std::max(2, std::atoi(argv[i + 1]));
  }
  const fs::path self = fs::read_symlink("/proc/self/exe");
  const std::string accelctl = (self.parent_path() / "accelctl").string();
  if (!fs::exists(accelctl)) {
    std::fprintf(stderr, "missing %s (build the accelctl target)\n", accelctl.c_str());
    return 1;
  }
  char pattern[] = "/tmp/estimate_memory_bench_XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return 1;
  const fs::path hub = pattern;

  const Shape shapes[] = {
      {"Llama-2-7b-like", 32, 4096, 11008, 32, 32, 32000, 6'738'415'616},
      {"Llama-2-70b-like", 80, 8192, 28672, 64, 8, 32000, 68'976'648'192},
  };
  constexpr size_t kShards = 30;
  std::printf("estimate_memory_bench: 30-shard BF16 checkpoints in a Hugging Face cache layout (sparse files),\n"
              "%d repetitions; times in ms: first / median / min / max\n\n", reps);
  std::printf("%-17s | %7s | %6s | %9s | %-33s | %-33s\n", "checkpoint", "tensors", "shards", "hdr bytes",
              "in-process (locate+read+sum)", "accelctl estimate-memory (exec)");
  const std::string rule =
      std::string(18, '-') + "+---------+--------+-----------+" + std::string(35, '-') + "+" + std::string(34, '-');
  std::printf("%s\n", rule.c_str());
  bool ok = true;
  for (const Shape& shape : shapes) {
    WriteCachedCheckpoint(hub, shape, kShards);
    const std::string model = std::string("bench/") + shape.name;
    std::vector<double> in_process;
    std::vector<double> command;
    uint64_t header_bytes = 0;
    for (int rep = 0; rep < reps; ++rep) {
      const auto start = std::chrono::steady_clock::now();
      const uint64_t parameters = ResolveInProcess(model, hub, &header_bytes);
      in_process.push_back(Ms(std::chrono::steady_clock::now() - start));
      if (parameters != shape.expected_parameters) {
        std::fprintf(stderr, "%s: %llu parameters, expected %llu\n", shape.name,
                     static_cast<unsigned long long>(parameters),
                     static_cast<unsigned long long>(shape.expected_parameters));
        ok = false;
      }
      command.push_back(RunCommand(accelctl, model, hub));
    }
    const Stats a = Summarize(in_process);
    const Stats b = Summarize(command);
    std::printf("%-17s | %7zu | %6zu | %9llu | %6.2f / %6.2f / %6.2f / %6.2f | %6.2f / %6.2f / %6.2f / %6.2f\n",
                shape.name, LlamaTensors(shape).size(), kShards, static_cast<unsigned long long>(header_bytes),
                a.first, a.median, a.min, a.max, b.first, b.median, b.min, b.max);
    ok = ok && b.median < 50.0;
  }
  std::printf("\ntarget: whole command < 50 ms (median): %s\n", ok ? "met" : "NOT met");
  std::error_code ignored;
  fs::remove_all(hub, ignored);
  return ok ? 0 : 1;
}
