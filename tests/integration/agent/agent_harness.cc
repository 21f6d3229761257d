// agent_harness: a minimal launcher around LocalAgent for integration tests (a stand-in for
// `accelctl launch` that the tests can SIGKILL, signal and capture).
//
//   agent_harness [--nproc N] [--max-restarts N] [--grace-ms N] [--backoff-ms N] [--monitor-ms N]
//                 [--tee SPEC] [--redirects SPEC] [--log-dir DIR] [--run-id ID]
//                 [--prefix-template T] [--no-capture] [--result FILE] -- PROGRAM [ARGS...]
//
// Workers get the harness's environment plus the torchrun variables the tests need (LOCAL_RANK, RANK,
// WORLD_SIZE, LOCAL_WORLD_SIZE, TORCHELASTIC_RESTART_COUNT, TORCHELASTIC_MAX_RESTARTS,
// TORCHELASTIC_ERROR_FILE). stdout carries only worker output; the harness logs and the failure
// summary go to stderr. --result writes the RunResult as JSON. Exit code: RunResult::exit_code.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "agent/local_agent.h"
#include "agent/signal_watcher.h"
#include "agent/std_spec.h"
#include "common/environment.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace {

using accel::agent::RunResult;

int Usage(std::string_view error) {
  std::cerr << "agent_harness: " << error << "\n";
  return 2;
}

nlohmann::json ToJson(const RunResult& result) {
  nlohmann::json out;
  out["exit_code"] = result.exit_code;
  out["restarts"] = result.restarts;
  out["launcher_signal"] = result.launcher_signal;
  out["status"] = std::string(result.status.message());
  out["run_dir"] = result.run_dir;
  out["failures"] = nlohmann::json::array();
  for (const auto& f : result.failures) {
    out["failures"].push_back({{"local_rank", f.local_rank},
                               {"global_rank", f.global_rank},
                               {"pid", f.pid},
                               {"exit_code", f.exit_code},
                               {"signal", f.signal},
                               {"message", f.message},
                               {"error_file_found", f.error_file_found}});
  }
  out["final_exits"] = nlohmann::json::array();
  for (const auto& e : result.final_exits) {
    out["final_exits"].push_back({{"local_rank", e.local_rank},
                                  {"pid", e.pid},
                                  {"exit_code", e.status.exit_code},
                                  {"signal", e.status.signal}});
  }
  out["attempts"] = nlohmann::json::array();
  for (const auto& a : result.attempts) {
    out["attempts"].push_back({{"restart_count", a.restart_count},
                               {"succeeded", a.succeeded},
                               {"stop_to_end_ms", a.stop_began == absl::InfiniteDuration()
                                                      ? -1.0
                                                      : absl::ToDoubleMilliseconds(a.ended - a.stop_began)}});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // First, before any thread exists (spdlog, the agent's loop thread): see BlockSupervisorSignals().
  if (absl::Status blocked = accel::agent::BlockSupervisorSignals(); !blocked.ok()) {
    return Usage(std::string(blocked.message()));
  }
  spdlog::set_default_logger(spdlog::stderr_logger_mt("agent_harness"));

  accel::agent::SupervisorOptions options;
  options.host = "harness-host";
  std::string tee = "0";
  std::string redirects = "0";
  std::string result_path;
  std::vector<std::string> command;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") {
      for (int j = i + 1; j < argc; ++j) command.emplace_back(argv[j]);
      break;
    }
    if (arg == "--no-capture") {
      options.capture_output = false;
      continue;
    }
    if (i + 1 >= argc) return Usage(std::string(arg) + " needs a value");
    const std::string value = argv[++i];
    if (arg == "--nproc") {
      options.local_world_size = std::atoi(value.c_str());
    } else if (arg == "--max-restarts") {
      options.max_restarts = std::atoi(value.c_str());
    } else if (arg == "--grace-ms") {
      options.stop_grace = absl::Milliseconds(std::atoi(value.c_str()));
    } else if (arg == "--backoff-ms") {
      options.restart_backoff = absl::Milliseconds(std::atoi(value.c_str()));
    } else if (arg == "--monitor-ms") {
      options.monitor_interval = absl::Milliseconds(std::atoi(value.c_str()));
    } else if (arg == "--tee") {
      tee = value;
    } else if (arg == "--redirects") {
      redirects = value;
    } else if (arg == "--log-dir") {
      options.log_root = value;
    } else if (arg == "--run-id") {
      options.run_id = value;
    } else if (arg == "--prefix-template") {
      options.line_prefix_template = value;
    } else if (arg == "--result") {
      result_path = value;
    } else {
      return Usage("unknown option " + std::string(arg));
    }
  }
  if (command.empty()) return Usage("missing -- PROGRAM");

  auto tee_masks = accel::agent::ParseStdSpec(tee, options.local_world_size);
  if (!tee_masks.ok()) return Usage(std::string(tee_masks.status().message()));
  auto redirect_masks = accel::agent::ParseStdSpec(redirects, options.local_world_size);
  if (!redirect_masks.ok()) return Usage(std::string(redirect_masks.status().message()));
  options.output_targets =
      accel::agent::ResolveOutputTargets(*tee_masks, *redirect_masks, options.local_world_size);

  const accel::common::Environment base_env = accel::common::Environment::FromProcess();
  if (auto tmp = base_env.GetNonEmpty("TMPDIR")) options.tmp_dir = *tmp;
  const int world_size = options.local_world_size;
  const int max_restarts = options.max_restarts;

  accel::agent::LocalAgent agent(
      options, [&](int local_rank, const accel::agent::AttemptInfo& attempt) {
        accel::common::Environment env = base_env;
        env.Set("LOCAL_RANK", std::to_string(local_rank));
        env.Set("RANK", std::to_string(local_rank));
        env.Set("WORLD_SIZE", std::to_string(world_size));
        env.Set("LOCAL_WORLD_SIZE", std::to_string(world_size));
        env.Set("TORCHELASTIC_RESTART_COUNT", std::to_string(attempt.restart_count));
        env.Set("TORCHELASTIC_MAX_RESTARTS", std::to_string(max_restarts));
        env.Set("TORCHELASTIC_ERROR_FILE", attempt.ErrorFile(local_rank));
        return accel::agent::WorkerCommand{command, env.ToEnvp(), "", {}};
      });
  const RunResult result = agent.Run();

  std::cerr << accel::agent::FormatFailureSummary(result, command.front());
  if (!result.status.ok()) std::cerr << "agent_harness: " << result.status.message() << "\n";
  if (!result_path.empty()) {
    std::ofstream out(result_path);
    out << ToJson(result).dump(2) << "\n";
  }
  return result.exit_code;
}
