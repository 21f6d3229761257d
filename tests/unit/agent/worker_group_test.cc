// WorkerGroup state machine with a fake launcher and a real EventLoop (no processes; fast).
#include "agent/worker_group.h"

#include <signal.h>

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

class WorkerGroupTest : public ::testing::Test {
 protected:
  WorkerGroupTest() : loop_(*common::EventLoop::Create()) {}

  void MakeGroup(WorkerGroupConfig config = {}) {
    if (config.host.empty()) config.host = "hostA";
    group_ = std::make_unique<WorkerGroup>(*loop_, launcher_, console_, config, [this](WorkerGroup::Outcome o) {
      outcome_ = o;
      ++done_calls_;
      loop_->Stop();
    });
  }

  std::vector<WorkerLaunch> Launches(int n) {
    std::vector<WorkerLaunch> launches;
    for (int rank = 0; rank < n; ++rank) {
      WorkerLaunch launch;
      launch.local_rank = rank;
      launch.command.argv = {"worker", std::to_string(rank)};
      launch.command.env = {"LOCAL_RANK=" + std::to_string(rank)};
      launch.line_prefix = "[default" + std::to_string(rank) + "]:";
      launches.push_back(std::move(launch));
    }
    return launches;
  }

  // Runs the loop until the group reports (or a 5 s watchdog fires).
  void RunUntilDone() {
    const auto watchdog = loop_->AddTimer(absl::Seconds(5), [this] {
      timed_out_ = true;
      loop_->Stop();
    });
    loop_->Run();
    loop_->CancelTimer(watchdog);
    ASSERT_FALSE(timed_out_) << "group never finished";
  }

  std::unique_ptr<common::EventLoop> loop_;
  FakeProcessLauncher launcher_;
  CapturingConsoleSink console_;
  std::unique_ptr<WorkerGroup> group_;
  std::optional<WorkerGroup::Outcome> outcome_;
  int done_calls_ = 0;
  bool timed_out_ = false;
};

TEST_F(WorkerGroupTest, AllWorkersSucceed) {
  MakeGroup();
  group_->Start(Launches(3));
  ASSERT_EQ(launcher_.launches(), 3);
  EXPECT_EQ(launcher_.child(1)->spec.argv, (std::vector<std::string>{"worker", "1"}));
  EXPECT_EQ(launcher_.child(2)->spec.env, (std::vector<std::string>{"LOCAL_RANK=2"}));
  EXPECT_EQ(group_->running(), 3);
  for (int i = 0; i < 3; ++i) launcher_.Exit(i, ExitStatus::Exited(0));
  RunUntilDone();
  EXPECT_EQ(outcome_, WorkerGroup::Outcome::kSucceeded);
  EXPECT_EQ(done_calls_, 1);
  EXPECT_TRUE(group_->failures().empty());
  EXPECT_EQ(group_->state(), WorkerGroup::State::kDone);
  // Leftovers in each process group are killed once every worker has exited.
  for (int i = 0; i < 3; ++i) EXPECT_THAT(launcher_.child(i)->signals, ElementsAre(SIGKILL));
}

TEST_F(WorkerGroupTest, FailureStopsTheOthersWhoAreNotFailures) {
  MakeGroup();
  group_->Start(Launches(3));
  launcher_.Exit(1, ExitStatus::Exited(7));
  RunUntilDone();
  EXPECT_EQ(outcome_, WorkerGroup::Outcome::kWorkerFailed);
  ASSERT_EQ(group_->failures().size(), 1u);
  const WorkerFailure& f = group_->failures()[0];
  EXPECT_EQ(f.local_rank, 1);
  EXPECT_EQ(f.exit_code, 7);
  EXPECT_EQ(f.host, "hostA");
  EXPECT_EQ(f.pid, launcher_.child(1)->pid);
  EXPECT_EQ(launcher_.child(0)->signals.front(), SIGTERM);
  EXPECT_EQ(launcher_.child(2)->signals.front(), SIGTERM);
  EXPECT_EQ(launcher_.child(0)->status->signal, SIGTERM);
  const auto exits = group_->Exits();
  ASSERT_EQ(exits.size(), 3u);
  EXPECT_EQ(exits[1].status.exit_code, 7);
}

TEST_F(WorkerGroupTest, SurvivorIsKilledAfterGrace) {
  WorkerGroupConfig config;
  config.stop_grace = absl::Milliseconds(50);
  MakeGroup(config);
  launcher_.IgnoreTerm(0);
  group_->Start(Launches(2));
  const absl::Duration start = common::EventLoop::MonotonicNow();
  launcher_.Exit(1, ExitStatus::Killed(SIGSEGV));
  RunUntilDone();
  EXPECT_GE(common::EventLoop::MonotonicNow() - start, absl::Milliseconds(50));
  EXPECT_EQ(outcome_, WorkerGroup::Outcome::kWorkerFailed);
  EXPECT_THAT(launcher_.child(0)->signals, ::testing::ElementsAre(SIGTERM, SIGKILL, SIGKILL));
  EXPECT_EQ(launcher_.child(0)->status->signal, SIGKILL);
  ASSERT_EQ(group_->failures().size(), 1u);
  EXPECT_EQ(group_->failures()[0].signal, SIGSEGV);
  EXPECT_EQ(group_->failures()[0].ShellExitCode(), 128 + SIGSEGV);
  EXPECT_GE(group_->ended_at() - group_->stop_began_at(), absl::Milliseconds(50));
}

TEST_F(WorkerGroupTest, ZeroGraceKillsAtOnce) {
  WorkerGroupConfig config;
  config.stop_grace = absl::ZeroDuration();
  MakeGroup(config);
  launcher_.IgnoreTerm(0);
  group_->Start(Launches(2));
  launcher_.Exit(1, ExitStatus::Exited(1));
  RunUntilDone();
  EXPECT_EQ(launcher_.child(0)->signals[0], SIGTERM);
  EXPECT_EQ(launcher_.child(0)->signals[1], SIGKILL);
}

TEST_F(WorkerGroupTest, WorkersThatFailTogetherAreAllReported) {
  MakeGroup();
  group_->Start(Launches(4));
  // Both exits are pending before the loop sees either.
  launcher_.Exit(2, ExitStatus::Exited(3));
  launcher_.Exit(0, ExitStatus::Exited(4));
  RunUntilDone();
  ASSERT_EQ(group_->failures().size(), 2u);
  std::vector<int> ranks = {group_->failures()[0].local_rank, group_->failures()[1].local_rank};
  EXPECT_THAT(ranks, ::testing::UnorderedElementsAre(0, 2));
  // The others were stopped, not failed.
  EXPECT_EQ(launcher_.child(1)->status->signal, SIGTERM);
}

TEST_F(WorkerGroupTest, StopForwardsTheSignalAndReportsStopped) {
  MakeGroup();
  group_->Start(Launches(2));
  group_->Stop(SIGINT);
  RunUntilDone();
  EXPECT_EQ(outcome_, WorkerGroup::Outcome::kStopped);
  EXPECT_TRUE(group_->failures().empty());
  EXPECT_EQ(launcher_.child(0)->signals.front(), SIGINT);
  EXPECT_EQ(launcher_.child(1)->signals.front(), SIGINT);
}

TEST_F(WorkerGroupTest, KillEscalatesDuringGrace) {
  WorkerGroupConfig config;
  config.stop_grace = absl::Seconds(60);
  MakeGroup(config);
  launcher_.IgnoreTerm(0);
  group_->Start(Launches(1));
  group_->Stop(SIGTERM);
  loop_->AddTimer(absl::Milliseconds(5), [this] { group_->Kill(); });
  RunUntilDone();
  EXPECT_EQ(outcome_, WorkerGroup::Outcome::kStopped);
  EXPECT_EQ(launcher_.child(0)->status->signal, SIGKILL);
}

TEST_F(WorkerGroupTest, SpawnFailureFailsTheGroupWithoutStartingLaterRanks) {
  MakeGroup();
  launcher_.FailLaunch(1, absl::NotFoundError("worker: command not found"));
  group_->Start(Launches(3));
  EXPECT_EQ(done_calls_, 0);  // Never inside Start().
  EXPECT_EQ(launcher_.launches(), 2);  // Rank 2 was not started.
  RunUntilDone();
  EXPECT_EQ(outcome_, WorkerGroup::Outcome::kWorkerFailed);
  ASSERT_EQ(group_->failures().size(), 1u);
  const WorkerFailure& f = group_->failures()[0];
  EXPECT_EQ(f.local_rank, 1);
  EXPECT_EQ(f.exit_code, kSpawnFailureExitCode);
  EXPECT_EQ(f.pid, -1);
  EXPECT_THAT(f.message, HasSubstr("command not found"));
  EXPECT_EQ(launcher_.child(0)->signals.front(), SIGTERM);
}

TEST_F(WorkerGroupTest, SoleWorkerSpawnFailureStillReportsAsynchronously) {
  MakeGroup();
  launcher_.FailLaunch(0, absl::NotFoundError("nope"));
  group_->Start(Launches(1));
  EXPECT_EQ(done_calls_, 0);
  RunUntilDone();
  EXPECT_EQ(outcome_, WorkerGroup::Outcome::kWorkerFailed);
  EXPECT_EQ(group_->failures()[0].exit_code, kSpawnFailureExitCode);
}

TEST_F(WorkerGroupTest, ErrorFileSuppliesMessageAndDecidesRootCause) {
  testing::TempDir dir;
  MakeGroup();
  auto launches = Launches(2);
  launches[0].error_file = dir.Sub("0.json");
  launches[1].error_file = dir.Sub("1.json");
  group_->Start(std::move(launches));
  // Rank 0 exits first without an error file; rank 1 recorded its error 100 s earlier, so it is the
  // root cause even though its exit was seen second.
  const int64_t early = absl::ToUnixSeconds(absl::Now()) - 100;
  testing::WriteFile(dir.Sub("1.json"),
                     R"({"message": {"message": "ValueError: boom", "extraInfo": {"py_callstack": "tb", "timestamp": ")" +
                         std::to_string(early) + R"("}}})");
  launcher_.Exit(0, ExitStatus::Exited(2));
  launcher_.Exit(1, ExitStatus::Exited(1));
  RunUntilDone();
  ASSERT_EQ(group_->failures().size(), 2u);
  const WorkerFailure& root = group_->failures()[0];
  EXPECT_EQ(root.local_rank, 1);
  EXPECT_TRUE(root.error_file_found);
  EXPECT_EQ(root.message, "ValueError: boom");
  EXPECT_EQ(root.traceback, "tb");
  EXPECT_EQ(absl::ToUnixSeconds(root.time), early);
  EXPECT_FALSE(group_->failures()[1].error_file_found);
}

TEST_F(WorkerGroupTest, PollFindsExitsWithoutAnEvent) {
  MakeGroup();
  group_->Start(Launches(1));
  launcher_.child(0)->status = ExitStatus::Exited(0);  // Exited, but no readiness event.
  loop_->AddTimer(absl::Milliseconds(1), [this] { group_->Poll(); });
  RunUntilDone();
  EXPECT_EQ(outcome_, WorkerGroup::Outcome::kSucceeded);
}

TEST_F(WorkerGroupTest, CapturedOutputIsPrefixedPerRankAndDrainedAtExit) {
  MakeGroup();
  group_->Start(Launches(2));
  launcher_.Write(0, StdStream::kStdout, "hello from 0\npartial");
  launcher_.Write(1, StdStream::kStderr, "err 1\n");
  launcher_.Exit(0, ExitStatus::Exited(0));
  launcher_.Exit(1, ExitStatus::Exited(0));
  RunUntilDone();
  EXPECT_EQ(console_.stdout_text, "[default0]:hello from 0\n[default0]:partial\n");
  EXPECT_EQ(console_.stderr_text, "[default1]:err 1\n");
}

TEST_F(WorkerGroupTest, DestroyingARunningGroupKillsEveryWorker) {
  MakeGroup();
  launcher_.IgnoreTerm(0);
  group_->Start(Launches(2));
  group_.reset();
  EXPECT_TRUE(launcher_.child(0)->destroyed);
  EXPECT_TRUE(launcher_.child(1)->destroyed);
}

}  // namespace
}  // namespace accel::agent
