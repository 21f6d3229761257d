#include "client/commands/prompter.h"

#include <climits>
#include <string>
#include <utility>

#include "common/strings.h"

namespace accel::client {
namespace {

// The question as an error message quotes it: without the trailing ": " and blanks.
std::string QuestionForMessage(std::string_view question) {
  std::string_view text = common::StripWhitespace(question);
  while (!text.empty() && (text.back() == ':' || text.back() == ' ')) text.remove_suffix(1);
  return std::string(text);
}

}  // namespace

absl::StatusOr<bool> ConvertYesNo(std::string_view answer) {
  const std::string lower = common::AsciiToLower(common::StripWhitespace(answer));
  if (lower == "yes") return true;
  if (lower == "no") return false;
  return absl::InvalidArgumentError("Please enter yes or no.");
}

AnswerConverter<int> IntegerIn(int min, int max) {
  return [min, max](std::string_view answer) -> absl::StatusOr<int> {
    const std::optional<int64_t> value = common::ParseInt64(common::StripWhitespace(answer));
    if (!value) return absl::InvalidArgumentError("Please enter an integer.");
    if (*value < min || *value > max) {
      return absl::InvalidArgumentError(max == INT_MAX ? common::StrCat("Please enter an integer >= ", min, ".")
                                                       : common::StrCat("Please enter an integer from ", min,
                                                                        " to ", max, "."));
    }
    return static_cast<int>(*value);
  };
}

absl::StatusOr<double> ConvertFloat(std::string_view answer) {
  const std::optional<double> value = common::ParseDouble(common::StripWhitespace(answer));
  if (!value) return absl::InvalidArgumentError("Please enter a number.");
  return *value;
}

absl::StatusOr<std::string> ConvertText(std::string_view answer) { return std::string(answer); }

Prompter::Prompter(std::istream& in, std::ostream& out, bool interactive)
    : in_(in), out_(out), interactive_(interactive) {}

absl::StatusOr<bool> Prompter::AskYesNo(std::string_view question, bool default_value) {
  return AskField<bool>(question, ConvertYesNo, default_value);
}

absl::StatusOr<std::string> Prompter::AskText(std::string_view question, std::optional<std::string> default_value) {
  return AskField<std::string>(question, ConvertText, std::move(default_value));
}

absl::StatusOr<size_t> Prompter::AskOptions(std::string_view question, const std::vector<std::string>& options,
                                            size_t default_index) {
  if (options.empty() || default_index >= options.size()) {
    return absl::InternalError(common::StrCat("menu \"", QuestionForMessage(question), "\" has no valid default"));
  }
  const std::string select_prompt =
      common::StrCat("Please select a choice by its number or its text, and press enter [", default_index, "]: ");
  const size_t index_width = std::to_string(options.size() - 1).size();
  int rejected = 0;
  while (true) {
    out_ << "\n" << question << "\n";
    for (size_t i = 0; i < options.size(); ++i) {
      const std::string index = std::to_string(i);
      out_ << (i == default_index ? " ➔ " : "   ") << std::string(index_width - index.size(), ' ') << index << ") "
           << options[i] << "\n";
    }
    ASSIGN_OR_RETURN(const std::string line, ReadAnswer(select_prompt, question));

    const std::string_view answer = common::StripWhitespace(line);
    std::optional<size_t> chosen;
    if (answer.empty()) {
      chosen = default_index;
    } else if (answer.find_first_not_of("0123456789") == std::string_view::npos) {
      // Digits always name a position, as accelerate's digit keys do (so for the FSDP version menu
      // [1, 2], "1" picks version 2).
      const std::optional<int64_t> index = common::ParseInt64(answer);
      if (index && *index >= 0 && static_cast<uint64_t>(*index) < options.size()) chosen = static_cast<size_t>(*index);
    } else {
      for (size_t i = 0; i < options.size() && !chosen; ++i) {
        if (options[i] == answer) chosen = i;
      }
      const std::string lower = common::AsciiToLower(answer);
      for (size_t i = 0; i < options.size() && !chosen; ++i) {
        if (common::AsciiToLower(options[i]) == lower) chosen = i;
      }
    }
    if (chosen) {
      out_ << " * " << options[*chosen] << "\n";
      out_.flush();
      return *chosen;
    }
    RETURN_IF_ERROR(Reject(question, line,
                           common::StrCat("Please enter a number from 0 to ", options.size() - 1,
                                          " or the text of one of the choices."),
                           rejected));
  }
}

void Prompter::Print(std::string_view line) {
  out_ << line << "\n";
  out_.flush();
}

absl::StatusOr<std::string> Prompter::ReadAnswer(std::string_view prompt, std::string_view question) {
  out_ << prompt;
  out_.flush();
  std::string line;
  if (!std::getline(in_, line)) {
    out_ << "\n";
    out_.flush();
    return absl::FailedPreconditionError(common::StrCat(
        "input ended before the questionnaire finished (question: ",
        QuestionForMessage(question.empty() ? prompt : question), ")"));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (!interactive_) out_ << line << "\n";
  return line;
}

absl::Status Prompter::Reject(std::string_view question, std::string_view answer, std::string_view message,
                              int& rejected) {
  out_ << message << "\n";
  out_.flush();
  ++rejected;
  if (!interactive_ && rejected >= kMaxBadPipedAnswers) {
    return absl::InvalidArgumentError(common::StrCat("no acceptable answer to \"", QuestionForMessage(question),
                                                     "\" after ", rejected, " tries (last answer \"", answer,
                                                     "\": ", message, ")"));
  }
  return absl::OkStatus();
}

}  // namespace accel::client
