// ConfigValue: the untyped tree a config file parses into, before ClusterConfig gives it a type.
//
// accelerate reads YAML with PyYAML's safe_load (YAML 1.1 resolution: `no` is a boolean, `010` is
// octal, `1e5` is a string) and JSON with Python's json module, and writes YAML with safe_dump and
// JSON with json.dump(indent=2, sort_keys=True). This file reproduces exactly those four behaviours
// so files move between accelerate and accelctl unchanged. Only common/config/ includes it.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace accel::common {

/// Objects keep their insertion (file) order; `accelerate env` prints nested dicts that way.
using ConfigValue = nlohmann::ordered_json;

/// Parses YAML text with YAML 1.1 (PyYAML safe_load) scalar resolution. An empty document is null.
/// Errors name the line and column.
absl::StatusOr<ConfigValue> ParseYaml(std::string_view text);

/// Parses JSON text. Errors name the byte offset.
absl::StatusOr<ConfigValue> ParseJson(std::string_view text);

/// YAML in PyYAML safe_dump's block style: keys sorted, strings that would read back as another
/// type (`'no'`, `'1'`, `''`) single-quoted, empty lists as `[]`.
std::string EmitYaml(const ConfigValue& value);

/// JSON as Python's json.dump(indent=2, sort_keys=True) writes it, plus a trailing newline.
std::string EmitJson(const ConfigValue& value);

/// Python repr() of the value (`{'a': True, 'b': None}`), the form `accelerate env` prints.
std::string PythonRepr(const ConfigValue& value);

/// Python str() of the value: strings bare, everything else as repr.
std::string PythonStr(const ConfigValue& value);

/// Python truthiness: null, false, 0, 0.0, "" and empty containers are false.
bool PythonTruthy(const ConfigValue& value);

/// What a YAML 1.1 plain scalar `text` resolves to (null, bool, int, float or string).
ConfigValue ResolveYamlScalar(std::string_view text);

}  // namespace accel::common
