// Replays the seed corpora of the config, CLI and job-spec fuzz targets (config_fuzz.cc, cli_fuzz.cc,
// job_spec_fuzz.cc) through their entry points under gtest with any compiler, plus fixed mutations of
// them. A broken promise traps inside an entry point and fails the test. The libFuzzer builds of the
// same targets run for a bounded time in `libfuzzer_bounded_runs` (tests/fuzz/run_fuzzers.cmake).
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

void FuzzConfig(const uint8_t* data, size_t size);
void FuzzCli(const uint8_t* data, size_t size);
void FuzzJobSpec(const uint8_t* data, size_t size);

namespace accel::common {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> LoadCorpus(const std::string& target) {
  std::vector<std::string> seeds;
  const fs::path folder = fs::path(ACCEL_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / target;
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(folder)) paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) seeds.push_back(testing::ReadFile(path));
  return seeds;
}

std::string Mutate(std::string input, const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  static constexpr char kInteresting[] = {'\n', ':', '=', '-', '/', '.', '\0', '[', '{', '"', '&', '*', '9', ' '};
  for (int edits = 1 + static_cast<int>(rng() % 4); edits > 0; --edits) {
    const size_t at = input.empty() ? 0 : rng() % input.size();
    switch (rng() % 5) {
      case 0:
        if (!input.empty()) input[at] = static_cast<char>(input[at] ^ (1 << (rng() % 8)));
        break;
      case 1:
        if (!input.empty()) input[at] = kInteresting[rng() % sizeof(kInteresting)];
        break;
      case 2:
        input.insert(std::min(at, input.size()), std::string(1 + rng() % 3, kInteresting[rng() % sizeof(kInteresting)]));
        break;
      case 3:
        if (!input.empty()) input.erase(at, 1 + rng() % 4);
        break;
      default: {
        const std::string& other = seeds[rng() % seeds.size()];
        if (!other.empty()) input = input.substr(0, at) + other.substr(rng() % other.size());
        break;
      }
    }
  }
  return input;
}

void Replay(const std::string& target, void (*fuzz)(const uint8_t*, size_t)) {
  const std::vector<std::string> seeds = LoadCorpus(target);
  ASSERT_FALSE(seeds.empty()) << target;
  std::mt19937_64 rng(20261204);
  for (const auto& seed : seeds) fuzz(reinterpret_cast<const uint8_t*>(seed.data()), seed.size());
  for (int round = 0; round < 100; ++round) {
    for (const auto& seed : seeds) {
      const std::string input = Mutate(seed, seeds, rng);
      fuzz(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    }
  }
}

TEST(SecurityFuzzReplayTest, ConfigParser) { Replay("config", FuzzConfig); }
TEST(SecurityFuzzReplayTest, CliParsing) { Replay("cli", FuzzCli); }
TEST(SecurityFuzzReplayTest, JobSpecValidation) { Replay("job_spec", FuzzJobSpec); }

}  // namespace
}  // namespace accel::common
