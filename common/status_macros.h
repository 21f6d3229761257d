// Early-return helpers for absl::Status / absl::StatusOr, in the style of Abseil's internal macros.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ACCEL_STATUS_CONCAT_INNER(a, b) a##b
#define ACCEL_STATUS_CONCAT(a, b) ACCEL_STATUS_CONCAT_INNER(a, b)

/// Evaluates `expr` (an absl::Status); returns it from the enclosing function if it is not OK.
#define RETURN_IF_ERROR(expr)                     \
  do {                                            \
    ::absl::Status accel_status_ = (expr);        \
    if (!accel_status_.ok()) return accel_status_; \
  } while (false)

/// `ASSIGN_OR_RETURN(auto x, Foo());` declares x from the value of an absl::StatusOr, or returns its
/// error from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ACCEL_ASSIGN_OR_RETURN_IMPL(ACCEL_STATUS_CONCAT(accel_statusor_, __LINE__), lhs, expr)

#define ACCEL_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                                \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
