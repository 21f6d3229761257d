#include "agent/process_table.h"

#include <dirent.h>
#include <signal.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/time/clock.h"

namespace accel::agent {
namespace {

bool ReadFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// `/proc/PID/stat`: "pid (comm) S ppid ..."; comm may hold spaces and parentheses.
bool ReadStat(const std::string& path, char& state, pid_t& ppid) {
  std::string text;
  if (!ReadFile(path, text)) return false;
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(text.substr(close + 1));
  long parent = 0;
  if (!(rest >> state >> parent)) return false;
  ppid = static_cast<pid_t>(parent);
  return true;
}

}  // namespace

std::vector<ProcessEntry> ProcProcessTable::FindByEnv(std::string_view name, std::string_view value) {
  std::vector<ProcessEntry> found;
  std::string wanted(name);
  wanted += '=';
  wanted += value;
  DIR* dir = ::opendir(proc_root_.c_str());
  if (dir == nullptr) return found;
  while (const dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    const std::string base = proc_root_ + "/" + entry->d_name;
    char state = '?';
    pid_t ppid = 0;
    if (!ReadStat(base + "/stat", state, ppid) || state == 'Z' || state == 'X') continue;
    std::string environ;
    if (!ReadFile(base + "/environ", environ)) continue;
    bool match = false;
    for (size_t start = 0; start < environ.size();) {
      size_t stop = environ.find('\0', start);
      if (stop == std::string::npos) stop = environ.size();
      if (std::string_view(environ).substr(start, stop - start) == wanted) {
        match = true;
        break;
      }
      start = stop + 1;
    }
    if (!match) continue;
    std::string cmdline;
    ReadFile(base + "/cmdline", cmdline);
    while (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    found.push_back(ProcessEntry{.pid = static_cast<pid_t>(pid), .command = cmdline});
  }
  ::closedir(dir);
  return found;
}

pid_t ProcProcessTable::ParentOf(pid_t pid) {
  char state = '?';
  pid_t ppid = 0;
  if (!ReadStat(proc_root_ + "/" + std::to_string(pid) + "/stat", state, ppid)) return 0;
  return ppid;
}

void ProcProcessTable::Signal(pid_t pid, int signal) { ::kill(pid, signal); }

std::vector<ProcessEntry> SweepProcesses(ProcessTable& table, std::string_view name, std::string_view value,
                                         const SweepOptions& options) {
  std::set<pid_t> spared;
  for (pid_t pid = options.self; pid > 1 && spared.insert(pid).second;) pid = table.ParentOf(pid);
  auto find = [&] {
    std::vector<ProcessEntry> left;
    for (auto& entry : table.FindByEnv(name, value)) {
      if (!spared.contains(entry.pid)) left.push_back(std::move(entry));
    }
    return left;
  };
  auto sleep = options.sleep ? options.sleep : [](absl::Duration d) { absl::SleepFor(d); };
  // Waits until nothing is left or `limit` passes, counting the time slept.
  auto wait_gone = [&](absl::Duration limit) {
    std::vector<ProcessEntry> left = find();
    for (absl::Duration waited; !left.empty() && waited < limit; waited += options.poll) {
      sleep(options.poll);
      left = find();
    }
    return left;
  };
  std::vector<ProcessEntry> left = find();
  if (left.empty()) return left;
  for (const auto& entry : left) table.Signal(entry.pid, SIGTERM);
  left = wait_gone(options.grace);
  if (left.empty()) return left;
  // Signal each round: a worker that forked after the first round is caught as well.
  for (int round = 0; round < 3 && !left.empty(); ++round) {
    for (const auto& entry : left) table.Signal(entry.pid, SIGKILL);
    left = wait_gone(options.kill_wait / 3);
  }
  return left;
}

}  // namespace accel::agent
