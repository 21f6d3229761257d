// LogTee: drains one worker stream's pipe into its log file (raw bytes) and/or the console (framed).
//
// Thread: loop thread only (it watches the pipe on the EventLoop). Lifetime: owned by the WorkerGroup
// for one attempt; destroying it stops the watch and closes the pipe and file without flushing, so call
// Close() first to keep the tail.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/console_sink.h"
#include "agent/line_framer.h"
#include "common/event_loop.h"
#include "common/unique_fd.h"

namespace accel::agent {

class LogTee {
 public:
  struct Options {
    int local_rank = 0;
    StdStream stream = StdStream::kStdout;
    // A held partial line goes to the console after this much silence from the worker.
    absl::Duration idle_flush = absl::Seconds(1);
  };

  /// `pipe_read`: the read end of the worker's stdout/stderr pipe (made non-blocking here).
  /// `file`: the log file to receive raw bytes, or invalid for none.
  /// `console`: where framed lines go, or nullptr for none (redirect only). Must outlive this object.
  LogTee(common::EventLoop& loop, common::UniqueFd pipe_read, common::UniqueFd file,
         ConsoleSink* console, LineFramer framer, Options options);
  ~LogTee();
  LogTee(const LogTee&) = delete;
  LogTee& operator=(const LogTee&) = delete;

  /// Starts watching the pipe.
  absl::Status Start();
  /// Reads whatever is in the pipe now (up to 1 MiB), without blocking. Used when the worker exits, so
  /// its last words reach the console before the failure report.
  void Drain();
  /// Drain(), flush a held partial line, stop watching and close the pipe and the file. Output that
  /// arrives later (from a grandchild still holding the pipe) is dropped. Idempotent.
  void Close();
  bool closed() const { return !pipe_.valid(); }
  /// EventLoop::MonotonicNow() when the worker last wrote to this stream; InfiniteDuration() if never
  /// (the hang signal).
  absl::Duration last_output() const { return last_output_; }

 private:
  // Returns false at EOF or on a read error (the pipe is finished).
  bool ReadOnce();
  void Handle(std::string_view data);
  void OnIdleTimer();
  void EmitConsole(const std::string& text);

  common::EventLoop& loop_;
  common::UniqueFd pipe_;
  common::UniqueFd file_;
  ConsoleSink* const console_;
  LineFramer framer_;
  const Options options_;
  std::optional<common::EventLoop::WatchId> watch_;
  std::optional<common::EventLoop::TimerId> idle_timer_;
  absl::Duration last_data_ = absl::ZeroDuration();  // EventLoop::MonotonicNow() of the last read.
  absl::Duration last_output_ = absl::InfiniteDuration();  // Of any data, for hang detection.
  // Not zero-filled: read() touches only the pages it fills, so a quiet worker's buffers cost no page
  // faults (zeroing 128 KiB per worker was a millisecond per worker at launch on a VM).
  std::unique_ptr<char[]> read_buffer_;
  std::string console_buffer_;
};

}  // namespace accel::agent
