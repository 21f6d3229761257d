// The interactive `accelctl config` questionnaire: the questions `accelerate config` asks, with the same
// branches and defaults, answered on a terminal or from piped stdin.
#pragma once

#include <istream>
#include <ostream>

#include "absl/status/statusor.h"
#include "common/config/cluster_config.h"
#include "common/environment.h"

namespace accel::client {

struct QuestionnaireIo {
  std::istream* in = nullptr;
  std::ostream* out = nullptr;
  bool interactive = false;  // a terminal: menus may redraw; otherwise one answer per input line
  // For `~` in answered paths (HOME); when null, the password database's home directory is used.
  const common::Environment* env = nullptr;
};

/// Asks every question and returns the config the answers describe. Fails (InvalidArgument) on an
/// answer that cannot be accepted after re-asking, or when input ends early (FailedPrecondition).
/// Also InvalidArgument for the combinations accelerate rejects (multi-GPU with one process on one
/// machine, DeepSpeed or FSDP on Neuron), and Unimplemented for the SageMaker flow.
absl::StatusOr<common::ClusterConfig> RunConfigQuestionnaire(const QuestionnaireIo& io);

}  // namespace accel::client
