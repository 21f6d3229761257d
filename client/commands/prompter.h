// Prompter: the two kinds of question `accelerate config` asks, a typed field (`_ask_field`) and a
// choice menu (`_ask_options`, accelerate's BulletMenu), answered on a terminal or from piped stdin.
//
// Semantics kept from accelerate: an empty answer takes the default (when there is one); an answer
// the converter rejects prints a message and the question is asked again. A menu is answered with
// the choice's position (0-based, the digit keys of accelerate's menu) or its text; an empty answer
// takes the default position.
//
// Differences, on purpose: the menu is numbered rather than arrow-driven; every rejected answer
// prints a message (accelerate re-asks some fields silently); on piped input the questionnaire gives
// up after kMaxBadPipedAnswers rejected answers in a row instead of looping forever; and end of input
// is an error that names the question instead of a Python EOFError traceback.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status_macros.h"

namespace accel::client {

/// Turns one answer into a value. An error rejects the answer; its message is shown to the user
/// (e.g. "Please enter yes or no.") before the question is asked again.
template <typename T>
using AnswerConverter = std::function<absl::StatusOr<T>(std::string_view answer)>;

/// accelerate's `_convert_yes_no_to_bool`: yes / no in any case (surrounding blanks ignored).
absl::StatusOr<bool> ConvertYesNo(std::string_view answer);
/// Python's int() on the answer, limited to [min, max] (the values the config loader accepts).
AnswerConverter<int> IntegerIn(int min, int max);
/// Python's float() on the answer.
absl::StatusOr<double> ConvertFloat(std::string_view answer);
/// The answer verbatim (accelerate's `_ask_field` without a converter).
absl::StatusOr<std::string> ConvertText(std::string_view answer);

/// Asks questions on one input and one output stream.
///
/// Not thread-safe; borrows the streams, which must outlive it.
class Prompter {
 public:
  /// Rejected answers in a row that piped input may give to one question before Ask* fails.
  static constexpr int kMaxBadPipedAnswers = 3;

  /// \param interactive a terminal: answers are echoed by the terminal and a user may retry forever.
  ///        Otherwise each answer is one input line, echoed to `out` so the transcript reads well.
  Prompter(std::istream& in, std::ostream& out, bool interactive);

  /// `_ask_field`: shows `question` (no newline), reads one answer. An empty answer returns
  /// `default_value` when there is one; otherwise the answer goes through `convert`.
  /// \return the value; FailedPrecondition when input ends, InvalidArgument after too many rejected
  ///         piped answers.
  template <typename T>
  absl::StatusOr<T> AskField(std::string_view question, const AnswerConverter<T>& convert,
                             std::optional<T> default_value = std::nullopt);

  /// A yes/no field with accelerate's "Please enter yes or no." message.
  absl::StatusOr<bool> AskYesNo(std::string_view question, bool default_value);
  /// A free-text field; an empty answer gives `default_value` when set, else "".
  absl::StatusOr<std::string> AskText(std::string_view question,
                                      std::optional<std::string> default_value = std::nullopt);

  /// `_ask_options`: shows `question` and the numbered `options`, reads the choice.
  /// \return the chosen position in `options`; errors as for AskField.
  absl::StatusOr<size_t> AskOptions(std::string_view question, const std::vector<std::string>& options,
                                    size_t default_index = 0);

  /// Prints one line (accelerate's `print` between questions).
  void Print(std::string_view line);

 private:
  /// Shows `prompt` and reads one line (without its line ending); an error for ended input names
  /// `question` (the prompt itself by default).
  absl::StatusOr<std::string> ReadAnswer(std::string_view prompt, std::string_view question = {});
  /// Shows `message`, counts a rejected answer, and fails once piped input has given too many.
  absl::Status Reject(std::string_view question, std::string_view answer, std::string_view message,
                      int& rejected);

  std::istream& in_;
  std::ostream& out_;
  const bool interactive_;
};

template <typename T>
absl::StatusOr<T> Prompter::AskField(std::string_view question, const AnswerConverter<T>& convert,
                                     std::optional<T> default_value) {
  int rejected = 0;
  while (true) {
    ASSIGN_OR_RETURN(const std::string answer, ReadAnswer(question));
    if (default_value.has_value() && answer.empty()) return *default_value;
    absl::StatusOr<T> value = convert(answer);
    if (value.ok()) return *std::move(value);
    RETURN_IF_ERROR(Reject(question, answer, std::string(value.status().message()), rejected));
  }
}

}  // namespace accel::client
