#include "common/environment.h"

extern char** environ;  // NOLINT: POSIX global, read once here.

namespace accel::common {

Environment Environment::FromProcess() {
  std::map<std::string, std::string> vars;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    vars.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return Environment(std::move(vars));
}

std::optional<std::string> Environment::Get(std::string_view name) const {
  auto it = vars_.find(std::string(name));
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Environment::GetNonEmpty(std::string_view name) const {
  auto value = Get(name);
  if (!value || value->empty()) return std::nullopt;
  return value;
}

std::vector<std::string> Environment::ToEnvp() const {
  std::vector<std::string> envp;
  envp.reserve(vars_.size());
  for (const auto& [key, value] : vars_) envp.push_back(key + "=" + value);
  return envp;
}

}  // namespace accel::common
