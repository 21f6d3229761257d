#include "daemon/acceld_config.h"

#include "common/cli/arg_parser.h"
#include "common/config/config_value.h"
#include "common/host/host_info.h"
#include "common/status_macros.h"
#include "common/strings.h"

#include <fstream>
#include <sstream>

namespace accel::daemon {
namespace {

using common::ArgKind;
using common::ArgSpec;
using common::ArgType;

common::ArgParser MakeParser() {
  common::ArgParser parser("acceld", "The accel node agent: supervises training workers on this node and serves the cluster control plane.");
  parser.Add({.name = "config", .kind = ArgKind::kValue, .metavar = "FILE", .help = "YAML configuration file (e.g. /etc/accel/acceld.yaml); flags override its keys"});
  parser.Add({.name = "version", .kind = ArgKind::kFlag, .help = "print the version and exit"});
  parser.Add({.name = "role", .kind = ArgKind::kValue, .choices = {"agent", "coordinator", "both"}, .help = "agent (default), coordinator, or both (the rank-0 node)"});
  parser.Add({.name = "node_name", .kind = ArgKind::kValue, .help = "this node's name (default: the host name)"});
  parser.Add({.name = "listen", .kind = ArgKind::kAppend, .metavar = "ADDRESS", .help = "gRPC listen address, repeatable: unix:PATH (default unix:/run/accel/acceld.sock) or 127.0.0.1:PORT"});
  parser.Add({.name = "advertise_address", .kind = ArgKind::kValue, .help = "address the coordinator dials to reach this agent"});
  parser.Add({.name = "coordinator", .kind = ArgKind::kValue, .metavar = "ADDRESS", .help = "the coordinator's address (agents)"});
  parser.Add({.name = "log_root", .kind = ArgKind::kValue, .metavar = "DIR", .help = "workers' log files (default /var/log/accel)"});
  parser.Add({.name = "state_dir", .kind = ArgKind::kValue, .metavar = "DIR", .help = "the coordinator's job records (default /var/lib/accel)"});
  parser.Add({.name = "heartbeat_interval", .kind = ArgKind::kValue, .type = ArgType::kFloat, .metavar = "SECONDS", .help = "agent heartbeat interval (default 1)"});
  parser.Add({.name = "heartbeat_timeout", .kind = ArgKind::kValue, .type = ArgType::kFloat, .metavar = "SECONDS", .help = "a node without heartbeats for this long is lost (default 5)"});
  parser.Add({.name = "join_timeout", .kind = ArgKind::kValue, .type = ArgType::kFloat, .metavar = "SECONDS", .help = "coordinator: how long a job waits for its minimum number of nodes (default 600)"});
  parser.Add({.name = "last_call", .kind = ArgKind::kValue, .type = ArgType::kFloat, .metavar = "SECONDS", .help = "coordinator: once the minimum is there, how long to wait for more nodes, up to the maximum (default 30)"});
  parser.Add({.name = "metrics_port", .kind = ArgKind::kValue, .type = ArgType::kInt, .help = "port of Prometheus /metrics and /healthz (0: off)"});
  parser.Add({.name = "metrics_address", .kind = ArgKind::kValue, .metavar = "ADDRESS", .help = "interface /metrics listens on (default 127.0.0.1)"});
  parser.Add({.name = "metrics_retention", .kind = ArgKind::kValue, .type = ArgType::kFloat, .metavar = "SECONDS", .help = "how long a finished job's worker series stay in /metrics (default 300)"});
  parser.Add({.name = "tls_cert", .kind = ArgKind::kValue, .metavar = "PEM", .help = "this daemon's TLS certificate chain: TLS on every TCP listener and outgoing call"});
  parser.Add({.name = "tls_key", .kind = ArgKind::kValue, .metavar = "PEM", .help = "its private key"});
  parser.Add({.name = "tls_ca", .kind = ArgKind::kValue, .metavar = "PEM", .help = "the cluster CA: client certificates are required and verified against it"});
  parser.Add({.name = "identity_map", .kind = ArgKind::kValue, .metavar = "FILE", .help = "lines 'CERTIFICATE-CN USER' (USER @node: another acceld)"});
  parser.Add({.name = "token_file", .kind = ArgKind::kValue, .metavar = "FILE", .help = "accepted bearer tokens, lines 'TOKEN USER' (mode 0600)"});
  parser.Add({.name = "node_token_file", .kind = ArgKind::kValue, .metavar = "FILE", .help = "the token this daemon presents to other daemons"});
  parser.Add({.name = "admin_group", .kind = ArgKind::kValue, .metavar = "GROUP", .help = "members see and cancel every user's jobs"});
  parser.Add({.name = "socket_group", .kind = ArgKind::kValue, .metavar = "GROUP", .help = "group of the unix sockets (mode 0660)"});
  parser.Add({.name = "slurm_integration", .kind = ArgKind::kValue, .choices = {"true", "false"}, .help = "run only jobs of the node's current SLURM allocation's owner (default false)"});
  return parser;
}

absl::Status Bad(std::string_view source, std::string_view key, std::string_view value, std::string_view allowed) {
  return absl::InvalidArgumentError(common::StrCat(source, ": ", key, ": invalid value '", value, "'; expected ", allowed));
}

absl::Status SetRole(AcceldConfig& config, std::string_view source, const std::string& value) {
  if (value == "agent") {
    config.role = AcceldRole::kAgent;
  } else if (value == "coordinator") {
    config.role = AcceldRole::kCoordinator;
  } else if (value == "both") {
    config.role = AcceldRole::kBoth;
  } else {
    return Bad(source, "role", value, "agent, coordinator or both");
  }
  return absl::OkStatus();
}

absl::Status SetSeconds(absl::Duration& out, std::string_view source, std::string_view key, const std::string& value) {
  const auto seconds = common::ParseDouble(value);
  if (!seconds || *seconds <= 0 || *seconds > 3600) return Bad(source, key, value, "seconds > 0");
  out = absl::Seconds(*seconds);
  return absl::OkStatus();
}

// One key from the file or a flag, by name.
absl::Status Apply(AcceldConfig& config, std::string_view source, const std::string& key,
                   const std::vector<std::string>& values) {
  const std::string& value = values.back();
  if (key == "role") return SetRole(config, source, value);
  if (key == "node_name") {
    config.node_name = value;
  } else if (key == "listen") {
    config.listen = values;
  } else if (key == "advertise_address") {
    config.advertise_address = value;
  } else if (key == "coordinator") {
    config.coordinator = value;
  } else if (key == "log_root") {
    config.log_root = value;
  } else if (key == "state_dir") {
    config.state_dir = value;
  } else if (key == "heartbeat_interval") {
    return SetSeconds(config.heartbeat_interval, source, key, value);
  } else if (key == "heartbeat_timeout") {
    return SetSeconds(config.heartbeat_timeout, source, key, value);
  } else if (key == "join_timeout") {
    return SetSeconds(config.join_timeout, source, key, value);
  } else if (key == "last_call") {
    const auto seconds = common::ParseDouble(value);
    if (!seconds || *seconds < 0 || *seconds > 3600) return Bad(source, key, value, "seconds >= 0");
    config.last_call = absl::Seconds(*seconds);
  } else if (key == "metrics_port") {
    const auto port = common::ParseInt64(value);
    if (!port || *port < 0 || *port > 65535) return Bad(source, key, value, "a port from 0 to 65535");
    config.metrics_port = static_cast<int>(*port);
  } else if (key == "metrics_address") {
    if (value.empty()) return Bad(source, key, value, "an IP address");
    config.metrics_address = value;
  } else if (key == "metrics_retention") {
    const auto seconds = common::ParseDouble(value);
    if (!seconds || *seconds < 0 || *seconds > 7 * 86400) return Bad(source, key, value, "seconds from 0 to 604800");
    config.metrics_retention = absl::Seconds(*seconds);
  } else if (key == "tls_cert") {
    config.tls_cert = value;
  } else if (key == "tls_key") {
    config.tls_key = value;
  } else if (key == "tls_ca") {
    config.tls_ca = value;
  } else if (key == "identity_map") {
    config.identity_map = value;
  } else if (key == "token_file") {
    config.token_file = value;
  } else if (key == "node_token_file") {
    config.node_token_file = value;
  } else if (key == "admin_group") {
    config.admin_group = value;
  } else if (key == "socket_group") {
    config.socket_group = value;
  } else if (key == "slurm_integration") {
    if (value != "true" && value != "false" && value != "True" && value != "False") return Bad(source, key, value, "true or false");
    config.slurm_integration = value == "true" || value == "True";
  } else {
    return absl::InvalidArgumentError(common::StrCat(source, ": unknown key '", key, "'"));
  }
  return absl::OkStatus();
}

absl::Status LoadFile(AcceldConfig& config, const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(common::StrCat("cannot read config file ", path));
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = common::ParseYaml(text.str());
  if (!parsed.ok()) return absl::InvalidArgumentError(common::StrCat(path, ": ", parsed.status().message()));
  if (parsed->is_null()) return absl::OkStatus();
  if (!parsed->is_object()) return absl::InvalidArgumentError(common::StrCat(path, ": expected a mapping of keys to values"));
  for (const auto& [key, value] : parsed->items()) {
    std::vector<std::string> values;
    if (value.is_array()) {
      for (const auto& item : value) values.push_back(common::PythonStr(item));
    } else if (value.is_string() || value.is_number() || value.is_boolean()) {
      values.push_back(common::PythonStr(value));
    } else {
      return Bad(path, key, value.dump(-1, ' ', false, common::ConfigValue::error_handler_t::replace),
                 "a string, a number or a list of strings");
    }
    if (values.empty()) return Bad(path, key, "[]", "at least one value");
    RETURN_IF_ERROR(Apply(config, path, key, values));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AcceldCommandLine> ParseAcceldCommandLine(std::span<const std::string> args) {
  const common::ArgParser parser = MakeParser();
  ASSIGN_OR_RETURN(const common::ParsedArgs parsed, parser.Parse(args));
  AcceldCommandLine command_line;
  command_line.help = parsed.help;
  command_line.version = parsed.Flag("version");
  if (command_line.help || command_line.version) return command_line;
  AcceldConfig& config = command_line.config;
  if (auto path = parsed.Value("config")) RETURN_IF_ERROR(LoadFile(config, *path));
  for (const auto& [key, value] : parsed.values) {
    if (key != "config") RETURN_IF_ERROR(Apply(config, "acceld", key, {value}));
  }
  for (const auto& [key, values] : parsed.lists) RETURN_IF_ERROR(Apply(config, "acceld", key, values));
  if (config.node_name.empty()) config.node_name = common::HostName();
  if (config.heartbeat_timeout <= config.heartbeat_interval) {
    return absl::InvalidArgumentError(common::StrCat("acceld: heartbeat_timeout (", absl::FormatDuration(config.heartbeat_timeout),
                                                     ") must be longer than heartbeat_interval (",
                                                     absl::FormatDuration(config.heartbeat_interval), ")"));
  }
  if (config.advertise_address.empty()) {
    config.advertise_address = config.listen.front();
    for (const auto& address : config.listen) {
      if (!address.starts_with("unix:")) {
        config.advertise_address = address;
        break;
      }
    }
  }
  if (config.role == AcceldRole::kAgent && config.coordinator.empty()) {
    return absl::InvalidArgumentError("acceld: an agent needs --coordinator ADDRESS (or role: both on the rank-0 node)");
  }
  RETURN_IF_ERROR(ValidateListenAddresses(config));
  return command_line;
}

std::string AcceldUsage() { return MakeParser().Help(); }

bool IsLoopbackListenAddress(std::string_view address) {
  return address.starts_with("127.") || address.starts_with("localhost:") || address.starts_with("[::1]:");
}

absl::Status ValidateListenAddresses(const AcceldConfig& config) {
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return absl::InvalidArgumentError("acceld: tls_cert and tls_key: give both or neither");
  }
  const bool tls = !config.tls_cert.empty();
  if (!config.identity_map.empty() && (!tls || config.tls_ca.empty())) {
    return absl::InvalidArgumentError("acceld: identity_map (client certificates) needs tls_cert, tls_key and tls_ca");
  }
  const bool clients_authenticated = !config.identity_map.empty() || !config.token_file.empty();
  for (const auto& address : config.listen) {
    if (address.starts_with("unix:") || IsLoopbackListenAddress(address)) continue;
    if (tls && clients_authenticated) continue;
    return absl::FailedPreconditionError(common::StrCat(
        "acceld: refusing to listen on ", address, ": a non-loopback address needs TLS (tls_cert, tls_key) and client ",
        "authentication (tls_ca for client certificates, or token_file for bearer tokens)"));
  }
  return absl::OkStatus();
}

}  // namespace accel::daemon
