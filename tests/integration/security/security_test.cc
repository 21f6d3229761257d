// Control-plane security end to end (docs/security.md): acceld processes, accelctl as a subprocess
// (as other users through setpriv), raw gRPC for hostile requests. Certificates are made at test
// time with the openssl command line; local users are created with useradd and removed afterwards.
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <memory>

#include "accel/v1/coordinator.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/ports.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace accel::testing {
namespace {

using Env = std::map<std::string, std::string>;
using std::chrono::seconds;
namespace fs = std::filesystem;

Env BaseEnv(const fs::path& dir) {
  return EnvWith({{"HF_HOME", (dir / "hf").string()}, {"OMP_NUM_THREADS", "1"},
                  {"ACCEL_PROC_NVIDIA_GPUS", (dir / "none").string()}, {"ACCEL_NVML_LIBRARY", "/nonexistent"},
                  {"ACCEL_CLUSTER", ""}, {"ACCEL_TLS_CA", ""}, {"ACCEL_TLS_CERT", ""}, {"ACCEL_TLS_KEY", ""},
                  {"ACCEL_TOKEN_FILE", ""}});
}

Env With(Env env, const Env& more) {
  for (const auto& [key, value] : more) env[key] = value;
  return env;
}

ProcessResult Shell(const std::string& script, const fs::path& cwd) {
  return RunProcess({"/bin/sh", "-ec", script}, EnvWith({}), seconds(60), cwd);
}

// A cluster CA, a certificate for the daemons (CN=node, valid for 127.0.0.1), one for a user
// (CN=client-root), and a second CA with a certificate of the same user CN.
void MakeCertificates(const fs::path& dir) {
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string script =
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext\n"
      "for ca in ca other-ca; do openssl req -x509 " + key + " -keyout $ca.key -out $ca.pem -days 2 -subj /CN=$ca 2>/dev/null; done\n"
      "sign() { openssl req " + key + " -keyout $2.key -out $2.csr -subj /CN=$3 2>/dev/null;"
      " openssl x509 -req -in $2.csr -CA $1.pem -CAkey $1.key -CAcreateserial -out $2.pem -days 2 -extfile san.ext 2>/dev/null; }\n"
      "sign ca node node\nsign ca client client-root\nsign other-ca rogue client-root\n"
      "printf 'node @node\\nclient-root root\\n' > identities\n"
      "printf 'tok-root-0123456789abcdef root\\n' > tokens && chmod 600 tokens\n"
      "printf 'tok-root-0123456789abcdef\\n' > good.token && printf 'tok-wrong-0123456789abcdef\\n' > bad.token\n";
  const ProcessResult result = Shell(script, dir);
  ASSERT_EQ(result.exit_code, 0) << result.err;
}

class AcceldProcess {
 public:
  AcceldProcess(std::vector<std::string> args, const Env& env, const fs::path& cwd = {}) {
    args.insert(args.begin(), BinaryPath("acceld"));
    process_ = std::make_unique<Subprocess>(args, env, cwd);
  }
  ~AcceldProcess() { Stop(); }
  void Stop() {
    if (!process_) return;
    process_->Signal(SIGTERM);
    process_->Wait(seconds(10));
    process_.reset();
  }
  Subprocess& process() { return *process_; }
  bool alive() const { return process_ && ProcessAlive(process_->pid()); }

 private:
  std::unique_ptr<Subprocess> process_;
};

ProcessResult Accelctl(std::vector<std::string> args, const Env& env, seconds timeout = seconds(30),
                       const fs::path& cwd = {}) {
  args.insert(args.begin(), BinaryPath("accelctl"));
  return RunProcess(args, env, timeout, cwd);
}

// --- acceld refuses to start ----------------------------------------------------------------------

TEST(SecurityTest, RefusesNonLoopbackListenWithoutTls) {
  TempDir dir;
  const std::string address = "0.0.0.0:" + std::to_string(FreeTcpPort());
  ProcessResult result = RunProcess({BinaryPath("acceld"), "--role", "coordinator", "--listen", address, "--state_dir",
                                     (dir.path() / "state").string()},
                                    BaseEnv(dir.path()), seconds(20));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("refusing to listen on " + address), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  // TLS alone is not enough: clients must be authenticated (certificates or tokens).
  MakeCertificates(dir.path());
  result = RunProcess({BinaryPath("acceld"), "--role", "coordinator", "--listen", address, "--state_dir",
                       (dir.path() / "state").string(), "--tls_cert", (dir.path() / "node.pem").string(), "--tls_key",
                       (dir.path() / "node.key").string()},
                      BaseEnv(dir.path()), seconds(20));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("client authentication"), std::string::npos) << result.err;
}

// --- mutual TLS and tokens ------------------------------------------------------------------------

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override { MakeCertificates(dir_.path()); }
  std::string File(const std::string& name) const { return (dir_.path() / name).string(); }
  std::vector<std::string> TlsFlags() const {
    return {"--tls_cert", File("node.pem"), "--tls_key", File("node.key"), "--tls_ca", File("ca.pem"),
            "--identity_map", File("identities")};
  }
  Env ClientEnv(const std::string& cert) const {
    Env env = With(BaseEnv(dir_.path()), {{"ACCEL_CLUSTER", address_}, {"ACCEL_TLS_CA", File("ca.pem")}});
    if (!cert.empty()) env = With(env, {{"ACCEL_TLS_CERT", File(cert + ".pem")}, {"ACCEL_TLS_KEY", File(cert + ".key")}});
    return env;
  }
  bool NodeListed(const Env& env, const std::string& node) const {
    const ProcessResult result = Accelctl({"nodes", "--json"}, env, seconds(10));
    return result.exit_code == 0 && result.out.find("\"" + node + "\"") != std::string::npos;
  }

  TempDir dir_;
  std::string address_ = "127.0.0.1:" + std::to_string(FreeTcpPort());
};

TEST_F(TlsTest, OnlyClientsWithCertificatesOfTheClusterCaGetIn) {
  // A coordinator on every interface and an agent, both mutual TLS; the agent registers as @node.
  std::vector<std::string> agent_args = {"--role", "agent", "--node_name", "tls-node", "--listen",
                                         "127.0.0.1:" + std::to_string(FreeTcpPort()), "--coordinator", address_,
                                         "--log_root", File("logs"), "--heartbeat_interval", "0.2",
                                         "--heartbeat_timeout", "2"};
  std::vector<std::string> coordinator_args = {"--role", "coordinator", "--listen", "0.0.0.0:" + address_.substr(10),
                                               "--state_dir", File("state"), "--heartbeat_interval", "0.2",
                                               "--heartbeat_timeout", "2", "--last_call", "0.2"};
  for (const auto& flag : TlsFlags()) coordinator_args.push_back(flag), agent_args.push_back(flag);
  AcceldProcess secured(coordinator_args, BaseEnv(dir_.path()));
  AcceldProcess agent(agent_args, BaseEnv(dir_.path()));
  ASSERT_TRUE(WaitFor([&] { return NodeListed(ClientEnv("client"), "tls-node"); }, seconds(20)))
      << Accelctl({"nodes"}, ClientEnv("client")).err;

  // Plaintext, TLS without a client certificate, and a certificate of another CA: all refused.
  ProcessResult result = Accelctl({"nodes"}, With(BaseEnv(dir_.path()), {{"ACCEL_CLUSTER", address_}}), seconds(10));
  EXPECT_NE(result.exit_code, 0) << result.out;
  result = Accelctl({"nodes"}, ClientEnv(""), seconds(10));
  EXPECT_NE(result.exit_code, 0) << result.out;
  result = Accelctl({"nodes"}, ClientEnv("rogue"), seconds(10));
  EXPECT_NE(result.exit_code, 0) << result.out;
  // Flags work as well as the environment.
  result = Accelctl({"nodes", "--cluster", address_, "--tls_ca", File("ca.pem"), "--tls_cert", File("client.pem"),
                     "--tls_key", File("client.key")},
                    BaseEnv(dir_.path()), seconds(10));
  EXPECT_EQ(result.exit_code, 0) << result.err;

  // A user certificate cannot pose as an agent.
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFile(File("ca.pem"));
  tls.pem_cert_chain = ReadFile(File("client.pem"));
  tls.pem_private_key = ReadFile(File("client.key"));
  auto stub = v1::CoordinatorService::NewStub(grpc::CreateChannel(address_, grpc::SslCredentials(tls)));
  v1::RegisterAgentRequest request;
  request.mutable_node()->set_name("rogue-node");
  request.mutable_node()->set_agent_address("127.0.0.1:1");
  v1::RegisterAgentResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(10));
  EXPECT_EQ(stub->RegisterAgent(&context, request, &response).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // A job runs through the authenticated agent <-> coordinator channels.
  result = Accelctl({"launch", "--cpu", "--num_processes", "1", "--no_python", "/bin/echo", "over-tls"},
                    ClientEnv("client"), seconds(60), dir_.path());
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("over-tls"), std::string::npos) << result.out;
  // ... and with the flags instead of the environment.
  result = Accelctl({"launch", "--cluster", address_, "--tls_ca", File("ca.pem"), "--tls-cert", File("client.pem"),
                     "--tls_key", File("client.key"), "--cpu", "--num_processes", "1", "--no_python", "/bin/echo",
                     "flags-over-tls"},
                    BaseEnv(dir_.path()), seconds(60), dir_.path());
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("flags-over-tls"), std::string::npos) << result.out;
}

TEST_F(TlsTest, BearerTokensOverTls) {
  AcceldProcess coordinator({"--role", "coordinator", "--listen", "0.0.0.0:" + address_.substr(10), "--state_dir",
                             File("state"), "--tls_cert", File("node.pem"), "--tls_key", File("node.key"),
                             "--token_file", File("tokens")},
                            BaseEnv(dir_.path()));
  const Env good = With(ClientEnv(""), {{"ACCEL_TOKEN_FILE", File("good.token")}});
  ASSERT_TRUE(WaitFor([&] { return Accelctl({"nodes"}, good, seconds(5)).exit_code == 0; }, seconds(20)));
  ProcessResult result = Accelctl({"nodes"}, With(ClientEnv(""), {{"ACCEL_TOKEN_FILE", File("bad.token")}}), seconds(10));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("token"), std::string::npos) << result.err;
  result = Accelctl({"nodes"}, ClientEnv(""), seconds(10));
  EXPECT_NE(result.exit_code, 0);
  result = Accelctl({"nodes"}, With(BaseEnv(dir_.path()), {{"ACCEL_CLUSTER", address_}}), seconds(10));
  EXPECT_NE(result.exit_code, 0);
  // A launch takes --token_file as well, in either spelling (detached: no agent runs it here).
  auto detached_launch = [&](const std::string& flag, const std::string& token_file) {
    return Accelctl({"launch", flag, token_file, "--detach", "--cpu", "--num_processes", "1", "--no_python", "/bin/true"},
                    ClientEnv(""), seconds(10), dir_.path());
  };
  result = detached_launch("--token_file", File("good.token"));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  result = detached_launch("--token-file", File("bad.token"));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("token"), std::string::npos) << result.err;
}

// --- users: ownership, run-as, limits ---------------------------------------------------------------

// Two local users in one group, created for the test and removed after it.
class UsersTest : public ::testing::Test {
 protected:
  // Per process: ctest runs the cases of this fixture in parallel.
  const std::string suffix_ = std::to_string(::getpid() % 1000000);
  const std::string group_ = "accelsec" + suffix_;
  const std::string alice_ = "accelsec-a" + suffix_;
  const std::string bob_ = "accelsec-b" + suffix_;
  const char* kGroup = group_.c_str();
  const char* kAlice = alice_.c_str();
  const char* kBob = bob_.c_str();

  void SetUp() override {
    if (::geteuid() != 0 || RunProcess({"/bin/sh", "-c", "command -v useradd && command -v setpriv"}, EnvWith({})).exit_code != 0) {
      GTEST_SKIP() << "needs root, useradd and setpriv";
    }
    Cleanup();
    ASSERT_EQ(RunProcess({"/usr/sbin/groupadd", kGroup}, EnvWith({})).exit_code, 0);
    for (const char* user : {kAlice, kBob}) {
      const ProcessResult added = RunProcess({"/usr/sbin/useradd", "-m", "-G", kGroup, user}, EnvWith({}));
      ASSERT_EQ(added.exit_code, 0) << added.err;
    }
    ::chmod(dir_.path().c_str(), 0755);
    fs::create_directories(dir_.path() / "run");
    fs::create_directories(dir_.path() / "work");
    ::chmod((dir_.path() / "work").c_str(), 0777);
    socket_ = "unix:" + (dir_.path() / "run" / "acceld.sock").string();
    script_ = dir_.Write("job.sh",
                         "#!/bin/sh\necho \"whoami uid=$(id -u) user=$USER home=$HOME\"\n"
                         "i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done\n",
                         /*executable=*/true).string();
    ::chmod(script_.c_str(), 0755);
  }
  void TearDown() override {
    daemon_.reset();
    if (::geteuid() == 0) Cleanup();
  }
  void Cleanup() const {
    for (const char* user : {kAlice, kBob}) RunProcess({"/usr/sbin/userdel", "-r", user}, EnvWith({}));
    RunProcess({"/usr/sbin/groupdel", kGroup}, EnvWith({}));
  }
  static uid_t Uid(const char* user) { return ::getpwnam(user)->pw_uid; }

  void StartDaemon(const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> args = prefix;
    args.insert(args.end(), {BinaryPath("acceld"), "--role", "both", "--node_name", "users-node", "--listen", socket_,
                             "--socket_group", kGroup, "--state_dir", (dir_.path() / "state").string(), "--log_root",
                             (dir_.path() / "logs").string(), "--heartbeat_interval", "0.2", "--heartbeat_timeout",
                             "2", "--last_call", "0.2"});
    daemon_ = std::make_unique<Subprocess>(args, BaseEnv(dir_.path()));
    ASSERT_TRUE(WaitFor([&] { return AsUser("", {"nodes"}).out.find("users-node") != std::string::npos; }, seconds(20)));
  }
  // accelctl as `user` ("" : root), from the shared work folder.
  ProcessResult AsUser(const std::string& user, std::vector<std::string> args, seconds timeout = seconds(30)) const {
    std::vector<std::string> argv;
    if (!user.empty()) {
      argv = {"/usr/bin/setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups"};
    }
    argv.push_back(BinaryPath("accelctl"));
    argv.insert(argv.end(), args.begin(), args.end());
    Env env = With(BaseEnv(dir_.path()), {{"ACCEL_CLUSTER", socket_}, {"HF_HOME", (dir_.path() / "work" / "hf").string()}});
    if (!user.empty()) env = With(env, {{"HOME", "/"}, {"USER", "root"}});  // lies the daemon must not believe
    return RunProcess(argv, env, timeout, dir_.path() / "work");
  }
  std::string Submit(const std::string& user) {
    const ProcessResult result =
        AsUser(user, {"launch", "--detach", "--cpu", "--num_processes", "1", "--no_python", script_});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    std::string id = result.out;
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    return id;
  }
  std::string Logs(const std::string& user, const std::string& job) const {
    return AsUser(user, {"logs", job}, seconds(10)).out;
  }
  std::string State(const std::string& job) const {
    const ProcessResult result = AsUser("", {"status", job, "--json"}, seconds(10));
    auto json = nlohmann::json::parse(result.out, nullptr, false);
    return json.is_object() ? json.value("state", "") : "";
  }

  TempDir dir_;
  std::string socket_;
  std::string script_;
  std::unique_ptr<Subprocess> daemon_;
};

TEST_F(UsersTest, UsersSeeFollowAndCancelOnlyTheirOwnJobsWhichRunAsThem) {
  StartDaemon();
  const std::string job = Submit(kAlice);
  ASSERT_FALSE(job.empty());
  const std::string expected = "whoami uid=" + std::to_string(Uid(kAlice)) + " user=" + kAlice +
                               " home=/home/" + kAlice;
  ASSERT_TRUE(WaitFor([&] { return Logs(kAlice, job).find(expected) != std::string::npos; }, seconds(20)))
      << Logs(kAlice, job) << Logs("", job);

  // Bob cannot see, follow or cancel it, nor find it in the list.
  for (const auto& args : std::vector<std::vector<std::string>>{{"status", job}, {"logs", job}, {"stop", job}}) {
    const ProcessResult result = AsUser(kBob, args, seconds(10));
    EXPECT_NE(result.exit_code, 0) << args[0];
    EXPECT_NE(result.err.find("belongs to another user"), std::string::npos) << args[0] << ": " << result.err;
  }
  EXPECT_EQ(AsUser(kBob, {"status", "--json"}).out.find(job), std::string::npos);
  EXPECT_NE(AsUser(kAlice, {"status", "--json"}).out.find(job), std::string::npos);
  EXPECT_NE(AsUser("", {"status", "--json"}).out.find(job), std::string::npos);  // root is an admin
  EXPECT_EQ(State(job), "RUNNING");

  // Alice can cancel her own job.
  EXPECT_EQ(AsUser(kAlice, {"stop", job}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return State(job) == "CANCELLED"; }, seconds(30))) << State(job);
}

TEST_F(UsersTest, HostileRequestsAreRefusedWhileAJobRunsOn) {
  StartDaemon();
  const std::string job = Submit(kAlice);
  ASSERT_FALSE(job.empty());
  ASSERT_TRUE(WaitFor([&] { return Logs(kAlice, job).find("tick 3") != std::string::npos; }, seconds(20)));

  auto channel_args = grpc::ChannelArguments();
  channel_args.SetMaxSendMessageSize(64 << 20);
  auto stub = v1::CoordinatorService::NewStub(
      grpc::CreateCustomChannel(socket_, grpc::InsecureChannelCredentials(), channel_args));
  auto submit = [&](const v1::JobSpec& spec) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(10));
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    auto reader = stub->SubmitJob(&context, request);
    v1::JobEvent event;
    while (reader->Read(&event)) {
    }
    return reader->Finish();
  };
  v1::JobSpec base;
  base.add_launch_args("--cpu");
  base.add_launch_args(script_);
  base.set_min_nodes(1);
  base.set_max_nodes(1);
  base.set_working_dir((dir_.path() / "work").string());

  struct Case {
    std::string name;
    std::function<void(v1::JobSpec&)> edit;
    grpc::StatusCode code;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"bad env name", [](v1::JobSpec& s) { (*s.mutable_env())["BAD-NAME"] = "1"; }, grpc::StatusCode::INVALID_ARGUMENT, "spec.env"},
      {"too many env", [](v1::JobSpec& s) { for (int i = 0; i < 5000; ++i) (*s.mutable_env())["V" + std::to_string(i)] = "x"; },
       grpc::StatusCode::INVALID_ARGUMENT, "spec.env"},
      {"too many args", [](v1::JobSpec& s) { for (int i = 0; i < 5000; ++i) s.add_launch_args("x"); },
       grpc::StatusCode::INVALID_ARGUMENT, "spec.launch_args"},
      {"traversal", [&](v1::JobSpec& s) { s.set_working_dir((dir_.path() / "work" / ".." / "..").string()); },
       grpc::StatusCode::INVALID_ARGUMENT, "spec.working_dir"},
      {"relative dir", [](v1::JobSpec& s) { s.set_working_dir("work"); }, grpc::StatusCode::INVALID_ARGUMENT, "spec.working_dir"},
      {"log_dir traversal", [&](v1::JobSpec& s) { s.mutable_launch_args()->Clear(); for (const std::string a : {"--cpu", "--log_dir", "../../etc", script_.c_str()}) s.add_launch_args(a); },
       grpc::StatusCode::INVALID_ARGUMENT, "--log_dir"},
      {"huge process count", [](v1::JobSpec& s) { s.mutable_launch_args()->Clear(); for (const char* a : {"--num_processes", "99999999", "x.py"}) s.add_launch_args(a); },
       grpc::StatusCode::INVALID_ARGUMENT, "--num_processes"},
      {"node counts", [](v1::JobSpec& s) { s.set_min_nodes(3); s.set_max_nodes(2); }, grpc::StatusCode::INVALID_ARGUMENT, "min_nodes"},
      {"oversized message", [](v1::JobSpec& s) { s.set_config_text(std::string(20 << 20, 'x')); },
       grpc::StatusCode::RESOURCE_EXHAUSTED, ""},
  };
  for (const Case& c : cases) {
    v1::JobSpec spec = base;
    c.edit(spec);
    const grpc::Status status = submit(spec);
    EXPECT_EQ(status.error_code(), c.code) << c.name << ": " << status.error_message();
    EXPECT_NE(status.error_message().find(c.field), std::string::npos) << c.name << ": " << status.error_message();
  }
  // Garbage on the socket: the connection is dropped, nothing else happens.
  for (int i = 0; i < 3; ++i) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = socket_.substr(5);
    std::memcpy(address.sun_path, path.c_str(), path.size());
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    const std::string junk = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + std::string(100000, '\xff');
    [[maybe_unused]] auto written = ::write(fd, junk.data(), junk.size());
    ::close(fd);
  }
  // The job is unharmed: still running and still printing; the daemon still serves.
  const std::string before = Logs(kAlice, job);
  ASSERT_TRUE(WaitFor([&] { return Logs(kAlice, job).size() > before.size(); }, seconds(10)));
  EXPECT_EQ(State(job), "RUNNING");
  EXPECT_TRUE(ProcessAlive(daemon_->pid()));
  EXPECT_EQ(AsUser(kAlice, {"stop", job}).exit_code, 0);
}

TEST_F(UsersTest, NonRootDaemonRunsOnlyItsOwnUsersJobs) {
  // acceld as alice, in folders she owns.
  for (const char* sub : {"run", "state", "logs"}) {
    fs::create_directories(dir_.path() / sub);
    ::chown((dir_.path() / sub).c_str(), Uid(kAlice), ::getpwnam(kAlice)->pw_gid);
  }
  StartDaemon({"/usr/bin/setpriv", "--reuid=" + std::string(kAlice), "--regid=" + std::string(kAlice), "--init-groups"});
  ProcessResult result = AsUser(kBob, {"launch", "--cpu", "--num_processes", "1", "--no_python", "/bin/echo", "bob"},
                                seconds(60));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("runs only that user's jobs"), std::string::npos) << result.err;
  result = AsUser(kAlice, {"launch", "--cpu", "--num_processes", "1", "--no_python", "/usr/bin/id", "-u"}, seconds(60));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find(std::to_string(Uid(kAlice))), std::string::npos) << result.out;
}

}  // namespace
}  // namespace accel::testing
