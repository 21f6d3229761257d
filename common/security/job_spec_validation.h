// ValidateJobSpec: the input limits every submitted job passes before the daemon acts on it (the
// coordinator on SubmitJob, every agent on StartGroup, through wire::FromProto). Generous for real
// jobs, small enough that a hostile or broken client cannot make a daemon allocate without limit,
// smuggle a path outside what it may write, or break the environment block of a worker. The fuzzer
// (tests/fuzz/job_spec_fuzz.cc) calls it with arbitrary specs.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "common/types/cluster_types.h"

namespace accel::common {

struct JobSpecLimits {
  static constexpr int kMaxArgs = 4096;
  static constexpr size_t kMaxArgBytes = 64 * 1024;
  static constexpr size_t kMaxArgsTotalBytes = 1 << 20;
  static constexpr size_t kMaxConfigBytes = 1 << 20;
  static constexpr size_t kMaxConfigNameBytes = 255;
  static constexpr int kMaxEnvEntries = 4096;
  static constexpr size_t kMaxEnvNameBytes = 256;
  static constexpr size_t kMaxEnvValueBytes = 128 * 1024;
  static constexpr size_t kMaxEnvTotalBytes = 1 << 20;
  static constexpr size_t kMaxPathBytes = 4096;
  static constexpr int kMaxNodes = 4096;
  static constexpr size_t kMaxNodeNameBytes = 255;
  static constexpr int kMaxProcesses = 65536;
  static constexpr int kMaxRestarts = 10000;
  static constexpr size_t kMaxUserBytes = 256;
  static constexpr size_t kMaxRunIdBytes = 128;
};

/// InvalidArgument naming the field ("spec.env: invalid variable name 'A-B'") for the first limit
/// `spec` breaks:
///   launch_args  1..4096 words, each <= 64 KiB, <= 1 MiB in all, no NUL byte; when the words parse as
///                a launch line: --num_processes 0..65536, --num_machines N or MIN:MAX with 1..4096,
///                --rdzv_id (the run id) [A-Za-z0-9._-]{1,128} and not "."/"..", --log_dir a path
///                without ".." components (a line that does not parse is the agent's to report, as
///                for an embedded launch);
///   config_text  <= 1 MiB;  config_name <= 255 bytes without '/';
///   env          <= 4096 variables, names ^[A-Za-z_][A-Za-z0-9_]*$ up to 256 bytes, values <= 128 KiB
///                without NUL, <= 1 MiB in all;
///   working_dir  empty or absolute, <= 4096 bytes, no ".." component, no NUL (the worker changes to
///                it after switching to the job's user, so the kernel checks that user's access);
///   nodes        <= 4096 names of 1..255 bytes from [A-Za-z0-9._-];
///   min_nodes/max_nodes  1 <= min <= max <= 4096;  max_restarts 0..10000;  user <= 256 bytes;
///   join_timeout_s / last_call_s  at most a week (negative: the coordinator's default).
absl::Status ValidateJobSpec(const JobSpec& spec);

/// ^[A-Za-z_][A-Za-z0-9_]*$, at most 256 bytes.
bool IsValidEnvName(std::string_view name);

/// A path without a ".." component and without NUL bytes.
bool HasNoTraversal(std::string_view path);

}  // namespace accel::common
