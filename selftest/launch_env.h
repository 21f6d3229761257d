// What a self-test rank learns from its launcher, and the checks that every rank saw the same job.
//
// Standard library only: the self-test is also built alone on machines that have libtorch but none of
// the project's other dependencies (see selftest/CMakeLists.txt).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace accel::selftest {

/// The launch variables of one rank (torchrun's names, §4.1 of the CLI contract).
struct LaunchEnv {
  bool distributed = false;  // false: no RANK/WORLD_SIZE at all (simple launcher, one process)
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  int group_rank = 0;        // GROUP_RANK, the machine's index; 0 when unset
  int group_world_size = 1;  // GROUP_WORLD_SIZE; 1 when unset
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  bool use_cpu = false;      // ACCELERATE_USE_CPU is true
  bool agent_store = false;  // TORCHELASTIC_USE_AGENT_STORE=True: the launcher hosts the store
  std::string run_id;        // TORCHELASTIC_RUN_ID
  std::string host;          // this machine's name (not compared: one host may play several machines)
};

using GetEnv = std::function<std::optional<std::string>(const std::string& name)>;

/// Reads the launch variables. Without RANK and WORLD_SIZE the rank is a single process. Returns an
/// empty optional and sets `error` (one line naming the variable and value) when a value is malformed
/// or out of range, e.g. "LOCAL_RANK=2 is not below LOCAL_WORLD_SIZE=2".
std::optional<LaunchEnv> ParseLaunchEnv(const GetEnv& get, std::string* error);

/// One rank's view, as exchanged through the store: "key=value" lines.
std::string SerializeLaunchEnv(const LaunchEnv& env);
std::optional<LaunchEnv> ParseSerializedLaunchEnv(std::string_view text);

/// Compares what every rank saw. `records` holds one entry per process that reached the store (in any
/// order); `self` is the calling rank's own view. Returns one line per problem, each naming the rank
/// and the variable ("rank 1 has WORLD_SIZE=3, rank 0 has WORLD_SIZE=2"); empty when consistent:
/// the same WORLD_SIZE, MASTER_ADDR, MASTER_PORT, GROUP_WORLD_SIZE, TORCHELASTIC_RUN_ID and device
/// kind everywhere; WORLD_SIZE processes with the ranks 0..WORLD_SIZE-1 once each; per machine
/// (GROUP_RANK) one LOCAL_WORLD_SIZE, local ranks 0..LOCAL_WORLD_SIZE-1 once each, and
/// RANK = the machine's first rank + LOCAL_RANK.
std::vector<std::string> CheckConsistency(const std::vector<LaunchEnv>& records, const LaunchEnv& self);

}  // namespace accel::selftest
