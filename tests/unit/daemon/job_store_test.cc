// FileJobStore on a real temporary directory: atomic replacement, reload, and damage tolerance.
#include <filesystem>
#include <fstream>

#include "daemon/coordinator/file_job_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace accel::daemon {
namespace {

namespace fs = std::filesystem;
using common::JobRecord;
using common::JobState;

JobRecord Record(const std::string& id, JobState state = JobState::kRunning) {
  JobRecord job;
  job.id = id;
  job.spec.launch_args = {"--num_processes", "2", "train.py", "--lr", "1e-3"};
  job.spec.config_text = "compute_environment: LOCAL_MACHINE\n";
  job.spec.config_name = "default_config.yaml";
  job.spec.env = {{"PATH", "/usr/bin"}, {"HF_HOME", "/data/hf"}};
  job.spec.working_dir = "/home/u/project";
  job.spec.nodes = {"a", "b"};
  job.spec.min_nodes = 2;
  job.spec.max_nodes = 2;
  job.spec.max_restarts = 3;
  job.spec.user = "u@10.0.0.1";
  job.state = state;
  job.attempt = 1;
  job.nodes = {"a", "b"};
  job.world_size = 4;
  job.exit_code = 0;
  job.reason = "rank 1 (local rank 1 on node a) exited with code 3";
  job.exits = {common::RankExit{.rank = 1,
                                .local_rank = 1,
                                .node = "a",
                                .exit_code = 3,
                                .signal = 0,
                                .time_unix_ms = 1700000000123,
                                .message = "boom"}};
  job.submitted_unix_ms = 1700000000000;
  job.started_unix_ms = 1700000000500;
  return job;
}

void ExpectSame(const JobRecord& a, const JobRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.spec.launch_args, b.spec.launch_args);
  EXPECT_EQ(a.spec.config_text, b.spec.config_text);
  EXPECT_EQ(a.spec.config_name, b.spec.config_name);
  EXPECT_EQ(a.spec.env, b.spec.env);
  EXPECT_EQ(a.spec.working_dir, b.spec.working_dir);
  EXPECT_EQ(a.spec.nodes, b.spec.nodes);
  EXPECT_EQ(a.spec.min_nodes, b.spec.min_nodes);
  EXPECT_EQ(a.spec.max_nodes, b.spec.max_nodes);
  EXPECT_EQ(a.spec.max_restarts, b.spec.max_restarts);
  EXPECT_EQ(a.spec.user, b.spec.user);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.attempt, b.attempt);
  EXPECT_EQ(a.nodes, b.nodes);
  EXPECT_EQ(a.world_size, b.world_size);
  EXPECT_EQ(a.exit_code, b.exit_code);
  EXPECT_EQ(a.reason, b.reason);
  ASSERT_EQ(a.exits.size(), b.exits.size());
  for (size_t i = 0; i < a.exits.size(); ++i) {
    EXPECT_EQ(a.exits[i].rank, b.exits[i].rank);
    EXPECT_EQ(a.exits[i].local_rank, b.exits[i].local_rank);
    EXPECT_EQ(a.exits[i].node, b.exits[i].node);
    EXPECT_EQ(a.exits[i].exit_code, b.exits[i].exit_code);
    EXPECT_EQ(a.exits[i].signal, b.exits[i].signal);
    EXPECT_EQ(a.exits[i].time_unix_ms, b.exits[i].time_unix_ms);
    EXPECT_EQ(a.exits[i].message, b.exits[i].message);
  }
  EXPECT_EQ(a.submitted_unix_ms, b.submitted_unix_ms);
  EXPECT_EQ(a.started_unix_ms, b.started_unix_ms);
  EXPECT_EQ(a.ended_unix_ms, b.ended_unix_ms);
}

TEST(FileJobStoreTest, SavedRecordsReloadInAFreshStore) {
  testing::TempDir dir;
  {
    auto store = FileJobStore::Create(dir.path() / "state");
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Save(Record("j-1")).ok());
    ASSERT_TRUE((*store)->Save(Record("j-2", JobState::kSucceeded)).ok());
  }
  auto store = FileJobStore::Create(dir.path() / "state");
  ASSERT_TRUE(store.ok());
  auto jobs = (*store)->LoadAll();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 2u);
  std::sort(jobs->begin(), jobs->end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  ExpectSame((*jobs)[0], Record("j-1"));
  ExpectSame((*jobs)[1], Record("j-2", JobState::kSucceeded));
}

TEST(FileJobStoreTest, SaveReplacesTheRecordAtomically) {
  testing::TempDir dir;
  auto store = *FileJobStore::Create(dir.path());
  JobRecord job = Record("j-1");
  ASSERT_TRUE(store->Save(job).ok());
  job.state = JobState::kFailed;
  job.exit_code = 3;
  ASSERT_TRUE(store->Save(job).ok());
  // No temporary file is left behind, and the one record is the new one.
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path() / "jobs")) names.push_back(entry.path().filename());
  EXPECT_THAT(names, ::testing::ElementsAre("j-1.json"));
  auto jobs = *store->LoadAll();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, JobState::kFailed);
  EXPECT_EQ(jobs[0].exit_code, 3);
}

TEST(FileJobStoreTest, ATornTemporaryFileLeavesThePreviousRecord) {
  testing::TempDir dir;
  auto store = *FileJobStore::Create(dir.path());
  ASSERT_TRUE(store->Save(Record("j-1")).ok());
  // What a crash between write and rename leaves.
  dir.Write("jobs/.j-1.json.tmp", "{\"version\": 1, \"id\": \"j-1\", \"sta");
  auto jobs = store->LoadAll();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].state, JobState::kRunning);
  EXPECT_FALSE(fs::exists(dir.path() / "jobs/.j-1.json.tmp"));
}

TEST(FileJobStoreTest, CorruptRecordsAreSkippedNotFatal) {
  testing::TempDir dir;
  auto store = *FileJobStore::Create(dir.path());
  ASSERT_TRUE(store->Save(Record("j-good")).ok());
  dir.Write("jobs/j-bad.json", "{not json");
  dir.Write("jobs/j-empty.json", "");
  dir.Write("jobs/j-array.json", "[1, 2]");
  dir.Write("jobs/j-state.json", "{\"version\": 1, \"id\": \"j-state\", \"spec\": {}, \"state\": \"EXPLODED\"}");
  dir.Write("jobs/j-version.json", "{\"version\": 99, \"id\": \"j-version\"}");
  dir.Write("jobs/j-other.json", JobRecordToJson(Record("j-elsewhere")));
  dir.Write("jobs/j-types.json",
            "{\"version\": 1, \"id\": \"j-types\", \"spec\": {\"min_nodes\": \"x\"}, \"state\": \"RUNNING\"}");
  dir.Write("jobs/README.txt", "not a record");
  auto jobs = store->LoadAll();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].id, "j-good");
}

TEST(FileJobStoreTest, RejectsIdsThatAreNotPlainFileNames) {
  testing::TempDir dir;
  auto store = *FileJobStore::Create(dir.path());
  for (const std::string& id : std::vector<std::string>{"", "../escape", ".hidden", "a/b", std::string(200, 'x')}) {
    EXPECT_EQ(store->Save(Record(id)).code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(store->ReadLogs(id).status().code(), absl::StatusCode::kInvalidArgument) << id;
  }
  EXPECT_TRUE(IsValidJobId("j-sa1b2c-001"));
}

TEST(FileJobStoreTest, LogsAppendAndReadBackSkippingATornLastLine) {
  testing::TempDir dir;
  auto store = *FileJobStore::Create(dir.path());
  EXPECT_EQ(store->ReadLogs("j-1").status().code(), absl::StatusCode::kNotFound);
  common::LogLine line{.job_id = "j-1",
                       .attempt = 2,
                       .rank = 3,
                       .local_rank = 1,
                       .node = "b",
                       .stream = common::LogStream::kStderr,
                       .text = "loss=0.5 \"quoted\" \t tab"};
  ASSERT_TRUE(store->AppendLog("j-1", line).ok());
  line.stream = common::LogStream::kStdout;
  line.text = std::string("bad utf8 \xff\xfe end");
  ASSERT_TRUE(store->AppendLog("j-1", line).ok());
  store->CloseLog("j-1");
  std::ofstream(store->LogPath("j-1"), std::ios::app) << "{\"a\": 2, \"r\": 3, \"t\": \"torn";
  auto lines = store->ReadLogs("j-1");
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].attempt, 2);
  EXPECT_EQ((*lines)[0].rank, 3);
  EXPECT_EQ((*lines)[0].local_rank, 1);
  EXPECT_EQ((*lines)[0].node, "b");
  EXPECT_EQ((*lines)[0].stream, common::LogStream::kStderr);
  EXPECT_EQ((*lines)[0].text, "loss=0.5 \"quoted\" \t tab");
  EXPECT_EQ((*lines)[0].job_id, "j-1");
  EXPECT_EQ((*lines)[1].stream, common::LogStream::kStdout);
  EXPECT_THAT((*lines)[1].text, ::testing::StartsWith("bad utf8 "));
  // Appending after a reopen continues the same file.
  ASSERT_TRUE(store->AppendLog("j-1", line).ok());
}

TEST(FileJobStoreTest, CreateFailsWhenTheStateDirIsAFile) {
  testing::TempDir dir;
  const fs::path file = dir.Write("state", "x");
  EXPECT_FALSE(FileJobStore::Create(file).ok());
}

}  // namespace
}  // namespace accel::daemon
