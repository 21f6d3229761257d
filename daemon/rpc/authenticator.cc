#include "daemon/rpc/authenticator.h"

#include <unistd.h>

#include <algorithm>

#include "common/security/socket_owner.h"
#include "common/strings.h"

namespace accel::daemon::rpc {
namespace {

absl::Status Unauthenticated(std::string message) { return absl::UnauthenticatedError(std::move(message)); }

std::optional<std::string> BearerToken(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::nullopt;
  const std::string value(it->second.data(), it->second.size());
  constexpr std::string_view kPrefix = "Bearer ";
  if (!value.starts_with(kPrefix)) return std::string();
  return value.substr(kPrefix.size());
}

std::string Property(const grpc::AuthContext& auth, const char* name) {
  auto values = auth.FindPropertyValues(name);
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}

}  // namespace

void PeerRegistry::Record(int fd, const ucred& credentials) {
  absl::MutexLock lock(&mu_);
  peers_[fd] = credentials;
}

std::optional<ucred> PeerRegistry::Find(int fd) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(fd);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

Authenticator::Authenticator(AuthenticatorOptions options) : options_(std::move(options)) {
  if (!options_.admin_group.empty()) {
    if (auto gid = common::LookupGroup(options_.admin_group); gid.ok()) admin_gid_ = *gid;
  }
}

bool Authenticator::IsAdmin(const common::Account& account) const {
  if (account.uid == 0) return true;
  return admin_gid_ && std::find(account.groups.begin(), account.groups.end(), *admin_gid_) != account.groups.end();
}

absl::StatusOr<common::Caller> Authenticator::FromUid(uid_t uid, gid_t gid, bool local, std::string via) const {
  common::Caller caller;
  caller.uid = uid;
  caller.gid = gid;
  caller.via = std::move(via);
  // A local process of root or of acceld's own account is part of the daemon's trust domain.
  caller.daemon = local && (uid == 0 || uid == ::geteuid());
  auto account = common::LookupAccount(uid);
  if (account.ok()) {
    caller.user = account->name;
    caller.gid = account->gid;
    caller.admin = IsAdmin(*account);
  } else {
    caller.user = common::StrCat("uid", uid);  // a container without a passwd entry: the uid still counts
    caller.admin = uid == 0;
  }
  return caller;
}

absl::StatusOr<common::Caller> Authenticator::FromUser(const std::string& user, std::string via) const {
  common::Caller caller;
  caller.via = std::move(via);
  if (user == common::kDaemonIdentity) {
    caller.user = user;
    caller.daemon = true;
    return caller;
  }
  auto account = common::LookupAccount(user);
  if (!account.ok()) return Unauthenticated(common::StrCat(caller.via, " maps to '", user, "', which has no local account"));
  caller.uid = account->uid;
  caller.gid = account->gid;
  caller.user = account->name;
  caller.admin = IsAdmin(*account);
  return caller;
}

absl::StatusOr<common::Caller> Authenticator::Authenticate(const grpc::ServerContextBase& context) const {
  const std::string peer = context.peer();
  if (peer.starts_with("fd:")) {
    const auto fd = common::ParseInt64(std::string_view(peer).substr(3));
    const auto credentials = fd ? peers_.Find(static_cast<int>(*fd)) : std::nullopt;
    if (!credentials) return Unauthenticated("unix socket peer without recorded credentials");
    return FromUid(credentials->uid, credentials->gid, /*local=*/true, "unix socket peer credentials");
  }
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  const std::string transport = auth ? Property(*auth, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME) : "";
  if (transport == "ssl") {
    if (auto token = BearerToken(context)) {
      const auto user = token->empty() ? std::nullopt : options_.tokens.Find(*token);
      if (!user) return Unauthenticated("bearer token not accepted");
      return FromUser(*user, "bearer token");
    }
    if (auth->IsPeerAuthenticated()) {
      const std::string cn = Property(*auth, GRPC_X509_CN_PROPERTY_NAME);
      const auto user = options_.certificate_identities.Find(cn);
      if (!user) return Unauthenticated(common::StrCat("client certificate CN=", cn, " is not in the identity map"));
      return FromUser(*user, common::StrCat("client certificate CN=", cn));
    }
    return Unauthenticated("TLS without a client certificate or a bearer token");
  }
  if (peer.starts_with("ipv4:") || peer.starts_with("ipv6:")) {
    std::string text = peer;
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"%5B", "["}, {"%5D", "]"}}) {
      for (size_t at = text.find(from); at != std::string::npos; at = text.find(from)) text.replace(at, from.size(), to);
    }
    const std::string_view rest = std::string_view(text).substr(5);  // "h:p" or "[h]:p"
    const size_t colon = rest.rfind(':');
    std::string host(rest.substr(0, colon == std::string_view::npos ? rest.size() : colon));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const auto port = colon == std::string_view::npos ? std::nullopt : common::ParseInt64(rest.substr(colon + 1));
    if (!common::IsLoopbackIp(host) || !port) {
      return Unauthenticated(common::StrCat("plaintext TCP from ", host, ": not loopback"));
    }
    const auto uid = common::LoopbackTcpPeerUid(host, static_cast<int>(*port), options_.tcp_ports, options_.proc_net);
    if (!uid) return Unauthenticated(common::StrCat("no owner found for the loopback connection from ", peer));
    auto account = common::LookupAccount(*uid);
    return FromUid(*uid, account.ok() ? account->gid : static_cast<gid_t>(-1), /*local=*/true,
                   "loopback socket owner");
  }
  return Unauthenticated(common::StrCat("cannot identify peer ", peer));
}

grpc::Status AuthError(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace accel::daemon::rpc
