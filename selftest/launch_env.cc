#include "selftest/launch_env.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>

namespace accel::selftest {
namespace {

std::optional<int> ParseInt(std::string_view text) {
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return text;
}

bool Truthy(const std::optional<std::string>& value) {
  if (!value) return false;
  const std::string text = Lower(*value);
  return text == "1" || text == "true" || text == "yes" || text == "y" || text == "t" || text == "on";
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

// Reads NAME as an int >= `minimum`; `fallback` when unset.
bool ReadInt(const GetEnv& get, const std::string& name, int fallback, int minimum, int* out, std::string* error) {
  const std::optional<std::string> text = get(name);
  if (!text) {
    *out = fallback;
    return true;
  }
  const std::optional<int> value = ParseInt(*text);
  if (!value || *value < minimum) {
    *error = name + "=" + *text + " is not an integer >= " + std::to_string(minimum);
    return false;
  }
  *out = *value;
  return true;
}

}  // namespace

std::optional<LaunchEnv> ParseLaunchEnv(const GetEnv& get, std::string* error) {
  LaunchEnv env;
  env.host = HostName();
  env.use_cpu = Truthy(get("ACCELERATE_USE_CPU"));
  env.agent_store = Truthy(get("TORCHELASTIC_USE_AGENT_STORE"));
  env.run_id = get("TORCHELASTIC_RUN_ID").value_or("");
  env.distributed = get("RANK").has_value() || get("WORLD_SIZE").has_value();
  if (!env.distributed) return env;
  for (const char* required : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) {
    if (!get(required)) {
      *error = std::string(required) + " is not set (a distributed launcher sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)";
      return std::nullopt;
    }
  }
  if (!ReadInt(get, "WORLD_SIZE", 1, 1, &env.world_size, error) || !ReadInt(get, "RANK", 0, 0, &env.rank, error) ||
      !ReadInt(get, "LOCAL_WORLD_SIZE", env.world_size, 1, &env.local_world_size, error) ||
      !ReadInt(get, "LOCAL_RANK", env.rank, 0, &env.local_rank, error) ||
      !ReadInt(get, "GROUP_RANK", 0, 0, &env.group_rank, error) ||
      !ReadInt(get, "GROUP_WORLD_SIZE", 1, 1, &env.group_world_size, error) ||
      !ReadInt(get, "MASTER_PORT", 0, 1, &env.master_port, error)) {
    return std::nullopt;
  }
  env.master_addr = *get("MASTER_ADDR");
  if (env.master_port > 65535) {
    *error = "MASTER_PORT=" + std::to_string(env.master_port) + " is not a port";
    return std::nullopt;
  }
  if (env.rank >= env.world_size) {
    *error = "RANK=" + std::to_string(env.rank) + " is not below WORLD_SIZE=" + std::to_string(env.world_size);
    return std::nullopt;
  }
  if (env.local_rank >= env.local_world_size) {
    *error = "LOCAL_RANK=" + std::to_string(env.local_rank) + " is not below LOCAL_WORLD_SIZE=" +
             std::to_string(env.local_world_size);
    return std::nullopt;
  }
  if (env.group_rank >= env.group_world_size) {
    *error = "GROUP_RANK=" + std::to_string(env.group_rank) + " is not below GROUP_WORLD_SIZE=" +
             std::to_string(env.group_world_size);
    return std::nullopt;
  }
  return env;
}

std::string SerializeLaunchEnv(const LaunchEnv& env) {
  std::ostringstream out;
  out << "RANK=" << env.rank << "\nWORLD_SIZE=" << env.world_size << "\nLOCAL_RANK=" << env.local_rank
      << "\nLOCAL_WORLD_SIZE=" << env.local_world_size << "\nGROUP_RANK=" << env.group_rank
      << "\nGROUP_WORLD_SIZE=" << env.group_world_size << "\nMASTER_ADDR=" << env.master_addr
      << "\nMASTER_PORT=" << env.master_port << "\nACCELERATE_USE_CPU=" << (env.use_cpu ? "True" : "False")
      << "\nTORCHELASTIC_RUN_ID=" << env.run_id << "\nHOST=" << env.host << "\n";
  return out.str();
}

std::optional<LaunchEnv> ParseSerializedLaunchEnv(std::string_view text) {
  std::map<std::string, std::string> values;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    values[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  LaunchEnv env;
  env.distributed = true;
  std::string error;
  const GetEnv get = [&](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  // The numbers as published, without the range checks: the point is to compare them.
  const std::pair<const char*, int*> fields[] = {
      {"RANK", &env.rank}, {"WORLD_SIZE", &env.world_size}, {"LOCAL_RANK", &env.local_rank},
      {"LOCAL_WORLD_SIZE", &env.local_world_size}, {"GROUP_RANK", &env.group_rank},
      {"GROUP_WORLD_SIZE", &env.group_world_size}, {"MASTER_PORT", &env.master_port}};
  for (const auto& [name, field] : fields) {
    const std::optional<std::string> value = get(name);
    const std::optional<int> number = value ? ParseInt(*value) : std::nullopt;
    if (!number) return std::nullopt;
    *field = *number;
  }
  env.master_addr = get("MASTER_ADDR").value_or("");
  env.use_cpu = get("ACCELERATE_USE_CPU").value_or("") == "True";
  env.run_id = get("TORCHELASTIC_RUN_ID").value_or("");
  env.host = get("HOST").value_or("");
  return env;
}

std::vector<std::string> CheckConsistency(const std::vector<LaunchEnv>& records, const LaunchEnv& self) {
  std::vector<std::string> problems;
  const std::string me = "rank " + std::to_string(self.rank);
  auto compare = [&](const char* name, auto field) {
    for (const LaunchEnv& other : records) {
      if (field(other) != field(self)) {
        std::ostringstream line;
        line << "rank " << other.rank << " has " << name << "=" << field(other) << ", " << me << " has " << name
             << "=" << field(self);
        problems.push_back(line.str());
      }
    }
  };
  compare("WORLD_SIZE", [](const LaunchEnv& e) { return e.world_size; });
  compare("MASTER_ADDR", [](const LaunchEnv& e) { return e.master_addr; });
  compare("MASTER_PORT", [](const LaunchEnv& e) { return e.master_port; });
  compare("GROUP_WORLD_SIZE", [](const LaunchEnv& e) { return e.group_world_size; });
  compare("TORCHELASTIC_RUN_ID", [](const LaunchEnv& e) { return e.run_id; });
  compare("ACCELERATE_USE_CPU", [](const LaunchEnv& e) { return std::string(e.use_cpu ? "True" : "False"); });
  if (static_cast<int>(records.size()) != self.world_size) {
    problems.push_back(std::to_string(records.size()) + " processes reached the store, " + me + " has WORLD_SIZE=" +
                       std::to_string(self.world_size));
  }

  // Global ranks: 0..WORLD_SIZE-1, once each.
  std::map<int, int> rank_count;
  for (const LaunchEnv& record : records) {
    ++rank_count[record.rank];
    if (record.rank < 0 || record.rank >= self.world_size) {
      problems.push_back("rank " + std::to_string(record.rank) + " is outside 0.." + std::to_string(self.world_size - 1));
    }
  }
  for (const auto& [rank, count] : rank_count) {
    if (count > 1) problems.push_back(std::to_string(count) + " processes have RANK=" + std::to_string(rank));
  }
  if (static_cast<int>(records.size()) == self.world_size) {
    for (int rank = 0; rank < self.world_size; ++rank) {
      if (!rank_count.contains(rank)) problems.push_back("no process has RANK=" + std::to_string(rank));
    }
  }

  // Per machine: one LOCAL_WORLD_SIZE, local ranks once each, global rank = machine base + local rank.
  std::map<int, std::vector<const LaunchEnv*>> machines;
  for (const LaunchEnv& record : records) machines[record.group_rank].push_back(&record);
  std::map<int, int> machine_base;
  int base = 0;
  for (const auto& [group, members] : machines) {
    machine_base[group] = base;
    base += members.front()->local_world_size;
  }
  for (const auto& [group, members] : machines) {
    const std::string machine = "GROUP_RANK=" + std::to_string(group);
    std::set<int> local_ranks;
    for (const LaunchEnv* record : members) {
      const std::string who = "rank " + std::to_string(record->rank);
      if (record->local_world_size != members.front()->local_world_size) {
        problems.push_back(who + " on " + machine + " has LOCAL_WORLD_SIZE=" + std::to_string(record->local_world_size) +
                           ", rank " + std::to_string(members.front()->rank) + " has " +
                           std::to_string(members.front()->local_world_size));
      }
      if (!local_ranks.insert(record->local_rank).second) {
        problems.push_back(who + " on " + machine + " repeats LOCAL_RANK=" + std::to_string(record->local_rank));
      }
      if (record->local_rank >= record->local_world_size) {
        problems.push_back(who + " has LOCAL_RANK=" + std::to_string(record->local_rank) + " >= LOCAL_WORLD_SIZE=" +
                           std::to_string(record->local_world_size));
      }
      if (record->rank != machine_base[group] + record->local_rank) {
        problems.push_back(who + " has LOCAL_RANK=" + std::to_string(record->local_rank) + " on " + machine +
                           ", whose ranks start at " + std::to_string(machine_base[group]));
      }
    }
    if (static_cast<int>(members.size()) != members.front()->local_world_size &&
        static_cast<int>(records.size()) == self.world_size) {
      problems.push_back(machine + " has " + std::to_string(members.size()) + " processes, LOCAL_WORLD_SIZE=" +
                         std::to_string(members.front()->local_world_size));
    }
  }
  std::sort(problems.begin(), problems.end());
  problems.erase(std::unique(problems.begin(), problems.end()), problems.end());
  return problems;
}

}  // namespace accel::selftest
