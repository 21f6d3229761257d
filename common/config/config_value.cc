#include "common/config/config_value.h"
#include "common/strings.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <limits>
#include <map>
#include <regex>
#include <vector>

#include "yaml-cpp/yaml.h"

namespace accel::common {
namespace {

// PyYAML's implicit resolvers (yaml/resolver.py), which implement YAML 1.1 tag resolution.
const std::regex& BoolPattern() {
  static const std::regex re("yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF");
  return re;
}
const std::regex& IntPattern() {
  static const std::regex re(
      "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|"
      "[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+");
  return re;
}
const std::regex& FloatPattern() {
  static const std::regex re(
      "[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|"
      "[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)");
  return re;
}

std::string RemoveUnderscores(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
  return text;
}

// nlohmann's messages start with "[json.exception.parse_error.101] parse error at ...".
std::string JsonErrorText(std::string_view what) {
  if (const size_t bracket = what.find("] "); bracket != std::string_view::npos) what.remove_prefix(bracket + 2);
  return std::string(what);
}

bool IsNullWord(std::string_view text) {
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

// Splits a sign off the front: returns -1 or +1.
int TakeSign(std::string& digits) {
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    const int sign = digits[0] == '-' ? -1 : 1;
    digits.erase(0, 1);
    return sign;
  }
  return 1;
}

ConfigValue ResolveInt(std::string text) {
  text = RemoveUnderscores(text);
  const int sign = TakeSign(text);
  int64_t value = 0;
  auto parse_base = [&](std::string_view digits, int base) {
    errno = 0;
    const std::string owned(digits);
    value = static_cast<int64_t>(std::strtoll(owned.c_str(), nullptr, base));
  };
  if (text == "0") {
    value = 0;
  } else if (text.starts_with("0b")) {
    parse_base(std::string_view(text).substr(2), 2);
  } else if (text.starts_with("0x")) {
    parse_base(std::string_view(text).substr(2), 16);
  } else if (text[0] == '0') {
    parse_base(std::string_view(text).substr(1), 8);
  } else if (text.find(':') != std::string::npos) {
    // Sexagesimal: 1:30 is 90.
    for (std::string_view part : StrSplit(text, ':')) {
      value = value * 60 + ParseInt64(part).value_or(0);
    }
  } else {
    parse_base(text, 10);
  }
  return ConfigValue(sign * value);
}

ConfigValue ResolveFloat(std::string text) {
  text = RemoveUnderscores(text);
  const std::string lower = AsciiToLower(text);
  if (lower.find(".nan") != std::string::npos) return ConfigValue(std::numeric_limits<double>::quiet_NaN());
  const int sign = TakeSign(text);
  if (AsciiToLower(text) == ".inf") return ConfigValue(sign * std::numeric_limits<double>::infinity());
  if (text.find(':') != std::string::npos) {
    double value = 0;
    for (std::string_view part : StrSplit(text, ':')) {
      value = value * 60 + ParseDouble(part).value_or(0);
    }
    return ConfigValue(sign * value);
  }
  return ConfigValue(sign * ParseDouble(text).value_or(0));
}

std::string Mark(const YAML::Mark& mark) {
  return StrCat("line ", mark.line + 1, ", column ", mark.column + 1);
}

// What one document may cost to convert. Aliases make the node graph a DAG, or even a cycle (`a: &x
// {b: *x}`), so a small file can expand without end; a config file or a job's config text comes from
// users, and a crash or a hang here would take acceld down with it. Real configs are 3 levels deep
// and a few hundred values.
struct YamlBudget {
  static constexpr int kMaxDepth = 64;
  static constexpr size_t kMaxValues = 100'000;
  size_t values = 0;
};

absl::StatusOr<ConfigValue> FromYamlNode(const YAML::Node& node, int depth, YamlBudget& budget) {
  if (++budget.values > YamlBudget::kMaxValues) {
    return absl::InvalidArgumentError(
        StrCat("the YAML document expands to more than ", YamlBudget::kMaxValues, " values (through aliases?)"));
  }
  if (depth > YamlBudget::kMaxDepth) {
    return absl::InvalidArgumentError(StrCat("YAML nested more than ", YamlBudget::kMaxDepth, " levels deep at ",
                                             Mark(node.Mark()), " (an alias inside its own anchor?)"));
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return ConfigValue(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& tag = node.Tag();
      const std::string& text = node.Scalar();
      if (tag == "!" || tag == "tag:yaml.org,2002:str") return ConfigValue(text);  // quoted or !!str
      if (tag == "?") return ResolveYamlScalar(text);
      if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
          tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
        return ResolveYamlScalar(text);
      }
      return absl::InvalidArgumentError(
          StrCat("unsupported YAML tag '", tag, "' at ", Mark(node.Mark())));
    }
    case YAML::NodeType::Sequence: {
      if (node.Tag() != "?" && node.Tag() != "!" && node.Tag() != "tag:yaml.org,2002:seq") {
        return absl::InvalidArgumentError(StrCat("unsupported YAML tag '", node.Tag(), "' at ", Mark(node.Mark())));
      }
      ConfigValue list = ConfigValue::array();
      for (const auto& item : node) {
        auto value = FromYamlNode(item, depth + 1, budget);
        if (!value.ok()) return value.status();
        list.push_back(*std::move(value));
      }
      return list;
    }
    case YAML::NodeType::Map: {
      if (node.Tag() != "?" && node.Tag() != "!" && node.Tag() != "tag:yaml.org,2002:map") {
        return absl::InvalidArgumentError(StrCat("unsupported YAML tag '", node.Tag(), "' at ", Mark(node.Mark())));
      }
      ConfigValue object = ConfigValue::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          return absl::InvalidArgumentError(
              StrCat("mapping keys must be plain scalars (", Mark(entry.first.Mark()), ")"));
        }
        auto value = FromYamlNode(entry.second, depth + 1, budget);
        if (!value.ok()) return value.status();
        object[entry.first.Scalar()] = *std::move(value);
      }
      return object;
    }
  }
  return ConfigValue(nullptr);
}

// True when a string must be quoted for safe_load to read it back as the same string.
bool NeedsQuotes(const std::string& text) {
  if (text.empty()) return true;
  if (!ResolveYamlScalar(text).is_string()) return true;
  if (text.front() == ' ' || text.back() == ' ') return true;
  static const std::string kLeadIndicators = "-?:,[]{}#&*!|>'\"%@`";
  if (kLeadIndicators.find(text.front()) != std::string::npos) {
    // "-x" and ":x" are plain-safe in PyYAML only when followed by a non-space; quote to be safe.
    return true;
  }
  if (text.find(": ") != std::string::npos || text.find(" #") != std::string::npos) return true;
  if (text.back() == ':') return true;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

void EmitYamlNode(YAML::Emitter& out, const ConfigValue& value) {
  switch (value.type()) {
    case ConfigValue::value_t::null:
      out << YAML::Null;
      break;
    case ConfigValue::value_t::boolean:
      out << (value.get<bool>() ? "true" : "false");
      break;
    case ConfigValue::value_t::number_integer:
      out << value.get<int64_t>();
      break;
    case ConfigValue::value_t::number_unsigned:
      out << value.get<uint64_t>();
      break;
    case ConfigValue::value_t::number_float:
      out << PythonRepr(value);
      break;
    case ConfigValue::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      if (NeedsQuotes(text)) {
        out << YAML::SingleQuoted << text;
      } else {
        out << text;
      }
      break;
    }
    case ConfigValue::value_t::array:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      out << YAML::BeginSeq;
      for (const auto& item : value) EmitYamlNode(out, item);
      out << YAML::EndSeq;
      break;
    case ConfigValue::value_t::object: {
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        break;
      }
      std::map<std::string, const ConfigValue*> sorted;
      for (const auto& [key, item] : value.items()) sorted.emplace(key, &item);
      out << YAML::BeginMap;
      for (const auto& [key, item] : sorted) {
        out << YAML::Key;
        if (NeedsQuotes(key)) {
          out << YAML::SingleQuoted << key;
        } else {
          out << key;
        }
        out << YAML::Value;
        EmitYamlNode(out, *item);
      }
      out << YAML::EndMap;
      break;
    }
    case ConfigValue::value_t::binary:
    case ConfigValue::value_t::discarded:
      out << YAML::Null;
      break;
  }
}

std::string PythonStringRepr(const std::string& text) {
  // Python prefers single quotes unless the string contains one and no double quote.
  const bool use_double = text.find('\'') != std::string::npos && text.find('"') == std::string::npos;
  const char quote = use_double ? '"' : '\'';
  std::string out(1, quote);
  for (char c : text) {
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  out += quote;
  return out;
}

std::string PythonFloatRepr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // Shortest representation that round-trips, as Python's repr does.
  for (int precision = 1; precision <= 17; ++precision) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) {
      std::string text(buffer);
      const bool has_exponent = text.find('e') != std::string::npos;
      if (has_exponent) {
        // Python writes 1e-05 as "1e-05" and 1e+16 as "1e+16": same as %g. Nothing to do.
        return text;
      }
      if (text.find('.') == std::string::npos) text += ".0";
      return text;
    }
  }
  return StrCat(value);
}

}  // namespace

ConfigValue ResolveYamlScalar(std::string_view text) {
  const std::string owned(text);
  if (IsNullWord(text)) return ConfigValue(nullptr);
  if (std::regex_match(owned, BoolPattern())) {
    const std::string lower = AsciiToLower(owned);
    return ConfigValue(lower == "yes" || lower == "true" || lower == "on");
  }
  if (std::regex_match(owned, IntPattern())) return ResolveInt(owned);
  if (std::regex_match(owned, FloatPattern())) return ResolveFloat(owned);
  return ConfigValue(owned);
}

absl::StatusOr<ConfigValue> ParseYaml(std::string_view text) {
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    YamlBudget budget;
    return FromYamlNode(root, 0, budget);
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(
        StrCat("invalid YAML at ", Mark(error.mark), ": ", error.msg));
  }
}

absl::StatusOr<ConfigValue> ParseJson(std::string_view text) {
  try {
    return ConfigValue::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& error) {
    return absl::InvalidArgumentError(StrCat("invalid JSON at byte ", error.byte, ": ",
                                                   JsonErrorText(error.what())));
  } catch (const nlohmann::json::exception& error) {
    // A number out of range (1e999) and the like: found by tests/fuzz/config_fuzz.cc.
    return absl::InvalidArgumentError(StrCat("invalid JSON: ", JsonErrorText(error.what())));
  }
}

std::string EmitYaml(const ConfigValue& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetMapFormat(YAML::Block);
  out.SetSeqFormat(YAML::Block);
  EmitYamlNode(out, value);
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

std::string EmitJson(const ConfigValue& value) {
  // nlohmann::json (unordered) sorts object keys, which is json.dump's sort_keys=True; ensure_ascii as
  // Python's default.
  const nlohmann::json sorted = nlohmann::json::parse(value.dump(-1, ' ', false, ConfigValue::error_handler_t::replace));
  return sorted.dump(2, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string PythonRepr(const ConfigValue& value) {
  switch (value.type()) {
    case ConfigValue::value_t::null:
      return "None";
    case ConfigValue::value_t::boolean:
      return value.get<bool>() ? "True" : "False";
    case ConfigValue::value_t::number_integer:
      return StrCat(value.get<int64_t>());
    case ConfigValue::value_t::number_unsigned:
      return StrCat(value.get<uint64_t>());
    case ConfigValue::value_t::number_float:
      return PythonFloatRepr(value.get<double>());
    case ConfigValue::value_t::string:
      return PythonStringRepr(value.get<std::string>());
    case ConfigValue::value_t::array: {
      std::vector<std::string> items;
      for (const auto& item : value) items.push_back(PythonRepr(item));
      return StrCat("[", StrJoin(items, ", "), "]");
    }
    case ConfigValue::value_t::object: {
      std::vector<std::string> items;
      for (const auto& [key, item] : value.items()) {
        items.push_back(StrCat(PythonStringRepr(key), ": ", PythonRepr(item)));
      }
      return StrCat("{", StrJoin(items, ", "), "}");
    }
    case ConfigValue::value_t::binary:
    case ConfigValue::value_t::discarded:
      return "None";
  }
  return "None";
}

std::string PythonStr(const ConfigValue& value) {
  if (value.is_string()) return value.get<std::string>();
  return PythonRepr(value);
}

bool PythonTruthy(const ConfigValue& value) {
  switch (value.type()) {
    case ConfigValue::value_t::null:
      return false;
    case ConfigValue::value_t::boolean:
      return value.get<bool>();
    case ConfigValue::value_t::number_integer:
      return value.get<int64_t>() != 0;
    case ConfigValue::value_t::number_unsigned:
      return value.get<uint64_t>() != 0;
    case ConfigValue::value_t::number_float:
      return value.get<double>() != 0.0;
    case ConfigValue::value_t::string:
      return !value.get_ref<const std::string&>().empty();
    case ConfigValue::value_t::array:
    case ConfigValue::value_t::object:
      return !value.empty();
    default:
      return false;
  }
}

}  // namespace accel::common
