// Supervisor (restarts, signals, hooks, log layout, exit codes) with a fake launcher and a real loop.
#include "agent/supervisor.h"

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/agent/fake_process_launcher.h"
#include "tests/unit/agent/test_util.h"

namespace accel::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::CapturingConsoleSink;
using testing::FakeProcessLauncher;
using testing::TempDir;

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

class SupervisorTest : public ::testing::Test {
 protected:
  SupervisorTest() : loop_(*common::EventLoop::Create()) {
    options_.local_world_size = 2;
    options_.host = "hostA";
    options_.stop_grace = absl::Milliseconds(200);
    options_.monitor_interval = absl::Milliseconds(5);
    options_.log_root = logs_.path();
  }

  WorkerCommandFactory Factory() {
    return [this](int local_rank, const AttemptInfo& attempt) {
      factory_calls_.push_back({local_rank, attempt.restart_count});
      attempt_dirs_.push_back(attempt.attempt_dir);
      WorkerCommand command;
      command.argv = {"train", std::to_string(local_rank)};
      command.env = {"TORCHELASTIC_RESTART_COUNT=" + std::to_string(attempt.restart_count),
                     "TORCHELASTIC_ERROR_FILE=" + attempt.ErrorFile(local_rank)};
      return command;
    };
  }

  // Starts the supervisor; `script` runs on the loop after each launch batch to drive the fakes.
  RunResult Run(AgentHooks hooks = {}) {
    supervisor_ = std::make_unique<Supervisor>(*loop_, launcher_, console_, nullptr, options_, Factory(),
                                               std::move(hooks), [this](RunResult r) {
                                                 result_ = std::move(r);
                                                 loop_->Stop();
                                               });
    const auto watchdog = loop_->AddTimer(absl::Seconds(10), [this] {
      timed_out_ = true;
      loop_->Stop();
    });
    supervisor_->Start();
    loop_->Run();
    loop_->CancelTimer(watchdog);
    EXPECT_FALSE(timed_out_) << "supervisor never finished";
    return result_.value_or(RunResult{});
  }

  // Calls `action` on the loop thread once the `n`-th launch happened.
  void WhenLaunched(int n, std::function<void()> action) {
    auto check = std::make_shared<std::function<void()>>();
    *check = [this, n, action, check] {
      if (launcher_.launches() >= n) {
        action();
        return;
      }
      loop_->AddTimer(absl::Milliseconds(1), *check);
    };
    loop_->AddTimer(absl::ZeroDuration(), *check);
  }

  TempDir logs_;
  std::unique_ptr<common::EventLoop> loop_;
  FakeProcessLauncher launcher_;
  CapturingConsoleSink console_;
  SupervisorOptions options_;
  std::unique_ptr<Supervisor> supervisor_;
  std::optional<RunResult> result_;
  std::vector<std::pair<int, int>> factory_calls_;
  std::vector<std::string> attempt_dirs_;
  bool timed_out_ = false;
};

TEST_F(SupervisorTest, SucceedsWithoutRestart) {
  WhenLaunched(2, [this] {
    launcher_.Exit(0, ExitStatus::Exited(0));
    launcher_.Exit(1, ExitStatus::Exited(0));
  });
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.restarts, 0);
  EXPECT_TRUE(result.failures.empty());
  EXPECT_TRUE(result.status.ok());
  EXPECT_THAT(factory_calls_, ElementsAre(std::pair(0, 0), std::pair(1, 0)));
  ASSERT_EQ(result.attempts.size(), 1u);
  EXPECT_TRUE(result.attempts[0].succeeded);
}

TEST_F(SupervisorTest, RestartsAfterFailureWithNewAttemptDirectory) {
  options_.max_restarts = 1;
  int before_attempt_calls = 0;
  std::vector<std::vector<WorkerFailure>> group_failures;
  AgentHooks hooks;
  hooks.before_attempt = [&](const AttemptInfo& attempt) {
    EXPECT_EQ(attempt.restart_count, before_attempt_calls);
    ++before_attempt_calls;
    return absl::OkStatus();
  };
  hooks.on_group_failure = [&](const AttemptInfo&, const std::vector<WorkerFailure>& f) {
    group_failures.push_back(f);
  };
  WhenLaunched(2, [this] { launcher_.Exit(1, ExitStatus::Exited(3)); });  // Attempt 0 fails.
  WhenLaunched(4, [this] {                                                // Attempt 1 succeeds.
    launcher_.Exit(2, ExitStatus::Exited(0));
    launcher_.Exit(3, ExitStatus::Exited(0));
  });
  RunResult result = Run(std::move(hooks));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.restarts, 1);
  EXPECT_TRUE(result.failures.empty());
  EXPECT_EQ(before_attempt_calls, 2);
  ASSERT_EQ(group_failures.size(), 1u);
  EXPECT_EQ(group_failures[0][0].local_rank, 1);
  EXPECT_THAT(factory_calls_, ElementsAre(std::pair(0, 0), std::pair(1, 0), std::pair(0, 1), std::pair(1, 1)));
  EXPECT_EQ(launcher_.child(2)->spec.env[0], "TORCHELASTIC_RESTART_COUNT=1");
  // torchrun's layout: <root>/none_XXXX/attempt_<n>/<rank>/, kept because log_root was given.
  EXPECT_EQ(std::filesystem::path(result.run_dir).parent_path(), logs_.path());
  EXPECT_EQ(std::filesystem::path(result.run_dir).filename().string().rfind("none_", 0), 0u);
  EXPECT_EQ(attempt_dirs_[0], result.run_dir + "/attempt_0");
  EXPECT_EQ(attempt_dirs_[2], result.run_dir + "/attempt_1");
  for (const char* sub : {"/attempt_0/0", "/attempt_0/1", "/attempt_1/0", "/attempt_1/1"}) {
    EXPECT_TRUE(IsDir(result.run_dir + sub)) << sub;
  }
  EXPECT_EQ(launcher_.child(3)->spec.env[1], "TORCHELASTIC_ERROR_FILE=" + result.run_dir + "/attempt_1/1/error.json");
  ASSERT_EQ(result.attempts.size(), 2u);
  EXPECT_FALSE(result.attempts[0].succeeded);
  EXPECT_TRUE(result.attempts[1].succeeded);
}

TEST_F(SupervisorTest, PropagatesRootCauseExitCodeWhenRestartsAreUsedUp) {
  options_.max_restarts = 0;
  WhenLaunched(2, [this] { launcher_.Exit(0, ExitStatus::Exited(7)); });
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 7);
  EXPECT_EQ(result.restarts, 0);
  ASSERT_EQ(result.failures.size(), 1u);
  EXPECT_EQ(result.failures[0].local_rank, 0);
  EXPECT_EQ(result.failures[0].global_rank, 0);
  EXPECT_EQ(launcher_.launches(), 2);
}

TEST_F(SupervisorTest, SignalledWorkerGives128PlusSignal) {
  options_.base_rank = 4;
  WhenLaunched(2, [this] { launcher_.Exit(1, ExitStatus::Killed(SIGKILL)); });
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 137);
  EXPECT_EQ(result.failures[0].global_rank, 5);
}

TEST_F(SupervisorTest, ExhaustsEveryRestart) {
  options_.max_restarts = 2;
  for (int attempt = 0; attempt < 3; ++attempt) {
    WhenLaunched(2 * attempt + 2, [this, attempt] { launcher_.Exit(2 * attempt, ExitStatus::Exited(1)); });
  }
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.restarts, 2);
  EXPECT_EQ(launcher_.launches(), 6);
  EXPECT_EQ(result.attempts.size(), 3u);
}

TEST_F(SupervisorTest, LauncherSignalIsForwardedAndNeverRestarts) {
  options_.max_restarts = 3;
  WhenLaunched(2, [this] { supervisor_->OnLauncherSignal(SIGTERM); });
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 128 + SIGTERM);
  EXPECT_EQ(result.launcher_signal, SIGTERM);
  EXPECT_EQ(result.restarts, 0);
  EXPECT_EQ(launcher_.launches(), 2);
  EXPECT_EQ(launcher_.child(0)->signals.front(), SIGTERM);
  EXPECT_EQ(launcher_.child(1)->signals.front(), SIGTERM);
  EXPECT_TRUE(result.failures.empty());
}

TEST_F(SupervisorTest, SecondLauncherSignalKillsAtOnce) {
  options_.stop_grace = absl::Seconds(60);
  launcher_.IgnoreTerm(0);
  WhenLaunched(2, [this] {
    supervisor_->OnLauncherSignal(SIGINT);
    loop_->AddTimer(absl::Milliseconds(2), [this] { supervisor_->OnLauncherSignal(SIGINT); });
  });
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 128 + SIGINT);
  EXPECT_EQ(launcher_.child(0)->status->signal, SIGKILL);
  EXPECT_LT(result.attempts[0].ended - result.attempts[0].stop_began, absl::Seconds(30));
}

TEST_F(SupervisorTest, SignalDuringBackoffEndsTheRun) {
  options_.max_restarts = 5;
  options_.restart_backoff = absl::Seconds(60);
  WhenLaunched(2, [this] {
    launcher_.Exit(0, ExitStatus::Exited(1));
    loop_->AddTimer(absl::Milliseconds(20), [this] { supervisor_->OnLauncherSignal(SIGHUP); });
  });
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 128 + SIGHUP);
  EXPECT_EQ(launcher_.launches(), 2);
  EXPECT_EQ(result.failures.size(), 1u);  // From the final (failed) attempt.
}

TEST_F(SupervisorTest, RestartBackoffDelaysTheNextAttempt) {
  options_.max_restarts = 1;
  options_.restart_backoff = absl::Milliseconds(50);
  WhenLaunched(2, [this] { launcher_.Exit(0, ExitStatus::Exited(1)); });
  WhenLaunched(4, [this] {
    launcher_.Exit(2, ExitStatus::Exited(0));
    launcher_.Exit(3, ExitStatus::Exited(0));
  });
  RunResult result = Run();
  ASSERT_EQ(result.attempts.size(), 2u);
  EXPECT_GE(result.attempts[1].started - result.attempts[0].ended, absl::Milliseconds(50));
}

TEST_F(SupervisorTest, BeforeAttemptErrorAbortsTheRun) {
  AgentHooks hooks;
  hooks.before_attempt = [](const AttemptInfo&) { return absl::UnavailableError("rendezvous timed out"); };
  RunResult result = Run(std::move(hooks));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("rendezvous timed out"));
  EXPECT_EQ(launcher_.launches(), 0);
}

TEST_F(SupervisorTest, RequestedRestartStartsANewAttempt) {
  options_.max_restarts = 1;
  WhenLaunched(2, [this] { supervisor_->RequestRestart("peer node failed"); });
  WhenLaunched(4, [this] {
    launcher_.Exit(2, ExitStatus::Exited(0));
    launcher_.Exit(3, ExitStatus::Exited(0));
  });
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.restarts, 1);
  EXPECT_EQ(launcher_.child(0)->signals.front(), SIGTERM);
}

TEST_F(SupervisorTest, RequestedRestartWithoutRestartsLeftFails) {
  WhenLaunched(2, [this] { supervisor_->RequestRestart("peer node failed"); });
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("peer node failed"));
}

TEST_F(SupervisorTest, InvalidOptionsFailWithoutLaunching) {
  options_.local_world_size = 0;
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("local_world_size=0"));
  EXPECT_EQ(launcher_.launches(), 0);
}

TEST_F(SupervisorTest, SpawnFailureExitCode127) {
  launcher_.FailLaunch(0, absl::NotFoundError("train: command not found"));
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 127);
  EXPECT_THAT(result.failures[0].message, HasSubstr("command not found"));
}

TEST_F(SupervisorTest, TemporaryLogRootIsRemovedAtTheEnd) {
  TempDir tmp;
  options_.log_root.clear();
  options_.tmp_dir = tmp.path();
  WhenLaunched(2, [this] {
    EXPECT_TRUE(IsDir(attempt_dirs_[0] + "/0"));
    EXPECT_EQ(attempt_dirs_[0].rfind(options_.tmp_dir + "/accel_", 0), 0u);
    launcher_.Exit(0, ExitStatus::Exited(0));
    launcher_.Exit(1, ExitStatus::Exited(0));
  });
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_TRUE(result.run_dir.empty());
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

TEST_F(SupervisorTest, DevNullDisablesLogFilesAndErrorFiles) {
  options_.log_root = "/dev/null";
  WhenLaunched(2, [this] {
    launcher_.Exit(0, ExitStatus::Exited(0));
    launcher_.Exit(1, ExitStatus::Exited(0));
  });
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(attempt_dirs_[0], "");
  EXPECT_EQ(launcher_.child(0)->spec.env[1], "TORCHELASTIC_ERROR_FILE=");
}

TEST_F(SupervisorTest, MonitorHookRunsWhileWorkersRun) {
  int ticks = 0;
  AgentHooks hooks;
  hooks.on_monitor = [&](int running) {
    EXPECT_EQ(running, 2);
    if (++ticks == 3) {
      launcher_.Exit(0, ExitStatus::Exited(0));
      launcher_.Exit(1, ExitStatus::Exited(0));
    }
  };
  RunResult result = Run(std::move(hooks));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_GE(ticks, 3);
}

TEST_F(SupervisorTest, SingleWorkerPassesOutputThroughAndManyArePrefixed) {
  options_.local_world_size = 1;
  WhenLaunched(1, [this] {
    launcher_.Write(0, StdStream::kStdout, "\rprogress 50%\rprogress 100%\n");
    launcher_.Exit(0, ExitStatus::Exited(0));
  });
  RunResult result = Run();
  EXPECT_EQ(console_.stdout_text, "\rprogress 50%\rprogress 100%\n");
}

TEST_F(SupervisorTest, PrefixTemplateFromOptions) {
  options_.base_rank = 10;
  options_.role = "trainer";
  options_.line_prefix_template = "${role_name}|${rank}|${local_rank}> ";
  WhenLaunched(2, [this] {
    launcher_.Write(1, StdStream::kStdout, "x\n");
    launcher_.Exit(0, ExitStatus::Exited(0));
    launcher_.Exit(1, ExitStatus::Exited(0));
  });
  Run();
  EXPECT_EQ(console_.stdout_text, "trainer|11|1> x\n");
}

TEST(ExpandLinePrefixTest, DefaultAndUnknownNames) {
  EXPECT_EQ(ExpandLinePrefix("", "default", 3, 1), "[default1]:");
  EXPECT_EQ(ExpandLinePrefix("[${rank}] ${other} ${local_rank", "r", 3, 1), "[3] ${other} ${local_rank");
}

}  // namespace
}  // namespace accel::agent
