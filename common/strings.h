// Small string helpers on std::string_view.
//
// Debian's Abseil is built without ABSL_USES_STD_STRING_VIEW, so absl::string_view is its own type and
// absl::StrCat/StrSplit do not take std::string_view. The project uses std::string_view throughout and
// keeps Abseil for Status, Time and synchronisation; these helpers cover the string work.
#pragma once

#include <charconv>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "fmt/format.h"

#if !defined(ABSL_USES_STD_STRING_VIEW)
// Lets StrCat and fmt take absl::Status::message() and other absl::string_view values.
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  auto format(absl::string_view text, fmt::format_context& context) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text.data(), text.size()), context);
  }
};
#endif

namespace accel::common {

/// Concatenates the fmt representation of every argument.
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (fmt::format_to(std::back_inserter(out), "{}", args), ...);
  return out;
}

/// Joins the items of `range` (anything fmt can format) with `separator`.
template <typename Range>
std::string StrJoin(const Range& range, std::string_view separator) {
  std::string out;
  bool first = true;
  for (const auto& item : range) {
    if (!first) out.append(separator);
    first = false;
    fmt::format_to(std::back_inserter(out), "{}", item);
  }
  return out;
}

/// Splits on every `delimiter`; empty pieces are kept ("a,,b" -> "a", "", "b"; "" -> "").
std::vector<std::string_view> StrSplit(std::string_view text, char delimiter);

std::string AsciiToLower(std::string_view text);
std::string AsciiToUpper(std::string_view text);
std::string_view StripWhitespace(std::string_view text);

/// The whole of `text` as a base-10 integer (optional leading sign), else nullopt.
std::optional<int64_t> ParseInt64(std::string_view text);
/// The whole of `text` as a decimal floating-point number, else nullopt.
std::optional<double> ParseDouble(std::string_view text);

/// accelerate's str_to_bool: y yes t true on 1 / n no f false off 0, any case.
std::optional<bool> ParseTruthString(std::string_view text);

}  // namespace accel::common
