// End-to-end tests through agent_harness (a LocalAgent in its own process): orphans after SIGKILL,
// signal forwarding, console output under load, progress bars and the log layout across a restart.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/posix_process_launcher.h"
#include "common/environment.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/unit/agent/test_util.h"

namespace accel::agent {
namespace {

using ::testing::HasSubstr;
using testing::IsRunning;
using testing::ProcessState;
using testing::ReadFile;
using testing::TempDir;
using testing::WaitFor;
using testing::WriteFile;

const std::string kHarness = std::string(ACCEL_BINARY_DIR) + "/agent_harness";

// A running agent_harness whose stdout and stderr go to files.
class Harness {
 public:
  Harness(const TempDir& dir, std::vector<std::string> args) : dir_(dir) {
    std::vector<std::string> argv = {kHarness, "--result", dir.Sub("result.json")};
    argv.insert(argv.end(), args.begin(), args.end());
    common::UniqueFd out(::open(dir.Sub("harness.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    common::UniqueFd err(::open(dir.Sub("harness.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    common::Environment env = common::Environment::FromProcess();
    env.Set("TEST_DIR", dir.path());
    auto child = launcher_.Launch({argv, env.ToEnvp(), "", out.get(), err.get(), {}});
    EXPECT_TRUE(child.ok()) << child.status();
    if (child.ok()) process_ = *std::move(child);
  }

  pid_t pid() const { return process_->pid(); }
  std::optional<ExitStatus> Wait(int timeout_ms = 60000) {
    pollfd pfd{process_->exit_fd(), POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) != 1) return std::nullopt;
    return process_->TryWait();
  }
  std::string Stdout() const { return ReadFile(dir_.Sub("harness.out")); }
  std::string Stderr() const { return ReadFile(dir_.Sub("harness.err")); }
  nlohmann::json Result() const { return nlohmann::json::parse(ReadFile(dir_.Sub("result.json"))); }

 private:
  const TempDir& dir_;
  PosixProcessLauncher launcher_;
  std::unique_ptr<ChildProcess> process_;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

pid_t ReadPid(const std::string& path) { return static_cast<pid_t>(std::stol(ReadFile(path))); }

bool HavePython() { return ::access("/usr/bin/python3", X_OK) == 0; }

// Requirement: workers die with the launcher, even when it is SIGKILLed (PR_SET_PDEATHSIG).
TEST(HarnessTest, NoOrphansAfterLauncherIsSigkilled) {
  // Orphaned workers are reparented to us, so we can see them die and reap them (otherwise they would
  // go to init, which in a container may never reap zombies).
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  TempDir dir;
  // An explicit log dir: a SIGKILLed launcher cannot remove its temporary one.
  Harness harness(dir, {"--nproc", "3", "--log-dir", dir.Sub("logs"), "--", "/bin/sh", "-c",
                        "echo $$ > \"$TEST_DIR/pid.$LOCAL_RANK.tmp\" && "
                        "mv \"$TEST_DIR/pid.$LOCAL_RANK.tmp\" \"$TEST_DIR/pid.$LOCAL_RANK\"; exec sleep 1000"});
  std::vector<std::string> pid_files = {dir.Sub("pid.0"), dir.Sub("pid.1"), dir.Sub("pid.2")};
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& f : pid_files) {
      if (!std::filesystem::exists(f)) return false;
    }
    return true;
  })) << harness.Stderr();
  std::vector<pid_t> workers;
  for (const auto& f : pid_files) workers.push_back(ReadPid(f));
  for (pid_t pid : workers) ASSERT_TRUE(IsRunning(pid)) << pid;

  ASSERT_EQ(::kill(harness.pid(), SIGKILL), 0);
  auto status = harness.Wait();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->signal, SIGKILL);

  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  for (pid_t pid : workers) {
    EXPECT_TRUE(WaitFor([&] { return !IsRunning(pid); }, deadline - absl::Now())) << "worker " << pid << " survived";
    ::waitpid(pid, nullptr, WNOHANG);  // Reap it if it was reparented to us.
    EXPECT_FALSE(IsRunning(pid));
  }
}

// Requirement: launcher signals are forwarded to every worker's group; survivors are SIGKILLed after
// the grace period; the launcher exits 128 + signal.
TEST(HarnessTest, SigtermIsForwardedThenSurvivorsAreKilledAfterGrace) {
  TempDir dir;
  const std::string script = R"(
    case "$LOCAL_RANK" in
      0) trap 'echo TERM > "$TEST_DIR/got.0"; exit 143' TERM ;;
      1) trap '' TERM ;;   # Ignores SIGTERM (and so do its children): only SIGKILL stops it.
    esac
    touch "$TEST_DIR/ready.$LOCAL_RANK"
    while :; do sleep 0.05; done)";
  Harness harness(dir, {"--nproc", "2", "--grace-ms", "500", "--", "/bin/sh", "-c", script});
  ASSERT_TRUE(WaitFor([&] {
    return std::filesystem::exists(dir.Sub("ready.0")) && std::filesystem::exists(dir.Sub("ready.1"));
  })) << harness.Stderr();

  const absl::Time sent = absl::Now();
  ASSERT_EQ(::kill(harness.pid(), SIGTERM), 0);
  auto status = harness.Wait();
  const absl::Duration took = absl::Now() - sent;
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->exit_code, 143) << harness.Stderr();
  EXPECT_EQ(ReadFile(dir.Sub("got.0")), "TERM\n");
  EXPECT_GE(took, absl::Milliseconds(500));  // Rank 1 held out for the grace period...
  EXPECT_LT(took, absl::Seconds(10));        // ...and was then killed.

  nlohmann::json result = harness.Result();
  EXPECT_EQ(result["launcher_signal"], SIGTERM);
  EXPECT_TRUE(result["failures"].empty());  // Stopped workers are not failures.
  std::map<int, nlohmann::json> exits;
  for (const auto& e : result["final_exits"]) exits[e["local_rank"].get<int>()] = e;
  EXPECT_EQ(exits[0]["exit_code"], 143);
  EXPECT_EQ(exits[1]["signal"], SIGKILL);
  EXPECT_FALSE(IsRunning(exits[1]["pid"].get<pid_t>()));
  EXPECT_THAT(harness.Stderr(), HasSubstr("SIGTERM"));
}

TEST(HarnessTest, SigintIsForwardedAsSigint) {
  TempDir dir;
  Harness harness(dir, {"--nproc", "2", "--", "/bin/sh", "-c",
                        "trap 'echo INT > \"$TEST_DIR/got.$LOCAL_RANK\"; exit 3' INT; "
                        "touch \"$TEST_DIR/ready.$LOCAL_RANK\"; while :; do sleep 0.05; done"});
  ASSERT_TRUE(WaitFor([&] {
    return std::filesystem::exists(dir.Sub("ready.0")) && std::filesystem::exists(dir.Sub("ready.1"));
  }));
  ASSERT_EQ(::kill(harness.pid(), SIGINT), 0);
  auto status = harness.Wait();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->exit_code, 128 + SIGINT);
  EXPECT_EQ(ReadFile(dir.Sub("got.0")), "INT\n");
  EXPECT_EQ(ReadFile(dir.Sub("got.1")), "INT\n");
}

// Requirement: with 8 chatty workers every console line appears exactly once, whole, with the right
// prefix; the per-rank files get the raw bytes.
TEST(HarnessTest, EightWorkersTwentyThousandLinesEachNeverInterleave) {
  if (!HavePython()) GTEST_SKIP() << "needs /usr/bin/python3";
  TempDir dir;
  constexpr int kWorkers = 8;
  constexpr int kLines = 20000;
  // Varying line lengths, block-buffered writes: chunk boundaries fall mid-line all the time.
  const std::string program = R"(
import os, sys
r = os.environ["LOCAL_RANK"]
w = sys.stdout.write
for i in range(20000):
    w("rank%s line %05d %s\n" % (r, i, "x" * (i % 97)))
for i in range(500):
    sys.stderr.write("rank%s err %03d\n" % (r, i))
)";
  WriteFile(dir.Sub("spam.py"), program);
  Harness harness(dir, {"--nproc", std::to_string(kWorkers), "--tee", "3", "--log-dir", dir.Sub("logs"), "--",
                        "/usr/bin/python3", dir.Sub("spam.py")});
  auto status = harness.Wait();
  ASSERT_TRUE(status.has_value());
  ASSERT_EQ(status->exit_code, 0) << harness.Stderr();

  const std::regex line_re(R"(\[default(\d)\]:rank(\d) line (\d{5}) (x*))");
  std::vector<std::set<int>> seen(kWorkers);
  size_t total = 0;
  for (const std::string& line : Lines(harness.Stdout())) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, line_re)) << "cut or interleaved line: '" << line << "'";
    const int prefix_rank = std::stoi(m[1]);
    ASSERT_EQ(prefix_rank, std::stoi(m[2])) << line;
    const int index = std::stoi(m[3]);
    ASSERT_EQ(m[4].length(), static_cast<size_t>(index % 97)) << line;
    ASSERT_TRUE(seen[static_cast<size_t>(prefix_rank)].insert(index).second) << "duplicate: " << line;
    ++total;
  }
  EXPECT_EQ(total, static_cast<size_t>(kWorkers * kLines));
  for (int r = 0; r < kWorkers; ++r) EXPECT_EQ(seen[static_cast<size_t>(r)].size(), static_cast<size_t>(kLines));

  // stderr: the harness's own logs may be there too, but every worker line is whole and present.
  size_t err_lines = 0;
  const std::regex err_re(R"(\[default(\d)\]:rank(\d) err \d{3})");
  for (const std::string& line : Lines(harness.Stderr())) {
    std::smatch m;
    if (line.rfind("[default", 0) != 0) continue;
    ASSERT_TRUE(std::regex_match(line, m, err_re)) << line;
    EXPECT_EQ(m[1], m[2]);
    ++err_lines;
  }
  EXPECT_EQ(err_lines, static_cast<size_t>(kWorkers * 500));

  // Per-rank files: exactly the bytes the worker wrote.
  const std::string run_dir = harness.Result()["run_dir"];
  for (int r = 0; r < kWorkers; ++r) {
    std::string expected;
    for (int i = 0; i < kLines; ++i) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "rank%d line %05d ", r, i);
      expected += buf + std::string(static_cast<size_t>(i % 97), 'x') + "\n";
    }
    EXPECT_EQ(ReadFile(run_dir + "/attempt_0/" + std::to_string(r) + "/stdout.log"), expected) << "rank " << r;
  }
}

TEST(HarnessTest, CarriageReturnProgressStaysReadable) {
  TempDir dir;
  const std::string script =
      "i=0; while [ $i -le 20 ]; do printf '\\r%3d%%|bar' $((i*5)); i=$((i+1)); done; printf '\\n'";
  Harness multi(dir, {"--nproc", "2", "--", "/bin/sh", "-c", script});
  ASSERT_EQ(multi.Wait()->exit_code, 0);
  std::map<std::string, std::vector<std::string>> by_prefix;
  for (const std::string& line : Lines(multi.Stdout())) {
    ASSERT_EQ(line.find('\r'), std::string::npos) << "raw carriage return reached the console";
    ASSERT_TRUE(line.rfind("[default0]:", 0) == 0 || line.rfind("[default1]:", 0) == 0) << line;
    by_prefix[line.substr(0, 11)].push_back(line.substr(11));
  }
  for (const auto& [prefix, updates] : by_prefix) {
    ASSERT_EQ(updates.size(), 21u) << prefix;
    EXPECT_EQ(updates.front(), "  0%|bar");
    EXPECT_EQ(updates.back(), "100%|bar");
  }

  // A single worker without a prefix template: bytes pass through unchanged.
  TempDir single_dir;
  Harness single(single_dir, {"--nproc", "1", "--", "/bin/sh", "-c", script});
  ASSERT_EQ(single.Wait()->exit_code, 0);
  std::string expected;
  for (int i = 0; i <= 20; ++i) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "\r%3d%%|bar", i * 5);
    expected += buf;
  }
  EXPECT_EQ(single.Stdout(), expected + "\n");
}

TEST(HarnessTest, LogLayoutForEachAttemptAfterARestart) {
  TempDir dir;
  const std::string script = R"(
    echo "out attempt $TORCHELASTIC_RESTART_COUNT rank $LOCAL_RANK"
    echo "err attempt $TORCHELASTIC_RESTART_COUNT rank $LOCAL_RANK" >&2
    if [ "$TORCHELASTIC_RESTART_COUNT" = 0 ]; then
      if [ "$LOCAL_RANK" = 1 ]; then   # Fail once rank 0 has written its lines.
        while [ ! -e "$TEST_DIR/rank0_wrote" ]; do sleep 0.01; done
        exit 3
      fi
      touch "$TEST_DIR/rank0_wrote"
      sleep 30
    fi)";
  Harness harness(dir, {"--nproc", "2", "--max-restarts", "1", "--tee", "3", "--log-dir", dir.Sub("logs"),
                        "--run-id", "job7", "--", "/bin/sh", "-c", script});
  auto status = harness.Wait();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->exit_code, 0) << harness.Stderr();
  nlohmann::json result = harness.Result();
  EXPECT_EQ(result["restarts"], 1);
  const std::filesystem::path run_dir = result["run_dir"].get<std::string>();
  EXPECT_EQ(run_dir.parent_path(), dir.Sub("logs"));
  EXPECT_EQ(run_dir.filename().string().rfind("job7_", 0), 0u);
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (int rank = 0; rank < 2; ++rank) {
      const std::string rank_dir =
          run_dir.string() + "/attempt_" + std::to_string(attempt) + "/" + std::to_string(rank);
      const std::string suffix = " attempt " + std::to_string(attempt) + " rank " + std::to_string(rank) + "\n";
      EXPECT_EQ(ReadFile(rank_dir + "/stdout.log"), "out" + suffix) << rank_dir;
      EXPECT_EQ(ReadFile(rank_dir + "/stderr.log"), "err" + suffix) << rank_dir;
    }
  }
  // The console saw both attempts, prefixed.
  EXPECT_THAT(harness.Stdout(), HasSubstr("[default1]:out attempt 0 rank 1\n"));
  EXPECT_THAT(harness.Stdout(), HasSubstr("[default1]:out attempt 1 rank 1\n"));
}

TEST(HarnessTest, RedirectOnlyKeepsOutputOffTheConsole) {
  TempDir dir;
  Harness harness(dir, {"--nproc", "2", "--redirects", "0:1", "--log-dir", dir.Sub("logs"), "--", "/bin/sh",
                        "-c", "echo hello $LOCAL_RANK"});
  ASSERT_EQ(harness.Wait()->exit_code, 0);
  EXPECT_EQ(harness.Stdout(), "[default1]:hello 1\n");
  const std::string run_dir = harness.Result()["run_dir"];
  EXPECT_EQ(ReadFile(run_dir + "/attempt_0/0/stdout.log"), "hello 0\n");
}

TEST(HarnessTest, NoCaptureSingleWorkerWritesStraightToTheConsole) {
  TempDir dir;
  Harness harness(dir, {"--nproc", "1", "--no-capture", "--", "/bin/sh", "-c", "printf 'direct\\r'; echo x >&2"});
  ASSERT_EQ(harness.Wait()->exit_code, 0);
  EXPECT_EQ(harness.Stdout(), "direct\r");
  EXPECT_THAT(harness.Stderr(), HasSubstr("x\n"));
}

TEST(HarnessTest, FailureSummaryOnStderr) {
  TempDir dir;
  Harness harness(dir, {"--nproc", "2", "--", "/bin/sh", "-c",
                        "if [ $LOCAL_RANK = 1 ]; then kill -9 $$; fi; sleep 30"});
  auto status = harness.Wait();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->exit_code, 137);
  EXPECT_THAT(harness.Stderr(), HasSubstr("/bin/sh FAILED"));
  EXPECT_THAT(harness.Stderr(), HasSubstr("rank      : 1 (local_rank: 1)"));
  EXPECT_THAT(harness.Stderr(), HasSubstr("SIGKILL"));
}

}  // namespace
}  // namespace accel::agent
