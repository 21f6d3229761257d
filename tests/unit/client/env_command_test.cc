// `accelctl env`: the real binary as a subprocess with a controlled environment: HF_HOME in a temp
// dir, NVML pointed at nothing, a fake /proc/driver/nvidia tree, and a PATH holding (or not) a fake
// `python3` script, so every line of the report has a known value.
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/strings.h"
#include "common/version.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::client {
namespace {

namespace fs = std::filesystem;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  double seconds = 0;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  for (std::string_view line : common::StrSplit(text, '\n')) lines.emplace_back(line);
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

constexpr std::string_view kInformation =
    "Model: \t\t NVIDIA H200\nIRQ:   \t\t 180\nBus Type: \t PCIe\nBus Location: \t {}\nDevice Minor: \t 0\n";

class EnvCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(temp_.path().empty());
    dir_ = temp_.path();
    fs::create_directories(dir_ / "bin");
    env_ = {
        {"HOME", (dir_ / "home").string()},
        {"HF_HOME", (dir_ / "hf").string()},
        {"PATH", (dir_ / "bin").string()},  // no python unless a test puts one there
        {"ACCEL_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1"},
        {"ACCEL_PROC_NVIDIA_GPUS", (dir_ / "nvidia" / "gpus").string()},
    };
  }
  // Runs `accelctl <args>` with exactly env_ as its environment; a run that hangs fails the test
  // instead of stalling it.
  RunResult Run(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {accel::testing::BinaryPath("accelctl")};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto started = std::chrono::steady_clock::now();
    const accel::testing::ProcessResult result = accel::testing::RunProcess(argv, env_, std::chrono::seconds(30));
    EXPECT_FALSE(result.timed_out) << "accelctl env hung";
    return RunResult{.exit_code = result.exit_code,
                     .out = result.out,
                     .err = result.err,
                     .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()};
  }

  void WriteFile(const fs::path& path, std::string_view text, bool executable = false) const {
    temp_.Write(fs::relative(path, dir_).string(), std::string(text), executable);
  }

  fs::path DefaultConfig() const { return dir_ / "hf" / "accelerate" / "default_config.yaml"; }

  void AddFakeGpus(int count) {
    for (int i = 0; i < count; ++i) {
      const std::string bus_id = fmt::format("0000:{:02x}:00.0", 0x19 + i);
      WriteFile(dir_ / "nvidia" / "gpus" / bus_id / "information", fmt::format(fmt::runtime(kInformation), bus_id));
    }
    WriteFile(dir_ / "nvidia" / "version",
              "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n");
  }

  // A `python3` (or other name) on the test PATH that runs `body` as a shell script, but only when
  // called the way accelctl calls it (`-c <script>`).
  void AddFakePython(std::string_view body, std::string_view name = "python3") {
    WriteFile(dir_ / "bin" / name,
              fmt::format("#!/bin/sh\nif [ \"$1\" != \"-c\" ]; then exit 3; fi\n{}\n", body), /*executable=*/true);
  }

  // The `- <label>: <value>` value of the report line for `label`, or "<absent>".
  static std::string Field(const std::string& out, std::string_view label) {
    const std::string prefix = common::StrCat("- ", label, ": ");
    for (const std::string& line : Lines(out)) {
      if (line.starts_with(prefix)) return line.substr(prefix.size());
    }
    return "<absent>";
  }

  accel::testing::TempDir temp_;
  fs::path dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(EnvCommandTest, ReportLayoutWithoutConfigPythonOrGpus) {
  const RunResult result = Run({"env"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_THAT(result.out, StartsWith("\nCopy-and-paste the text below in your GitHub issue\n\n- `accelctl` version: " +
                                     std::string(ACCEL_VERSION) + "\n- Platform: Linux-"));
  const std::vector<std::string> lines = Lines(result.out);
  std::vector<std::string> labels;
  for (const std::string& line : lines) {
    if (line.starts_with("- ")) labels.push_back(line.substr(2, line.find(':') - 2));
  }
  EXPECT_THAT(labels, ::testing::ElementsAre("`accelctl` version", "Platform", "`accelctl` binary location",
                                             "Python version", "PyTorch version", "libtorch (C++)", "CUDA driver",
                                             "NCCL", "System RAM", "`Accelerate` default config"));
  EXPECT_EQ(Field(result.out, "`accelctl` binary location"), fs::canonical(accel::testing::BinaryPath("accelctl")).string());
  EXPECT_EQ(Field(result.out, "Python version"), "Not found");
  EXPECT_EQ(Field(result.out, "PyTorch version"), "Not installed");
  EXPECT_THAT(Field(result.out, "System RAM"), ContainsRegex("^[0-9]+\\.[0-9][0-9] GB$"));
  EXPECT_THAT(Field(result.out, "Platform"), ContainsRegex("^Linux-[^ ]+-with-glibc[0-9.]+$"));
  // No GPU: the lines are left out, as accelerate does on a CPU-only machine.
  EXPECT_THAT(result.out, Not(HasSubstr("GPU type")));
  EXPECT_THAT(result.out, Not(HasSubstr("GPU driver")));
  EXPECT_THAT(result.out, ::testing::EndsWith("\n- `Accelerate` default config:\n\tNot found\n"));
  // Without a Python to wait for, the whole report is native and quick (bound loose for busy CI).
  EXPECT_LT(result.seconds, 3.0);
}

TEST_F(EnvCommandTest, GpuLinesComeFromTheProbe) {
  AddFakeGpus(2);
  const RunResult result = Run({"env"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(Field(result.out, "GPU type"), "NVIDIA H200 (x2)");
  EXPECT_EQ(Field(result.out, "GPU driver"), "550.54.15");
  // After System RAM, as accelerate orders them, and before the config.
  EXPECT_LT(result.out.find("- System RAM:"), result.out.find("- GPU type:"));
  EXPECT_LT(result.out.find("- GPU driver:"), result.out.find("- `Accelerate` default config:"));
}

TEST_F(EnvCommandTest, DefaultConfigPrintedInAccelerateOrderAndReprs) {
  WriteFile(DefaultConfig(),
            "dynamo_config:\n"
            "  dynamo_backend: INDUCTOR\n"
            "use_cpu: false\n"
            "compute_environment: LOCAL_MACHINE\n"
            "deepspeed_config:\n"
            "  zero_stage: 2\n"
            "  offload_optimizer_device: none\n"
            "  gradient_clipping: 1.0\n"
            "  zero3_init_flag: false\n"
            "distributed_type: MULTI_GPU\n"
            "fsdp_config: {}\n"
            "gpu_ids: all\n"
            "main_process_ip: null\n"
            "main_process_port: 29501\n"
            "mixed_precision: bf16\n"
            "num_processes: 2\n"
            "tpu_env: []\n");
  const RunResult result = Run({"env"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const size_t at = result.out.find("- `Accelerate` default config:\n");
  ASSERT_NE(at, std::string::npos) << result.out;
  EXPECT_EQ(result.out.substr(at),
            "- `Accelerate` default config:\n"
            "\t- compute_environment: LOCAL_MACHINE\n"
            "\t- distributed_type: MULTI_GPU\n"
            "\t- mixed_precision: bf16\n"
            "\t- use_cpu: False\n"
            "\t- debug: False\n"
            "\t- num_processes: 2\n"
            "\t- machine_rank: 0\n"
            "\t- num_machines: 1\n"
            "\t- gpu_ids: all\n"
            "\t- main_process_port: 29501\n"
            "\t- rdzv_backend: static\n"
            "\t- same_network: False\n"
            "\t- main_training_function: main\n"
            "\t- enable_cpu_affinity: False\n"
            "\t- deepspeed_config: {'zero_stage': 2, 'offload_optimizer_device': 'none', 'gradient_clipping': 1.0, "
            "'zero3_init_flag': False}\n"
            "\t- downcast_bf16: False\n"
            "\t- tpu_use_cluster: False\n"
            "\t- tpu_use_sudo: False\n"
            "\t- tpu_env: []\n"
            "\t- dynamo_config: {'dynamo_backend': 'INDUCTOR'}\n");
}

TEST_F(EnvCommandTest, ExplicitConfigFileSwitchesTheLabel) {
  const fs::path config = dir_ / "elsewhere" / "my config.json";
  WriteFile(config, R"({"distributed_type": "NO", "use_cpu": true, "mixed_precision": "no"})");
  for (const std::string flag : {"--config_file", "--config-file", "--config_f"}) {
    const RunResult result = Run({"env", flag, config.string()});
    ASSERT_EQ(result.exit_code, 0) << flag << ": " << result.err;
    EXPECT_THAT(result.out, Not(HasSubstr("default config")));
    EXPECT_THAT(result.out, HasSubstr("\n- `Accelerate` config passed:\n\t- compute_environment: LOCAL_MACHINE\n"
                                      "\t- distributed_type: NO\n\t- mixed_precision: no\n\t- use_cpu: True\n"));
    // distributed_type NO without num_processes: accelerate's loader fills in 1.
    EXPECT_THAT(result.out, HasSubstr("\t- num_processes: 1\n"));
  }
}

TEST_F(EnvCommandTest, InvalidDefaultConfigFailsWithOneLineNamingTheKey) {
  WriteFile(DefaultConfig(), "distributed_type: MULTI_GPU\nnum_processes: two\n");
  const RunResult result = Run({"env"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");  // nothing half-printed
  ASSERT_EQ(Lines(result.err).size(), 1u) << result.err;
  EXPECT_THAT(result.err, StartsWith("accelctl env: error: "));
  EXPECT_THAT(result.err, HasSubstr("num_processes"));
  EXPECT_THAT(result.err, HasSubstr(DefaultConfig().string()));
}

TEST_F(EnvCommandTest, MissingExplicitConfigFileFails) {
  const fs::path missing = dir_ / "missing.yaml";
  const RunResult result = Run({"env", "--config_file", missing.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  ASSERT_EQ(Lines(result.err).size(), 1u) << result.err;
  EXPECT_THAT(result.err, HasSubstr(missing.string()));
}

TEST_F(EnvCommandTest, UnknownFlagIsAUsageErrorAndHelpWorks) {
  RunResult result = Run({"env", "--bogus"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, "");
  ASSERT_EQ(Lines(result.err).size(), 1u) << result.err;
  EXPECT_THAT(result.err, HasSubstr("--bogus"));

  result = Run({"env", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("--config_file"));
  EXPECT_THAT(result.out, Not(HasSubstr("Copy-and-paste")));
}

TEST_F(EnvCommandTest, PythonAndTorchVersionsComeFromThePythonOnPath) {
  // Noise on stderr and untagged stdout (a chatty sitecustomize) must not leak into the report.
  AddFakePython(
      "echo 'sitecustomize says hi'\n"
      "echo 'warning: something' >&2\n"
      "echo 'accelctl-probe python 3.99.1'\n"
      "echo 'accelctl-probe torch 9.9.9+fake False'");
  const RunResult result = Run({"env"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_EQ(Field(result.out, "Python version"), "3.99.1 (" + (dir_ / "bin" / "python3").string() + ")");
  EXPECT_EQ(Field(result.out, "PyTorch version"), "9.9.9+fake (CUDA available: False)");
  EXPECT_THAT(result.out, Not(HasSubstr("sitecustomize")));
}

TEST_F(EnvCommandTest, FallsBackToPythonAndReportsMissingTorch) {
  AddFakePython("echo 'accelctl-probe python 3.8.10'\necho 'accelctl-probe torch-missing'", "python");
  RunResult result = Run({"env"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(Field(result.out, "Python version"), "3.8.10 (" + (dir_ / "bin" / "python").string() + ")");
  EXPECT_EQ(Field(result.out, "PyTorch version"), "Not installed");

  AddFakePython("echo 'accelctl-probe python 3.12.3'\necho \"accelctl-probe torch-error OSError('libcudnn.so.9')\"");
  result = Run({"env"});
  EXPECT_EQ(Field(result.out, "PyTorch version"), "Import failed: OSError('libcudnn.so.9')");
}

TEST_F(EnvCommandTest, HangingTorchImportIsBoundedAndTheChildIsKilled) {
  env_["ACCEL_ENV_PYTHON_TIMEOUT"] = "1";
  const fs::path pid_file = dir_ / "python.pid";
  // `exec` keeps the pid, so the recorded pid is the process accelctl must kill.
  AddFakePython(fmt::format("echo $$ > '{}'\necho 'accelctl-probe python 3.12.3'\nPATH=/usr/bin:/bin exec sleep 60", pid_file.string()));
  const RunResult result = Run({"env"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_LT(result.seconds, 5.0);
  EXPECT_EQ(Field(result.out, "Python version"), "3.12.3 (" + (dir_ / "bin" / "python3").string() + ")");
  EXPECT_EQ(Field(result.out, "PyTorch version"), "Unknown (`import torch` did not finish within 1 s)");
  const auto pid = common::ParseInt64(common::StripWhitespace(accel::testing::ReadFile(pid_file)));
  ASSERT_TRUE(pid.has_value());
  EXPECT_FALSE(accel::testing::ProcessAlive(static_cast<pid_t>(*pid))) << "the probe's python outlived accelctl";
}

TEST_F(EnvCommandTest, SilentPythonIsBoundedToo) {
  env_["ACCEL_ENV_PYTHON_TIMEOUT"] = "1";
  AddFakePython("PATH=/usr/bin:/bin exec sleep 60");
  const RunResult result = Run({"env"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_LT(result.seconds, 5.0);
  EXPECT_THAT(Field(result.out, "Python version"), StartsWith("Unknown (no answer within 1 s)"));
  EXPECT_EQ(Field(result.out, "PyTorch version"), "Unknown");
}

TEST_F(EnvCommandTest, LibtorchFoundOnLdLibraryPathWithItsVersion) {
  // Any ELF object of this machine's kind passes for the library: it is located, never loaded.
  const fs::path lib = dir_ / "libtorch" / "lib" / "libtorch_cpu.so";
  fs::create_directories(lib.parent_path());
  fs::copy_file(accel::testing::BinaryPath("accelctl"), lib);
  WriteFile(dir_ / "libtorch" / "build-version", "2.5.1+cu124\n");
  env_["LD_LIBRARY_PATH"] = lib.parent_path().string();
  const RunResult result = Run({"env"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(Field(result.out, "libtorch (C++)"), "2.5.1+cu124 (" + lib.string() + ")");
}

}  // namespace
}  // namespace accel::client
