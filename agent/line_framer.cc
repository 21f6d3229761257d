#include "agent/line_framer.h"

#include <algorithm>
#include <cstring>

namespace accel::agent {

LineFramer::LineFramer(std::string prefix, size_t max_partial_bytes)
    : LineFramer(false, std::move(prefix), max_partial_bytes) {}

LineFramer::LineFramer(bool passthrough, std::string prefix, size_t max_partial_bytes)
    : passthrough_(passthrough),
      prefix_(std::move(prefix)),
      max_partial_bytes_(max_partial_bytes == 0 ? 1 : max_partial_bytes) {}

namespace {

// The first '\r' or '\n' at or after `pos`, or npos. Two memchr scans (vectorized) instead of
// find_first_of, which compares every byte against the set one by one: this is the tee's hot loop.
size_t FindLineBreak(std::string_view data, size_t pos) {
  const char* begin = data.data() + pos;
  const size_t size = data.size() - pos;
  const void* newline = std::memchr(begin, '\n', size);
  const size_t limit = newline != nullptr ? static_cast<size_t>(static_cast<const char*>(newline) - begin) : size;
  const void* carriage_return = std::memchr(begin, '\r', limit);
  if (carriage_return != nullptr) return pos + static_cast<size_t>(static_cast<const char*>(carriage_return) - begin);
  return newline != nullptr ? pos + limit : std::string_view::npos;
}

}  // namespace

LineFramer LineFramer::Passthrough() { return LineFramer(true, "", kDefaultMaxPartialBytes); }

void LineFramer::Emit(std::string_view text, std::string_view terminator, std::string* out) {
  out->append(prefix_);
  out->append(text);
  out->append(terminator);
}

void LineFramer::Feed(std::string_view data, std::string* out) {
  if (passthrough_) {
    out->append(data);
    return;
  }
  size_t pos = 0;
  if (pending_cr_ && !data.empty()) {
    pending_cr_ = false;
    if (data[0] == '\n') {
      Emit(partial_, "\r\n", out);
      partial_.clear();
      pos = 1;
    } else if (!partial_.empty()) {
      Emit(partial_, "\n", out);
      partial_.clear();
    }
  }
  while (pos < data.size()) {
    const size_t end = FindLineBreak(data, pos);
    if (end == std::string_view::npos) {
      // Take at most what fits in the partial buffer; emit a full buffer as a forced line.
      while (pos < data.size()) {
        if (partial_.size() >= max_partial_bytes_) {
          Emit(partial_, "\n", out);
          partial_.clear();
        }
        const size_t take = std::min(data.size() - pos, max_partial_bytes_ - partial_.size());
        partial_.append(data.substr(pos, take));
        pos += take;
        if (partial_.size() >= max_partial_bytes_) {
          Emit(partial_, "\n", out);
          partial_.clear();
        }
      }
      break;
    }
    const std::string_view piece = data.substr(pos, end - pos);
    if (data[end] == '\n') {
      if (partial_.empty()) {
        Emit(piece, "\n", out);
      } else {
        partial_.append(piece);
        Emit(partial_, "\n", out);
        partial_.clear();
      }
      pos = end + 1;
      continue;
    }
    // '\r': a line ending only if '\n' follows; otherwise a progress update.
    if (end + 1 == data.size()) {
      partial_.append(piece);
      pending_cr_ = true;
      pos = end + 1;
      break;
    }
    partial_.append(piece);
    if (data[end + 1] == '\n') {
      Emit(partial_, "\r\n", out);
      pos = end + 2;
    } else {
      if (!partial_.empty()) Emit(partial_, "\n", out);
      pos = end + 1;
    }
    partial_.clear();
  }
}

bool LineFramer::FlushPartial(std::string* out) {
  if (!has_partial()) return false;
  pending_cr_ = false;
  if (partial_.empty()) return false;  // A lone '\r': an empty progress update, dropped.
  Emit(partial_, "\n", out);
  partial_.clear();
  return true;
}

}  // namespace accel::agent
