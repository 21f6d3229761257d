// The SLURM Prolog/Epilog (deploy/slurm/) with a real acceld:
// - PrologEpilogScripts: the scripts run as slurmd would run them (its minimal environment), no SLURM;
// - RealCluster: munged + slurmctld + slurmd of Debian's slurm-wlm on loopback, configured in a temp
//   folder with our scripts as Prolog/Epilog; `sbatch` of a 2-process `accelctl launch --cpu` job with
//   an `srun accelctl launch` step and a detached `accelctl launch --cluster` job. Checks the job's
//   output, that acceld learned the allocation, and that after the Epilog no worker is left.
// Every process started here is stopped on the way out, even when a check fails.
#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <sstream>

#include "agent/process_table.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/ports.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ReadFile;
using testing::RunProcess;
using testing::WaitFor;

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string BinDir() { return std::filesystem::path(testing::BinaryPath("acceld")).parent_path().string(); }

// SIGTERM, a moment, SIGKILL: for the processes the test or its scripts started (found by pid file
// or by a variable only they carry).
void StopPid(pid_t pid) {
  if (pid <= 1 || !testing::ProcessAlive(pid)) return;
  ::kill(pid, SIGTERM);
  if (!WaitFor([&] { return !testing::ProcessAlive(pid); }, milliseconds(5000))) ::kill(pid, SIGKILL);
  WaitFor([&] { return !testing::ProcessAlive(pid); }, milliseconds(2000));
}
void StopPidFile(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) return;
  try {
    StopPid(std::stoi(ReadFile(file)));
  } catch (const std::exception&) {
  }
}
void SweepByEnv(const std::string& name, const std::string& value) {
  agent::ProcProcessTable table;
  agent::SweepProcesses(table, name, value, {.grace = absl::Seconds(3), .kill_wait = absl::Seconds(3), .self = ::getpid()});
}

// A worker for `accelctl launch --no_python`: prints its rank, records its pid, and leaves behind a
// process of its own session (as a daemonizing data loader would) that SLURM's process tracking of
// the step may miss, but that carries the job's SLURM_JOB_ID: the Epilog must find it.
constexpr char kWorker[] = R"(#!/bin/sh
out="$1"; tag="$2"; RANK=${RANK:-0}; WORLD_SIZE=${WORLD_SIZE:-1}
echo "rank $RANK of $WORLD_SIZE tag $tag slurm job $SLURM_JOB_ID"
echo $$ > "$out/worker.$tag.$RANK.pid"
if [ "${3:-}" = escape ]; then
  setsid sleep 300 </dev/null >/dev/null 2>&1 &
  echo $! > "$out/escaped.$tag.$RANK.pid"
fi
if [ -n "${4:-}" ]; then exec sleep "$4"; fi
exit 0
)";

class SlurmScriptsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    StopPidFile(dir_.path() / "acceld.pid");
    SweepByEnv("SLURM_JOB_ID", job_);
  }
  // The Prolog/Epilog as slurmd runs them: a minimal environment (SLURM's variables, little else).
  testing::ProcessResult RunScript(const std::string& script, std::map<std::string, std::string> slurm_env) {
    std::map<std::string, std::string> env = {
        {"ACCEL_BIN_DIR", BinDir()},
        {"ACCEL_AGENT_SOCKET", (dir_.path() / "acceld.sock").string()},
        {"ACCEL_CONFIG", config_.string()},
        {"ACCEL_LOG", (dir_.path() / "acceld.log").string()},
        {"ACCEL_PID_FILE", (dir_.path() / "acceld.pid").string()},
        {"ACCEL_SLURM_ENV", (dir_.path() / "none.env").string()},
        {"ACCEL_EPILOG_GRACE", "1"},
        {"PATH", "/usr/bin:/bin"}};
    env.insert(slurm_env.begin(), slurm_env.end());
    return RunProcess({testing::SourcePath("deploy/slurm/" + script)}, env, seconds(60));
  }
  testing::ProcessResult Show() {
    return RunProcess({testing::BinaryPath("accelctl"), "allocation", "show", "--json", "--agent",
                       "unix:" + (dir_.path() / "acceld.sock").string()},
                      testing::EnvWith({}), seconds(20));
  }

  testing::TempDir dir_;
  const std::string job_ = "9" + std::to_string(::getpid());
  const std::filesystem::path config_ =
      dir_.Write("acceld.yaml", "role: both\nlisten: [unix:" + (dir_.path() / "acceld.sock").string() + "]\nlog_root: " +
                                    (dir_.path() / "logs").string() + "\nstate_dir: " + (dir_.path() / "state").string() + "\n");
};

TEST_F(SlurmScriptsTest, PrologStartsAcceldAndRegistersTheAllocationEpilogLeavesNoProcess) {
  const auto prolog = RunScript("prolog.sh", {{"SLURM_JOB_ID", job_}, {"SLURM_JOB_USER", "alice"},
                                              {"SLURM_JOB_UID", "1234"}, {"SLURM_JOB_GPUS", "0,2"}});
  ASSERT_EQ(prolog.exit_code, 0) << prolog.out << prolog.err << ReadFile(dir_.path() / "acceld.log");
  ASSERT_TRUE(std::filesystem::exists(dir_.path() / "acceld.pid"));
  const pid_t acceld = std::stoi(ReadFile(dir_.path() / "acceld.pid"));
  EXPECT_TRUE(testing::ProcessAlive(acceld));
  // acceld outlives the job: it must not carry the job's id (the Epilog would stop it).
  agent::ProcProcessTable table;
  for (const auto& entry : table.FindByEnv("SLURM_JOB_ID", job_)) EXPECT_NE(entry.pid, acceld) << entry.command;

  auto shown = Show();
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const auto allocation = nlohmann::json::parse(shown.out);
  EXPECT_EQ(allocation["job_id"], job_);
  EXPECT_EQ(allocation["user"], "alice");
  EXPECT_EQ(allocation["uid"], 1234);
  EXPECT_EQ(allocation["gpus"], nlohmann::json::array({"0", "2"}));

  // A second Prolog (acceld already up) is fine and starts nothing new.
  const auto again = RunScript("prolog.sh", {{"SLURM_JOB_ID", job_}, {"SLURM_JOB_USER", "alice"}});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(std::stoi(ReadFile(dir_.path() / "acceld.pid")), acceld);

  // Leftovers of the job: one that ignores SIGTERM, in a session of its own.
  testing::Subprocess stubborn({"/bin/sh", "-c", "trap '' TERM; exec setsid sleep 300"},
                               testing::EnvWith({{"SLURM_JOB_ID", job_}}));
  testing::Subprocess polite({"/bin/sleep", "300"}, testing::EnvWith({{"SLURM_JOB_ID", job_}}));
  testing::Subprocess other_job({"/bin/sleep", "300"}, testing::EnvWith({{"SLURM_JOB_ID", job_ + "1"}}));
  ASSERT_TRUE(WaitFor([&] { return table.FindByEnv("SLURM_JOB_ID", job_).size() >= 2; }, milliseconds(5000)));

  const auto epilog = RunScript("epilog.sh", {{"SLURM_JOB_ID", job_}, {"SLURM_JOB_USER", "alice"}});
  EXPECT_EQ(epilog.exit_code, 0) << epilog.out << epilog.err;
  EXPECT_NE(epilog.err.find("no process of job " + job_ + " is left"), std::string::npos) << epilog.err;
  EXPECT_TRUE(table.FindByEnv("SLURM_JOB_ID", job_).empty());
  EXPECT_TRUE(testing::ProcessAlive(other_job.pid()));
  EXPECT_TRUE(testing::ProcessAlive(acceld));
  shown = Show();
  EXPECT_EQ(Trim(shown.out), "null");

  // Without acceld the Epilog still sweeps (and says acceld is down).
  StopPid(acceld);
  testing::Subprocess late({"/bin/sleep", "300"}, testing::EnvWith({{"SLURM_JOB_ID", job_}}));
  ASSERT_TRUE(WaitFor([&] { return !table.FindByEnv("SLURM_JOB_ID", job_).empty(); }, milliseconds(5000)));
  const auto lonely = RunScript("epilog.sh", {{"SLURM_JOB_ID", job_}});
  EXPECT_EQ(lonely.exit_code, 0) << lonely.err;
  EXPECT_NE(lonely.err.find("cannot reach acceld"), std::string::npos) << lonely.err;
  EXPECT_TRUE(table.FindByEnv("SLURM_JOB_ID", job_).empty());

  // Without SLURM_JOB_ID: refused.
  EXPECT_NE(RunScript("epilog.sh", {}).exit_code, 0);
}

// ---------------------------------------------------------------------------------------------
// A one-node SLURM cluster.

bool HaveSlurm() {
  for (const char* program : {"/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch"}) {
    if (!std::filesystem::exists(program)) return false;
  }
  return ::geteuid() == 0;
}

std::string ShortHostName() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  std::string host = name;
  return host.substr(0, host.find('.'));
}

class SlurmClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveSlurm()) GTEST_SKIP() << "needs root and slurm-wlm + munge (scripts/install-deps.sh)";
    std::filesystem::permissions(dir_.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                                  std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                                  std::filesystem::perms::others_exec);
    for (const char* sub : {"out", "ctld", "spool", "logs", "state"}) std::filesystem::create_directories(dir_.path() / sub);
  }
  void TearDown() override {
    // Daemons first (SIGTERM lets slurmd end its steps), then whatever still carries our config.
    if (slurmd_) slurmd_->Signal(SIGTERM);
    if (slurmctld_) slurmctld_->Signal(SIGTERM);
    if (slurmd_) slurmd_->Wait(milliseconds(5000));
    if (slurmctld_) slurmctld_->Wait(milliseconds(5000));
    slurmd_.reset();
    slurmctld_.reset();
    if (!conf_.empty()) SweepByEnv("SLURM_CONF", conf_.string());
    StopPidFile(dir_.path() / "acceld.pid");
    for (const auto& job : jobs_) SweepByEnv("SLURM_JOB_ID", job);
    if (munged_) {
      munged_->Signal(SIGTERM);
      munged_->Wait(milliseconds(3000));
    }
    munged_.reset();
  }

  std::map<std::string, std::string> ClientEnv() const {
    return testing::EnvWith({{"SLURM_CONF", conf_.string()},
                             {"PATH", BinDir() + ":" + testing::EnvWith({})["PATH"]},
                             {"HF_HOME", (dir_.path() / "hf").string()}});
  }
  testing::ProcessResult Slurm(const std::vector<std::string>& argv) const {
    return RunProcess(argv, ClientEnv(), seconds(20));
  }

  void StartCluster() {
    const std::filesystem::path dir = dir_.path();
    // munge: a key of our own and a socket of our own, so a system munged (if any) is untouched.
    std::string key(1024, '\0');
    std::ifstream("/dev/urandom", std::ios::binary).read(key.data(), static_cast<std::streamsize>(key.size()));
    const auto key_file = dir / "munge.key";
    std::ofstream(key_file, std::ios::binary) << key;
    std::filesystem::permissions(key_file, std::filesystem::perms::owner_read);
    munge_socket_ = dir / "munge.sock";
    munged_ = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{"/usr/sbin/munged", "--foreground", "--force", "--key-file", key_file.string(),
                                 "--socket", munge_socket_.string(), "--pid-file", (dir / "munged.pid").string(),
                                 "--log-file", (dir / "munged.log").string(), "--seed-file", (dir / "munged.seed").string(),
                                 "--num-threads", "2"},
        testing::EnvWith({}));
    ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(munge_socket_); }, milliseconds(10000)))
        << munged_->Err() << ReadFile(dir / "munged.log");

    // Our Prolog/Epilog, with their settings in a wrapper (slurmd gives them no environment of ours).
    const std::string settings =
        "export ACCEL_BIN_DIR='" + BinDir() + "' ACCEL_AGENT_SOCKET='" + socket_.string() + "' ACCEL_CONFIG='" +
        (dir / "acceld.yaml").string() + "' ACCEL_LOG='" + (dir / "acceld.log").string() + "' ACCEL_PID_FILE='" +
        (dir / "acceld.pid").string() + "' ACCEL_SLURM_ENV=/nonexistent ACCEL_EPILOG_GRACE=2\n";
    dir_.Write("prolog", "#!/bin/sh\n" + settings + "exec '" + testing::SourcePath("deploy/slurm/prolog.sh") + "'\n", true);
    dir_.Write("epilog", "#!/bin/sh\n" + settings + "'" + testing::SourcePath("deploy/slurm/epilog.sh") +
                             "'; rc=$?; echo \"$SLURM_JOB_ID $rc\" >> '" + (dir / "epilog.rc").string() + "'; exit $rc\n",
               true);
    dir_.Write("acceld.yaml", "role: both\nlisten: [unix:" + socket_.string() + "]\nlog_root: " + (dir / "logs").string() +
                                  "\nstate_dir: " + (dir / "state").string() + "\n");

    const int ctld_port = testing::FreeTcpPort();
    int slurmd_port = testing::FreeTcpPort();
    while (slurmd_port == ctld_port) slurmd_port = testing::FreeTcpPort();
    host_ = ShortHostName();
    std::ostringstream conf;
    conf << "ClusterName=acceltest\n"
         << "SlurmctldHost=" << host_ << "(127.0.0.1)\n"
         << "SlurmctldPort=" << ctld_port << "\nSlurmdPort=" << slurmd_port << "\n"
         << "AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket=" << munge_socket_.string() << "\n"
         << "SlurmUser=root\nSlurmdUser=root\n"
         << "StateSaveLocation=" << (dir / "ctld").string() << "\nSlurmdSpoolDir=" << (dir / "spool").string() << "\n"
         << "SlurmctldPidFile=" << (dir / "slurmctld.pid").string() << "\nSlurmdPidFile=" << (dir / "slurmd.pid").string() << "\n"
         << "SlurmctldLogFile=" << (dir / "slurmctld.log").string() << "\nSlurmdLogFile=" << (dir / "slurmd.log").string() << "\n"
         << "SlurmctldDebug=info\nSlurmdDebug=info\n"
         << "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
         << "SchedulerType=sched/builtin\nSelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\n"
          << "MpiDefault=none\nMailProg=/bin/true\nJobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n"
         << "ReturnToService=2\nKillWait=5\nMinJobAge=300\nInactiveLimit=0\nPrologEpilogTimeout=60\n"
         << "Prolog=" << (dir / "prolog").string() << "\nEpilog=" << (dir / "epilog").string() << "\nPrologFlags=Alloc\n"
         << "NodeName=" << host_ << " NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN\n"
         << "PartitionName=test Nodes=" << host_ << " Default=YES MaxTime=INFINITE State=UP\n";
    conf_ = dir_.Write("slurm.conf", conf.str());

    const auto env = testing::EnvWith({{"SLURM_CONF", conf_.string()}});
    slurmctld_ = std::make_unique<testing::Subprocess>(std::vector<std::string>{"/usr/sbin/slurmctld", "-D", "-i"}, env);
    slurmd_ = std::make_unique<testing::Subprocess>(std::vector<std::string>{"/usr/sbin/slurmd", "-D", "-N", host_}, env);
    const bool idle = WaitFor(
        [&] {
          const auto state = Slurm({"/usr/bin/sinfo", "-h", "-n", host_, "-o", "%T"});
          return state.exit_code == 0 && Trim(state.out) == "idle";
        },
        milliseconds(30000));
    ASSERT_TRUE(idle) << "node never idle\n" << ReadFile(dir / "slurmctld.log") << ReadFile(dir / "slurmd.log")
                      << slurmd_->Err() << slurmctld_->Err();
  }

  std::string JobState(const std::string& job) const {
    const auto shown = Slurm({"/usr/bin/scontrol", "show", "job", job, "-o"});
    const size_t at = shown.out.find("JobState=");
    if (at == std::string::npos) return "";
    return shown.out.substr(at + 9, shown.out.find(' ', at) - at - 9);
  }

  testing::TempDir dir_;
  std::filesystem::path conf_;
  std::filesystem::path munge_socket_;
  const std::filesystem::path socket_ = dir_.path() / "acceld.sock";
  std::string host_;
  std::vector<std::string> jobs_;
  std::unique_ptr<testing::Subprocess> munged_;
  std::unique_ptr<testing::Subprocess> slurmctld_;
  std::unique_ptr<testing::Subprocess> slurmd_;
};

TEST_F(SlurmClusterTest, SbatchAndSrunLaunchesWithPrologAndEpilog) {
  StartCluster();
  if (HasFatalFailure()) return;
  const std::filesystem::path out = dir_.path() / "out";
  dir_.Write("worker.sh", kWorker, true);
  const std::string worker = (dir_.path() / "worker.sh").string();
  const std::string agent = "unix:" + socket_.string();
  // The batch script: what acceld knows of the allocation; a 2-process launch on the batch node; an
  // srun step running accelctl launch whose workers leave an escaped process; and a detached
  // cluster job through acceld that would run for minutes.
  dir_.Write("job.sbatch",
             "#!/bin/sh\n"
             "#SBATCH -N1 -n2 -o " + (out / "job-%j.out").string() + "\n"
             "set -e\n"
             "accelctl allocation show --json --agent " + agent + " > " + (out / "allocation.json").string() + "\n"
             "accelctl launch --cpu --num_processes 2 --no_python " + worker + " " + out.string() + " batch\n"
             "srun -n1 accelctl launch --cpu --num_processes 2 --no_python " + worker + " " + out.string() + " step escape\n"
             "accelctl launch --cluster " + agent + " --detach --cpu --num_processes 1 --no_python " + worker + " " +
                 out.string() + " cluster escape 300 > " + (out / "cluster-job").string() + "\n"
             "for i in $(seq 100); do [ -e " + (out / "worker.cluster.0.pid").string() + " ] && break; sleep 0.1; done\n"
             "echo batch script done\n");
  const auto submitted = Slurm({"/usr/bin/sbatch", "--parsable", (dir_.path() / "job.sbatch").string()});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.out << submitted.err;
  const std::string job = Trim(submitted.out.substr(0, submitted.out.find(';')));
  jobs_.push_back(job);

  // Done means the Epilog has run too (COMPLETING until then).
  const bool ended = WaitFor(
      [&] {
        const std::string state = JobState(job);
        return state == "COMPLETED" || state == "FAILED" || state == "CANCELLED" || state == "NODE_FAIL";
      },
      milliseconds(45000));
  const std::string output = ReadFile(out / ("job-" + job + ".out"));
  ASSERT_TRUE(ended) << JobState(job) << "\n" << output << ReadFile(dir_.path() / "slurmd.log");
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(dir_.path() / "epilog.rc"); }, milliseconds(20000)))
      << ReadFile(dir_.path() / "slurmd.log");
  EXPECT_EQ(JobState(job), "COMPLETED") << output << ReadFile(dir_.path() / "slurmd.log") << ReadFile(dir_.path() / "acceld.log");

  // The job's output: both ranks of the batch launch and of the srun step, with the job's id.
  for (const std::string tag : {"batch", "step"}) {
    for (int rank = 0; rank < 2; ++rank) {
      const std::string line = "rank " + std::to_string(rank) + " of 2 tag " + tag + " slurm job " + job;
      EXPECT_NE(output.find(line), std::string::npos) << line << "\n" << output;
    }
  }
  EXPECT_NE(output.find("batch script done"), std::string::npos) << output;

  // acceld learned the allocation from the Prolog (job, user, uid) ...
  const auto allocation = nlohmann::json::parse(ReadFile(out / "allocation.json"), nullptr, false);
  ASSERT_TRUE(allocation.is_object()) << ReadFile(out / "allocation.json") << output;
  EXPECT_EQ(allocation["job_id"], job);
  EXPECT_EQ(allocation["user"], "root");
  EXPECT_EQ(allocation["uid"], 0);
  // ... and forgot it in the Epilog, which succeeded.
  const auto after = RunProcess({testing::BinaryPath("accelctl"), "allocation", "show", "--agent", agent},
                                testing::EnvWith({}), seconds(20));
  EXPECT_EQ(after.out, "not allocated\n") << after.err;
  EXPECT_EQ(Trim(ReadFile(dir_.path() / "epilog.rc")), job + " 0") << ReadFile(dir_.path() / "slurmd.log");
  EXPECT_EQ(Trim(Slurm({"/usr/bin/sinfo", "-h", "-n", host_, "-o", "%T"}).out), "idle");

  // No worker is left: not the escaped ones, not the cluster job's, nothing with the job's id.
  std::vector<std::string> pid_files;
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    if (entry.path().extension() == ".pid") pid_files.push_back(entry.path().filename().string());
  }
  for (const char* expected : {"escaped.step.0.pid", "escaped.step.1.pid", "worker.cluster.0.pid", "escaped.cluster.0.pid"}) {
    EXPECT_NE(std::find(pid_files.begin(), pid_files.end(), expected), pid_files.end()) << expected;
  }
  for (const auto& file : pid_files) {
    const pid_t pid = std::stoi(ReadFile(out / file));
    EXPECT_FALSE(testing::ProcessAlive(pid)) << file << " " << pid;
  }
  agent::ProcProcessTable table;
  for (const auto& entry : table.FindByEnv("SLURM_JOB_ID", job)) ADD_FAILURE() << "left: " << entry.pid << " " << entry.command;
  // The cluster job was stopped by the Epilog, through acceld.
  const std::string cluster_job = Trim(ReadFile(out / "cluster-job"));
  EXPECT_FALSE(cluster_job.empty());
  const auto status = RunProcess({testing::BinaryPath("accelctl"), "status", "--cluster", agent, "--json", cluster_job},
                                 testing::EnvWith({}), seconds(20));
  EXPECT_EQ(status.out.find("\"running\""), std::string::npos) << status.out << status.err;
}

}  // namespace
}  // namespace accel
