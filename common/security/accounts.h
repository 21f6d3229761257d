// Local accounts (the passwd and group databases) and the tables that map remote identities to them.
// No gRPC here: daemon/rpc/authenticator.h turns a call's transport facts into a Caller with these.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace accel::common {

/// A local account, with everything a worker needs to run as it.
struct Account {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
  std::string home;
  std::vector<gid_t> groups;  // supplementary groups (getgrouplist), including gid
};

/// getpwnam / getpwuid + getgrouplist. NotFound when there is no such account.
absl::StatusOr<Account> LookupAccount(std::string_view name);
absl::StatusOr<Account> LookupAccount(uid_t uid);
/// The gid of group `name`; NotFound when there is none.
absl::StatusOr<gid_t> LookupGroup(std::string_view name);

/// The user name that marks a cluster daemon (agent or coordinator) in an identity table.
inline constexpr std::string_view kDaemonIdentity = "@node";

/// A table from a remote identity (a certificate subject CN, or a bearer token) to a local user name
/// or kDaemonIdentity. File format, one entry a line: `KEY USER`, where USER is the last
/// whitespace-separated word and KEY everything before it (a CN may contain spaces); `#` starts a
/// comment line; blank lines are skipped.
class IdentityTable {
 public:
  /// Parses `text`; `what` names the file in errors ("identity_map /etc/accel/identities:3: ...").
  /// With `min_key_bytes`, shorter keys are refused (tokens must be long enough to be secret).
  static absl::StatusOr<IdentityTable> Parse(std::string_view text, std::string_view what, size_t min_key_bytes = 1);
  /// Reads and parses a file. A token table must not be readable by group or others.
  static absl::StatusOr<IdentityTable> Load(const std::string& path, std::string_view what, size_t min_key_bytes = 1,
                                            bool secret = false);

  /// The user of `key`; a token lookup compares every entry in constant time per entry.
  std::optional<std::string> Find(std::string_view key) const;
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

}  // namespace accel::common
