// LineFramer: turns one worker stream's raw bytes into whole console lines with a rank prefix.
//
// Why: several workers share one console. Writing whole lines, each inside a single write(), is what
// keeps one worker's line from being cut by another's; the prefix says whose line it is.
//
// Rules (framing mode):
//   * "text\n" and "text\r\n" are lines; each is emitted as prefix + text + its terminator.
//   * "text\r" (a carriage-return progress update, as tqdm writes) is emitted as prefix + text + "\n",
//     so each update is a readable line of its own instead of overwriting other workers' lines. Empty
//     "\r" segments are dropped (tqdm starts every update with '\r').
//   * A partial line is held until its terminator arrives. FlushPartial() emits it (with a '\n'
//     appended) when the caller decides it waited long enough; a partial that reaches
//     `max_partial_bytes` is emitted at once, so one endless line cannot grow memory without bound.
// Passthrough mode (no framing: a single worker with no prefix) emits bytes unchanged and holds
// nothing, so a lone worker's console output is byte-for-byte what it wrote.
//
// Not thread-safe; owned by one LogTee on the loop thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace accel::agent {

class LineFramer {
 public:
  static constexpr size_t kDefaultMaxPartialBytes = 64 * 1024;

  /// Framing mode with `prefix` (may be empty: whole lines, no prefix).
  explicit LineFramer(std::string prefix, size_t max_partial_bytes = kDefaultMaxPartialBytes);
  /// Passthrough mode.
  static LineFramer Passthrough();

  /// Appends the console text that `data` completes to `*out`.
  void Feed(std::string_view data, std::string* out);
  /// Appends the held partial line (prefix + text + '\n') to `*out`; returns false if nothing was held.
  bool FlushPartial(std::string* out);
  bool has_partial() const { return pending_cr_ || !partial_.empty(); }
  bool passthrough() const { return passthrough_; }

 private:
  LineFramer(bool passthrough, std::string prefix, size_t max_partial_bytes);
  void Emit(std::string_view text, std::string_view terminator, std::string* out);

  bool passthrough_;
  std::string prefix_;
  size_t max_partial_bytes_;
  std::string partial_;
  // A '\r' ended the last Feed(): it is either a progress update or the first half of "\r\n".
  bool pending_cr_ = false;
};

}  // namespace accel::agent
