// log_tee_bench: what accelctl's log capture costs when workers write as fast as they can.
//
//   log_tee_bench [--workers 8] [--seconds 3] [--line_bytes 120] [--rounds 2] [--rows]
//
// N bench_worker processes (BENCH_WRITE_SECONDS) each write numbered fixed-size lines to stdout for S
// seconds through a 64 KiB stdio buffer, then a closing "end w<rank> <count>" line. Three ways:
//   plain      the baseline: fork/exec N workers, each stdout redirected to its own file (no copy at all);
//   tee        `accelctl launch --cpu --num_processes N --tee 3 --log_dir D --no_python bench_worker`, the
//              launcher's stdout redirected to a file: every byte goes to D/.../attempt_0/<r>/stdout.log
//              and, framed and prefixed "[default<r>]:", to the console file;
//   redirects  the same with `--redirects 3` (log files only).
// Throughput = bytes the workers wrote (the log files' sizes) / wall time from fork to the last exit;
// the three run in turn, --rounds times, and each reports its best round (a shared machine is noisy).
// Every file (and the tee console) is read back and checked line by line: each rank's sequence numbers
// must run 0..count-1 with no gap (lost), every line must have its exact length and form and, on the
// console, the prefix of its own rank (cut or interleaved), and the closing count must match.
//
// --rows prints machine-readable rows for tests/bench/run_benchmarks.sh instead of the table.
// Not a ctest test: timings on a shared machine are not pass/fail material.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Check {
  long long lines = 0;  // Numbered lines seen (closing lines excluded).
  long long lost = 0;   // Sequence numbers never seen, plus closing counts that disagree.
  long long cut = 0;    // Lines of the wrong length or form, or with another rank's prefix.
  bool ok() const { return lost == 0 && cut == 0 && lines > 0; }
};

struct RankState {
  long long next = 0;
  long long end = -1;
};

// Checks one stream. `console`: lines carry a "[default<r>]:" prefix that must name the line's rank.
void CheckStream(const fs::path& path, int line_bytes, bool console, std::map<int, RankState>& ranks, Check& check) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    std::string_view text = line;
    int prefix_rank = -1;
    if (console) {
      if (!text.starts_with("[default")) {
        ++check.cut;
        continue;
      }
      const size_t close = text.find("]:");
      if (close == std::string_view::npos) {
        ++check.cut;
        continue;
      }
      prefix_rank = std::atoi(std::string(text.substr(8, close - 8)).c_str());
      text.remove_prefix(close + 2);
    }
    if (text.starts_with("end w")) {
      int rank = 0;
      long long count = 0;
      if (std::sscanf(std::string(text).c_str(), "end w%d %lld", &rank, &count) != 2 ||
          (console && rank != prefix_rank)) {
        ++check.cut;
        continue;
      }
      ranks[rank].end = count;
      continue;
    }
    int rank = 0;
    long long seq = 0;
    int consumed = 0;
    if (text.size() + 1 != static_cast<size_t>(line_bytes) ||
        std::sscanf(std::string(text.substr(0, 24)).c_str(), "w%d %lld %n", &rank, &seq, &consumed) != 2 ||
        (console && rank != prefix_rank) || text.find_first_not_of('x', static_cast<size_t>(consumed)) != std::string_view::npos) {
      ++check.cut;
      continue;
    }
    RankState& state = ranks[rank];
    if (seq > state.next) check.lost += seq - state.next;
    if (seq < state.next) ++check.cut;  // A repeat or reordering.
    state.next = seq + 1;
    ++check.lines;
  }
}

void Finish(const std::map<int, RankState>& ranks, int workers, Check& check) {
  if (static_cast<int>(ranks.size()) != workers) check.lost += 1;
  for (const auto& [rank, state] : ranks) {
    if (state.end != state.next) check.lost += state.end < 0 ? 1 : std::abs(state.end - state.next);
  }
}

struct Sample {
  double seconds = 0;
  long long bytes = 0;
  Check files;
  Check console;
  bool has_console = false;
};

pid_t Spawn(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& out,
            const std::string& err) {
  std::vector<std::string> a = args, e = env;
  std::vector<char*> argv, envp;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : e) envp.push_back(s.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int r = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || r < 0) ::_exit(126);
    ::dup2(o, 1);
    ::dup2(r, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Sample Plain(const std::string& worker, int workers, double seconds, int line_bytes, const fs::path& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  Sample sample;
  std::vector<pid_t> pids;
  const auto start = Clock::now();
  for (int r = 0; r < workers; ++r) {
    pids.push_back(Spawn({worker},
                         {"BENCH_WRITE_SECONDS=" + std::to_string(seconds), "BENCH_RANK=" + std::to_string(r),
                          "BENCH_LINE_BYTES=" + std::to_string(line_bytes)},
                         (dir / ("stdout." + std::to_string(r))).string(), "/dev/null"));
  }
  for (pid_t pid : pids) {
    if (Wait(pid) != 0) {
      std::fprintf(stderr, "log_tee_bench: a plain worker failed\n");
      std::exit(1);
    }
  }
  sample.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::map<int, RankState> ranks;
  for (int r = 0; r < workers; ++r) {
    const fs::path file = dir / ("stdout." + std::to_string(r));
    sample.bytes += static_cast<long long>(fs::file_size(file));
    CheckStream(file, line_bytes, false, ranks, sample.files);
  }
  Finish(ranks, workers, sample.files);
  fs::remove_all(dir);
  return sample;
}

// mode: "tee" or "redirects".
Sample Launcher(const std::string& accelctl, const std::string& worker, const std::string& mode, int workers,
                double seconds, int line_bytes, const fs::path& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir / "logs");
  const fs::path console = dir / "console.out";
  Sample sample;
  const auto start = Clock::now();
  const pid_t pid = Spawn(
      {accelctl, "launch", "--cpu", "--num_processes", std::to_string(workers), "--num_cpu_threads_per_process", "1",
       "--mixed_precision", "no", "--num_machines", "1", "--dynamo_backend", "no", "--" + mode, "3", "--log_dir",
       (dir / "logs").string(), "--no_python", worker},
      {"BENCH_WRITE_SECONDS=" + std::to_string(seconds), "BENCH_LINE_BYTES=" + std::to_string(line_bytes),
       "HF_HOME=" + (dir / "hf").string(), "PATH=/usr/bin:/bin", "TMPDIR=" + dir.string()},
      console.string(), (dir / "console.err").string());
  if (const int code = Wait(pid); code != 0) {
    std::fprintf(stderr, "log_tee_bench: accelctl launch --%s exited %d (see %s)\n", mode.c_str(), code,
                 (dir / "console.err").c_str());
    std::exit(1);
  }
  sample.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::map<int, RankState> ranks;
  for (const auto& entry : fs::recursive_directory_iterator(dir / "logs")) {
    if (entry.path().filename() != "stdout.log") continue;
    sample.bytes += static_cast<long long>(entry.file_size());
    CheckStream(entry.path(), line_bytes, false, ranks, sample.files);
  }
  Finish(ranks, workers, sample.files);
  if (mode == "tee") {
    sample.has_console = true;
    std::map<int, RankState> console_ranks;
    CheckStream(console, line_bytes, true, console_ranks, sample.console);
    Finish(console_ranks, workers, sample.console);
  }
  fs::remove_all(dir);
  return sample;
}

std::string CheckText(const Sample& s) {
  char text[256];
  std::snprintf(text, sizeof(text), "%lld lines in files: %lld lost, %lld cut", s.files.lines, s.files.lost, s.files.cut);
  std::string out = text;
  if (s.has_console) {
    std::snprintf(text, sizeof(text), "; %lld on console: %lld lost, %lld cut", s.console.lines, s.console.lost,
                  s.console.cut);
    out += text;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int workers = 8;
  double seconds = 3;
  int line_bytes = 120;
  int rounds = 2;
  bool rows = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : "";
    if (flag == "--rows") {
      rows = true;
    } else if (flag == "--workers") {
      workers = std::atoi(value), ++i;
    } else if (flag == "--seconds") {
      seconds = std::atof(value), ++i;
    } else if (flag == "--rounds") {
      rounds = std::max(1, std::atoi(value)), ++i;
    } else if (flag == "--line_bytes") {
      line_bytes = std::atoi(value), ++i;
    }
  }
  const fs::path self_dir = fs::canonical("/proc/self/exe").parent_path();
  const std::string worker = (self_dir / "bench_worker").string();
  const std::string accelctl = (self_dir / "accelctl").string();
  if (::access(worker.c_str(), X_OK) != 0 || ::access(accelctl.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "log_tee_bench: needs bench_worker and accelctl next to it\n");
    return 1;
  }
  char scratch_template[] = "/tmp/accel_tee_bench_XXXXXX";
  const fs::path scratch = ::mkdtemp(scratch_template);

  auto mbps = [](const Sample& s) { return static_cast<double>(s.bytes) / s.seconds / 1e6; };
  // Best round by throughput; a failed check in any round is kept (it fails the whole run).
  auto keep = [&](Sample& best, const Sample& next, int round) {
    const bool failed_before = round > 0 && !(best.files.ok() && (!best.has_console || best.console.ok()));
    const bool failed_now = !(next.files.ok() && (!next.has_console || next.console.ok()));
    if (round == 0 || failed_now || (!failed_before && mbps(next) > mbps(best))) best = next;
  };
  Sample plain, tee, redirects;
  for (int round = 0; round < rounds; ++round) {
    keep(plain, Plain(worker, workers, seconds, line_bytes, scratch / "plain"), round);
    keep(tee, Launcher(accelctl, worker, "tee", workers, seconds, line_bytes, scratch / "tee"), round);
    keep(redirects, Launcher(accelctl, worker, "redirects", workers, seconds, line_bytes, scratch / "redirects"), round);
  }
  fs::remove_all(scratch);

  const bool ok = plain.files.ok() && tee.files.ok() && tee.console.ok() && redirects.files.ok();
  if (rows) {
    // ROW <TAB> benchmark <TAB> ours <TAB> baseline <TAB> baseline name <TAB> unit <TAB> check
    std::printf("ROW\tlog tee, %d writers x %.1f s, %d-byte lines: --tee 3 (files + console)\t%.1f\t%.1f\tplain > file\tMB/s\t%s%s\n",
                workers, seconds, line_bytes, mbps(tee), mbps(plain), tee.files.ok() && tee.console.ok() ? "" : "FAILED: ",
                CheckText(tee).c_str());
    std::printf("ROW\tlog tee, %d writers x %.1f s: --redirects 3 (files only)\t%.1f\t%.1f\tplain > file\tMB/s\t%s%s\n",
                workers, seconds, mbps(redirects), mbps(plain), redirects.files.ok() ? "" : "FAILED: ",
                CheckText(redirects).c_str());
  } else {
    std::printf("log_tee_bench: %d workers writing %d-byte lines for %.1f s; MB/s = log bytes / wall time, best of %d\n\n",
                workers, line_bytes, seconds, rounds);
    std::printf("%-34s %10s %8s  %s\n", "", "MB/s", "wall s", "check");
    std::printf("%-34s %10.1f %8.2f  %s\n", "plain redirection to files", mbps(plain), plain.seconds,
                CheckText(plain).c_str());
    std::printf("%-34s %10.1f %8.2f  %s\n", "accelctl --tee 3 (files + console)", mbps(tee), tee.seconds,
                CheckText(tee).c_str());
    std::printf("%-34s %10.1f %8.2f  %s\n", "accelctl --redirects 3 (files)", mbps(redirects), redirects.seconds,
                CheckText(redirects).c_str());
  }
  return ok ? 0 : 1;
}
