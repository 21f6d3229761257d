// PlanLaunch: from a parsed `launch` command line and the user's config file to exactly what must run.
//
// This is accelerate's `_validate_launch_command` + launcher selection + `prepare_*_env`, with the
// same precedence rules (command line over config file over defaults, config dict keys over CLI
// defaults), the same warnings and the same worker environment, computed without starting anything.
// Per-rank variables (RANK, LOCAL_RANK, TORCHELASTIC_*) are added later by WorkerEnvironment(), once
// the rank layout of an attempt is known. Pure: every fact about the machine comes in through
// HostFacts, so the whole contract is testable.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/cluster_config.h"
#include "common/environment.h"
#include "common/host/gpu_probe.h"
#include "common/launch/launch_options.h"

namespace accel::common {

/// What launch needs to know about this machine and its caller.
struct HostFacts {
  Environment env;                          // the caller's environment; workers start from it
  GpuInventory gpus;
  int physical_cores = 1;
  std::filesystem::path working_dir;        // for DeepSpeed's PYTHONPATH entry
  std::function<bool(int port)> port_in_use = [](int) { return false; };
  std::function<int()> free_port = [] { return 29500; };
  /// Looks `program` up on PATH (from `env`); nullopt when it is not there.
  std::function<std::optional<std::string>(const std::string& program)> find_program =
      [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  // Slower probes, run only by the launches that need them (bf16, fp8). Each answers nullopt when it
  // cannot tell, and the launch then goes on as accelerate's would on a machine it cannot check.
  /// The GPUs with their compute capability (NVML).
  std::function<std::optional<GpuInventory>()> probe_gpus_fully = [] { return std::nullopt; };
  /// Whether `python` finds any of `modules` (without importing them).
  std::function<std::optional<bool>(const std::string& python, const std::vector<std::string>& modules)>
      python_finds_any = [](const std::string&, const std::vector<std::string>&) { return std::nullopt; };
};

/// Which config file launch reads: `--config_file`, else the default file if it exists and `--cpu`
/// was not given, else none (accelerate's rule).
std::optional<std::filesystem::path> LaunchConfigPath(const LaunchArgs& args, const Environment& env);

enum class LauncherKind {
  kSimple,    // one process, no rank variables (accelerate's simple launcher)
  kTorchrun,  // N processes per machine with torchrun's per-worker variables (multi-GPU, FSDP, Megatron, DeepSpeed single node)
  kMultiCpu,  // --cpu / MULTI_CPU with N > 1 processes: torchrun-style variables + ACCELERATE_USE_CPU=True (accelctl only)
};

struct LaunchPlan {
  LauncherKind launcher = LauncherKind::kSimple;
  std::string paradigm;                      // "simple", "multi-GPU", "FSDP", "DeepSpeed", "Megatron-LM", "multi-CPU"
  std::vector<std::string> warnings;         // printed to stderr before anything starts
  std::map<std::string, std::string> env;    // the full worker environment, before per-rank variables
  std::vector<std::string> argv;             // the worker command
  std::string entrypoint;                    // the script or module, for messages

  int num_processes = 1;   // total over all machines
  int num_machines = 1;
  int machine_rank = 0;
  int nproc_per_node = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;

  std::string rdzv_backend = "static";
  std::map<std::string, std::string> rdzv_conf;
  std::optional<double> rdzv_join_timeout;  // seconds, from rdzv_conf (RdzvJoinTimeout); nullopt: default
  std::string run_id = "none";
  std::string role = "default";
  int max_restarts = 0;
  double monitor_interval = 0.1;
  std::string tee = "0";
  std::string redirects = "0";
  std::optional<std::string> log_dir;
  double stop_timeout = 30;
  double restart_backoff = 0;
  double hang_timeout = 0;    // seconds; 0: no hang detection
  bool hang_restart = false;
  int metrics_port = 0;       // embedded launch: serve /metrics on 127.0.0.1:PORT; 0: off
  bool quiet = false;
};

/// `--rdzv_conf k1=v1,k2=v2` as a map; InvalidArgument naming the item that is not key=value.
absl::StatusOr<std::map<std::string, std::string>> ParseRdzvConf(std::string_view text);

/// The seconds `key` gives in a parsed --rdzv_conf, nullopt when it is absent; InvalidArgument naming
/// the item when its value is not a number >= 0.
absl::StatusOr<std::optional<double>> RdzvConfSeconds(const std::map<std::string, std::string>& conf,
                                                      std::string_view key);

/// How long machines wait for each other, from a parsed --rdzv_conf: `join_timeout` (torchrun's
/// dynamic rendezvous key), else `timeout` (its static rendezvous key); nullopt when neither is there.
/// InvalidArgument naming the item when its value is not a number of seconds > 0.
absl::StatusOr<std::optional<double>> RdzvJoinTimeout(const std::map<std::string, std::string>& conf);

/// Plans a launch. `config` is the loaded file when LaunchConfigPath() named one. Errors are
/// InvalidArgument (bad combination, accelerate's meaning in one line) or Unimplemented (a launcher
/// accelctl does not provide: TPU, SageMaker, DeepSpeed's pdsh/MPI multi-node launchers).
absl::StatusOr<LaunchPlan> PlanLaunch(LaunchArgs args, const std::optional<ClusterConfig>& config,
                                      const HostFacts& host);

/// The rank layout of one worker in one attempt.
struct WorkerRank {
  int local_rank = 0;
  int rank = 0;
  int local_world_size = 1;
  int world_size = 1;
  int group_rank = 0;
  int group_world_size = 1;
  int restart_count = 0;
  std::string error_file;  // TORCHELASTIC_ERROR_FILE
};

/// The complete environment of one worker: the plan's environment plus, for the torchrun-style
/// launchers, the per-worker variables torchrun's agent sets (contract section 4.1).
std::map<std::string, std::string> WorkerEnvironment(const LaunchPlan& plan, const WorkerRank& rank);

}  // namespace accel::common
