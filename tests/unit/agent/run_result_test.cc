#include "agent/run_result.h"

#include <signal.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace accel::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

WorkerFailure Failure(int local_rank, int exit_code, int signal, absl::Time time) {
  WorkerFailure f;
  f.local_rank = local_rank;
  f.global_rank = 8 + local_rank;
  f.host = "node3.example";
  f.pid = 4200 + local_rank;
  f.exit_code = exit_code;
  f.signal = signal;
  f.time = time;
  f.error_file = "/logs/none_x/attempt_0/" + std::to_string(local_rank) + "/error.json";
  return f;
}

TEST(FormatFailureSummaryTest, EmptyWhenNothingFailed) {
  EXPECT_EQ(FormatFailureSummary(RunResult{}, "train.py"), "");
}

TEST(FormatFailureSummaryTest, RootCauseWithErrorFileMessage) {
  RunResult result;
  result.exit_code = 1;
  WorkerFailure root = Failure(1, 1, 0, absl::FromUnixSeconds(1700000000));
  root.error_file_found = true;
  root.error_file = "/very/long/log/directory/for/this/run/none_x/attempt_0/1/error.json";
  root.message = "ValueError: boom";
  root.traceback = "Traceback (most recent call last):\n  File \"train.py\", line 3\nValueError: boom";
  result.failures.push_back(root);

  const std::string text = FormatFailureSummary(result, "train.py");
  const std::string expected_time =
      absl::FormatTime("%Y-%m-%d_%H:%M:%S", absl::FromUnixSeconds(1700000000), absl::LocalTimeZone());
  EXPECT_THAT(text, HasSubstr("train.py FAILED\n"));
  EXPECT_THAT(text, HasSubstr("Failures:\n  <NO_OTHER_FAILURES>\n"));
  EXPECT_THAT(text, HasSubstr("Root Cause (first observed failure):\n[0]:\n"));
  EXPECT_THAT(text, HasSubstr("  time      : " + expected_time + "\n"));
  EXPECT_THAT(text, HasSubstr("  host      : node3.example\n"));
  EXPECT_THAT(text, HasSubstr("  rank      : 9 (local_rank: 1)\n"));
  EXPECT_THAT(text, HasSubstr("  exitcode  : 1 (pid: 4201)\n"));
  EXPECT_THAT(text, HasSubstr("  error_file: /very/long/log/directory/for/this/run/none_x/attempt_0/1/error.json\n"));
  // The traceback is indented under its field.
  EXPECT_THAT(text, HasSubstr("  traceback : Traceback (most recent call last):\n"
                              "                File \"train.py\", line 3\n"
                              "              ValueError: boom\n"));
  // The message is part of the traceback, so it is not repeated.
  EXPECT_THAT(text, Not(HasSubstr("message   :")));
  // Rules: '=' around, '-' between sections, as wide as the widest line but at most 60.
  EXPECT_EQ(text.substr(0, 61), std::string(60, '=') + "\n");
  EXPECT_THAT(text, HasSubstr("\n" + std::string(60, '-') + "\n"));
}

TEST(FormatFailureSummaryTest, SignalledWorkerShowsSignalNameAndOtherFailures) {
  RunResult result;
  WorkerFailure root = Failure(0, -1, SIGKILL, absl::FromUnixSeconds(1700000000));
  WorkerFailure other = Failure(2, 7, 0, absl::FromUnixSeconds(1700000001));
  other.message = "RuntimeError: plain message";
  other.error_file_found = true;
  result.failures = {root, other};

  const std::string text = FormatFailureSummary(result, "train.py");
  EXPECT_THAT(text, HasSubstr("  exitcode  : -9 (SIGKILL, pid: 4200)\n"));
  EXPECT_THAT(text, HasSubstr("  traceback : Signal 9 (SIGKILL) received by PID 4200"));
  EXPECT_THAT(text, HasSubstr("  error_file: <N/A>\n"));  // Root cause wrote no file.
  EXPECT_THAT(text, Not(HasSubstr("<NO_OTHER_FAILURES>")));
  // The other failure is listed under "Failures:" before the root cause section.
  const size_t failures_at = text.find("Failures:\n[1]:\n");
  const size_t root_at = text.find("Root Cause");
  ASSERT_NE(failures_at, std::string::npos);
  EXPECT_LT(failures_at, root_at);
  EXPECT_THAT(text, HasSubstr("  rank      : 10 (local_rank: 2)\n"));
  EXPECT_THAT(text, HasSubstr("  traceback : RuntimeError: plain message"));
}

TEST(FormatFailureSummaryTest, SpawnFailureAndMessageMissingFromTraceback) {
  RunResult result;
  WorkerFailure spawn = Failure(0, kSpawnFailureExitCode, 0, absl::Now());
  spawn.pid = -1;
  spawn.message = "no_such_program: command not found (PATH=/usr/bin)";
  result.failures.push_back(spawn);
  WorkerFailure odd = Failure(1, 3, 0, absl::Now());
  odd.traceback = "frame 1\nframe 2";
  odd.message = "CustomError: not in the traceback";
  result.failures.push_back(odd);
  const std::string text = FormatFailureSummary(result, "job");
  EXPECT_THAT(text, HasSubstr("  exitcode  : 127 (not started)\n"));
  EXPECT_THAT(text, HasSubstr("command not found"));
  EXPECT_THAT(text, HasSubstr("  message   : CustomError: not in the traceback\n"));
}

TEST(FormatFailureSummaryTest, NarrowRuleForShortBlocks) {
  RunResult result;
  WorkerFailure f = Failure(0, 2, 0, absl::FromUnixSeconds(0));
  f.host = "h";
  f.error_file = "e";
  f.message = "m";
  result.failures.push_back(f);
  const std::string text = FormatFailureSummary(result, "x");
  const size_t first_newline = text.find('\n');
  EXPECT_LT(first_newline, 60u);
  EXPECT_GE(first_newline, std::string("  time      : 1970-01-01_00:00:00").size());
}

TEST(ExitStatusTest, ShellCodesAndNames) {
  EXPECT_EQ(ExitStatus::Exited(7).ShellExitCode(), 7);
  EXPECT_EQ(ExitStatus::Killed(SIGKILL).ShellExitCode(), 137);
  EXPECT_EQ(ExitStatus::Killed(SIGTERM).ToString(), "signal 15 (SIGTERM)");
  EXPECT_EQ(ExitStatus::Exited(3).ToString(), "exit code 3");
  EXPECT_TRUE(ExitStatus::Exited(0).success());
  EXPECT_FALSE(ExitStatus::Killed(SIGTERM).success());
  EXPECT_EQ(SignalName(SIGINT), "SIGINT");
}

}  // namespace
}  // namespace accel::agent
