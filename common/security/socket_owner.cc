#include "common/security/socket_owner.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace accel::common {
namespace {

using Address = std::array<unsigned char, 16>;  // IPv6, IPv4 as ::ffff:a.b.c.d

std::optional<Address> ParseIp(std::string_view text) {
  std::string ip(text);
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  Address out{};
  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

bool IsLoopback(const Address& a) {
  static const Address v6_loopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const bool v4_mapped = std::all_of(a.begin(), a.begin() + 10, [](unsigned char c) { return c == 0; }) &&
                         a[10] == 0xff && a[11] == 0xff;
  return a == v6_loopback || (v4_mapped && a[12] == 127);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "0100007F:1F90" (IPv4) or 32 hex digits ":" port (IPv6): each 32-bit word in host byte order.
bool ParseProcEndpoint(std::string_view text, Address& address, int& port) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view hex = text.substr(0, colon);
  if (hex.size() != 8 && hex.size() != 32) return false;
  std::vector<unsigned char> bytes;
  for (size_t word = 0; word < hex.size() / 8; ++word) {
    uint32_t value = 0;
    for (size_t i = 0; i < 8; ++i) {
      const int digit = HexValue(hex[word * 8 + i]);
      if (digit < 0) return false;
      value = value << 4 | static_cast<uint32_t>(digit);
    }
    // The kernel prints the word as a host-order integer; its bytes in memory are the address bytes.
    unsigned char raw[4];
    std::memcpy(raw, &value, 4);
    bytes.insert(bytes.end(), raw, raw + 4);
  }
  address = {};
  if (bytes.size() == 4) {
    address[10] = address[11] = 0xff;
    std::memcpy(address.data() + 12, bytes.data(), 4);
  } else {
    std::memcpy(address.data(), bytes.data(), 16);
  }
  port = 0;
  for (char c : text.substr(colon + 1)) {
    const int digit = HexValue(c);
    if (digit < 0) return false;
    port = port * 16 + digit;
  }
  return true;
}

}  // namespace

bool IsLoopbackIp(std::string_view ip) {
  const auto parsed = ParseIp(ip);
  return parsed && IsLoopback(*parsed);
}

std::optional<uid_t> LoopbackTcpPeerUid(std::string_view peer_ip, int peer_port, const std::set<int>& server_ports,
                                        const std::string& proc_net) {
  const auto peer = ParseIp(peer_ip);
  if (!peer || !IsLoopback(*peer)) return std::nullopt;
  std::optional<uid_t> owner;
  for (const char* table : {"tcp", "tcp6"}) {
    std::ifstream in(proc_net + "/" + table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid_text;
      if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid_text)) continue;
      if (state != "01") continue;  // TCP_ESTABLISHED
      Address local_address{}, remote_address{};
      int local_port = 0, remote_port = 0;
      if (!ParseProcEndpoint(local, local_address, local_port) ||
          !ParseProcEndpoint(remote, remote_address, remote_port)) {
        continue;
      }
      if (local_address != *peer || local_port != peer_port || !IsLoopback(remote_address)) continue;
      if (!server_ports.empty() && !server_ports.contains(remote_port)) continue;
      char* end = nullptr;
      const unsigned long uid = std::strtoul(uid_text.c_str(), &end, 10);
      if (end == uid_text.c_str() || *end != '\0') continue;
      if (owner && *owner != static_cast<uid_t>(uid)) return std::nullopt;  // ambiguous
      owner = static_cast<uid_t>(uid);
    }
  }
  return owner;
}

}  // namespace accel::common
