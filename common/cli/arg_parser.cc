#include "common/cli/arg_parser.h"

#include <algorithm>

#include "common/status_macros.h"
#include "common/strings.h"

namespace accel::common {
namespace {

std::string Normalize(std::string_view long_name) {
  std::string name(long_name);
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

// argparse treats "-1" and "-.5" as values, not options, when no option looks like a number.
bool LooksLikeNegativeNumber(std::string_view word) {
  return word.size() > 1 && word[0] == '-' && ParseDouble(word).has_value();
}

bool LooksLikeOption(std::string_view word) {
  return word.size() > 1 && word[0] == '-' && !LooksLikeNegativeNumber(word);
}

std::string Metavar(const ArgSpec& spec) {
  if (!spec.metavar.empty()) return spec.metavar;
  if (!spec.choices.empty()) return StrCat("{", StrJoin(spec.choices, ","), "}");
  return AsciiToUpper(spec.name);
}

}  // namespace

std::optional<std::string> ParsedArgs::Value(std::string_view name) const {
  auto it = values.find(std::string(name));
  if (it == values.end()) return std::nullopt;
  return it->second;
}

ArgParser::ArgParser(std::string prog, std::string description)
    : prog_(std::move(prog)), description_(std::move(description)) {}

ArgParser& ArgParser::Add(ArgSpec spec) {
  options_.push_back(std::move(spec));
  return *this;
}

ArgParser& ArgParser::AddPositional(PositionalSpec spec) {
  positionals_.push_back(std::move(spec));
  return *this;
}

absl::Status ArgParser::Error(std::string_view message) const {
  return absl::InvalidArgumentError(StrCat(prog_, ": error: ", message));
}

const ArgSpec* ArgParser::FindLong(std::string_view normalized, std::string* error) const {
  for (const ArgSpec& spec : options_) {
    if (spec.name == normalized) return &spec;
  }
  if (!allow_abbrev_) return nullptr;
  std::vector<const ArgSpec*> matches;
  for (const ArgSpec& spec : options_) {
    if (spec.name.starts_with(normalized)) matches.push_back(&spec);
  }
  if (matches.size() == 1) return matches.front();
  if (matches.size() > 1) {
    std::vector<std::string> names;
    for (const ArgSpec* spec : matches) names.push_back("--" + spec->name);
    *error = StrCat("ambiguous option: --", normalized, " could match ", StrJoin(names, ", "));
  }
  return nullptr;
}

const ArgSpec* ArgParser::FindShort(std::string_view word) const {
  for (const ArgSpec& spec : options_) {
    if (std::find(spec.short_names.begin(), spec.short_names.end(), word) != spec.short_names.end()) return &spec;
  }
  return nullptr;
}

absl::Status ArgParser::CheckValue(const ArgSpec& spec, const std::string& value) const {
  if (spec.type == ArgType::kInt && !ParseInt64(value)) {
    return Error(StrCat("argument --", spec.name, ": invalid int value: '", value, "'"));
  }
  if (spec.type == ArgType::kFloat && !ParseDouble(value)) {
    return Error(StrCat("argument --", spec.name, ": invalid float value: '", value, "'"));
  }
  if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), value) == spec.choices.end()) {
    std::vector<std::string> quoted;
    for (const auto& choice : spec.choices) quoted.push_back(StrCat("'", choice, "'"));
    return Error(StrCat("argument --", spec.name, ": invalid choice: '", value, "' (choose from ",
                        StrJoin(quoted, ", "), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedArgs> ArgParser::Parse(std::span<const std::string> args) const {
  ParsedArgs parsed;
  std::vector<std::string> unrecognized;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    const bool in_remainder = remainder_ && !positionals_.empty() && parsed.positionals.size() == positionals_.size();
    if (in_remainder) {
      parsed.remainder.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    if (options_done || !LooksLikeOption(word)) {
      if (!options_done && word == "--") {
        options_done = true;
        continue;
      }
      if (parsed.positionals.size() < positionals_.size()) {
        parsed.positionals.push_back(word);
      } else {
        unrecognized.push_back(word);
      }
      continue;
    }
    if (word == "--") {
      options_done = true;
      continue;
    }
    if (word == "-h" || word == "--help") {
      parsed.help = true;
      continue;
    }

    const ArgSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    if (word.starts_with("--")) {
      std::string_view body = std::string_view(word).substr(2);
      if (const size_t eq = body.find('='); eq != std::string_view::npos) {
        inline_value = std::string(body.substr(eq + 1));
        body = body.substr(0, eq);
      }
      std::string ambiguity;
      spec = FindLong(Normalize(body), &ambiguity);
      if (!ambiguity.empty()) return Error(ambiguity);
    } else {
      spec = FindShort(word.substr(0, 2));
      if (spec != nullptr && word.size() > 2) inline_value = word.substr(2);  // -t3
    }
    if (spec == nullptr) {
      unrecognized.push_back(word);
      continue;
    }

    parsed.given.insert(spec->name);
    switch (spec->kind) {
      case ArgKind::kFlag:
        if (inline_value) return Error(StrCat("argument --", spec->name, ": ignored explicit argument '", *inline_value, "'"));
        parsed.flags.insert(spec->name);
        break;
      case ArgKind::kValue:
      case ArgKind::kAppend: {
        std::string value;
        if (inline_value) {
          value = *inline_value;
        } else if (i + 1 < args.size() && !LooksLikeOption(args[i + 1])) {
          value = args[++i];
        } else {
          return Error(StrCat("argument --", spec->name, ": expected one argument"));
        }
        RETURN_IF_ERROR(CheckValue(*spec, value));
        if (spec->kind == ArgKind::kValue) {
          parsed.values[spec->name] = value;
        } else {
          parsed.lists[spec->name].push_back(value);
        }
        break;
      }
      case ArgKind::kAppendMany: {
        auto& list = parsed.lists[spec->name];
        const size_t before = list.size();
        if (inline_value) list.push_back(*inline_value);
        while (i + 1 < args.size() && !LooksLikeOption(args[i + 1])) list.push_back(args[++i]);
        if (list.size() == before) return Error(StrCat("argument --", spec->name, ": expected at least one argument"));
        break;
      }
    }
  }
  if (parsed.help) return parsed;
  if (!unrecognized.empty()) return Error(StrCat("unrecognized arguments: ", StrJoin(unrecognized, " ")));
  for (size_t i = parsed.positionals.size(); i < positionals_.size(); ++i) {
    if (!positionals_[i].optional) {
      return Error(StrCat("the following arguments are required: ", positionals_[i].name));
    }
  }
  return parsed;
}

std::string ArgParser::Usage() const {
  std::string usage = StrCat("usage: ", prog_, " [-h]");
  for (const ArgSpec& spec : options_) {
    if (spec.hidden) continue;
    const std::string flag = spec.short_names.empty() ? "--" + spec.name : spec.short_names.front();
    usage += spec.kind == ArgKind::kFlag ? StrCat(" [", flag, "]") : StrCat(" [", flag, " ", Metavar(spec), "]");
  }
  for (const PositionalSpec& positional : positionals_) {
    usage += positional.optional ? StrCat(" [", positional.name, "]") : StrCat(" ", positional.name);
  }
  if (remainder_) usage += " ...";
  return usage + "\n";
}

std::string ArgParser::Help() const {
  std::string help = Usage();
  if (!description_.empty()) help += "\n" + description_ + "\n";
  if (!positionals_.empty()) {
    help += "\npositional arguments:\n";
    for (const PositionalSpec& positional : positionals_) {
      help += fmt::format("  {:<30} {}\n", positional.name, positional.help);
    }
  }
  std::vector<std::string> groups = {""};
  for (const ArgSpec& spec : options_) {
    if (std::find(groups.begin(), groups.end(), spec.group) == groups.end()) groups.push_back(spec.group);
  }
  for (const std::string& group : groups) {
    help += StrCat("\n", group.empty() ? "options" : group, ":\n");
    if (group.empty()) help += fmt::format("  {:<30} {}\n", "-h, --help", "show this help message and exit");
    for (const ArgSpec& spec : options_) {
      if (spec.group != group || spec.hidden) continue;
      std::string names;
      for (const auto& short_name : spec.short_names) names += short_name + ", ";
      names += "--" + spec.name;
      if (spec.kind != ArgKind::kFlag) names += " " + Metavar(spec);
      if (names.size() > 30) {
        help += StrCat("  ", names, "\n", std::string(33, ' '), spec.help, "\n");
      } else {
        help += fmt::format("  {:<30} {}\n", names, spec.help);
      }
    }
  }
  if (!epilog_.empty()) help += "\n" + epilog_ + "\n";
  return help;
}

}  // namespace accel::common
