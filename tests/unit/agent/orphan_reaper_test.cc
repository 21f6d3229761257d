// OrphanReaper with real processes: this test process becomes a child subreaper, so grandchildren
// whose parent (a "worker") exits are reparented to it.
#include "agent/orphan_reaper.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "agent/posix_process_launcher.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "tests/unit/agent/test_util.h"

namespace accel::agent {
namespace {

using testing::IsRunning;
using testing::ProcessState;
using testing::WaitFor;

bool IsChild(pid_t pid) {
  const std::vector<pid_t> children = ListChildProcesses();
  return std::find(children.begin(), children.end(), pid) != children.end();
}

// Starts a worker whose shell starts `sleep` in the background, prints its pid and exits, orphaning it.
std::pair<std::unique_ptr<ChildProcess>, pid_t> StartWorkerWithOrphan(PosixProcessLauncher& launcher) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  common::UniqueFd read_end(fds[0]), write_end(fds[1]);
  auto child = launcher.Launch({{"/bin/sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"},
                                {"PATH=/usr/bin:/bin"}, "", write_end.get(), -1, {}});
  EXPECT_TRUE(child.ok());
  write_end.Reset();
  const pid_t grandchild = std::stoi(testing::ReadAll(read_end.get()));
  return {*std::move(child), grandchild};
}

class OrphanReaperTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }
  PosixProcessLauncher launcher_;
};

TEST_F(OrphanReaperTest, ReapsOnlyDescendantsOfKnownWorkers) {
  auto [worker, orphan] = StartWorkerWithOrphan(launcher_);
  auto [stranger, strangers_orphan] = StartWorkerWithOrphan(launcher_);
  ASSERT_TRUE(WaitFor([&] { return IsChild(orphan) && IsChild(strangers_orphan); }));

  OrphanReaper reaper;
  reaper.AddSession(worker->pid());  // `stranger` belongs to someone else.
  EXPECT_EQ(reaper.ReapZombies(), 0);  // The orphan still runs.
  ASSERT_EQ(::kill(orphan, SIGTERM), 0);
  ASSERT_EQ(::kill(strangers_orphan, SIGTERM), 0);
  ASSERT_TRUE(WaitFor([&] { return ProcessState(orphan) == 'Z' && ProcessState(strangers_orphan) == 'Z'; }));
  EXPECT_EQ(reaper.ReapZombies(), 1);
  EXPECT_FALSE(ProcessState(orphan).has_value());
  EXPECT_EQ(ProcessState(strangers_orphan), 'Z');  // Not ours to reap.
  // The worker itself (a zombie session leader) is left to its ChildProcess.
  EXPECT_TRUE(worker->TryWait().has_value());
  EXPECT_EQ(ProcessState(worker->pid()), 'Z');
  ::waitpid(strangers_orphan, nullptr, 0);
}

TEST_F(OrphanReaperTest, KillAllKillsAndReapsRunningOrphans) {
  auto [worker, orphan] = StartWorkerWithOrphan(launcher_);
  ASSERT_TRUE(WaitFor([&] { return IsChild(orphan); }));
  OrphanReaper reaper;
  reaper.AddSession(worker->pid());
  EXPECT_EQ(reaper.KillAll(absl::Seconds(2)), 1);
  EXPECT_FALSE(ProcessState(orphan).has_value());
  EXPECT_EQ(reaper.KillAll(absl::Seconds(2)), 0);
}

}  // namespace
}  // namespace accel::agent
