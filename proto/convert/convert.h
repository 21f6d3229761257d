// accel_wire: translation between the v1 wire messages and common/types. The only code that sees
// both. FromProto treats its input as untrusted: it checks sizes and values and returns
// InvalidArgument naming the field.
#pragma once

#include "absl/status/statusor.h"
#include "accel/v1/agent.pb.h"
#include "accel/v1/coordinator.pb.h"
#include "accel/v1/types.pb.h"
#include "common/types/allocation.h"
#include "common/types/cluster_types.h"

namespace accel::wire {

v1::JobSpec ToProto(const common::JobSpec& spec);
absl::StatusOr<common::JobSpec> FromProto(const v1::JobSpec& spec);

v1::JobState ToProto(common::JobState state);
common::JobState FromProto(v1::JobState state);

v1::RankExit ToProto(const common::RankExit& exit);
common::RankExit FromProto(const v1::RankExit& exit);

v1::Assignment ToProto(const common::Assignment& assignment);
absl::StatusOr<common::Assignment> FromProto(const v1::Assignment& assignment);

v1::Job ToProto(const common::JobRecord& job);
absl::StatusOr<common::JobRecord> FromProto(const v1::Job& job);

v1::NodeInfo ToProto(const common::NodeInfo& node);
absl::StatusOr<common::NodeInfo> FromProto(const v1::NodeInfo& node);

v1::LogLine ToProto(const common::LogLine& line);
common::LogLine FromProto(const v1::LogLine& line);

v1::GroupEvent ToProto(const common::GroupEvent& event);
common::GroupEvent FromProto(const v1::GroupEvent& event);

v1::JobEvent ToProto(const common::JobEvent& event);
common::JobEvent FromProto(const v1::JobEvent& event);

v1::Allocation ToProto(const common::Allocation& allocation);
absl::StatusOr<common::Allocation> FromProto(const v1::Allocation& allocation);

}  // namespace accel::wire
