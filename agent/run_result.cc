#include "agent/run_result.h"

#include <algorithm>

#include "common/strings.h"

namespace accel::agent {
namespace {

constexpr size_t kMaxRuleWidth = 60;
constexpr std::string_view kFieldIndent = "              ";  // Width of "  traceback : ".

std::string Indent(std::string_view text) {
  std::string trimmed(text);
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r')) trimmed.pop_back();
  std::string out;
  for (char c : trimmed) {
    out.push_back(c);
    if (c == '\n') out.append(kFieldIndent);
  }
  return out;
}

std::string FormatFailure(size_t index, const WorkerFailure& f) {
  std::string exit_field;
  if (f.pid < 0) {
    exit_field = common::StrCat(f.exit_code, " (not started)");
  } else if (f.signal != 0) {
    // torch prints the negative signal number; the name is added because nobody remembers numbers.
    exit_field = common::StrCat(-f.signal, " (", SignalName(f.signal), ", pid: ", f.pid, ")");
  } else {
    exit_field = common::StrCat(f.exit_code, " (pid: ", f.pid, ")");
  }

  std::string detail;
  if (!f.traceback.empty()) {
    detail = f.traceback;
  } else if (!f.message.empty()) {
    detail = f.message;
  } else if (f.signal != 0) {
    detail = common::StrCat("Signal ", f.signal, " (", SignalName(f.signal), ") received by PID ", f.pid);
  } else {
    detail = "To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html";
  }

  std::string out = common::StrCat(
      "[", index, "]:\n",
      "  time      : ", absl::FormatTime("%Y-%m-%d_%H:%M:%S", f.time, absl::LocalTimeZone()), "\n",
      "  host      : ", f.host.empty() ? "<unknown>" : f.host, "\n",
      "  rank      : ", f.global_rank, " (local_rank: ", f.local_rank, ")\n",
      "  exitcode  : ", exit_field, "\n",
      "  error_file: ", f.error_file_found ? f.error_file : "<N/A>", "\n");
  // The traceback normally ends with the message; show the message on its own when it would be lost.
  if (!f.traceback.empty() && !f.message.empty() && f.traceback.find(f.message) == std::string::npos) {
    out += common::StrCat("  message   : ", Indent(f.message), "\n");
  }
  out += common::StrCat("  traceback : ", Indent(detail));
  return out;
}

size_t WidestLine(std::string_view text) {
  size_t widest = 0;
  for (std::string_view line : common::StrSplit(text, '\n')) widest = std::max(widest, line.size());
  return widest;
}

}  // namespace

std::string FormatFailureSummary(const RunResult& result, std::string_view entrypoint) {
  if (result.failures.empty()) return "";
  const std::string title = common::StrCat(entrypoint, " FAILED");
  const std::string root = FormatFailure(0, result.failures[0]);
  std::vector<std::string> others;
  for (size_t i = 1; i < result.failures.size(); ++i) others.push_back(FormatFailure(i, result.failures[i]));
  const std::string others_text = others.empty() ? "  <NO_OTHER_FAILURES>" : common::StrJoin(others, "\n");

  const size_t width =
      std::min(kMaxRuleWidth, std::max({title.size(), WidestLine(root), WidestLine(others_text)}));
  const std::string border(width, '=');
  const std::string section(width, '-');
  return common::StrCat(border, "\n", title, "\n", section, "\n", "Failures:\n", others_text, "\n", section,
                      "\n", "Root Cause (first observed failure):\n", root, "\n", border, "\n");
}

std::string FormatFailureLine(const RunResult& result, std::string_view entrypoint) {
  if (result.failures.empty()) return "";
  const WorkerFailure& f = result.failures.front();
  const std::string how = f.pid < 0       ? common::StrCat("could not start (", f.message, ")")
                          : f.signal != 0 ? common::StrCat("was killed by ", SignalName(f.signal))
                                          : common::StrCat("exited with code ", f.exit_code);
  return common::StrCat(entrypoint, " FAILED: rank ", f.global_rank, " (local_rank ", f.local_rank, ") on ",
                        f.host.empty() ? "<unknown>" : f.host, " ", how, "\n");
}

}  // namespace accel::agent
