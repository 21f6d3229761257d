// A minimal blocking HTTP/1.0 GET on loopback for metrics tests: status code and body.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace accel::testing {

struct HttpResponse {
  int status = 0;  // 0: no connection
  std::string body;
};

inline HttpResponse HttpGet(int port, const std::string& path) {
  HttpResponse response;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return response;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return response;
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return response;
  }
  std::string raw;
  char buffer[65536];
  ssize_t n;
  // Until the body is complete (Content-Length), as a scraper reads it, rather than until the server
  // closes the connection: the close may come later, and only the response counts.
  size_t expected = std::string::npos;
  raw.reserve(1 << 20);
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) {
    raw.append(buffer, static_cast<size_t>(n));
    if (expected == std::string::npos) {
      const size_t end = raw.find("\r\n\r\n");
      const size_t length = raw.find("Content-Length: ");
      if (end != std::string::npos && length != std::string::npos && length < end) {
        expected = end + 4 + std::strtoull(raw.c_str() + length + 16, nullptr, 10);
      }
    }
    if (raw.size() >= expected) break;
  }
  ::close(fd);
  const size_t space = raw.find(' ');
  const size_t header_end = raw.find("\r\n\r\n");
  if (space == std::string::npos || header_end == std::string::npos) return response;
  response.status = std::atoi(raw.c_str() + space + 1);
  response.body = raw.substr(header_end + 4);
  return response;
}

}  // namespace accel::testing
