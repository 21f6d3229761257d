#include "common/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "common/strings.h"

namespace accel::common {
namespace {

// epoll_event.data.u64 tags for the loop's own descriptors; watch ids count up from 1 and never
// reach these.
constexpr uint64_t kWakeTag = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kTimerTag = std::numeric_limits<uint64_t>::max() - 1;
constexpr int kMaxEventsPerWait = 64;

absl::Status ErrnoStatus(std::string_view what, int err) {
  return absl::InternalError(common::StrCat(what, ": ", std::strerror(err)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  UniqueFd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd) return ErrnoStatus("epoll_create1", errno);
  UniqueFd wake_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd) return ErrnoStatus("eventfd", errno);
  UniqueFd timer_fd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer_fd) return ErrnoStatus("timerfd_create", errno);

  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, wake_fd.get(), &ev) != 0) {
    return ErrnoStatus("epoll_ctl(eventfd)", errno);
  }
  ev.data.u64 = kTimerTag;
  if (::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, timer_fd.get(), &ev) != 0) {
    return ErrnoStatus("epoll_ctl(timerfd)", errno);
  }
  return std::unique_ptr<EventLoop>(
      new EventLoop(std::move(epoll_fd), std::move(wake_fd), std::move(timer_fd)));
}

EventLoop::EventLoop(UniqueFd epoll_fd, UniqueFd wake_fd, UniqueFd timer_fd)
    : epoll_fd_(std::move(epoll_fd)), wake_fd_(std::move(wake_fd)), timer_fd_(std::move(timer_fd)) {}

EventLoop::~EventLoop() = default;

absl::Duration EventLoop::MonotonicNow() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::DurationFromTimespec(ts);
}

bool EventLoop::IsLoopThread() const {
  const std::thread::id owner = loop_thread_.load(std::memory_order_acquire);
  return owner == std::thread::id() || owner == std::this_thread::get_id();
}

void EventLoop::Post(Callback callback) {
  {
    absl::MutexLock lock(&posted_mu_);
    posted_.push_back(std::move(callback));
  }
  const uint64_t one = 1;
  // Only fails with EAGAIN when the counter is saturated, and then the loop is already awake.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
}

void EventLoop::Stop() {
  stop_requested_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
}

void EventLoop::Run() {
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_release);
  stop_requested_.store(false, std::memory_order_release);
  // Work posted before Run() (or left from an earlier Run()) must not wait for the next wake-up.
  DrainPosted();
  RunExpiredTimers();

  epoll_event events[kMaxEventsPerWait];
  while (!stop_requested_.load(std::memory_order_acquire)) {
    const int n = ::epoll_wait(epoll_fd_.get(), events, kMaxEventsPerWait, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      // EBADF/EINVAL would mean our own descriptors are broken: a bug, not an environment failure.
      assert(false && "epoll_wait failed");
      break;
    }
    for (int i = 0; i < n && !stop_requested_.load(std::memory_order_acquire); ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        uint64_t count = 0;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_.get(), &count, sizeof(count));
        DrainPosted();
      } else if (tag == kTimerTag) {
        uint64_t expirations = 0;
        [[maybe_unused]] ssize_t r = ::read(timer_fd_.get(), &expirations, sizeof(expirations));
        armed_deadline_ = absl::InfiniteDuration();
        RunExpiredTimers();
      } else {
        auto it = watches_.find(tag);
        if (it == watches_.end()) continue;  // Removed earlier in this round.
        // Holding a reference keeps the callback alive even if it removes its own watch.
        std::shared_ptr<Watch> watch = it->second;
        watch->callback(events[i].events);
      }
    }
  }
  loop_thread_.store(std::thread::id(), std::memory_order_release);
}

void EventLoop::DrainPosted() {
  std::vector<Callback> batch;
  {
    absl::MutexLock lock(&posted_mu_);
    batch.swap(posted_);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (stop_requested_.load(std::memory_order_acquire)) {
      // Keep the rest, in order, ahead of anything posted meanwhile.
      absl::MutexLock lock(&posted_mu_);
      posted_.insert(posted_.begin(), std::make_move_iterator(batch.begin() + static_cast<ptrdiff_t>(i)),
                     std::make_move_iterator(batch.end()));
      return;
    }
    batch[i]();
  }
}

EventLoop::TimerId EventLoop::AddTimer(absl::Duration delay, Callback callback) {
  assert(IsLoopThread());
  if (delay < absl::ZeroDuration()) delay = absl::ZeroDuration();
  const TimerId id = next_id_++;
  const absl::Duration deadline = MonotonicNow() + delay;
  timers_.emplace(id, Timer{deadline, std::move(callback)});
  timers_by_deadline_.emplace(deadline, id);
  RearmTimerFd();
  return id;
}

bool EventLoop::CancelTimer(TimerId id) {
  assert(IsLoopThread());
  auto it = timers_.find(id);
  if (it == timers_.end()) return false;
  timers_by_deadline_.erase({it->second.deadline, id});
  timers_.erase(it);
  // The timerfd may stay armed for the cancelled deadline; it then fires once and finds nothing due.
  return true;
}

void EventLoop::RunExpiredTimers() {
  const absl::Duration now = MonotonicNow();
  // Collect first: a callback may add a zero-delay timer, which must wait for the next round rather
  // than starve fd events.
  std::vector<TimerId> due;
  for (const auto& [deadline, id] : timers_by_deadline_) {
    if (deadline > now) break;
    due.push_back(id);
  }
  for (TimerId id : due) {
    if (stop_requested_.load(std::memory_order_acquire)) break;
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // Cancelled by an earlier callback in this batch.
    Callback callback = std::move(it->second.callback);
    timers_by_deadline_.erase({it->second.deadline, id});
    timers_.erase(it);
    callback();
  }
  RearmTimerFd();
}

void EventLoop::RearmTimerFd() {
  const absl::Duration next =
      timers_by_deadline_.empty() ? absl::InfiniteDuration() : timers_by_deadline_.begin()->first;
  if (next == armed_deadline_) return;
  itimerspec spec{};
  if (next != absl::InfiniteDuration()) {
    spec.it_value = absl::ToTimespec(next);
    // An all-zero it_value disarms the timer; a deadline at the clock's origin is not reachable.
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  }
  ::timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
  armed_deadline_ = next;
}

absl::StatusOr<EventLoop::WatchId> EventLoop::WatchFd(int fd, uint32_t events, FdCallback callback) {
  assert(IsLoopThread());
  const WatchId id = next_id_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = id;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return ErrnoStatus(common::StrCat("epoll_ctl(ADD, fd ", fd, ")"), errno);
  }
  watches_.emplace(id, std::make_shared<Watch>(Watch{fd, std::move(callback)}));
  return id;
}

void EventLoop::RemoveWatch(WatchId id) {
  assert(IsLoopThread());
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, it->second->fd, nullptr);
  watches_.erase(it);
}

}  // namespace accel::common
