// acceld: the per-node agent. For now it answers --help and --version; the control plane comes with
// the daemon issue.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "common/version.h"

namespace {

constexpr std::string_view kUsage =
    "usage: acceld [--config FILE] [--help] [--version]\n"
    "\n"
    "The accel node agent: supervises training workers on this node and serves the cluster\n"
    "control plane. Configuration: /etc/accel/acceld.yaml.\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help message and exit\n"
    "  --version      print the version and exit\n"
    "  --config FILE  agent configuration file (default /etc/accel/acceld.yaml)\n";

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      return 0;
    }
    if (arg == "--version") {
      std::printf("acceld %s\n", ACCEL_VERSION);
      return 0;
    }
  }
  std::fprintf(stderr, "acceld: the node daemon is not implemented yet; only --help and --version work\n");
  return 1;
}
