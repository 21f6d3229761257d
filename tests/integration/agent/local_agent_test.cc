// LocalAgent in-process with real worker processes: restarts, exit codes, error files, spawn
// failures, immediate exit detection, stop/restart requests and the no-leftovers guarantee.
#include "agent/local_agent.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "agent/orphan_reaper.h"
#include "common/environment.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/agent/test_util.h"

namespace accel::agent {
namespace {

using ::testing::HasSubstr;
using testing::CapturingConsoleSink;
using testing::IsRunning;
using testing::ReadFile;
using testing::TempDir;
using testing::WaitFor;

class LocalAgentTest : public ::testing::Test {
 protected:
  LocalAgentTest() {
    options_.local_world_size = 2;
    options_.host = "testhost";
    options_.stop_grace = absl::Seconds(5);
    options_.log_root = dir_.Sub("logs");
  }

  // Each worker runs `/bin/sh -c script` with the torchrun variables the scripts use.
  WorkerCommandFactory ShellFactory(const std::string& script) {
    return [this, script](int local_rank, const AttemptInfo& attempt) {
      common::Environment env;
      env.Set("PATH", "/usr/bin:/bin");
      env.Set("TEST_DIR", dir_.path());
      env.Set("LOCAL_RANK", std::to_string(local_rank));
      env.Set("TORCHELASTIC_RESTART_COUNT", std::to_string(attempt.restart_count));
      env.Set("TORCHELASTIC_ERROR_FILE", attempt.ErrorFile(local_rank));
      return WorkerCommand{{"/bin/sh", "-c", script}, env.ToEnvp(), "", {}};
    };
  }

  RunResult Run(const std::string& script, AgentHooks hooks = {}) {
    LocalAgent agent(options_, ShellFactory(script), std::move(hooks), &console_);
    return agent.Run();
  }

  TempDir dir_;
  SupervisorOptions options_;
  CapturingConsoleSink console_;
};

// Requirement 3: fail on attempt 0, succeed on attempt 1.
TEST_F(LocalAgentTest, RestartsTheGroupAndSucceeds) {
  options_.max_restarts = 1;
  RunResult result = Run(R"(
    echo "attempt $TORCHELASTIC_RESTART_COUNT"
    if [ "$TORCHELASTIC_RESTART_COUNT" = 0 ]; then
      if [ "$LOCAL_RANK" = 0 ]; then   # Fail once rank 1 has printed.
        while [ ! -e "$TEST_DIR/rank1_wrote" ]; do sleep 0.01; done
        exit 5
      fi
      touch "$TEST_DIR/rank1_wrote"
      exec sleep 30
    fi
    exit 0)");
  EXPECT_EQ(result.exit_code, 0) << FormatFailureSummary(result, "sh");
  EXPECT_EQ(result.restarts, 1);
  EXPECT_TRUE(result.failures.empty());
  ASSERT_EQ(result.attempts.size(), 2u);
  // Rank 1 of attempt 0 slept 30 s; it was stopped by SIGTERM, not waited for.
  EXPECT_LT(result.attempts[0].ended - result.attempts[0].started, absl::Seconds(5));
  EXPECT_THAT(console_.stdout_text, HasSubstr("[default1]:attempt 0\n"));
  EXPECT_THAT(console_.stdout_text, HasSubstr("[default1]:attempt 1\n"));
}

TEST_F(LocalAgentTest, PropagatesWorkerExitCodeWithoutRestarts) {
  RunResult result = Run("if [ $LOCAL_RANK = 1 ]; then exit 7; fi; exec sleep 30");
  EXPECT_EQ(result.exit_code, 7);
  EXPECT_EQ(result.restarts, 0);
  ASSERT_EQ(result.failures.size(), 1u);
  EXPECT_EQ(result.failures[0].local_rank, 1);
  EXPECT_EQ(result.failures[0].host, "testhost");
}

TEST_F(LocalAgentTest, WorkerKilledBySigkillGives137) {
  RunResult result = Run("if [ $LOCAL_RANK = 0 ]; then kill -9 $$; fi; exec sleep 30");
  EXPECT_EQ(result.exit_code, 137);
  ASSERT_EQ(result.failures.size(), 1u);
  EXPECT_EQ(result.failures[0].signal, SIGKILL);
  EXPECT_THAT(FormatFailureSummary(result, "train.py"), HasSubstr("SIGKILL"));
}

// Requirement 6: torch's error file becomes part of the failure and the summary.
TEST_F(LocalAgentTest, ErrorFileMessageReachesTheFailureAndSummary) {
  RunResult result = Run(R"(
    if [ $LOCAL_RANK = 1 ]; then
      printf '%s' '{"message": {"message": "ValueError: boom", "extraInfo": {"py_callstack": "Traceback (most recent call last):\n  File \"train.py\", line 1\nValueError: boom", "timestamp": "1700000000"}}}' > "$TORCHELASTIC_ERROR_FILE"
      exit 1
    fi
    exec sleep 30)");
  EXPECT_EQ(result.exit_code, 1);
  ASSERT_EQ(result.failures.size(), 1u);
  const WorkerFailure& f = result.failures[0];
  EXPECT_TRUE(f.error_file_found);
  EXPECT_EQ(f.message, "ValueError: boom");
  EXPECT_EQ(absl::ToUnixSeconds(f.time), 1700000000);
  EXPECT_EQ(f.error_file, result.run_dir + "/attempt_0/1/error.json");
  const std::string summary = FormatFailureSummary(result, "train.py");
  EXPECT_THAT(summary, HasSubstr("train.py FAILED"));
  EXPECT_THAT(summary, HasSubstr("ValueError: boom"));
  EXPECT_THAT(summary, HasSubstr("rank      : 1 (local_rank: 1)"));
  EXPECT_THAT(summary, HasSubstr("host      : testhost"));
}

// Requirement 7: a missing program fails that worker with 127 and a clear message.
TEST_F(LocalAgentTest, MissingProgramFails127) {
  LocalAgent agent(options_, [](int, const AttemptInfo&) {
    return WorkerCommand{{"accel_definitely_missing_program"}, {"PATH=/usr/bin:/bin"}, "", {}};
  }, {}, &console_);
  RunResult result = agent.Run();
  EXPECT_EQ(result.exit_code, 127);
  ASSERT_EQ(result.failures.size(), 1u);
  EXPECT_THAT(result.failures[0].message, HasSubstr("accel_definitely_missing_program: command not found"));
  EXPECT_THAT(FormatFailureSummary(result, "x"), HasSubstr("command not found"));
}

TEST_F(LocalAgentTest, BadWorkingDirectoryFails127) {
  options_.local_world_size = 1;
  const std::string missing = dir_.Sub("missing");
  LocalAgent agent(options_, [&](int, const AttemptInfo&) {
    return WorkerCommand{{"/bin/true"}, {}, missing, {}};
  }, {}, &console_);
  RunResult result = agent.Run();
  EXPECT_EQ(result.exit_code, 127);
  EXPECT_THAT(result.failures.at(0).message, HasSubstr("chdir(" + missing + ")"));
  EXPECT_GT(result.failures[0].pid, 0);  // It was forked; the child reported the failure.
}

// Requirement 2: exits are seen at once, not at the monitor interval.
TEST_F(LocalAgentTest, ExitIsSeenWithoutWaitingForTheMonitorPass) {
  options_.monitor_interval = absl::Seconds(30);
  const absl::Time start = absl::Now();
  RunResult result = Run("exit 0");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(LocalAgentTest, RequestStopFromAnotherThread) {
  options_.stop_grace = absl::Milliseconds(300);
  LocalAgent agent(options_, ShellFactory("touch \"$TEST_DIR/ready.$LOCAL_RANK\"; exec sleep 30"), {}, &console_);
  std::thread stopper([&] {
    WaitFor([&] { return std::filesystem::exists(dir_.Sub("ready.0")) && std::filesystem::exists(dir_.Sub("ready.1")); });
    agent.RequestStop(SIGTERM);
  });
  RunResult result = agent.Run();
  stopper.join();
  EXPECT_EQ(result.exit_code, 128 + SIGTERM);
  EXPECT_EQ(result.launcher_signal, SIGTERM);
  ASSERT_EQ(result.final_exits.size(), 2u);
  for (const WorkerExit& e : result.final_exits) EXPECT_EQ(e.status.signal, SIGTERM);
}

TEST_F(LocalAgentTest, StopRequestedBeforeRunIsNotLost) {
  LocalAgent agent(options_, ShellFactory("exec sleep 30"), {}, &console_);
  agent.RequestStop(SIGINT);
  const absl::Time start = absl::Now();
  RunResult result = agent.Run();
  EXPECT_EQ(result.exit_code, 128 + SIGINT);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(LocalAgentTest, RequestRestartStartsANewAttempt) {
  options_.max_restarts = 1;
  LocalAgent agent(options_, ShellFactory(R"(
    touch "$TEST_DIR/ready.$TORCHELASTIC_RESTART_COUNT.$LOCAL_RANK"
    if [ "$TORCHELASTIC_RESTART_COUNT" = 0 ]; then exec sleep 30; fi)"), {}, &console_);
  std::thread requester([&] {
    WaitFor([&] { return std::filesystem::exists(dir_.Sub("ready.0.0")) && std::filesystem::exists(dir_.Sub("ready.0.1")); });
    agent.RequestRestart("peer failed");
  });
  RunResult result = agent.Run();
  requester.join();
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.restarts, 1);
}

TEST_F(LocalAgentTest, RestartTaggedForAnotherAttemptIsIgnored) {
  options_.max_restarts = 1;
  LocalAgent agent(options_, ShellFactory(R"(
    touch "$TEST_DIR/ready.$TORCHELASTIC_RESTART_COUNT.$LOCAL_RANK"
    sleep 1)"), {}, &console_);
  std::thread requester([&] {
    WaitFor([&] { return std::filesystem::exists(dir_.Sub("ready.0.0")) && std::filesystem::exists(dir_.Sub("ready.0.1")); });
    agent.RequestRestart("meant for an attempt that is not running", 5);
  });
  RunResult result = agent.Run();
  requester.join();
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.restarts, 0);
}

// Requirement 7: nothing is left behind, including a worker's own children.
TEST_F(LocalAgentTest, NoZombiesOrLeftoverGrandchildren) {
  std::vector<pid_t> worker_pids;
  RunResult result = Run(R"(
    sleep 1000 >/dev/null 2>&1 &
    echo $! > "$TEST_DIR/grandchild.$LOCAL_RANK"
    echo $$ > "$TEST_DIR/worker.$LOCAL_RANK"
    exit 0   # Leaves its sleep behind, in its process group and session.
  )");
  EXPECT_EQ(result.exit_code, 0);
  const std::vector<pid_t> children = ListChildProcesses();
  for (int rank = 0; rank < 2; ++rank) {
    const pid_t worker = static_cast<pid_t>(std::stol(ReadFile(dir_.Sub("worker." + std::to_string(rank)))));
    const pid_t grandchild = static_cast<pid_t>(std::stol(ReadFile(dir_.Sub("grandchild." + std::to_string(rank)))));
    EXPECT_FALSE(testing::ProcessState(worker).has_value()) << "worker " << worker << " not reaped";
    EXPECT_FALSE(IsRunning(grandchild)) << "grandchild " << grandchild << " survived";
    EXPECT_EQ(std::count(children.begin(), children.end(), grandchild), 0) << "zombie grandchild " << grandchild;
  }
}

TEST_F(LocalAgentTest, TemporaryLogRootIsRemovedButErrorFilesWorkedDuringTheRun) {
  TempDir tmp;
  options_.log_root.clear();
  options_.tmp_dir = tmp.path();
  options_.local_world_size = 1;
  RunResult result = Run(R"(printf '{"message": "RuntimeError: tmp"}' > "$TORCHELASTIC_ERROR_FILE"; exit 2)");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.failures.at(0).message, "RuntimeError: tmp");
  EXPECT_TRUE(result.run_dir.empty());
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

}  // namespace
}  // namespace accel::agent
