// acceld speaks systemd's notify protocol (deploy/systemd/acceld.service is Type=notify with
// WatchdogSec=): the test owns the NOTIFY_SOCKET datagram socket and reads what acceld sends.
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <chrono>

#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A bound unix datagram socket, as systemd's manager holds one.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~NotifySocket() { ::close(fd_); }
  bool bound() const { return bound_; }

  /// The next datagram, or "" after `timeout`.
  std::string Receive(milliseconds timeout) {
    pollfd ready{.fd = fd_, .events = POLLIN, .revents = 0};
    if (::poll(&ready, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST(SystemdNotifyTest, AcceldSendsReadyOnceServingThenWatchdogPingsThenStopping) {
  testing::TempDir dir;
  NotifySocket notify(dir.path() / "notify.sock");
  ASSERT_TRUE(notify.bound());
  const std::filesystem::path socket = dir.path() / "acceld.sock";
  // WatchdogSec=0.4 s: a ping every 200 ms.
  testing::Subprocess acceld(
      {testing::BinaryPath("acceld"), "--role", "both", "--listen", "unix:" + socket.string(), "--log_root",
       (dir.path() / "logs").string(), "--state_dir", (dir.path() / "state").string()},
      testing::EnvWith({{"NOTIFY_SOCKET", (dir.path() / "notify.sock").string()}, {"WATCHDOG_USEC", "400000"},
                        {"WATCHDOG_PID", ""}}));

  const std::string ready = notify.Receive(milliseconds(15000));
  ASSERT_NE(ready.find("READY=1"), std::string::npos) << "first message: '" << ready << "'\n" << acceld.Err();
  EXPECT_NE(ready.find("STATUS=serving on unix:" + socket.string()), std::string::npos) << ready;
  // READY means serving: the socket answers now, not later.
  EXPECT_TRUE(std::filesystem::is_socket(socket));
  const auto shown = testing::RunProcess(
      {testing::BinaryPath("accelctl"), "allocation", "show", "--agent", "unix:" + socket.string()},
      testing::EnvWith({}), seconds(10));
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(shown.out, "not allocated\n");

  // Pings at half the interval: at least 3 within 1.5 s (one expected every 200 ms).
  int pings = 0;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < milliseconds(1500)) {
    const std::string message = notify.Receive(milliseconds(500));
    ASSERT_FALSE(message.empty()) << "no watchdog ping within 500 ms (interval 400 ms)";
    if (message == "WATCHDOG=1") ++pings;
  }
  EXPECT_GE(pings, 3);
  EXPECT_LE(pings, 12);

  acceld.Signal(SIGTERM);
  std::string message;
  for (int i = 0; i < 20 && message != "STOPPING=1"; ++i) message = notify.Receive(milliseconds(5000));
  EXPECT_EQ(message, "STOPPING=1");
  EXPECT_EQ(acceld.Wait(seconds(15)).exit_code, 0);
}

TEST(SystemdNotifyTest, NoWatchdogPingsWhenSystemdAskedForNone) {
  testing::TempDir dir;
  NotifySocket notify(dir.path() / "notify.sock");
  ASSERT_TRUE(notify.bound());
  testing::Subprocess acceld(
      {testing::BinaryPath("acceld"), "--role", "both", "--listen", "unix:" + (dir.path() / "a.sock").string(),
       "--log_root", (dir.path() / "logs").string(), "--state_dir", (dir.path() / "state").string()},
      testing::EnvWith({{"NOTIFY_SOCKET", (dir.path() / "notify.sock").string()}, {"WATCHDOG_USEC", ""}}));
  ASSERT_NE(notify.Receive(milliseconds(15000)).find("READY=1"), std::string::npos) << acceld.Err();
  EXPECT_EQ(notify.Receive(milliseconds(600)), "");
  acceld.Signal(SIGTERM);
  EXPECT_EQ(acceld.Wait(seconds(15)).exit_code, 0);
}

}  // namespace
}  // namespace accel
