#include "agent/signal_watcher.h"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/strings.h"

namespace accel::agent {

const std::vector<int>& ForwardedSignals() {
  static const std::vector<int> kSignals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  return kSignals;
}

absl::Status BlockSupervisorSignals() {
  sigset_t set;
  ::sigemptyset(&set);
  for (int sig : ForwardedSignals()) ::sigaddset(&set, sig);
  ::sigaddset(&set, SIGCHLD);
  if (const int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0) {
    return absl::InternalError(common::StrCat("pthread_sigmask: ", std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SignalWatcher>> SignalWatcher::Create(common::EventLoop& loop,
                                                                     std::vector<int> signals, Handler handler) {
  sigset_t set;
  ::sigemptyset(&set);
  for (int sig : signals) ::sigaddset(&set, sig);
  if (const int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0) {
    return absl::InternalError(common::StrCat("pthread_sigmask: ", std::strerror(err)));
  }
  common::UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) return absl::InternalError(common::StrCat("signalfd: ", std::strerror(errno)));
  std::unique_ptr<SignalWatcher> watcher(new SignalWatcher(loop, std::move(fd), std::move(handler)));
  auto watch = loop.WatchFd(watcher->fd_.get(), EPOLLIN, [w = watcher.get()](uint32_t) { w->OnReadable(); });
  if (!watch.ok()) return watch.status();
  watcher->watch_ = *watch;
  return watcher;
}

SignalWatcher::SignalWatcher(common::EventLoop& loop, common::UniqueFd fd, Handler handler)
    : loop_(loop), fd_(std::move(fd)), handler_(std::move(handler)) {}

SignalWatcher::~SignalWatcher() {
  if (watch_ != 0) loop_.RemoveWatch(watch_);
}

void SignalWatcher::OnReadable() {
  signalfd_siginfo info[8];
  for (;;) {
    const ssize_t n = ::read(fd_.get(), info, sizeof(info));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(signalfd_siginfo); ++i) {
      handler_(static_cast<int>(info[i].ssi_signo));
    }
  }
}

}  // namespace accel::agent
