#include "agent/log_tee.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

namespace accel::agent {
namespace {

// One read per readiness event, at most this much: big enough for throughput, small enough that one
// chatty worker cannot starve the others or the exit events (epoll is level-triggered, so the rest is
// read on the next round).
constexpr size_t kReadChunk = 64 * 1024;
// Drain() stops after this much even if more keeps coming: what an exited worker left is at most one
// pipe buffer, and a surviving grandchild that writes without pause must not pin the loop thread.
constexpr size_t kMaxDrainBytes = 1024 * 1024;

}  // namespace

LogTee::LogTee(common::EventLoop& loop, common::UniqueFd pipe_read, common::UniqueFd file,
               ConsoleSink* console, LineFramer framer, Options options)
    : loop_(loop),
      pipe_(std::move(pipe_read)),
      file_(std::move(file)),
      console_(console),
      framer_(std::move(framer)),
      options_(options),
      read_buffer_(std::make_unique_for_overwrite<char[]>(kReadChunk)) {
  const int flags = ::fcntl(pipe_.get(), F_GETFL);
  if (flags >= 0) ::fcntl(pipe_.get(), F_SETFL, flags | O_NONBLOCK);
}

LogTee::~LogTee() {
  if (watch_) loop_.RemoveWatch(*watch_);
  if (idle_timer_) loop_.CancelTimer(*idle_timer_);
}

absl::Status LogTee::Start() {
  auto watch = loop_.WatchFd(pipe_.get(), EPOLLIN, [this](uint32_t) {
    if (!ReadOnce()) Close();
  });
  if (!watch.ok()) return watch.status();
  watch_ = *watch;
  return absl::OkStatus();
}

bool LogTee::ReadOnce() {
  if (!pipe_.valid()) return false;
  ssize_t n;
  do {
    n = ::read(pipe_.get(), read_buffer_.get(), kReadChunk);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    Handle(std::string_view(read_buffer_.get(), static_cast<size_t>(n)));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
  return false;  // EOF: every writer closed the pipe.
}

void LogTee::Drain() {
  if (!pipe_.valid()) return;
  for (size_t drained = 0; drained < kMaxDrainBytes;) {
    ssize_t n;
    do {
      n = ::read(pipe_.get(), read_buffer_.get(), kReadChunk);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return;
    drained += static_cast<size_t>(n);
    Handle(std::string_view(read_buffer_.get(), static_cast<size_t>(n)));
  }
}

void LogTee::Handle(std::string_view data) {
  if (!data.empty()) last_output_ = common::EventLoop::MonotonicNow();
  // The file gets exactly what the worker wrote; the console gets framed lines.
  if (file_.valid() && !WriteFully(file_.get(), data)) {
    file_.Reset();  // Disk full or similar: stop writing the file rather than fail the worker.
  }
  if (console_ == nullptr) return;
  console_buffer_.clear();
  framer_.Feed(data, &console_buffer_);
  EmitConsole(console_buffer_);
  if (framer_.has_partial()) {
    last_data_ = common::EventLoop::MonotonicNow();
    if (!idle_timer_) idle_timer_ = loop_.AddTimer(options_.idle_flush, [this] { OnIdleTimer(); });
  }
}

void LogTee::OnIdleTimer() {
  idle_timer_.reset();
  if (!framer_.has_partial()) return;
  const absl::Duration quiet = common::EventLoop::MonotonicNow() - last_data_;
  if (quiet < options_.idle_flush) {
    // Data arrived since the timer was armed; wait for the rest of the silence period.
    idle_timer_ = loop_.AddTimer(options_.idle_flush - quiet, [this] { OnIdleTimer(); });
    return;
  }
  console_buffer_.clear();
  framer_.FlushPartial(&console_buffer_);
  EmitConsole(console_buffer_);
}

void LogTee::EmitConsole(const std::string& text) {
  if (!text.empty()) console_->Write(options_.local_rank, options_.stream, text);
}

void LogTee::Close() {
  if (!pipe_.valid()) return;
  Drain();
  if (watch_) loop_.RemoveWatch(*watch_);
  watch_.reset();
  if (idle_timer_) loop_.CancelTimer(*idle_timer_);
  idle_timer_.reset();
  if (console_ != nullptr) {
    console_buffer_.clear();
    framer_.FlushPartial(&console_buffer_);
    EmitConsole(console_buffer_);
  }
  pipe_.Reset();
  file_.Reset();
}

}  // namespace accel::agent
