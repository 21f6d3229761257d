// EventLoop: a single-threaded epoll loop with cross-thread Post(), one-shot timers and fd watches.
//
// Threading: the thread that calls Run() is the loop thread. Post() and Stop() may be called from any
// thread at any time (while the loop object is alive). Every other method is "loop thread only": call
// it from a callback the loop runs, or before Run() from the thread that will call Run(). Callbacks
// always run on the loop thread, one at a time, so state they touch needs no lock.
//
// Lifetime: callbacks still queued or armed when the loop is destroyed are destroyed without running.
// A callback may cancel its own timer or remove its own watch (even from inside that callback), and
// may destroy objects that own other watches: a watch removed during a dispatch round never fires
// again, even if its event was already fetched from the kernel in that round.
//
// Mechanism: epoll for fd readiness, an eventfd to wake the loop for Post()/Stop(), and one timerfd
// (CLOCK_MONOTONIC, absolute) armed for the earliest timer deadline, so wall-clock jumps never fire
// or delay timers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace accel::common {

class EventLoop {
 public:
  using Callback = std::function<void()>;
  /// Receives the epoll event bits (EPOLLIN, EPOLLHUP, ...) that were ready.
  using FdCallback = std::function<void(uint32_t events)>;
  using TimerId = uint64_t;
  using WatchId = uint64_t;

  /// Creates the epoll, eventfd and timerfd descriptors. Fails only when the kernel refuses them
  /// (descriptor limits).
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Dispatches events until Stop() is called. The calling thread becomes the loop thread. Returns
  /// after the callback that is running when Stop() takes effect finishes; queued work is kept (it
  /// runs if Run() is called again).
  void Run();
  /// Makes Run() return soon. Thread-safe.
  void Stop();
  /// Queues `callback` to run on the loop thread, after the callbacks already queued. Thread-safe.
  void Post(Callback callback);
  /// True on the loop thread while Run() is active, and on any thread while it is not (so set-up
  /// code before Run() and tear-down code after it may use loop-thread-only methods).
  bool IsLoopThread() const;

  /// Runs `callback` once, `delay` from now (a negative delay counts as zero). Loop thread only.
  TimerId AddTimer(absl::Duration delay, Callback callback);
  /// Cancels a timer that has not fired; returns false if it already fired or was cancelled.
  bool CancelTimer(TimerId id);

  /// Calls `callback` whenever `fd` is ready for `events` (level-triggered EPOLLIN / EPOLLOUT; EPOLLHUP
  /// and EPOLLERR are always reported). The caller keeps owning `fd` and must RemoveWatch() before
  /// closing it. Fails with the errno of epoll_ctl (e.g. EPERM for regular files).
  absl::StatusOr<WatchId> WatchFd(int fd, uint32_t events, FdCallback callback);
  /// Stops watching; a no-op for an unknown or already removed id.
  void RemoveWatch(WatchId id);

  /// Monotonic time, as used by timers.
  static absl::Duration MonotonicNow();

 private:
  struct Watch {
    int fd;
    FdCallback callback;
  };
  struct Timer {
    absl::Duration deadline;
    Callback callback;
  };

  EventLoop(UniqueFd epoll_fd, UniqueFd wake_fd, UniqueFd timer_fd);
  void DrainPosted();
  void RunExpiredTimers();
  void RearmTimerFd();

  const UniqueFd epoll_fd_;
  const UniqueFd wake_fd_;   // eventfd: Post() and Stop() write to it.
  const UniqueFd timer_fd_;  // timerfd, armed for timers_by_deadline_.begin().

  std::atomic<bool> stop_requested_{false};
  std::atomic<std::thread::id> loop_thread_{};

  absl::Mutex posted_mu_;
  std::vector<Callback> posted_ ABSL_GUARDED_BY(posted_mu_);

  // Loop thread only.
  uint64_t next_id_ = 1;
  std::map<WatchId, std::shared_ptr<Watch>> watches_;
  std::map<TimerId, Timer> timers_;
  std::set<std::pair<absl::Duration, TimerId>> timers_by_deadline_;
  absl::Duration armed_deadline_ = absl::InfiniteDuration();
};

}  // namespace accel::common
