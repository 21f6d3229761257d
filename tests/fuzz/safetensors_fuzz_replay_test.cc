// Runs the libFuzzer entry point of safetensors_header_fuzz.cc under gtest, with any compiler: every
// seed of tests/fuzz/corpus/safetensors/, then a fixed set of pseudo-random mutations of them (bit
// flips, byte overwrites with JSON-significant characters, digit edits, insertions, deletions,
// truncations and splices). A broken parser promise traps inside the entry point and fails the test.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/model/safetensors.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace accel::common {
namespace {

namespace fs = std::filesystem;

struct Seed {
  std::string name;
  std::string bytes;
};

std::vector<Seed> LoadCorpus() {
  std::vector<Seed> seeds;
  const fs::path folder = fs::path(ACCEL_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / "safetensors";
  for (const auto& entry : fs::directory_iterator(folder)) {
    seeds.push_back({entry.path().filename().string(), testing::ReadFile(entry.path())});
  }
  std::sort(seeds.begin(), seeds.end(), [](const Seed& a, const Seed& b) { return a.name < b.name; });
  return seeds;
}

void RunOne(const std::string& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

TEST(SafetensorsFuzzReplayTest, SeedsParseAsTheirNamesSay) {
  const std::vector<Seed> seeds = LoadCorpus();
  ASSERT_GE(seeds.size(), 10u);
  for (const Seed& seed : seeds) {
    SCOPED_TRACE(seed.name);
    RunOne(seed.bytes);
    if (!seed.name.ends_with(".safetensors")) continue;
    auto header = ParseSafetensorsPrefix(seed.bytes, seed.bytes.size());
    EXPECT_EQ(header.ok(), seed.name.starts_with("valid_")) << header.status();
  }
}

std::string Mutate(const std::string& input, const std::vector<Seed>& seeds, std::mt19937_64& rng) {
  static constexpr char kInteresting[] = {'\0', '\xff', '{', '}', '[', ']', '"', ',',
                                          ':',  '-',    '0', '9', '.', 'e', ' '};
  std::string out = input;
  const int steps = 1 + static_cast<int>(rng() % 3);
  for (int step = 0; step < steps; ++step) {
    const size_t at = out.empty() ? 0 : rng() % out.size();
    switch (rng() % 8) {
      case 0:  // flip a bit
        if (!out.empty()) out[at] = static_cast<char>(out[at] ^ (1 << (rng() % 8)));
        break;
      case 1:  // a JSON-significant byte
        if (!out.empty()) out[at] = kInteresting[rng() % sizeof(kInteresting)];
        break;
      case 2: {  // bump a digit: offsets and shapes stop agreeing, lengths stay the same
        const size_t digit = out.find_first_of("0123456789", at);
        if (digit != std::string::npos) out[digit] = static_cast<char>('0' + rng() % 10);
        break;
      }
      case 3:  // insert bytes
        out.insert(std::min(at, out.size()), std::string(1 + rng() % 4, kInteresting[rng() % sizeof(kInteresting)]));
        break;
      case 4:  // delete bytes
        if (!out.empty()) out.erase(at, 1 + rng() % 4);
        break;
      case 5:  // truncate
        out.resize(at);
        break;
      case 6: {  // splice the tail of another seed
        const std::string& other = seeds[rng() % seeds.size()].bytes;
        if (!other.empty()) out = out.substr(0, at) + other.substr(rng() % other.size());
        break;
      }
      case 7:  // rewrite the length prefix to a nearby or absurd value
        if (out.size() >= 8) {
          uint64_t length = 0;
          switch (rng() % 3) {
            case 0: length = out.size() - 8 - std::min<size_t>(out.size() - 8, rng() % 16); break;
            case 1: length = rng(); break;
            default: length = kMaxSafetensorsHeaderBytes + rng() % 2; break;
          }
          for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
        }
        break;
    }
  }
  return out;
}

TEST(SafetensorsFuzzReplayTest, MutationsNeverBreakTheParser) {
  const std::vector<Seed> seeds = LoadCorpus();
  std::mt19937_64 rng(20240607);  // fixed: the same inputs on every run
  int runs = 0;
  int accepted = 0;
  for (int round = 0; round < 60; ++round) {
    for (const Seed& seed : seeds) {
      const std::string input = Mutate(seed.bytes, seeds, rng);
      RunOne(input);
      accepted += ParseSafetensorsPrefix(input, input.size()).ok() ? 1 : 0;
      ++runs;
    }
  }
  EXPECT_GE(runs, 600);
  // Some mutations (name edits, metadata edits) keep a file valid: the valid path is exercised too.
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace accel::common
