// Tests common/event_loop.h and common/unique_fd.h (kept here, next to their main user, so the agent
// work does not touch tests/unit/common; move them when convenient).
#include "common/event_loop.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace accel::common {
namespace {

std::unique_ptr<EventLoop> MakeLoop() {
  auto loop = EventLoop::Create();
  EXPECT_TRUE(loop.ok()) << loop.status();
  return *std::move(loop);
}

// Stops `loop` after `limit` so a broken test fails instead of hanging.
void AddWatchdog(EventLoop& loop, bool* fired, absl::Duration limit = absl::Seconds(5)) {
  loop.AddTimer(limit, [&loop, fired] {
    *fired = true;
    loop.Stop();
  });
}

TEST(UniqueFdTest, ClosesOnDestructionAndMove) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    UniqueFd a(fds[0]);
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state.
    EXPECT_EQ(b.get(), fds[0]);
    UniqueFd c;
    c = std::move(b);
    EXPECT_EQ(c.get(), fds[0]);
  }
  EXPECT_EQ(::fcntl(fds[0], F_GETFD), -1);  // Closed.
  UniqueFd w(fds[1]);
  const int raw = w.Release();
  EXPECT_FALSE(w.valid());
  EXPECT_EQ(::close(raw), 0);  // Release() did not close it.
}

TEST(EventLoopTest, PostFromOtherThreadsRunsOnLoopThreadInOrder) {
  auto loop = MakeLoop();
  std::vector<int> order;
  std::thread::id loop_thread;
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i) loop->Post([&, i] { order.push_back(i); });
    loop->Post([&] {
      loop_thread = std::this_thread::get_id();
      loop->Stop();
    });
  });
  loop->Run();
  poster.join();
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
  EXPECT_EQ(loop_thread, std::this_thread::get_id());
}

TEST(EventLoopTest, TimersFireInDeadlineOrderAndCanBeCancelled) {
  auto loop = MakeLoop();
  const absl::Duration start = EventLoop::MonotonicNow();
  std::vector<std::string> fired;
  loop->AddTimer(absl::Milliseconds(30), [&] {
    fired.push_back("30");
    loop->Stop();
  });
  loop->AddTimer(absl::Milliseconds(10), [&] { fired.push_back("10"); });
  const auto cancelled = loop->AddTimer(absl::Milliseconds(20), [&] { fired.push_back("20"); });
  loop->AddTimer(absl::ZeroDuration(), [&] { fired.push_back("0"); });
  EXPECT_TRUE(loop->CancelTimer(cancelled));
  EXPECT_FALSE(loop->CancelTimer(cancelled));
  loop->Run();
  EXPECT_EQ(fired, (std::vector<std::string>{"0", "10", "30"}));
  EXPECT_GE(EventLoop::MonotonicNow() - start, absl::Milliseconds(30));
}

TEST(EventLoopTest, TimerAddedFromCallbackAndEarlierThanArmedDeadlineFires) {
  auto loop = MakeLoop();
  bool timed_out = false;
  AddWatchdog(*loop, &timed_out);
  bool inner = false;
  loop->AddTimer(absl::Milliseconds(1), [&] {
    loop->AddTimer(absl::Milliseconds(1), [&] {
      inner = true;
      loop->Stop();
    });
  });
  loop->Run();
  EXPECT_TRUE(inner);
  EXPECT_FALSE(timed_out);
}

TEST(EventLoopTest, FdWatchReportsReadinessAndCanRemoveItself) {
  auto loop = MakeLoop();
  bool timed_out = false;
  AddWatchdog(*loop, &timed_out);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  std::string got;
  std::optional<EventLoop::WatchId> id;
  auto watch = loop->WatchFd(r.get(), EPOLLIN, [&](uint32_t events) {
    char buf[16];
    const ssize_t n = ::read(r.get(), buf, sizeof(buf));
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    if (n == 0 || (events & EPOLLHUP)) {
      loop->RemoveWatch(*id);  // Removing the running watch must be safe.
      loop->Stop();
    }
  });
  ASSERT_TRUE(watch.ok());
  id = *watch;
  std::thread writer([&] {
    ASSERT_EQ(::write(w.get(), "hello", 5), 5);
    w.Reset();
  });
  loop->Run();
  writer.join();
  EXPECT_EQ(got, "hello");
  EXPECT_FALSE(timed_out);
}

TEST(EventLoopTest, WatchRemovedByEarlierCallbackInSameRoundDoesNotFire) {
  auto loop = MakeLoop();
  bool timed_out = false;
  AddWatchdog(*loop, &timed_out);
  int a[2], b[2];
  ASSERT_EQ(::pipe2(a, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(b, O_CLOEXEC), 0);
  UniqueFd ar(a[0]), aw(a[1]), br(b[0]), bw(b[1]);
  // Both readable before Run(), so both events arrive in one epoll_wait round.
  ASSERT_EQ(::write(aw.get(), "x", 1), 1);
  ASSERT_EQ(::write(bw.get(), "x", 1), 1);
  int calls = 0;
  EventLoop::WatchId wa = 0, wb = 0;
  wa = *loop->WatchFd(ar.get(), EPOLLIN, [&](uint32_t) {
    ++calls;
    loop->RemoveWatch(wa);
    loop->RemoveWatch(wb);
    loop->AddTimer(absl::Milliseconds(20), [&] { loop->Stop(); });
  });
  wb = *loop->WatchFd(br.get(), EPOLLIN, [&](uint32_t) {
    ++calls;
    loop->RemoveWatch(wa);
    loop->RemoveWatch(wb);
    loop->AddTimer(absl::Milliseconds(20), [&] { loop->Stop(); });
  });
  loop->Run();
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(timed_out);
}

TEST(EventLoopTest, StopFromAnotherThreadWakesIdleLoop) {
  auto loop = MakeLoop();
  std::atomic<bool> running{false};
  loop->Post([&] { running = true; });
  std::thread stopper([&] {
    while (!running) std::this_thread::yield();
    loop->Stop();
  });
  loop->Run();
  stopper.join();
  EXPECT_TRUE(running);
}

TEST(EventLoopTest, IsLoopThreadOnlyOnTheRunningThread) {
  auto loop = MakeLoop();
  EXPECT_TRUE(loop->IsLoopThread());  // Not running: set-up allowed anywhere.
  std::atomic<bool> other_thread_view{true};
  loop->Post([&] {
    std::thread t([&] { other_thread_view = loop->IsLoopThread(); });
    t.join();
    EXPECT_TRUE(loop->IsLoopThread());
    loop->Stop();
  });
  loop->Run();
  EXPECT_FALSE(other_thread_view);
}

}  // namespace
}  // namespace accel::common
