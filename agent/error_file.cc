#include "agent/error_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace accel::agent {
namespace {

// The file is written by the worker, i.e. untrusted: never assume a field's type.
std::string StringField(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::optional<absl::Time> TimestampField(const nlohmann::json& extra) {
  if (!extra.is_object()) return std::nullopt;
  auto it = extra.find("timestamp");
  if (it == extra.end()) return std::nullopt;
  int64_t seconds = 0;
  if (it->is_number_integer()) {
    seconds = it->get<int64_t>();
  } else if (it->is_number()) {
    seconds = static_cast<int64_t>(it->get<double>());
  } else if (!it->is_string()) {
    return std::nullopt;
  } else if (auto parsed = common::ParseInt64(it->get<std::string>()); parsed.has_value()) {
    seconds = *parsed;
  } else {
    return std::nullopt;
  }
  return absl::FromUnixSeconds(seconds);
}

}  // namespace

absl::StatusOr<ErrorFileContents> ParseErrorFile(std::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("error file is not valid JSON");
  if (!doc.is_object() || !doc.contains("message")) {
    return absl::InvalidArgumentError("error file has no \"message\" field");
  }
  const nlohmann::json& message = doc["message"];
  ErrorFileContents contents;
  if (message.is_string()) {
    contents.message = message.get<std::string>();
  } else if (message.is_object()) {
    contents.message = StringField(message, "message");
    if (auto extra = message.find("extraInfo"); extra != message.end()) {
      contents.traceback = StringField(*extra, "py_callstack");
      contents.timestamp = TimestampField(*extra);
    }
  } else {
    return absl::InvalidArgumentError("error file \"message\" is neither a string nor an object");
  }
  return contents;
}

absl::StatusOr<ErrorFileContents> ReadErrorFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(common::StrCat(path, ": no error file"));
    return absl::UnavailableError(common::StrCat(path, ": ", std::strerror(err)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  // acceld creates the file empty (owned by the job's user) before the worker starts: nothing written.
  if (text.str().empty()) return absl::NotFoundError(common::StrCat(path, ": empty error file"));
  auto contents = ParseErrorFile(text.str());
  if (!contents.ok()) {
    return absl::InvalidArgumentError(common::StrCat(path, ": ", contents.status().message()));
  }
  return contents;
}

}  // namespace accel::agent
