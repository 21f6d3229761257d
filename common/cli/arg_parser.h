// ArgParser: command-line parsing with accelerate's (argparse's) rules.
//
// - every option is accepted with hyphens and underscores alike (`--num-processes` = `--num_processes`),
//   as `--name value` or `--name=value`;
// - options are declared once with a kind (flag, value, repeated value) and a value type; ints and
//   floats are checked, choices are checked;
// - the parser records which options were actually given (accelerate lets config-file values
//   override only the options the user did not type);
// - with a remainder positional (launch's training script), everything from that positional on is
//   passed through untouched, even words that look like options;
// - errors are one line in argparse's wording, and the caller exits 2.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace accel::common {

enum class ArgKind {
  kFlag,        // --cpu
  kValue,       // --num_processes 2 (last one wins)
  kAppend,      // --vm a --vm b
  kAppendMany,  // --command echo hi --command ls (each occurrence takes one or more words)
};

enum class ArgType { kString, kInt, kFloat };

struct ArgSpec {
  std::string name;                      // canonical spelling, underscores: "num_processes"
  ArgKind kind = ArgKind::kValue;
  ArgType type = ArgType::kString;
  std::vector<std::string> short_names;  // e.g. {"-m"}
  std::vector<std::string> choices;      // empty: any value
  std::string metavar;                   // shown in help; defaults to the upper-cased name
  std::string help;
  std::string group;                     // help section
  bool hidden = false;                   // accepted, not shown in help
};

struct PositionalSpec {
  std::string name;
  std::string help;
  bool optional = false;
};

struct ParsedArgs {
  std::map<std::string, std::string> values;               // kValue options given
  std::map<std::string, std::vector<std::string>> lists;   // kAppend / kAppendMany options given
  std::set<std::string> flags;                             // kFlag options given
  std::set<std::string> given;                             // every option name that was given
  std::vector<std::string> positionals;
  std::vector<std::string> remainder;                      // words after the remainder positional
  bool help = false;                                       // -h/--help was given

  bool Has(std::string_view name) const { return given.contains(std::string(name)); }
  bool Flag(std::string_view name) const { return flags.contains(std::string(name)); }
  std::optional<std::string> Value(std::string_view name) const;
};

class ArgParser {
 public:
  /// `prog` starts error lines and the usage ("accelctl launch").
  ArgParser(std::string prog, std::string description);

  ArgParser& Add(ArgSpec spec);
  ArgParser& AddPositional(PositionalSpec spec);
  /// The last positional takes everything after it (argparse.REMAINDER).
  ArgParser& SetRemainderAfterLastPositional(bool remainder) {
    remainder_ = remainder;
    return *this;
  }
  /// Unambiguous prefixes of long options are accepted (argparse's allow_abbrev; off for launch).
  ArgParser& SetAllowAbbreviations(bool allow) {
    allow_abbrev_ = allow;
    return *this;
  }
  ArgParser& SetEpilog(std::string epilog) {
    epilog_ = std::move(epilog);
    return *this;
  }

  /// Parses `args` (without the program and subcommand words). InvalidArgument carries one line:
  /// "accelctl launch: error: unrecognized arguments: --foo".
  absl::StatusOr<ParsedArgs> Parse(std::span<const std::string> args) const;

  std::string Usage() const;
  std::string Help() const;
  const std::string& prog() const { return prog_; }

 private:
  const ArgSpec* FindLong(std::string_view normalized, std::string* error) const;
  const ArgSpec* FindShort(std::string_view word) const;
  absl::Status Error(std::string_view message) const;
  absl::Status CheckValue(const ArgSpec& spec, const std::string& value) const;

  std::string prog_;
  std::string description_;
  std::string epilog_;
  std::vector<ArgSpec> options_;
  std::vector<PositionalSpec> positionals_;
  bool remainder_ = false;
  bool allow_abbrev_ = true;
};

}  // namespace accel::common
