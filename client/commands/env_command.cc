// `accelctl env`: the environment report to paste into a bug report, in `accelerate env`'s layout.
//
// Everything native (platform, RAM, GPUs, CUDA driver, NCCL, libtorch) is read in-process in a few
// milliseconds. The Python side (interpreter and torch versions) needs the user's interpreter, so it
// runs as a child process, started first so that it overlaps the native probes, and bounded by
// deadlines: a torch import that hangs (a stuck NFS mount, a CUDA init waiting on a wedged GPU) must
// cost the user a "timed out" line, never a hung command.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/posix_process_launcher.h"
#include "client/commands/command.h"
#include "common/cli/arg_parser.h"
#include "common/config/cluster_config.h"
#include "common/config/config_value.h"
#include "common/host/gpu_probe.h"
#include "common/host/host_info.h"
#include "common/host/runtime_probe.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "common/version.h"

namespace accel::client {
namespace {

using Clock = std::chrono::steady_clock;
using common::StrCat;

// Python must print its version within the first deadline (interpreter start-up, even through a pyenv
// shim, takes well under a second); `import torch` gets until the second (a cold import of a CUDA
// build reads a gigabyte of shared libraries). ACCEL_ENV_PYTHON_TIMEOUT (seconds) replaces both, for
// slow file systems and for tests.
constexpr std::chrono::milliseconds kPythonDeadline{5000};
constexpr std::chrono::milliseconds kTorchDeadline{15000};
// The probe prints a handful of short lines; anything beyond this is noise from the user's site hooks.
constexpr size_t kMaxProbeOutput = 64 * 1024;

// Every line the probe script writes starts with this tag, so that whatever a sitecustomize or torch
// itself prints to stdout is ignored.
constexpr std::string_view kProbeTag = "accelctl-probe ";
constexpr char kProbeScript[] = R"PY(import platform
print("accelctl-probe python " + platform.python_version(), flush=True)
try:
    import torch
except ModuleNotFoundError as e:
    if e.name == "torch":
        print("accelctl-probe torch-missing", flush=True)
    else:
        print("accelctl-probe torch-error " + repr(e)[:200], flush=True)
except BaseException as e:
    print("accelctl-probe torch-error " + (repr(e).splitlines() or [""])[0][:200], flush=True)
else:
    try:
        cuda = str(torch.cuda.is_available())
    except BaseException:
        cuda = "unknown"
    print("accelctl-probe torch " + str(torch.__version__) + " " + cuda, flush=True)
)PY";

struct PythonReport {
  std::string python_version = "Not found";
  std::string torch_version = "Not installed";
};

struct Deadlines {
  std::chrono::milliseconds python = kPythonDeadline;
  std::chrono::milliseconds torch = kTorchDeadline;
};

Deadlines DeadlinesFromEnv(const common::Environment& env) {
  Deadlines deadlines;
  if (auto text = env.GetNonEmpty("ACCEL_ENV_PYTHON_TIMEOUT")) {
    if (auto seconds = common::ParseDouble(*text); seconds && *seconds > 0 && *seconds < 3600) {
      deadlines.python = deadlines.torch = std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000));
    }
  }
  return deadlines;
}

std::string FormatSeconds(std::chrono::milliseconds duration) {
  return fmt::format("{:g} s", static_cast<double>(duration.count()) / 1000.0);
}

// One run of the user's Python with kProbeScript. Start() returns at once; Finish() waits for the
// answers (or the deadlines) and kills the child's whole process group if it is still running, as
// does the destructor. Single-threaded: the thread that called Start() must call Finish().
class PythonProbe {
 public:
  /// Looks up python3, then python, on the PATH of `env` and starts it. Never fails: with no
  /// interpreter, or one that cannot be started, Finish() reports that.
  static PythonProbe Start(agent::ProcessLauncher& launcher, const common::Environment& env, Deadlines deadlines) {
    PythonProbe probe;
    probe.deadlines_ = deadlines;
    probe.started_at_ = Clock::now();
    const std::vector<std::string> envp = env.ToEnvp();
    for (const char* name : {"python3", "python"}) {
      auto path = agent::ResolveExecutable(name, envp, /*working_dir=*/"");
      if (path.ok()) {
        probe.interpreter_ = *path;
        break;
      }
    }
    if (probe.interpreter_.empty()) return probe;

    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      probe.start_error_ = "cannot create a pipe";
      return probe;
    }
    probe.stdout_read_.Reset(pipe_fds[0]);
    common::UniqueFd stdout_write(pipe_fds[1]);
    // Python's and torch's warnings are not part of the report.
    common::UniqueFd dev_null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    agent::ProcessSpec spec;
    spec.argv = {probe.interpreter_, "-c", kProbeScript};
    spec.env = envp;
    spec.stdout_fd = stdout_write.get();
    spec.stderr_fd = dev_null.get();  // -1 (open failed) just inherits ours
    auto child = launcher.Launch(spec);
    if (!child.ok()) {
      probe.start_error_ = std::string(child.status().message());
      probe.stdout_read_.Reset();
      return probe;
    }
    probe.child_ = *std::move(child);
    // stdout_write closes on return, leaving the child as the only writer: EOF then means the child
    // (and anything it started that inherited stdout) is done.
    return probe;
  }

  PythonReport Finish() {
    PythonReport report;
    if (interpreter_.empty()) return report;
    const std::string where = StrCat(" (", interpreter_, ")");
    if (!child_) {
      report.python_version = StrCat("Could not run", where, ": ", start_error_);
      report.torch_version = "Unknown";
      return report;
    }
    const bool finished = ReadUntil(started_at_ + deadlines_.python, /*need_python=*/true) &&
                          ReadUntil(started_at_ + deadlines_.torch, /*need_python=*/false);
    child_.reset();  // kills and reaps the group if it is still running

    std::optional<std::string> python, torch, torch_missing, torch_error;
    for (std::string_view line : common::StrSplit(output_, '\n')) {
      if (!line.starts_with(kProbeTag)) continue;
      line.remove_prefix(kProbeTag.size());
      const size_t space = line.find(' ');
      const std::string_view key = line.substr(0, space);
      const std::string value(space == std::string_view::npos ? "" : common::StripWhitespace(line.substr(space + 1)));
      if (key == "python") python = value;
      if (key == "torch") torch = value;
      if (key == "torch-missing") torch_missing = value;
      if (key == "torch-error") torch_error = value;
    }
    if (!python) {
      report.python_version = finished ? StrCat("Unknown (the interpreter printed no version)", where)
                                       : StrCat("Unknown (no answer within ", FormatSeconds(deadlines_.python), ")", where);
      report.torch_version = "Unknown";
      return report;
    }
    report.python_version = *python + where;
    if (torch) {
      // "2.11.0+cu130 True": version, then torch.cuda.is_available().
      const size_t space = torch->rfind(' ');
      report.torch_version = space == std::string::npos
                                 ? *torch
                                 : StrCat(torch->substr(0, space), " (CUDA available: ", torch->substr(space + 1), ")");
    } else if (torch_missing) {
      report.torch_version = "Not installed";
    } else if (torch_error) {
      report.torch_version = StrCat("Import failed: ", *torch_error);
    } else if (!finished) {
      report.torch_version = StrCat("Unknown (`import torch` did not finish within ", FormatSeconds(deadlines_.torch), ")");
    } else {
      report.torch_version = "Unknown (the interpreter exited during `import torch`)";
    }
    return report;
  }

 private:
  PythonProbe() = default;

  bool HasPythonLine() const { return output_.find(StrCat(kProbeTag, "python ")) != std::string::npos; }

  // Reads the child's stdout until EOF (true), until `deadline` (false), or, with `need_python`, until
  // the python line has arrived (true).
  bool ReadUntil(Clock::time_point deadline, bool need_python) {
    while (stdout_read_) {
      if (need_python && HasPythonLine()) return true;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd poll_fd{.fd = stdout_read_.get(), .events = POLLIN, .revents = 0};
      const int ready = ::poll(&poll_fd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (ready < 0 && errno != EINTR) break;
      if (ready <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(stdout_read_.get(), buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EOF (or a read error, which ends the conversation the same way)
      if (output_.size() < kMaxProbeOutput) output_.append(buffer, static_cast<size_t>(n));
    }
    stdout_read_.Reset();
    return true;
  }

  Deadlines deadlines_;
  Clock::time_point started_at_;
  std::string interpreter_;
  std::string start_error_;
  common::UniqueFd stdout_read_;
  std::unique_ptr<agent::ChildProcess> child_;
  std::string output_;
};

std::string GpuTypeLine(const common::GpuInventory& gpus) {
  const std::string& name = gpus.devices.front().name;
  return StrCat(name.empty() ? "Unknown NVIDIA GPU" : name, " (x", gpus.count(), ")");
}

std::string RuntimeLine(const absl::StatusOr<common::RuntimeComponent>& component, std::string_view missing,
                        bool with_path) {
  if (!component.ok()) return std::string(missing);
  const std::string version = component->version.empty() ? "version unknown" : component->version;
  if (!with_path || component->path.empty()) return version;
  return StrCat(version, " (", component->path.string(), ")");
}

std::string MemoryLine(uint64_t bytes) {
  if (bytes == 0) return "Unknown";
  return fmt::format("{:.2f} GB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
}

}  // namespace

int RunEnvCommand(const CommandContext& context, CommandArgs args) {
  common::ArgParser parser("accelctl env", "Print the environment report to paste into a GitHub issue.");
  parser.Add({.name = "config_file",
              .kind = common::ArgKind::kValue,
              .metavar = "CONFIG_FILE",
              .help = "The config file to use for the default values in the launching script."});
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "env", parser, args, &exit_code);
  if (!parsed) return exit_code;

  // The config first, as accelerate does: a broken file aborts before anything is printed (and before
  // the Python probe is started).
  const std::optional<std::string> explicit_config = parsed->Value("config_file");
  const std::filesystem::path config_path =
      explicit_config ? std::filesystem::path(*explicit_config) : common::DefaultConfigPath(context.env);
  std::optional<common::ConfigValue> config;
  std::error_code exists_error;
  if (explicit_config || std::filesystem::exists(config_path, exists_error)) {
    auto loaded = common::LoadClusterConfig(config_path);
    if (!loaded.ok()) return ReportError(context, "env", loaded.status());
    for (const auto& warning : loaded->warnings) *context.err << "warning: " << warning << "\n";
    config = common::ClusterConfigToValue(loaded->config);
  }

  agent::PosixProcessLauncher launcher;
  PythonProbe python = PythonProbe::Start(launcher, context.env, DeadlinesFromEnv(context.env));

  const common::GpuInventory gpus = common::ProbeGpus(common::GpuProbeOptionsFromEnv(context.env));
  const std::string cuda_driver = RuntimeLine(common::ProbeCudaDriver(), "Not available", /*with_path=*/false);
  const std::string nccl = RuntimeLine(common::ProbeNccl(), "Not available", /*with_path=*/true);
  const std::string libtorch = RuntimeLine(common::FindLibtorch(context.env), "Not found", /*with_path=*/true);
  const PythonReport python_report = python.Finish();

  std::vector<std::pair<std::string, std::string>> info = {
      {"`accelctl` version", ACCEL_VERSION},
      {"Platform", common::PlatformString()},
      {"`accelctl` binary location", context.self.string()},
      {"Python version", python_report.python_version},
      {"PyTorch version", python_report.torch_version},
      {"libtorch (C++)", libtorch},
      {"CUDA driver", cuda_driver},
      {"NCCL", nccl},
      {"System RAM", MemoryLine(common::TotalMemoryBytes())},
  };
  // As in accelerate, the GPU lines are left out, not printed empty, on a machine without one.
  if (gpus.count() > 0) {
    info.emplace_back("GPU type", GpuTypeLine(gpus));
    if (!gpus.driver_version.empty()) info.emplace_back("GPU driver", gpus.driver_version);
  }

  std::ostream& out = *context.out;
  out << "\nCopy-and-paste the text below in your GitHub issue\n\n";
  for (const auto& [label, value] : info) out << "- " << label << ": " << value << "\n";
  out << (explicit_config ? "- `Accelerate` config passed:\n" : "- `Accelerate` default config:\n");
  if (!config) {
    out << "\tNot found\n";
  } else {
    for (const auto& [key, value] : config->items()) out << "\t- " << key << ": " << common::PythonStr(value) << "\n";
  }
  out.flush();
  return kExitOk;
}

}  // namespace accel::client
