#include "agent/launch_runner.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/posix_process_launcher.h"
#include "agent/std_spec.h"
#include "common/host/gpu_probe.h"
#include "common/host/host_info.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace accel::agent {
namespace {

// A TCP connect to 127.0.0.1:port that succeeds means something listens there (accelerate's check).
bool LocalPortInUse(int port) {
  common::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
}

// A port the kernel considers free right now (bind to 0, read it back).
int FreeLocalPort() {
  common::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return 29500;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t length = sizeof(address);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return 29500;
  }
  return ntohs(address.sin_port);
}

std::optional<std::string> FindOnPath(const common::Environment& env, const std::string& program) {
  const std::string path = env.Get("PATH").value_or("/usr/local/bin:/usr/bin:/bin");
  for (std::string_view dir : common::StrSplit(path, ':')) {
    if (dir.empty()) continue;
    const std::filesystem::path candidate = std::filesystem::path(dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return std::nullopt;
}

common::GpuInventory ProbeGpusQuickly(const common::Environment& env) {
  const common::GpuProbeOptions options = common::GpuProbeOptionsFromEnv(env);
  common::GpuProbeOptions procfs_only = options;
  procfs_only.nvml_library.clear();
  common::GpuInventory gpus = common::ProbeGpus(procfs_only);
  if (gpus.source != common::GpuInventory::Source::kNone) return gpus;
  return common::ProbeGpus(options);
}

// The GPUs as NVML sees them (with compute capability); nullopt without NVML.
std::optional<common::GpuInventory> ProbeGpusWithNvml(const common::Environment& env) {
  common::GpuInventory gpus = common::ProbeGpus(common::GpuProbeOptionsFromEnv(env));
  if (gpus.source != common::GpuInventory::Source::kNvml) return std::nullopt;
  return gpus;
}

// Asks `python` whether importlib finds any of `modules` (find_spec imports nothing but parent
// packages). nullopt when the interpreter cannot be run or gives no answer within 10 s.
std::optional<bool> PythonFindsAny(const common::Environment& env, const std::string& python,
                                   const std::vector<std::string>& modules) {
  constexpr int kDeadlineMs = 10'000;
  ProcessSpec spec;
  spec.argv = {python, "-c",
               "import importlib.util, sys\n"
               "sys.exit(0 if any(importlib.util.find_spec(m) for m in sys.argv[1:]) else 3)"};
  spec.argv.insert(spec.argv.end(), modules.begin(), modules.end());
  spec.env = env.ToEnvp();
  common::UniqueFd dev_null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  spec.stdout_fd = spec.stderr_fd = dev_null.get();
  PosixProcessLauncher launcher;
  auto child = launcher.Launch(spec);
  if (!child.ok()) return std::nullopt;
  pollfd exited = {.fd = (*child)->exit_fd(), .events = POLLIN, .revents = 0};
  if (::poll(&exited, 1, kDeadlineMs) != 1) return std::nullopt;  // the destructor kills it
  const std::optional<ExitStatus> status = (*child)->TryWait();
  if (!status) return std::nullopt;
  if (status->ShellExitCode() == 0) return true;
  if (status->ShellExitCode() == 3) return false;
  return std::nullopt;  // no such interpreter, or it failed: cannot tell
}

}  // namespace

common::HostFacts CollectHostFacts(const common::Environment& env, const std::filesystem::path& working_dir) {
  common::HostFacts host;
  host.env = env;
  host.gpus = ProbeGpusQuickly(env);
  host.physical_cores = common::PhysicalCoreCount();
  host.working_dir = working_dir;
  host.port_in_use = LocalPortInUse;
  host.free_port = FreeLocalPort;
  host.find_program = [env](const std::string& program) { return FindOnPath(env, program); };
  host.probe_gpus_fully = [env] { return ProbeGpusWithNvml(env); };
  host.python_finds_any = [env](const std::string& python, const std::vector<std::string>& modules) {
    return PythonFindsAny(env, python, modules);
  };
  return host;
}

GroupLayout LayoutFromPlan(const common::LaunchPlan& plan) {
  return GroupLayout{.base_rank = plan.machine_rank * plan.nproc_per_node,
                     .world_size = plan.nproc_per_node * plan.num_machines,
                     .group_rank = plan.machine_rank,
                     .group_world_size = plan.num_machines};
}

absl::StatusOr<SupervisorOptions> SupervisorOptionsFor(const common::LaunchPlan& plan, const common::Environment& env) {
  SupervisorOptions options;
  options.local_world_size = plan.nproc_per_node;
  options.base_rank = plan.machine_rank * plan.nproc_per_node;
  options.host = common::HostName();
  options.role = plan.role;
  options.max_restarts = plan.max_restarts;
  options.monitor_interval = absl::Seconds(plan.monitor_interval);
  options.stop_grace = absl::Seconds(plan.stop_timeout);
  options.restart_backoff = absl::Seconds(plan.restart_backoff);
  options.log_root = plan.log_dir.value_or("");
  options.run_id = plan.run_id;
  options.tmp_dir = env.GetNonEmpty("TMPDIR").value_or("/tmp");
  ASSIGN_OR_RETURN(auto tee, ParseStdSpec(plan.tee, plan.nproc_per_node));
  ASSIGN_OR_RETURN(auto redirects, ParseStdSpec(plan.redirects, plan.nproc_per_node));
  options.output_targets = ResolveOutputTargets(tee, redirects, plan.nproc_per_node);
  // The simple launcher's single worker writes straight to the terminal, as with accelerate.
  // With hang detection the worker's output must pass through us, so its silence can be measured.
  options.capture_output = plan.launcher != common::LauncherKind::kSimple || plan.hang_timeout > 0;
  options.hang_timeout = absl::Seconds(plan.hang_timeout);
  options.hang_restart = plan.hang_restart;
  options.line_prefix_template = env.Get("TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE").value_or("");
  return options;
}

WorkerCommand WorkerCommandFor(const common::LaunchPlan& plan, const GroupLayout& layout, int local_rank,
                               const AttemptInfo& attempt) {
  common::WorkerRank rank;
  rank.local_rank = local_rank;
  rank.local_world_size = plan.nproc_per_node;
  rank.group_rank = layout.group_rank;
  rank.group_world_size = layout.group_world_size;
  rank.rank = layout.base_rank + local_rank;
  rank.world_size = layout.world_size;
  rank.restart_count = attempt.restart_count;
  rank.error_file = attempt.ErrorFile(local_rank);
  WorkerCommand command;
  command.argv = plan.argv;
  for (const auto& [key, value] : common::WorkerEnvironment(plan, rank)) command.env.push_back(key + "=" + value);
  return command;
}

}  // namespace accel::agent
