// An immutable snapshot of environment variables.
//
// Domain code never calls getenv(): whoever starts the program takes a snapshot once (FromProcess) and
// passes it down, so tests can hand in any environment they like and nothing changes under a running
// launcher.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace accel::common {

class Environment {
 public:
  Environment() = default;
  explicit Environment(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {}

  /// The calling process's environment (environ) at the time of the call.
  static Environment FromProcess();

  /// The value of `name`, or nullopt when it is not set. An empty value counts as set.
  std::optional<std::string> Get(std::string_view name) const;
  /// The value of `name` when it is set and not empty.
  std::optional<std::string> GetNonEmpty(std::string_view name) const;
  bool Has(std::string_view name) const { return vars_.find(std::string(name)) != vars_.end(); }

  void Set(std::string name, std::string value) { vars_[std::move(name)] = std::move(value); }
  void Unset(std::string_view name) { vars_.erase(std::string(name)); }

  const std::map<std::string, std::string>& vars() const { return vars_; }
  /// "KEY=VALUE" strings, sorted by key: the form execve() takes.
  std::vector<std::string> ToEnvp() const;

 private:
  std::map<std::string, std::string> vars_;
};

}  // namespace accel::common
