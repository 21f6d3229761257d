// launch_overhead_bench: what LocalAgent costs on top of starting the same processes by hand.
//
//   launch_overhead_bench [--reps N] [--workers 1,8,64] [--rows]
//
// --rows prints machine-readable rows for tests/bench/run_benchmarks.sh instead of the tables.
//
// 1. Start latency: time from the start of LocalAgent::Run() (a fresh agent per repetition, with its
//    default temporary log directory and captured output) until every worker has signalled that it
//    runs, for 1, 8 and 64 workers, against a bare fork/execve loop of the same workers. Each worker
//    (bench_worker) writes one byte to an inherited pipe as soon as main() runs.
//    And the whole command: time from fork+exec of `accelctl launch --cpu --num_processes N --no_python
//    bench_worker` until every worker runs (the worker signals through a FIFO), against the same bare
//    fork/exec loop; this includes accelctl's own start-up, config lookup and launch planning.
// 2. Restart latency: with 8 running workers, rank 0 is told to exit 1; time until all 8 workers of the
//    next attempt run, minus the time the old group needed to die after the SIGTERM (the grace the
//    group actually used).
//
// Reports medians and minimums in milliseconds. Not a ctest test: timings on a shared machine are not
// pass/fail material.
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "agent/local_agent.h"
#include "agent/signal_watcher.h"
#include "common/event_loop.h"
#include "spdlog/spdlog.h"

namespace {

using accel::agent::AttemptInfo;
using accel::agent::LocalAgent;
using accel::agent::RunResult;
using accel::agent::SupervisorOptions;
using accel::agent::WorkerCommand;

double NowMs() { return absl::ToDoubleMilliseconds(accel::common::EventLoop::MonotonicNow()); }

struct Pipe {
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    ::close(r);
    ::close(w);
  }
  int r;
  int w;
};

void ReadBytes(int fd, int n) {
  char buf[256];
  while (n > 0) {
    const ssize_t got = ::read(fd, buf, static_cast<size_t>(std::min(n, 256)));
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      std::fprintf(stderr, "readiness pipe closed early\n");
      std::exit(1);
    }
    n -= static_cast<int>(got);
  }
}

// The baseline: fork + execve in a loop, nothing else.
double BareForkExec(const std::string& worker, int workers) {
  Pipe ready;
  const std::string fd_env = "BENCH_READY_FD=" + std::to_string(ready.w);
  char* const argv[] = {const_cast<char*>(worker.c_str()), nullptr};
  char* const envp[] = {const_cast<char*>(fd_env.c_str()), nullptr};
  std::vector<pid_t> pids;
  const double start = NowMs();
  for (int i = 0; i < workers; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::fcntl(ready.w, F_SETFD, 0);
      ::execve(argv[0], argv, envp);
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  ReadBytes(ready.r, workers);
  const double elapsed = NowMs() - start;
  for (pid_t pid : pids) ::kill(pid, SIGKILL);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  return elapsed;
}

SupervisorOptions Options(int workers) {
  SupervisorOptions options;
  options.local_world_size = workers;
  options.host = "bench";
  options.stop_grace = absl::Seconds(5);
  return options;
}

WorkerCommand Command(const std::string& worker, int ready_fd, std::vector<int> extra_fds = {}, std::string extra_env = "") {
  WorkerCommand command;
  command.argv = {worker};
  command.env = {"BENCH_READY_FD=" + std::to_string(ready_fd)};
  if (!extra_env.empty()) command.env.push_back(extra_env);
  command.pass_fds = {ready_fd};
  command.pass_fds.insert(command.pass_fds.end(), extra_fds.begin(), extra_fds.end());
  return command;
}

// LocalAgent::Run() start -> every worker running.
double AgentStart(const std::string& worker, int workers) {
  Pipe ready;
  LocalAgent agent(Options(workers), [&](int, const AttemptInfo&) { return Command(worker, ready.w); });
  RunResult result;
  const double start = NowMs();
  std::thread runner([&] { result = agent.Run(); });
  ReadBytes(ready.r, workers);
  const double elapsed = NowMs() - start;
  agent.RequestStop(SIGTERM);
  runner.join();
  if (result.launcher_signal != SIGTERM) {
    std::fprintf(stderr, "unexpected result: exit %d\n", result.exit_code);
    std::exit(1);
  }
  return elapsed;
}

// fork+exec of `accelctl launch ...` -> every worker running.
double AccelctlLaunch(const std::string& accelctl, const std::string& worker, int workers, const std::string& scratch) {
  const std::string fifo = scratch + "/ready.fifo";
  ::unlink(fifo.c_str());
  if (::mkfifo(fifo.c_str(), 0600) != 0) std::abort();
  // Opened first and non-blocking, so that workers' opens for writing never wait.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ::fcntl(reader, F_SETFL, 0);  // then blocking reads
  const int keep_open = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);  // no EOF between workers
  const std::string processes = std::to_string(workers);
  std::vector<std::string> args = {accelctl, "launch", "--cpu", "--num_processes", processes,
                                   "--num_cpu_threads_per_process", "1", "--mixed_precision", "no",
                                   "--num_machines", "1", "--dynamo_backend", "no", "--no_python", worker};
  std::vector<std::string> env_text = {"BENCH_READY_FIFO=" + fifo, "HF_HOME=" + scratch + "/hf",
                                       "PATH=/usr/bin:/bin", "TMPDIR=" + scratch};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& entry : env_text) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const double start = NowMs();
  const pid_t pid = ::fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, 1);
    ::dup2(null_fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ReadBytes(reader, workers);
  const double elapsed = NowMs() - start;
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  ::close(reader);
  ::close(keep_open);
  ::unlink(fifo.c_str());
  return elapsed;
}

struct RestartSample {
  double total_ms;  // Rank 0 told to fail -> every worker of the next attempt running.
  double grace_ms;  // SIGTERM sent -> last worker of the old group gone.
};

RestartSample Restart(const std::string& worker, int workers) {
  Pipe ready;
  Pipe trigger;
  SupervisorOptions options = Options(workers);
  options.max_restarts = 1;
  LocalAgent agent(options, [&](int local_rank, const AttemptInfo& attempt) {
    if (attempt.restart_count == 0 && local_rank == 0) {
      return Command(worker, ready.w, {trigger.r}, "BENCH_FAIL_FD=" + std::to_string(trigger.r));
    }
    return Command(worker, ready.w);
  });
  RunResult result;
  std::thread runner([&] { result = agent.Run(); });
  ReadBytes(ready.r, workers);
  const double start = NowMs();
  if (::write(trigger.w, "x", 1) != 1) std::abort();
  ReadBytes(ready.r, workers);
  const double total = NowMs() - start;
  agent.RequestStop(SIGTERM);
  runner.join();
  if (result.restarts != 1 || result.attempts.size() != 2) {
    std::fprintf(stderr, "unexpected restart result: restarts=%d\n", result.restarts);
    std::exit(1);
  }
  const auto& first = result.attempts[0];
  return {total, absl::ToDoubleMilliseconds(first.ended - first.stop_began)};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}
double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

std::vector<int> ParseList(const char* text) {
  std::vector<int> out;
  for (const char* p = text; *p != '\0';) {
    out.push_back(std::atoi(p));
    while (*p != '\0' && *p != ',') ++p;
    if (*p == ',') ++p;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (absl::Status blocked = accel::agent::BlockSupervisorSignals(); !blocked.ok()) return 1;
  spdlog::set_level(spdlog::level::err);  // The restart benchmark fails workers on purpose.
  int reps = 15;
  bool rows = false;  // Machine-readable rows for tests/bench/run_benchmarks.sh.
  std::vector<int> sizes = {1, 8, 64};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--rows") rows = true;
    if (i + 1 >= argc) continue;
    if (flag == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
    if (flag == "--workers") sizes = ParseList(argv[i + 1]);
  }
  const std::string worker = (std::filesystem::canonical("/proc/self/exe").parent_path() / "bench_worker").string();
  if (::access(worker.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "missing %s\n", worker.c_str());
    return 1;
  }

  if (!rows) {
    std::printf("launch_overhead_bench: %d repetitions, %u CPUs; times in ms (median / min)\n\n", reps,
                std::thread::hardware_concurrency());
    std::printf("%-8s | %-21s | %-21s | %-21s\n", "workers", "bare fork/exec", "LocalAgent start", "agent overhead");
    std::printf("---------+-----------------------+-----------------------+----------------------\n");
  }
  for (int workers : sizes) {
    BareForkExec(worker, workers);  // Warm-up: page cache, lazy binding.
    AgentStart(worker, workers);
    std::vector<double> bare, agent;
    for (int r = 0; r < reps; ++r) {
      bare.push_back(BareForkExec(worker, workers));
      agent.push_back(AgentStart(worker, workers));
    }
    if (rows) {
      std::printf("ROW\tlaunch, %d worker%s: LocalAgent::Run (in-process) -> all running\t%.2f\t%.2f\tbare fork/exec\tms\t"
                  "median of %d; min %.2f vs %.2f\n",
                  workers, workers == 1 ? "" : "s", Median(agent), Median(bare), reps, Min(agent), Min(bare));
    } else {
      std::printf("%-8d | %8.2f / %-10.2f | %8.2f / %-10.2f | %8.2f / %-10.2f\n", workers, Median(bare), Min(bare),
                  Median(agent), Min(agent), Median(agent) - Median(bare), Min(agent) - Min(bare));
    }
  }

  const std::string accelctl =
      (std::filesystem::canonical("/proc/self/exe").parent_path() / "accelctl").string();
  if (::access(accelctl.c_str(), X_OK) == 0) {
    char scratch_template[] = "/tmp/accel_bench_XXXXXX";
    const std::string scratch = ::mkdtemp(scratch_template);
    if (!rows) {
      std::printf("\nwhole command: `accelctl launch --cpu --num_processes N --no_python bench_worker`\n");
      std::printf("%-8s | %-21s | %-21s | %-21s\n", "workers", "bare fork/exec", "accelctl launch", "launcher overhead");
      std::printf("---------+-----------------------+-----------------------+----------------------\n");
    }
    for (int workers : sizes) {
      AccelctlLaunch(accelctl, worker, workers, scratch);  // Warm-up.
      std::vector<double> bare, launch;
      for (int r = 0; r < reps; ++r) {
        bare.push_back(BareForkExec(worker, workers));
        launch.push_back(AccelctlLaunch(accelctl, worker, workers, scratch));
      }
      if (rows) {
        std::printf("ROW\tlaunch, %d worker%s: `accelctl launch` command -> all running\t%.2f\t%.2f\tbare fork/exec\tms\t"
                    "median of %d; overhead %.2f ms; min %.2f vs %.2f\n",
                    workers, workers == 1 ? "" : "s", Median(launch), Median(bare), reps, Median(launch) - Median(bare),
                    Min(launch), Min(bare));
      } else {
        std::printf("%-8d | %8.2f / %-10.2f | %8.2f / %-10.2f | %8.2f / %-10.2f\n", workers, Median(bare), Min(bare),
                    Median(launch), Min(launch), Median(launch) - Median(bare), Min(launch) - Min(bare));
      }
    }
    std::filesystem::remove_all(scratch);
    if (!rows) {
      std::printf("reference (../shared/reference/measured-accelerate-1.15.md, first worker started after): "
                  "torchrun 3200-3600 ms, accelerate launch 8800-12700 ms\n");
    }
  }

  if (!rows) std::printf("\nrestart (8 workers): rank 0 exits 1 -> all 8 workers of attempt 1 running\n");
  Restart(worker, 8);  // Warm-up.
  std::vector<double> total, grace, beyond, bare;
  for (int r = 0; r < reps; ++r) {
    const RestartSample s = Restart(worker, 8);
    total.push_back(s.total_ms);
    grace.push_back(s.grace_ms);
    beyond.push_back(s.total_ms - s.grace_ms);
    bare.push_back(BareForkExec(worker, 8));
  }
  if (rows) {
    std::printf("ROW\trestart, 8 workers: rank 0 exits 1 -> attempt 1 all running, beyond grace\t%.2f\t%.2f\t"
                "bare fork/exec of 8\tms\tmedian of %d; total %.2f incl. %.2f for the old group to die\n",
                Median(beyond), Median(bare), reps, Median(total), Median(grace));
    return 0;
  }
  std::printf("%-30s %8.2f / %-8.2f\n", "total", Median(total), Min(total));
  std::printf("%-30s %8.2f / %-8.2f\n", "grace the old group needed", Median(grace), Min(grace));
  std::printf("%-30s %8.2f / %-8.2f\n", "restart beyond grace", Median(beyond), Min(beyond));
  std::printf("%-30s %8.2f / %-8.2f\n", "bare fork/exec of 8", Median(bare), Min(bare));
  return 0;
}
