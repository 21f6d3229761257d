#include "agent/session_guard.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/strings.h"
#include "spdlog/spdlog.h"

namespace accel::agent {
namespace {

// --- Guard side: runs in the forked child; async-signal-safe calls and pre-allocated memory only. ---

struct GuardMemory {
  pid_t* sessions;      // kMaxSessions entries
  char* buffer;         // kBufferSize bytes, for /proc reads
};
constexpr size_t kBufferSize = 8192;
constexpr int kKillPasses = 50;  // each pass finds what forked during the previous one

// Parses a decimal number at *p, advancing it; -1 if there is none.
long ParseNumber(const char** p, const char* end) {
  long value = -1;
  while (*p < end && **p >= '0' && **p <= '9') {
    value = (value < 0 ? 0 : value * 10) + (**p - '0');
    ++*p;
  }
  return value;
}

// The session id of `pid` from /proc/<pid>/stat ("pid (comm) state ppid pgrp session ..."); -1 if
// unreadable, and for a zombie, which is already dead (kill() would still succeed on it, and where
// nobody reaps it every pass would find it again).
long SessionOf(const char* pid_text, char* buffer) {
  char path[64] = "/proc/";
  size_t n = 6;
  for (const char* c = pid_text; *c != '\0' && n < sizeof(path) - 6; ++c) path[n++] = *c;
  std::memcpy(path + n, "/stat", 6);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const ssize_t got = ::read(fd, buffer, kBufferSize - 1);
  ::close(fd);
  if (got <= 0) return -1;
  const char* end = buffer + got;
  const char* p = end;
  while (p > buffer && p[-1] != ')') --p;  // comm may hold ')': the last one ends it
  if (p == buffer) return -1;
  // p now points after ')': " state ppid pgrp session"
  for (int field = 0; field < 4; ++field) {
    while (p < end && *p == ' ') ++p;
    if (field == 0 && p < end && *p == 'Z') return -1;
    if (field == 3) return ParseNumber(&p, end);
    while (p < end && *p != ' ') ++p;
  }
  return -1;
}

// One pass over /proc: SIGKILLs every process whose session is watched. Returns how many it signalled.
int KillWatchedSessions(const GuardMemory& memory, size_t count) {
  const int proc = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) return 0;
  alignas(8) char entries[4096];
  int killed = 0;
  for (;;) {
    const long got = ::syscall(SYS_getdents64, proc, entries, sizeof(entries));
    if (got <= 0) break;
    for (long offset = 0; offset < got;) {
      // struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
      unsigned short reclen;
      std::memcpy(&reclen, entries + offset + 16, sizeof(reclen));
      const char* name = entries + offset + 19;
      offset += reclen;
      if (name[0] < '0' || name[0] > '9') continue;
      const long session = SessionOf(name, memory.buffer);
      if (session <= 0) continue;
      for (size_t i = 0; i < count; ++i) {
        if (memory.sessions[i] != session) continue;
        const char* p = name;
        const long pid = ParseNumber(&p, name + 32);
        if (pid > 0 && ::kill(static_cast<pid_t>(pid), SIGKILL) == 0) ++killed;
        break;
      }
    }
  }
  ::close(proc);
  return killed;
}

[[noreturn]] void RunGuard(int socket, const GuardMemory& memory) {
  ::setsid();  // out of the launcher's process group: a Ctrl-C or a killpg() aimed at it misses the guard
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::sigaction(sig, &ignore, nullptr);
  // Hold nothing of the launcher's: its listening sockets, the workers' pipes, its working directory.
  if (socket > 0) ::syscall(SYS_close_range, 0u, static_cast<unsigned>(socket - 1), 0u);
  if (::syscall(SYS_close_range, static_cast<unsigned>(socket + 1), ~0u, 0u) != 0) {
    for (int fd = 0; fd < 65536; ++fd) {  // kernels before 5.9
      if (fd != socket) ::close(fd);
    }
  }
  if (::chdir("/") != 0) {
    // Staying in the old working directory only keeps it busy.
  }

  size_t count = 0;
  char bytes[4096];
  size_t pending = 0;  // bytes of a pid split across reads
  for (;;) {
    const ssize_t got = ::read(socket, bytes + pending, sizeof(bytes) - pending);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    const size_t total = pending + static_cast<size_t>(got);
    size_t used = 0;
    for (; used + sizeof(pid_t) <= total; used += sizeof(pid_t)) {
      pid_t session;
      std::memcpy(&session, bytes + used, sizeof(session));
      if (count < SessionGuard::kMaxSessions) memory.sessions[count++] = session;
    }
    pending = total - used;
    std::memmove(bytes, bytes + used, pending);
  }
  for (int pass = 0; pass < kKillPasses && count > 0; ++pass) {
    if (KillWatchedSessions(memory, count) == 0) break;
    const timespec pause{0, 5 * 1000 * 1000};
    ::nanosleep(&pause, nullptr);
  }
  ::_exit(0);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SessionGuard>> SessionGuard::Start() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::InternalError(common::StrCat("socketpair: ", std::strerror(errno)));
  }
  common::UniqueFd ours(fds[0]);
  common::UniqueFd theirs(fds[1]);
  // Allocated before fork(): the child must not call malloc.
  std::vector<pid_t> sessions(kMaxSessions);
  std::vector<char> buffer(kBufferSize);
  const GuardMemory memory{sessions.data(), buffer.data()};
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(common::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) RunGuard(theirs.get(), memory);
  return std::unique_ptr<SessionGuard>(new SessionGuard(pid, std::move(ours)));
}

SessionGuard::~SessionGuard() {
  socket_.Reset();
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

void SessionGuard::Watch(pid_t session) {
  if (++watched_ > kMaxSessions) {
    if (watched_ == kMaxSessions + 1) {
      spdlog::warn("session guard: more than {} worker sessions; later ones are not guarded", kMaxSessions);
    }
    return;
  }
  const ssize_t sent = ::send(socket_.get(), &session, sizeof(session), MSG_NOSIGNAL);
  if (sent != static_cast<ssize_t>(sizeof(session))) {
    spdlog::warn("session guard: cannot record session {}: {}", session, std::strerror(errno));
  }
}

}  // namespace accel::agent
