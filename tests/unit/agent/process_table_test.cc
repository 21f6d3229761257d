// SweepProcesses against a fake process table (the escalation logic), and ProcProcessTable against
// a real child (the /proc parsing).
#include "agent/process_table.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>

#include "gtest/gtest.h"

namespace accel::agent {
namespace {

struct FakeProcess {
  pid_t parent = 1;
  bool matches = true;
  bool ignores_term = false;
  bool unkillable = false;
  bool alive = true;
};

class FakeProcessTable final : public ProcessTable {
 public:
  std::vector<ProcessEntry> FindByEnv(std::string_view, std::string_view) override {
    std::vector<ProcessEntry> found;
    for (const auto& [pid, process] : processes) {
      if (process.alive && process.matches) found.push_back({pid, "proc" + std::to_string(pid)});
    }
    return found;
  }
  pid_t ParentOf(pid_t pid) override { return processes.contains(pid) ? processes[pid].parent : 0; }
  void Signal(pid_t pid, int signal) override {
    signals.emplace_back(pid, signal);
    FakeProcess& process = processes[pid];
    if (signal == SIGTERM && !process.ignores_term) process.alive = false;
    if (signal == SIGKILL && !process.unkillable) process.alive = false;
  }

  std::map<pid_t, FakeProcess> processes;
  std::vector<std::pair<pid_t, int>> signals;
};

SweepOptions Options(absl::Duration* slept, pid_t self = 0) {
  return {.grace = absl::Seconds(2), .kill_wait = absl::Seconds(3), .poll = absl::Milliseconds(100), .self = self,
          .sleep = [slept](absl::Duration d) { *slept += d; }};
}

TEST(SweepProcessesTest, NothingToDoWhenNoProcessMatches) {
  FakeProcessTable table;
  table.processes[10] = {.matches = false};
  absl::Duration slept;
  EXPECT_TRUE(SweepProcesses(table, "SLURM_JOB_ID", "7", Options(&slept)).empty());
  EXPECT_TRUE(table.signals.empty());
  EXPECT_EQ(slept, absl::ZeroDuration());
}

TEST(SweepProcessesTest, SigtermSufficesForWellBehavedProcesses) {
  FakeProcessTable table;
  table.processes[10] = {};
  table.processes[11] = {};
  absl::Duration slept;
  EXPECT_TRUE(SweepProcesses(table, "SLURM_JOB_ID", "7", Options(&slept)).empty());
  EXPECT_EQ(table.signals, (std::vector<std::pair<pid_t, int>>{{10, SIGTERM}, {11, SIGTERM}}));
}

TEST(SweepProcessesTest, SigkillAfterTheGracePeriod) {
  FakeProcessTable table;
  table.processes[10] = {.ignores_term = true};
  absl::Duration slept;
  EXPECT_TRUE(SweepProcesses(table, "SLURM_JOB_ID", "7", Options(&slept)).empty());
  EXPECT_EQ(table.signals, (std::vector<std::pair<pid_t, int>>{{10, SIGTERM}, {10, SIGKILL}}));
  EXPECT_GE(slept, absl::Seconds(2));  // the whole grace period first
}

TEST(SweepProcessesTest, SparesTheCallerAndItsAncestors) {
  FakeProcessTable table;
  table.processes[100] = {.parent = 1};       // slurmd
  table.processes[200] = {.parent = 100};     // the Epilog shell (has SLURM_JOB_ID)
  table.processes[300] = {.parent = 200};     // accelctl allocation end (has it too)
  table.processes[400] = {.parent = 1};       // the escaped worker
  absl::Duration slept;
  EXPECT_TRUE(SweepProcesses(table, "SLURM_JOB_ID", "7", Options(&slept, /*self=*/300)).empty());
  EXPECT_EQ(table.signals, (std::vector<std::pair<pid_t, int>>{{400, SIGTERM}}));
  EXPECT_TRUE(table.processes[300].alive);
  EXPECT_TRUE(table.processes[200].alive);
}

TEST(SweepProcessesTest, ReportsWhatSurvivesSigkill) {
  FakeProcessTable table;
  table.processes[10] = {.ignores_term = true, .unkillable = true};  // e.g. stuck in D state
  table.processes[11] = {};
  absl::Duration slept;
  const auto left = SweepProcesses(table, "SLURM_JOB_ID", "7", Options(&slept));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].pid, 10);
  EXPECT_EQ(left[0].command, "proc10");
  EXPECT_LE(slept, absl::Seconds(6));  // bounded: grace + kill_wait (+ polls)
}

// A real child with a marker in its environment: found by /proc, stopped by the sweep.
TEST(ProcProcessTableTest, FindsAndSweepsARealProcessByItsEnvironment) {
  const std::string marker = "sweep-test-" + std::to_string(::getpid());
  std::string env_entry = "ACCEL_SWEEP_TEST=" + marker;
  char* const argv[] = {const_cast<char*>("sleep"), const_cast<char*>("30"), nullptr};
  char* const envp[] = {env_entry.data(), nullptr};
  pid_t child = 0;
  ASSERT_EQ(::posix_spawn(&child, "/bin/sleep", nullptr, nullptr, argv, envp), 0);

  ProcProcessTable table;
  std::vector<ProcessEntry> found;
  for (int i = 0; i < 100 && found.empty(); ++i) {  // until the exec has happened
    found = table.FindByEnv("ACCEL_SWEEP_TEST", marker);
    if (found.empty()) ::usleep(10'000);
  }
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].pid, child);
  EXPECT_EQ(found[0].command, "sleep 30");
  EXPECT_EQ(table.ParentOf(child), ::getpid());
  EXPECT_TRUE(table.FindByEnv("ACCEL_SWEEP_TEST", marker + "x").empty());

  // The sweep signals; the child becomes a zombie (we are its parent), which counts as gone.
  const auto left = SweepProcesses(table, "ACCEL_SWEEP_TEST", marker,
                                   {.grace = absl::Seconds(2), .kill_wait = absl::Seconds(2), .self = ::getpid()});
  EXPECT_TRUE(left.empty());
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

}  // namespace
}  // namespace accel::agent
