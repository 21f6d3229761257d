// `accelctl allocation begin|end|show`: the batch-system hooks. The SLURM Prolog runs `begin` to tell
// the node's acceld whose job now owns the node and which GPUs it got; the Epilog runs `end`, which
// has acceld stop the job's groups and then sweeps the node for any process left of the job
// (SLURM_JOB_ID in its environment), exiting 1 when one survives so SLURM drains the node.
#include <unistd.h>

#include "absl/time/clock.h"
#include "agent/process_table.h"
#include "client/commands/cluster_commands.h"
#include "client/remote/agent_client.h"
#include "common/cli/arg_parser.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace accel::client {
namespace {

constexpr char kDefaultAgent[] = "unix:/run/accel/acceld.sock";

common::ArgParser AllocationParser() {
  common::ArgParser parser(
      "accelctl allocation",
      "Tell this node's acceld about a batch allocation (SLURM Prolog: begin; Epilog: end) or show it.\n"
      "Defaults come from the SLURM_JOB_* variables SLURM sets for the Prolog and Epilog.");
  parser.AddPositional({"action", "begin, end or show"});
  parser.Add({.name = "agent", .kind = common::ArgKind::kValue, .metavar = "ADDRESS",
              .help = "the node's acceld (default $ACCEL_AGENT, else unix:/run/accel/acceld.sock)"});
  parser.Add({.name = "job", .kind = common::ArgKind::kValue, .help = "batch job id (default $SLURM_JOB_ID)"});
  parser.Add({.name = "user", .kind = common::ArgKind::kValue, .help = "its owner (default $SLURM_JOB_USER)"});
  parser.Add({.name = "uid", .kind = common::ArgKind::kValue, .type = common::ArgType::kInt,
              .help = "the owner's uid (default $SLURM_JOB_UID)"});
  parser.Add({.name = "gpus", .kind = common::ArgKind::kValue,
              .help = "comma-separated GPU indices or UUIDs (default $SLURM_JOB_GPUS, else $CUDA_VISIBLE_DEVICES)"});
  parser.Add({.name = "grace", .kind = common::ArgKind::kValue, .type = common::ArgType::kInt,
              .help = "end: seconds between SIGTERM and SIGKILL (default 5)"});
  parser.Add({.name = "wait", .kind = common::ArgKind::kValue, .type = common::ArgType::kInt,
              .help = "seconds to wait for acceld to answer (default 0: one try)"});
  parser.Add({.name = "json", .kind = common::ArgKind::kFlag, .help = "show: machine-readable output"});
  return parser;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  for (std::string_view item : common::StrSplit(text, ',')) {
    if (!item.empty()) items.emplace_back(item);
  }
  return items;
}

std::optional<std::string> Pick(const common::ParsedArgs& parsed, const CommandContext& context,
                                std::string_view flag, std::initializer_list<std::string_view> env) {
  if (auto value = parsed.Value(flag)) return value;
  for (std::string_view name : env) {
    if (auto value = context.env.GetNonEmpty(name)) return value;
  }
  return std::nullopt;
}

// Retries while acceld is not up yet (the Prolog may just have started it).
template <typename Call>
auto WithWait(int wait_seconds, Call call) {
  const absl::Time deadline = absl::Now() + absl::Seconds(wait_seconds);
  for (;;) {
    auto result = call();
    if (result.ok() || result.status().code() != absl::StatusCode::kUnavailable || absl::Now() >= deadline) {
      return result;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

}  // namespace

int RunAllocationCommand(const CommandContext& context, CommandArgs args) {
  const common::ArgParser parser = AllocationParser();
  int exit_code = kExitOk;
  const std::optional<common::ParsedArgs> parsed = ParseCommandArgs(context, "allocation", parser, args, &exit_code);
  if (!parsed) return exit_code;
  const std::string action = parsed->positionals.front();
  const std::string address = Pick(*parsed, context, "agent", {"ACCEL_AGENT"}).value_or(kDefaultAgent);
  const int wait = parsed->Value("wait") ? std::stoi(*parsed->Value("wait")) : 0;
  NodeAgentClient client(address, absl::Seconds(5));
  auto usage = [&](const std::string& message) {
    return ReportError(context, "allocation", absl::InvalidArgumentError(common::StrCat(
                                                  "accelctl allocation: error: ", message)), true);
  };

  if (action == "show") {
    auto allocation = WithWait(wait, [&] { return client.GetAllocation(); });
    if (!allocation.ok()) return ReportError(context, "allocation", allocation.status());
    if (parsed->Flag("json")) {
      *context.out << (*allocation ? common::AllocationToJson(**allocation).dump(2) : "null") << "\n";
    } else if (!*allocation) {
      *context.out << "not allocated\n";
    } else {
      const auto& a = **allocation;
      *context.out << "job " << a.job_id << " of " << (a.user.empty() ? "?" : a.user) << " (uid " << a.uid
                   << "), GPUs " << (a.gpus.empty() ? "-" : common::StrJoin(a.gpus, ",")) << "\n";
    }
    return kExitOk;
  }

  const std::optional<std::string> job = Pick(*parsed, context, "job", {"SLURM_JOB_ID", "SLURM_JOBID"});
  if (!job) return usage("--job is required (or $SLURM_JOB_ID)");

  if (action == "begin") {
    common::Allocation allocation;
    allocation.job_id = *job;
    allocation.user = Pick(*parsed, context, "user", {"SLURM_JOB_USER"}).value_or("");
    if (auto uid = Pick(*parsed, context, "uid", {"SLURM_JOB_UID"})) {
      try {
        allocation.uid = std::stoll(*uid);
      } catch (const std::exception&) {
        return usage(common::StrCat("--uid ", *uid, ": not a number"));
      }
    }
    allocation.gpus = SplitList(Pick(*parsed, context, "gpus", {"SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES"}).value_or(""));
    auto set = WithWait(wait, [&]() -> absl::StatusOr<bool> {
      if (absl::Status status = client.SetAllocation(allocation); !status.ok()) return status;
      return true;
    });
    if (!set.ok()) return ReportError(context, "allocation", set.status());
    *context.out << "allocation " << allocation.job_id << " of " << allocation.user << " registered with "
                 << address << "\n";
    return kExitOk;
  }

  if (action == "end") {
    const int grace = parsed->Value("grace") ? std::stoi(*parsed->Value("grace")) : 5;
    if (grace < 0 || grace > 3600) return usage("--grace: need 0 to 3600");
    auto end = WithWait(wait, [&] { return client.EndAllocation(*job, grace); });
    int code = kExitOk;
    if (end.ok()) {
      *context.out << "allocation " << *job << " ended"
                   << (end->stopped_jobs.empty() ? std::string() : " (stopped " + common::StrJoin(end->stopped_jobs, ",") + ")")
                   << "\n";
    } else {
      // Still sweep: the job's processes must go even when acceld is down.
      *context.err << "accelctl allocation: warning: " << end.status().message() << "\n";
    }
    agent::ProcProcessTable table;
    const auto left = agent::SweepProcesses(table, "SLURM_JOB_ID", *job,
                                            {.grace = absl::Seconds(grace), .kill_wait = absl::Seconds(5),
                                             .self = ::getpid()});
    for (const auto& entry : left) {
      *context.err << "accelctl allocation: error: process " << entry.pid << " of job " << *job
                   << " survived SIGKILL: " << entry.command << "\n";
      code = kExitFailure;
    }
    if (code == kExitOk) *context.out << "no process of job " << *job << " is left\n";
    return code;
  }
  return usage(common::StrCat("invalid action '", action, "' (choose from 'begin', 'end', 'show')"));
}

}  // namespace accel::client
