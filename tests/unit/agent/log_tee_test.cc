// LogTee with a real pipe, a real file and a real loop.
#include "agent/log_tee.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/unit/agent/test_util.h"

namespace accel::agent {
namespace {

using testing::CapturingConsoleSink;
using testing::ReadFile;
using testing::TempDir;

class LogTeeTest : public ::testing::Test {
 protected:
  LogTeeTest() : loop_(*common::EventLoop::Create()) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    read_end_.Reset(fds[0]);
    write_end_.Reset(fds[1]);
  }

  std::unique_ptr<LogTee> MakeTee(bool with_file, bool with_console, LineFramer framer,
                                  absl::Duration idle = absl::Seconds(1)) {
    common::UniqueFd file;
    if (with_file) file.Reset(::open(dir_.Sub("stdout.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    auto tee = std::make_unique<LogTee>(*loop_, std::move(read_end_), std::move(file),
                                        with_console ? &console_ : nullptr, std::move(framer),
                                        LogTee::Options{3, StdStream::kStdout, idle});
    EXPECT_TRUE(tee->Start().ok());
    return tee;
  }

  void Write(std::string_view text) { ASSERT_EQ(::write(write_end_.get(), text.data(), text.size()), static_cast<ssize_t>(text.size())); }

  // Runs the loop until `done` holds (checked every millisecond) or 5 s pass.
  void RunUntil(const std::function<bool()>& done) {
    auto check = std::make_shared<std::function<void()>>();
    const absl::Duration deadline = common::EventLoop::MonotonicNow() + absl::Seconds(5);
    *check = [this, done, check, deadline] {
      if (done() || common::EventLoop::MonotonicNow() > deadline) {
        loop_->Stop();
        return;
      }
      loop_->AddTimer(absl::Milliseconds(1), *check);
    };
    loop_->AddTimer(absl::ZeroDuration(), *check);
    loop_->Run();
  }

  TempDir dir_;
  std::unique_ptr<common::EventLoop> loop_;
  common::UniqueFd read_end_;
  common::UniqueFd write_end_;
  CapturingConsoleSink console_;
};

TEST_F(LogTeeTest, FileGetsRawBytesConsoleGetsFramedLines) {
  auto tee = MakeTee(true, true, LineFramer("[default3]:"));
  Write("a\r\nprogress\r");
  Write("done\nlast");
  write_end_.Reset();  // EOF: the tee closes itself, flushing the partial line.
  RunUntil([&] { return tee->closed(); });
  EXPECT_TRUE(tee->closed());
  EXPECT_EQ(ReadFile(dir_.Sub("stdout.log")), "a\r\nprogress\rdone\nlast");
  EXPECT_EQ(console_.stdout_text, "[default3]:a\r\n[default3]:progress\n[default3]:done\n[default3]:last\n");
  for (const auto& chunk : console_.writes) {
    EXPECT_EQ(chunk.local_rank, 3);
    EXPECT_EQ(chunk.text.back(), '\n');  // Whole lines only.
  }
}

TEST_F(LogTeeTest, RedirectOnlyWritesNothingToConsole) {
  auto tee = MakeTee(true, false, LineFramer("[p]:"));
  Write("only in file\n");
  write_end_.Reset();
  RunUntil([&] { return tee->closed(); });
  EXPECT_EQ(ReadFile(dir_.Sub("stdout.log")), "only in file\n");
  EXPECT_EQ(console_.stdout_text, "");
}

TEST_F(LogTeeTest, PartialLineIsFlushedAfterSilence) {
  auto tee = MakeTee(false, true, LineFramer("[p]:"), absl::Milliseconds(30));
  const absl::Duration start = common::EventLoop::MonotonicNow();
  Write("Epoch 1: ");
  RunUntil([&] { return !console_.stdout_text.empty(); });
  EXPECT_EQ(console_.stdout_text, "[p]:Epoch 1: \n");
  EXPECT_GE(common::EventLoop::MonotonicNow() - start, absl::Milliseconds(30));
  EXPECT_FALSE(tee->closed());  // Still watching: the writer is open.
}

TEST_F(LogTeeTest, CloseDrainsWhatIsAlreadyInThePipe) {
  auto tee = MakeTee(true, true, LineFramer::Passthrough());
  Write("written before exit");
  tee->Close();  // Without running the loop: the exit path drains synchronously.
  EXPECT_EQ(console_.stdout_text, "written before exit");
  EXPECT_EQ(ReadFile(dir_.Sub("stdout.log")), "written before exit");
}

}  // namespace
}  // namespace accel::agent
