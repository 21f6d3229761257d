// The `accelerate launch` option table and the argparse-like namespace it produces.
//
// accelerate merges its config file into the parsed arguments generically, by attribute name (config
// dict keys become attributes; scalar fields fill attributes that are still None; options the user
// typed are never overwritten). Holding the arguments the same way, as a name -> value namespace with
// Python-like values, lets PlanLaunch reproduce that merge exactly instead of re-deriving it field by
// field. The table is the single definition of every launch flag: the CLI parser, the help text, the
// defaults and the namespace all come from it.
#pragma once

#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/cli/arg_parser.h"
#include "common/config/config_value.h"

namespace accel::common {

struct LaunchOption {
  ArgSpec spec;
  ConfigValue default_value;  // null = Python None
};

/// Every `accelerate launch` option (plus accelctl's own), in help order.
const std::vector<LaunchOption>& LaunchOptionTable();

/// The parser for `<prog>`: all options, the training script as a remainder positional, no
/// abbreviations (accelerate disables them for launch).
ArgParser MakeLaunchParser(std::string prog);

/// The parsed command line as accelerate holds it.
struct LaunchArgs {
  ConfigValue ns = ConfigValue::object();  // every option name -> value (null = None), typed as argparse types them
  std::set<std::string> given;             // options present on the command line
  std::string training_script;
  std::vector<std::string> training_script_args;

  const ConfigValue& Get(const std::string& name) const;
  bool Truthy(const std::string& name) const;
  bool IsNone(const std::string& name) const { return Get(name).is_null(); }
};

/// Parses a launch command line (the words after `launch`).
absl::StatusOr<LaunchArgs> ParseLaunchArgs(const ArgParser& parser, std::span<const std::string> args);

}  // namespace accel::common
