#include "daemon/coordinator/placement.h"

#include <algorithm>

#include "common/strings.h"

namespace accel::daemon {
namespace {

std::string Base36(uint64_t value, size_t min_width) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out;
  do {
    out.push_back(kDigits[value % 36]);
    value /= 36;
  } while (value != 0);
  while (out.size() < min_width) out.push_back('0');
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

ParsedAddress ParseAgentAddress(const std::string& address) {
  ParsedAddress out;
  std::string_view rest = address;
  if (rest.starts_with("unix:") || rest.starts_with("unix-abstract:")) {
    out.local_socket = true;
    return out;
  }
  for (std::string_view scheme : {"dns:///", "dns:", "ipv4:", "ipv6:"}) {
    if (rest.starts_with(scheme)) {
      rest.remove_prefix(scheme.size());
      break;
    }
  }
  if (rest.starts_with("[")) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      out.host = std::string(rest.substr(1));
      return out;
    }
    out.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (after.starts_with(":")) out.port = std::string(after.substr(1));
    return out;
  }
  const size_t first = rest.find(':');
  const size_t last = rest.rfind(':');
  if (first != std::string_view::npos && first == last) {
    out.host = std::string(rest.substr(0, first));
    out.port = std::string(rest.substr(first + 1));
  } else {
    out.host = std::string(rest);  // no port, or a bare IPv6 address
  }
  return out;
}

bool IsUnspecifiedHost(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0";
}

std::string DialableAddress(const std::string& address, const std::string& observed_host) {
  const ParsedAddress parsed = ParseAgentAddress(address);
  if (parsed.local_socket || !IsUnspecifiedHost(parsed.host) || observed_host.empty()) return address;
  const bool v6 = observed_host.find(':') != std::string::npos;
  const std::string host = v6 ? common::StrCat("[", observed_host, "]") : observed_host;
  return parsed.port.empty() ? host : common::StrCat(host, ":", parsed.port);
}

std::string MasterAddrFor(const std::string& address) {
  const ParsedAddress parsed = ParseAgentAddress(address);
  if (parsed.local_socket || IsUnspecifiedHost(parsed.host)) return "127.0.0.1";
  return parsed.host;
}

MasterPortAllocator::MasterPortAllocator(int min_port, int max_port, int start_offset)
    : min_(min_port), max_(std::max(min_port, max_port)), cursor_(min_port) {
  const int size = max_ - min_ + 1;
  cursor_ = min_ + ((start_offset % size) + size) % size;
}

absl::StatusOr<int> MasterPortAllocator::Next(const std::function<bool(int port)>& in_use) {
  const int size = max_ - min_ + 1;
  for (int i = 0; i < size; ++i) {
    const int port = cursor_;
    cursor_ = cursor_ == max_ ? min_ : cursor_ + 1;
    if (!in_use(port)) return port;
  }
  return absl::ResourceExhaustedError(
      common::StrCat("no free master port in ", min_, "-", max_, " (every port is used by a running job)"));
}

std::string MakeJobId(absl::Time now, uint64_t counter) {
  const int64_t seconds = std::max<int64_t>(0, absl::ToUnixSeconds(now));
  return common::StrCat("j-", Base36(static_cast<uint64_t>(seconds), 6), "-", Base36(counter, 3));
}

}  // namespace accel::daemon
