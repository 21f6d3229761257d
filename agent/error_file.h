// Reading the error file a failed worker leaves behind (contract 4.6).
//
// torch's `record` decorator writes
//   {"message": {"message": "ValueError: boom",
//                "extraInfo": {"py_callstack": "Traceback ...", "timestamp": "1700000000"}}}
// to TORCHELASTIC_ERROR_FILE. Hand-written files sometimes use {"message": "text"}; both are accepted.
//
// Pure functions plus one file read; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace accel::agent {

struct ErrorFileContents {
  std::string message;                 // "ValueError: boom"; may be empty.
  std::string traceback;               // extraInfo.py_callstack; may be empty.
  std::optional<absl::Time> timestamp;  // extraInfo.timestamp (unix seconds, string or number).
};

/// Parses error-file JSON. InvalidArgument when it is not JSON or has no usable "message".
absl::StatusOr<ErrorFileContents> ParseErrorFile(std::string_view json);

/// Reads and parses `path`. NotFound when the file does not exist (the common case: plain scripts
/// write nothing); InvalidArgument on a malformed file.
absl::StatusOr<ErrorFileContents> ReadErrorFile(const std::string& path);

}  // namespace accel::agent
