// Loopback TCP ports for tests that start servers of their own.
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace accel::testing {

/// True when nothing is bound to 127.0.0.1:`port` right now.
bool TcpPortFree(int port);
/// A port the kernel considers free on loopback right now.
int FreeTcpPort();
/// A port P with P + 1 also free (the static rendezvous listens on main_process_port + 1); 0 if none.
int FreeTcpPortPair();

/// KEY=VALUE lines (the output of `env`) as a map.
std::map<std::string, std::string> ReadEnvFile(const std::filesystem::path& path);

}  // namespace accel::testing
