#include "daemon/coordinator/file_job_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include "common/files.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace accel::daemon {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int kRecordVersion = 1;

using common::ErrnoError;
using common::WriteAll;

std::string Dump(const json& value) {
  // Invalid UTF-8 (worker output is arbitrary bytes) becomes U+FFFD instead of throwing.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json ExitToJson(const common::RankExit& exit) {
  return json{{"rank", exit.rank},           {"local_rank", exit.local_rank}, {"node", exit.node},
              {"exit_code", exit.exit_code}, {"signal", exit.signal},         {"time_unix_ms", exit.time_unix_ms},
              {"message", exit.message}};
}

common::RankExit ExitFromJson(const json& j) {
  common::RankExit exit;
  exit.rank = j.value("rank", 0);
  exit.local_rank = j.value("local_rank", 0);
  exit.node = j.value("node", "");
  exit.exit_code = j.value("exit_code", 0);
  exit.signal = j.value("signal", 0);
  exit.time_unix_ms = j.value("time_unix_ms", int64_t{0});
  exit.message = j.value("message", "");
  return exit;
}

}  // namespace

bool IsValidJobId(const std::string& job_id) {
  if (job_id.empty() || job_id.size() > 128 || job_id[0] == '.') return false;
  for (char c : job_id) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string JobRecordToJson(const common::JobRecord& job) {
  json spec{{"launch_args", job.spec.launch_args},   {"config_text", job.spec.config_text},
            {"config_name", job.spec.config_name},   {"env", job.spec.env},
            {"working_dir", job.spec.working_dir},   {"nodes", job.spec.nodes},
            {"min_nodes", job.spec.min_nodes},       {"max_nodes", job.spec.max_nodes},
            {"max_restarts", job.spec.max_restarts}, {"join_timeout_s", job.spec.join_timeout_s},
            {"last_call_s", job.spec.last_call_s},   {"user", job.spec.user},
            {"uid", job.spec.uid},                   {"gid", job.spec.gid}};
  json exits = json::array();
  for (const auto& exit : job.exits) exits.push_back(ExitToJson(exit));
  json record{{"version", kRecordVersion},
              {"id", job.id},
              {"spec", std::move(spec)},
              {"state", std::string(common::ToString(job.state))},
              {"attempt", job.attempt},
              {"nodes", job.nodes},
              {"world_size", job.world_size},
              {"exit_code", job.exit_code},
              {"reason", job.reason},
              {"exits", std::move(exits)},
              {"submitted_unix_ms", job.submitted_unix_ms},
              {"started_unix_ms", job.started_unix_ms},
              {"ended_unix_ms", job.ended_unix_ms}};
  return Dump(record);
}

absl::StatusOr<common::JobRecord> JobRecordFromJson(const std::string& text) {
  try {
    const json j = json::parse(text);
    if (!j.is_object()) return absl::InvalidArgumentError("not a JSON object");
    if (j.value("version", 0) != kRecordVersion) {
      return absl::InvalidArgumentError(common::StrCat("unsupported record version ", j.value("version", 0)));
    }
    common::JobRecord job;
    job.id = j.at("id").get<std::string>();
    if (!IsValidJobId(job.id)) return absl::InvalidArgumentError(common::StrCat("invalid job id '", job.id, "'"));
    const json& spec = j.at("spec");
    job.spec.launch_args = spec.value("launch_args", std::vector<std::string>{});
    job.spec.config_text = spec.value("config_text", "");
    job.spec.config_name = spec.value("config_name", "");
    job.spec.env = spec.value("env", std::map<std::string, std::string>{});
    job.spec.working_dir = spec.value("working_dir", "");
    job.spec.nodes = spec.value("nodes", std::vector<std::string>{});
    job.spec.min_nodes = spec.value("min_nodes", 1);
    job.spec.max_nodes = spec.value("max_nodes", 1);
    job.spec.max_restarts = spec.value("max_restarts", 0);
    job.spec.join_timeout_s = spec.value("join_timeout_s", -1.0);
    job.spec.last_call_s = spec.value("last_call_s", -1.0);
    job.spec.user = spec.value("user", "");
    job.spec.uid = spec.value("uid", int64_t{-1});
    job.spec.gid = spec.value("gid", int64_t{-1});
    const auto state = common::ParseJobState(j.at("state").get<std::string>());
    if (!state) return absl::InvalidArgumentError("unknown state");
    job.state = *state;
    job.attempt = j.value("attempt", 0);
    job.nodes = j.value("nodes", std::vector<std::string>{});
    job.world_size = j.value("world_size", 0);
    job.exit_code = j.value("exit_code", 0);
    job.reason = j.value("reason", "");
    for (const auto& exit : j.value("exits", json::array())) job.exits.push_back(ExitFromJson(exit));
    job.submitted_unix_ms = j.value("submitted_unix_ms", int64_t{0});
    job.started_unix_ms = j.value("started_unix_ms", int64_t{0});
    job.ended_unix_ms = j.value("ended_unix_ms", int64_t{0});
    return job;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(common::StrCat("malformed job record: ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<FileJobStore>> FileJobStore::Create(const fs::path& state_dir) {
  std::error_code ec;
  for (const char* sub : {"jobs", "logs"}) {
    fs::create_directories(state_dir / sub, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          common::StrCat("cannot create ", (state_dir / sub).string(), ": ", ec.message()));
    }
  }
  return std::unique_ptr<FileJobStore>(new FileJobStore(state_dir));
}

FileJobStore::FileJobStore(fs::path state_dir) : state_dir_(std::move(state_dir)) {}

FileJobStore::~FileJobStore() = default;

fs::path FileJobStore::JobPath(const std::string& job_id) const { return state_dir_ / "jobs" / (job_id + ".json"); }
fs::path FileJobStore::LogPath(const std::string& job_id) const { return state_dir_ / "logs" / (job_id + ".log"); }

absl::StatusOr<std::vector<common::JobRecord>> FileJobStore::LoadAll() {
  std::vector<common::JobRecord> jobs;
  std::error_code ec;
  fs::directory_iterator it(state_dir_ / "jobs", ec);
  if (ec)
    return absl::InternalError(common::StrCat("cannot list ", (state_dir_ / "jobs").string(), ": ", ec.message()));
  for (const auto& entry : it) {
    const fs::path path = entry.path();
    const std::string name = path.filename().string();
    if (name.starts_with(".") && name.find(".json.tmp") != std::string::npos) {
      // A Save that crashed before its rename (WriteFileAtomically): the previous record, if any, is intact.
      fs::remove(path, ec);
      continue;
    }
    if (path.extension() != ".json") continue;
    const absl::StatusOr<std::string> text = common::ReadFile(path);
    if (!text.ok()) {
      spdlog::warn("skipping job record {}: {}", path.string(), text.status().message());
      continue;
    }
    auto job = JobRecordFromJson(*text);
    if (!job.ok()) {
      spdlog::warn("skipping job record {}: {}", path.string(), job.status().message());
      continue;
    }
    if (job->id + ".json" != name) {
      spdlog::warn("skipping job record {}: it holds job {}", path.string(), job->id);
      continue;
    }
    jobs.push_back(*std::move(job));
  }
  return jobs;
}

absl::Status FileJobStore::Save(const common::JobRecord& job) {
  if (!IsValidJobId(job.id)) return absl::InvalidArgumentError(common::StrCat("invalid job id '", job.id, "'"));
  return common::WriteFileAtomically(JobPath(job.id), JobRecordToJson(job) + "\n");
}

absl::Status FileJobStore::AppendLog(const std::string& job_id, const common::LogLine& line) {
  if (!IsValidJobId(job_id)) return absl::InvalidArgumentError(common::StrCat("invalid job id '", job_id, "'"));
  auto it = open_logs_.find(job_id);
  if (it == open_logs_.end()) {
    const fs::path path = LogPath(job_id);
    common::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!fd) return ErrnoError("open", path, errno);
    it = open_logs_.emplace(job_id, std::move(fd)).first;
  }
  json entry{{"a", line.attempt}, {"r", line.rank}, {"l", line.local_rank}, {"n", line.node}, {"t", line.text}};
  if (line.stream == common::LogStream::kStderr) entry["e"] = 1;
  return WriteAll(it->second.get(), Dump(entry) + "\n", LogPath(job_id));
}

void FileJobStore::CloseLog(const std::string& job_id) { open_logs_.erase(job_id); }

absl::StatusOr<std::vector<common::LogLine>> FileJobStore::ReadLogs(const std::string& job_id) {
  if (!IsValidJobId(job_id)) return absl::InvalidArgumentError(common::StrCat("invalid job id '", job_id, "'"));
  std::ifstream in(LogPath(job_id), std::ios::binary);
  if (!in) return absl::NotFoundError(common::StrCat("no log for job ", job_id));
  std::vector<common::LogLine> lines;
  std::string text;
  while (std::getline(in, text)) {
    // A crash can leave a torn last line; skip anything that does not parse.
    const json entry = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!entry.is_object()) continue;
    try {
      common::LogLine line;
      line.job_id = job_id;
      line.attempt = entry.value("a", 0);
      line.rank = entry.value("r", 0);
      line.local_rank = entry.value("l", 0);
      line.node = entry.value("n", "");
      line.stream = entry.value("e", 0) != 0 ? common::LogStream::kStderr : common::LogStream::kStdout;
      line.text = entry.value("t", "");
      lines.push_back(std::move(line));
    } catch (const json::exception&) {
      continue;
    }
  }
  return lines;
}

}  // namespace accel::daemon
