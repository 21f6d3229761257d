#include "tests/support/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>

#include "tests/support/temp_dir.h"

namespace accel::testing {
namespace {

// Binds 127.0.0.1:`port` (0: any) and returns the port bound, or 0.
int BindLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int bound = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    bound = ntohs(address.sin_port);
  }
  ::close(fd);
  return bound;
}

}  // namespace

bool TcpPortFree(int port) { return BindLoopback(port) == port; }

int FreeTcpPort() { return BindLoopback(0); }

int FreeTcpPortPair() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int port = FreeTcpPort();
    if (port > 0 && port < 65535 && TcpPortFree(port + 1)) return port;
  }
  return 0;
}

std::map<std::string, std::string> ReadEnvFile(const std::filesystem::path& path) {
  std::map<std::string, std::string> env;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

}  // namespace accel::testing
