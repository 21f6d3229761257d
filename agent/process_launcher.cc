#include "agent/process_launcher.h"

#include <signal.h>
#include <string.h>

#include "common/strings.h"

namespace accel::agent {

std::string SignalName(int signal) {
  // sigabbrev_np (glibc >= 2.32) is thread-safe, unlike strsignal().
  if (const char* abbrev = ::sigabbrev_np(signal); abbrev != nullptr) return common::StrCat("SIG", abbrev);
  return common::StrCat("SIG", signal);
}

std::string ExitStatus::ToString() const {
  if (!error.empty()) return common::StrCat("exit code ", exit_code, " (", error, ")");
  if (signal != 0) return common::StrCat("signal ", signal, " (", SignalName(signal), ")");
  return common::StrCat("exit code ", exit_code);
}

}  // namespace accel::agent
