#include "agent/orphan_reaper.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>

#include "common/strings.h"
#include "common/event_loop.h"

namespace accel::agent {
namespace {

struct ProcStat {
  char state = '?';
  pid_t ppid = 0;
  pid_t session = 0;
};

// Parses /proc/<pid>/stat: "pid (comm) state ppid pgrp session ...". comm may contain spaces and
// parentheses, so fields are counted from the last ')'.
bool ReadProcStat(pid_t pid, ProcStat* stat) {
  std::ifstream in(common::StrCat("/proc/", pid, "/stat"));
  std::string text;
  if (!std::getline(in, text)) return false;
  const size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return false;
  std::vector<std::string_view> fields = common::StrSplit(std::string_view(text).substr(close + 2), ' ');
  if (fields.size() < 4 || fields[0].empty()) return false;
  stat->state = fields[0][0];
  const std::optional<int64_t> ppid = common::ParseInt64(fields[1]);
  const std::optional<int64_t> session = common::ParseInt64(fields[3]);
  if (!ppid || !session) return false;
  stat->ppid = static_cast<pid_t>(*ppid);
  stat->session = static_cast<pid_t>(*session);
  return true;
}

std::vector<std::string> ListDir(const char* path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path);
  if (dir == nullptr) return names;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] >= '0' && entry->d_name[0] <= '9') names.emplace_back(entry->d_name);
  }
  ::closedir(dir);
  return names;
}

}  // namespace

std::vector<pid_t> ListChildProcesses() {
  std::vector<pid_t> children;
  bool have_children_files = false;
  for (const std::string& tid : ListDir("/proc/self/task")) {
    std::ifstream in(common::StrCat("/proc/self/task/", tid, "/children"));
    if (!in) continue;
    have_children_files = true;
    pid_t pid = 0;
    while (in >> pid) children.push_back(pid);
  }
  if (have_children_files) return children;

  const pid_t self = ::getpid();
  for (const std::string& name : ListDir("/proc")) {
    const std::optional<int64_t> pid = common::ParseInt64(name);
    ProcStat stat;
    if (pid && ReadProcStat(static_cast<pid_t>(*pid), &stat) && stat.ppid == self) {
      children.push_back(static_cast<pid_t>(*pid));
    }
  }
  return children;
}

std::vector<OrphanReaper::Orphan> OrphanReaper::FindOrphans() const {
  std::vector<Orphan> orphans;
  if (sessions_.empty()) return orphans;
  for (pid_t pid : ListChildProcesses()) {
    if (sessions_.contains(pid)) continue;  // A worker (session leader): its WorkerGroup owns it.
    ProcStat stat;
    if (!ReadProcStat(pid, &stat) || !sessions_.contains(stat.session)) continue;
    orphans.push_back(Orphan{pid, stat.state == 'Z'});
  }
  return orphans;
}

int OrphanReaper::ReapZombies() {
  int reaped = 0;
  for (const Orphan& orphan : FindOrphans()) {
    if (orphan.zombie && ::waitpid(orphan.pid, nullptr, WNOHANG) == orphan.pid) ++reaped;
  }
  return reaped;
}

int OrphanReaper::KillAll(absl::Duration timeout) {
  std::vector<Orphan> orphans = FindOrphans();
  const int found = static_cast<int>(orphans.size());
  for (const Orphan& orphan : orphans) {
    if (!orphan.zombie) ::kill(orphan.pid, SIGKILL);
  }
  const absl::Duration deadline = common::EventLoop::MonotonicNow() + timeout;
  while (!orphans.empty()) {
    std::vector<Orphan> left;
    for (const Orphan& orphan : orphans) {
      const pid_t r = ::waitpid(orphan.pid, nullptr, WNOHANG);
      if (r == 0) left.push_back(orphan);  // Still dying (SIGKILL takes effect asynchronously).
    }
    orphans.swap(left);
    if (orphans.empty() || common::EventLoop::MonotonicNow() >= deadline) break;
    ::usleep(1000);
  }
  return found;
}

}  // namespace accel::agent
