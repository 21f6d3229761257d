// The local account behind a loopback TCP connection. Loopback TCP carries no credentials, but both
// ends live in this network namespace, and the kernel lists every socket with the uid that created it
// (/proc/net/tcp, /proc/net/tcp6): the peer's socket is the one whose local address is the peer
// address of our connection. This is what identd did; it is exact for loopback, where no other host
// can own the peer end.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace accel::common {

/// The uid that owns the established TCP socket at `peer_ip`:`peer_port` (the client end of a
/// connection to this host), connected to a loopback address on one of `server_ports` (any port when
/// empty). nullopt when `peer_ip` is not a loopback address, or there is no such socket, or several
/// sockets with different owners match. `proc_net` is the folder holding tcp and tcp6 (tests pass
/// their own).
std::optional<uid_t> LoopbackTcpPeerUid(std::string_view peer_ip, int peer_port, const std::set<int>& server_ports,
                                        const std::string& proc_net = "/proc/net");

/// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
bool IsLoopbackIp(std::string_view ip);

}  // namespace accel::common
