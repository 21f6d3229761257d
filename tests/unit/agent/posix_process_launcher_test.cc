// Real fork/exec: exit statuses, PATH lookup, child set-up (session, signals, descriptors, cwd, env),
// exec failures and the RAII guarantee that nothing survives the ChildProcess.
#include "agent/posix_process_launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/agent/test_util.h"

namespace accel::agent {
namespace {

using ::testing::HasSubstr;
using testing::IsRunning;
using testing::ReadAll;
using testing::TempDir;
using testing::WaitFor;
using testing::WriteFile;

const std::vector<std::string> kEnv = {"PATH=/usr/bin:/bin"};

std::optional<ExitStatus> WaitExit(ChildProcess& child, int timeout_ms = 10000) {
  pollfd pfd{child.exit_fd(), POLLIN, 0};
  if (::poll(&pfd, 1, timeout_ms) != 1) return std::nullopt;
  return child.TryWait();
}

struct Pipe {
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      read_end.Reset(fds[0]);
      write_end.Reset(fds[1]);
    }
  }
  common::UniqueFd read_end;
  common::UniqueFd write_end;
};

// Runs argv with stdout captured; returns (stdout, status).
std::pair<std::string, std::optional<ExitStatus>> RunCaptured(ProcessSpec spec) {
  PosixProcessLauncher launcher;
  Pipe out;
  spec.stdout_fd = out.write_end.get();
  auto child = launcher.Launch(spec);
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return {"", std::nullopt};
  out.write_end.Reset();
  std::string text = ReadAll(out.read_end.get());
  return {text, WaitExit(**child)};
}

TEST(PosixProcessLauncherTest, ReportsExitCodeAndSignal) {
  PosixProcessLauncher launcher;
  auto exits7 = launcher.Launch({{"/bin/sh", "-c", "exit 7"}, kEnv, "", -1, -1, {}});
  ASSERT_TRUE(exits7.ok()) << exits7.status();
  auto status = WaitExit(**exits7);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->exit_code, 7);
  EXPECT_EQ(status->signal, 0);
  EXPECT_TRUE(status->error.empty());

  auto killed = launcher.Launch({{"/bin/sh", "-c", "kill -9 $$"}, kEnv, "", -1, -1, {}});
  ASSERT_TRUE(killed.ok());
  status = WaitExit(**killed);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->signal, SIGKILL);
  EXPECT_EQ(status->ShellExitCode(), 137);
}

TEST(PosixProcessLauncherTest, TryWaitKeepsZombieUntilDestruction) {
  PosixProcessLauncher launcher;
  auto child = launcher.Launch({{"/bin/true"}, kEnv, "", -1, -1, {}});
  ASSERT_TRUE(child.ok());
  const pid_t pid = (*child)->pid();
  ASSERT_TRUE(WaitExit(**child).has_value());
  EXPECT_TRUE((*child)->TryWait()->success());  // Same answer again.
  EXPECT_EQ(testing::ProcessState(pid), 'Z');   // Pid still reserved.
  child->reset();
  EXPECT_FALSE(testing::ProcessState(pid).has_value());  // Reaped.
}

TEST(PosixProcessLauncherTest, LooksUpProgramOnThePathFromTheWorkerEnvironment) {
  TempDir dir;
  WriteFile(dir.Sub("mytool"), "#!/bin/sh\necho tool ran \"$1\"\n", 0755);
  auto [out, status] = RunCaptured({{"mytool", "arg"}, {"PATH=/nonexistent:" + dir.path()}, "", -1, -1, {}});
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->success()) << status->ToString();
  EXPECT_EQ(out, "tool ran arg\n");
}

TEST(PosixProcessLauncherTest, MissingOrNonExecutableProgramFailsBeforeFork) {
  PosixProcessLauncher launcher;
  auto missing = launcher.Launch({{"accel_no_such_program"}, kEnv, "", -1, -1, {}});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("accel_no_such_program"));

  TempDir dir;
  WriteFile(dir.Sub("notexec"), "#!/bin/sh\n", 0644);
  auto not_exec = launcher.Launch({{dir.Sub("notexec")}, kEnv, "", -1, -1, {}});
  EXPECT_EQ(not_exec.status().code(), absl::StatusCode::kPermissionDenied);
  auto on_path = launcher.Launch({{"notexec"}, {"PATH=" + dir.path()}, "", -1, -1, {}});
  EXPECT_EQ(on_path.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(launcher.Launch({{}, kEnv, "", -1, -1, {}}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PosixProcessLauncherTest, ExecFailureInsideChildExits127WithReason) {
  TempDir dir;
  // Executable but not a valid program and no "#!": execve() fails with ENOEXEC.
  WriteFile(dir.Sub("garbage"), std::string("\x7f" "ELFnot really", 13), 0755);
  PosixProcessLauncher launcher;
  auto child = launcher.Launch({{dir.Sub("garbage")}, kEnv, "", -1, -1, {}});
  ASSERT_TRUE(child.ok()) << child.status();
  auto status = WaitExit(**child);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->exit_code, kSpawnFailureExitCode);
  EXPECT_THAT(status->error, HasSubstr("execve(" + dir.Sub("garbage") + ")"));

  auto bad_dir = launcher.Launch({{"/bin/true"}, kEnv, dir.Sub("missing_dir"), -1, -1, {}});
  ASSERT_TRUE(bad_dir.ok());
  status = WaitExit(**bad_dir);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->exit_code, kSpawnFailureExitCode);
  EXPECT_THAT(status->error, HasSubstr("chdir(" + dir.Sub("missing_dir") + "): No such file"));
}

TEST(PosixProcessLauncherTest, EnvironmentAndWorkingDirectoryAreExactlyAsGiven) {
  TempDir dir;
  auto [env_out, env_status] = RunCaptured({{"/usr/bin/env"}, {"A=1", "B=two words"}, "", -1, -1, {}});
  EXPECT_EQ(env_out, "A=1\nB=two words\n");
  auto [pwd_out, pwd_status] = RunCaptured({{"/bin/pwd"}, kEnv, dir.path(), -1, -1, {}});
  EXPECT_EQ(pwd_out, dir.path() + "\n");
}

TEST(PosixProcessLauncherTest, ChildStartsWithDefaultSignalsAndEmptyMask) {
  // The launcher's loop thread blocks the signals it reads via signalfd and may ignore others;
  // workers must not inherit either.
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  struct sigaction ignore {}, old_usr2 {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGUSR2, &ignore, &old_usr2);

  auto [out, status] = RunCaptured({{"/bin/cat", "/proc/self/status"}, kEnv, "", -1, -1, {}});

  ::sigaction(SIGUSR2, &old_usr2, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  EXPECT_THAT(out, HasSubstr("SigBlk:\t0000000000000000\n"));
  EXPECT_THAT(out, HasSubstr("SigIgn:\t0000000000000000\n"));
}

TEST(PosixProcessLauncherTest, RunAsSwitchesOnlyTheChildsCredentials) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching accounts needs root";
  // A second thread, as in the agent: the child shares the launcher's memory until execve(), and no
  // thread of the launcher may lose its account.
  std::thread bystander([] { ::usleep(200 * 1000); });
  ProcessSpec spec{{"/bin/sh", "-c", "id -u; id -g; id -G"}, kEnv, "", -1, -1, {}};
  spec.run_as = RunAs{.uid = 65534, .gid = 65534, .groups = {65534}};
  auto [out, status] = RunCaptured(spec);
  bystander.join();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->exit_code, 0) << status->error;
  EXPECT_EQ(out, "65534\n65534\n65534\n");
  // The launcher keeps its own account, on every thread.
  EXPECT_EQ(::getuid(), 0u);
  EXPECT_EQ(::geteuid(), 0u);
  EXPECT_EQ(::getegid(), 0u);
  std::thread([] { EXPECT_EQ(::geteuid(), 0u); }).join();
}

TEST(PosixProcessLauncherTest, ChildLeadsItsOwnSessionAndProcessGroup) {
  PosixProcessLauncher launcher;
  Pipe out;
  auto child = launcher.Launch({{"/bin/sh", "-c", "echo ready; exec sleep 30"}, kEnv, "", out.write_end.get(), -1, {}});
  ASSERT_TRUE(child.ok());
  out.write_end.Reset();
  char c;
  ASSERT_EQ(::read(out.read_end.get(), &c, 1), 1);  // After "ready" the child has run setsid().
  const pid_t pid = (*child)->pid();
  EXPECT_EQ(::getpgid(pid), pid);
  EXPECT_EQ(::getsid(pid), pid);
  EXPECT_NE(::getsid(pid), ::getsid(0));
}

TEST(PosixProcessLauncherTest, OnlyPassFdsAreInherited) {
  Pipe passed;
  // A descriptor without close-on-exec that is not in pass_fds must still not leak.
  common::UniqueFd leaky(::open("/dev/null", O_RDONLY));
  ASSERT_TRUE(leaky.valid());
  const int n = passed.write_end.get();
  const std::string script = "if [ -e /proc/$$/fd/" + std::to_string(leaky.get()) +
                             " ]; then echo leaked; else echo closed; fi; echo via-pass-fd >&" +
                             std::to_string(n);
  PosixProcessLauncher launcher;
  Pipe out;
  auto child = launcher.Launch({{"/bin/sh", "-c", script}, kEnv, "", out.write_end.get(), -1, {n}});
  ASSERT_TRUE(child.ok());
  out.write_end.Reset();
  passed.write_end.Reset();
  EXPECT_EQ(ReadAll(out.read_end.get()), "closed\n");
  EXPECT_EQ(ReadAll(passed.read_end.get()), "via-pass-fd\n");
  ASSERT_TRUE(WaitExit(**child).has_value());
}

TEST(PosixProcessLauncherTest, SignalGroupReachesGrandchildren) {
  PosixProcessLauncher launcher;
  Pipe out;
  // The shell ignores nothing; its background sleep is in the same group.
  auto child = launcher.Launch(
      {{"/bin/sh", "-c", "sleep 30 & echo $!; wait"}, kEnv, "", out.write_end.get(), -1, {}});
  ASSERT_TRUE(child.ok());
  out.write_end.Reset();
  std::string line;
  char c;
  while (::read(out.read_end.get(), &c, 1) == 1 && c != '\n') line.push_back(c);
  const pid_t grandchild = std::stoi(line);
  ASSERT_TRUE(IsRunning(grandchild));
  ASSERT_TRUE((*child)->SignalGroup(SIGTERM).ok());
  auto status = WaitExit(**child);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->signal, SIGTERM);
  EXPECT_TRUE(WaitFor([&] { return !IsRunning(grandchild); }));
}

TEST(PosixProcessLauncherTest, DestructorKillsWholeGroupAndReaps) {
  PosixProcessLauncher launcher;
  Pipe out;
  auto child = launcher.Launch(
      {{"/bin/sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait"}, kEnv, "", out.write_end.get(), -1, {}});
  ASSERT_TRUE(child.ok());
  out.write_end.Reset();
  std::string line;
  char c;
  while (::read(out.read_end.get(), &c, 1) == 1 && c != '\n') line.push_back(c);
  const pid_t grandchild = std::stoi(line);
  const pid_t pid = (*child)->pid();
  child->reset();
  EXPECT_FALSE(testing::ProcessState(pid).has_value());  // Killed and reaped, synchronously.
  EXPECT_TRUE(WaitFor([&] { return !IsRunning(grandchild); }));
}

TEST(PosixProcessLauncherTest, SignalRightAfterLaunchIsNotLost) {
  PosixProcessLauncher launcher;
  for (int i = 0; i < 20; ++i) {
    auto child = launcher.Launch({{"/bin/sleep", "30"}, kEnv, "", -1, -1, {}});
    ASSERT_TRUE(child.ok());
    ASSERT_TRUE((*child)->SignalGroup(SIGTERM).ok());  // Possibly before the child's setsid().
    auto status = WaitExit(**child, 5000);
    ASSERT_TRUE(status.has_value()) << "iteration " << i;
    EXPECT_EQ(status->signal, SIGTERM);
  }
}

TEST(ResolveExecutableTest, RelativeNamesAndEmptyPathEntries) {
  TempDir dir;
  WriteFile(dir.Sub("tool"), "#!/bin/sh\n", 0755);
  EXPECT_EQ(*ResolveExecutable("tool", {"PATH=:/usr/bin"}, dir.path()), "./tool");
  EXPECT_EQ(*ResolveExecutable("./tool", {}, dir.path()), "./tool");
  EXPECT_EQ(*ResolveExecutable("sh", {}, ""), "/usr/bin/sh");  // Default PATH when unset.
  EXPECT_EQ(ResolveExecutable("./tool", {}, "").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace accel::agent
