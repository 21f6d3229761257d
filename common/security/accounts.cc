#include "common/security/accounts.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/strings.h"

namespace accel::common {
namespace {

absl::StatusOr<Account> FromPasswd(const passwd& entry) {
  Account account;
  account.uid = entry.pw_uid;
  account.gid = entry.pw_gid;
  account.name = entry.pw_name;
  account.home = entry.pw_dir ? entry.pw_dir : "/";
  int count = 32;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  while (getgrouplist(entry.pw_name, entry.pw_gid, groups.data(), &count) < 0) {
    if (count > 65536) return absl::InternalError(StrCat("getgrouplist(", entry.pw_name, "): too many groups"));
    groups.resize(static_cast<size_t>(count) * 2);
    count = static_cast<int>(groups.size());
  }
  groups.resize(static_cast<size_t>(count));
  account.groups = std::move(groups);
  return account;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

absl::StatusOr<Account> LookupAccount(std::string_view name) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  const std::string key(name);
  if (getpwnam_r(key.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return absl::NotFoundError(StrCat("no local account named '", name, "'"));
  }
  return FromPasswd(entry);
}

absl::StatusOr<Account> LookupAccount(uid_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return absl::NotFoundError(StrCat("no local account with uid ", uid));
  }
  return FromPasswd(entry);
}

absl::StatusOr<gid_t> LookupGroup(std::string_view name) {
  group entry{};
  group* found = nullptr;
  std::vector<char> buffer(65536);
  const std::string key(name);
  if (getgrnam_r(key.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return absl::NotFoundError(StrCat("no local group named '", name, "'"));
  }
  return entry.gr_gid;
}

absl::StatusOr<IdentityTable> IdentityTable::Parse(std::string_view text, std::string_view what, size_t min_key_bytes) {
  IdentityTable table;
  int number = 0;
  for (std::string_view line : StrSplit(text, '\n')) {
    ++number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const size_t space = line.find_last_of(" \t");
    if (space == std::string_view::npos) {
      return absl::InvalidArgumentError(StrCat(what, ":", number, ": expected 'KEY USER'"));
    }
    std::string_view key = line.substr(0, space);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    const std::string_view user = line.substr(space + 1);
    if (key.size() < min_key_bytes) {
      return absl::InvalidArgumentError(StrCat(what, ":", number, ": key shorter than ", min_key_bytes, " bytes"));
    }
    if (user.empty() || user.size() > 256) return absl::InvalidArgumentError(StrCat(what, ":", number, ": bad user"));
    for (const auto& [existing, unused] : table.entries_) {
      if (existing == key) return absl::InvalidArgumentError(StrCat(what, ":", number, ": duplicate key"));
    }
    table.entries_.emplace_back(std::string(key), std::string(user));
  }
  return table;
}

absl::StatusOr<IdentityTable> IdentityTable::Load(const std::string& path, std::string_view what, size_t min_key_bytes,
                                                  bool secret) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return absl::NotFoundError(StrCat(what, ": cannot read ", path));
  if (secret && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return absl::FailedPreconditionError(
        StrCat(what, ": ", path, " is readable by group or others; chmod 600 it (it holds secrets)"));
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(StrCat(what, ": cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), StrCat(what, " ", path), min_key_bytes);
}

std::optional<std::string> IdentityTable::Find(std::string_view key) const {
  std::optional<std::string> found;
  for (const auto& [entry_key, user] : entries_) {
    if (ConstantTimeEquals(entry_key, key) && !found) found = user;
  }
  return found;
}

}  // namespace accel::common
