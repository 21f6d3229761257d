// Domain pieces of control-plane security (issue #9): job-spec limits, identity tables, loopback
// socket owners, job access.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/security/accounts.h"
#include "common/security/caller.h"
#include "common/security/job_spec_validation.h"
#include "common/security/socket_owner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace accel::common {
namespace {

using ::testing::HasSubstr;

JobSpec Valid() {
  JobSpec spec;
  spec.launch_args = {"--cpu", "train.py", "--lr", "3e-4"};
  spec.env = {{"HOME", "/home/alice"}, {"PATH", "/usr/bin"}, {"_X1", ""}};
  spec.working_dir = "/home/alice/project";
  return spec;
}

struct Bad {
  std::string name;
  std::function<void(JobSpec&)> edit;
  std::string field;
};

TEST(ValidateJobSpecTest, AcceptsARealJob) { EXPECT_TRUE(ValidateJobSpec(Valid()).ok()); }

TEST(ValidateJobSpecTest, EveryLimitNamesItsField) {
  const std::vector<Bad> cases = {
      {"no args", [](JobSpec& s) { s.launch_args.clear(); }, "spec.launch_args"},
      {"many args", [](JobSpec& s) { s.launch_args.resize(5000, "x"); }, "spec.launch_args"},
      {"long arg", [](JobSpec& s) { s.launch_args.push_back(std::string(65 * 1024, 'x')); }, "spec.launch_args"},
      {"args total", [](JobSpec& s) { s.launch_args.resize(40, std::string(60 * 1024, 'x')); }, "spec.launch_args"},
      {"NUL arg", [](JobSpec& s) { s.launch_args.push_back(std::string("a\0b", 3)); }, "spec.launch_args"},
      {"config", [](JobSpec& s) { s.config_text = std::string((1 << 20) + 1, 'x'); }, "spec.config_text"},
      {"config name", [](JobSpec& s) { s.config_name = "../x.yaml"; }, "spec.config_name"},
      {"env name dash", [](JobSpec& s) { s.env["A-B"] = "1"; }, "spec.env"},
      {"env name digit", [](JobSpec& s) { s.env["1A"] = "1"; }, "spec.env"},
      {"env name empty", [](JobSpec& s) { s.env[""] = "1"; }, "spec.env"},
      {"env name eq", [](JobSpec& s) { s.env["A=B"] = "1"; }, "spec.env"},
      {"env count", [](JobSpec& s) { for (int i = 0; i < 5000; ++i) s.env["V" + std::to_string(i)] = ""; }, "spec.env"},
      {"env value", [](JobSpec& s) { s.env["BIG"] = std::string(129 * 1024, 'x'); }, "spec.env"},
      {"env total", [](JobSpec& s) { for (int i = 0; i < 10; ++i) s.env["V" + std::to_string(i)] = std::string(120 * 1024, 'x'); }, "spec.env"},
      {"env NUL", [](JobSpec& s) { s.env["A"] = std::string("a\0b", 3); }, "spec.env"},
      {"relative dir", [](JobSpec& s) { s.working_dir = "project"; }, "spec.working_dir"},
      {"dir traversal", [](JobSpec& s) { s.working_dir = "/home/alice/../bob"; }, "spec.working_dir"},
      {"dir traversal end", [](JobSpec& s) { s.working_dir = "/home/.."; }, "spec.working_dir"},
      {"long dir", [](JobSpec& s) { s.working_dir = "/" + std::string(5000, 'a'); }, "spec.working_dir"},
      {"node name", [](JobSpec& s) { s.nodes = {"gpu 01"}; }, "spec.nodes"},
      {"node count", [](JobSpec& s) { s.nodes.assign(5000, "n"); }, "spec.nodes"},
      {"min nodes", [](JobSpec& s) { s.min_nodes = 0; }, "min_nodes"},
      {"max nodes", [](JobSpec& s) { s.max_nodes = 5000; s.min_nodes = 1; }, "max_nodes"},
      {"restarts", [](JobSpec& s) { s.max_restarts = -1; }, "spec.max_restarts"},
      {"processes", [](JobSpec& s) { s.launch_args = {"--num_processes", "70000", "t.py"}; }, "--num_processes"},
      {"machines", [](JobSpec& s) { s.launch_args = {"--num_machines", "2:9999", "t.py"}; }, "--num_machines"},
      {"run id", [](JobSpec& s) { s.launch_args = {"--rdzv_id", "../x", "t.py"}; }, "--rdzv_id"},
      {"log dir", [](JobSpec& s) { s.launch_args = {"--log_dir", "logs/../../etc", "t.py"}; }, "--log_dir"},
      {"user", [](JobSpec& s) { s.user = std::string(300, 'u'); }, "spec.user"},
  };
  for (const Bad& c : cases) {
    JobSpec spec = Valid();
    c.edit(spec);
    const absl::Status status = ValidateJobSpec(spec);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.field)) << c.name;
  }
}

TEST(ValidateJobSpecTest, ALaunchLineThatDoesNotParseIsTheAgentsToReport) {
  JobSpec spec = Valid();
  spec.launch_args = {"--no_such_flag", "train.py"};
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
}

TEST(IdentityTableTest, ParsesKeysWithSpacesCommentsAndRefusesShortOrDuplicateKeys) {
  auto table = IdentityTable::Parse("# CN user\nnode @node\nAlice Smith  alice\n\n", "map");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->Find("node"), "@node");
  EXPECT_EQ(table->Find("Alice Smith"), "alice");
  EXPECT_EQ(table->Find("alice"), std::nullopt);
  EXPECT_FALSE(IdentityTable::Parse("short alice\n", "tokens", 16).ok());
  EXPECT_FALSE(IdentityTable::Parse("a x\na y\n", "map").ok());
  EXPECT_FALSE(IdentityTable::Parse("lonely\n", "map").ok());
}

TEST(IdentityTableTest, SecretFilesMustNotBeReadableByOthers) {
  testing::TempDir dir;
  const auto path = dir.Write("tokens", "0123456789abcdef0123 alice\n");
  ::chmod(path.c_str(), 0644);
  EXPECT_EQ(IdentityTable::Load(path, "token_file", 16, true).status().code(), absl::StatusCode::kFailedPrecondition);
  ::chmod(path.c_str(), 0600);
  EXPECT_TRUE(IdentityTable::Load(path, "token_file", 16, true).ok());
}

TEST(AccountsTest, LooksUpRoot) {
  auto root = LookupAccount(uid_t{0});
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->name, "root");
  EXPECT_EQ(LookupAccount("root")->uid, 0u);
  EXPECT_FALSE(LookupAccount("no-such-user-accel").ok());
}

TEST(SocketOwnerTest, FindsTheOwnerOfTheClientEndOfALoopbackConnection) {
  const int server = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(server, 1), 0);
  socklen_t length = sizeof(address);
  ::getsockname(server, reinterpret_cast<sockaddr*>(&address), &length);
  const int server_port = ntohs(address.sin_port);
  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const int accepted = ::accept(server, nullptr, nullptr);
  sockaddr_in client_address{};
  length = sizeof(client_address);
  ::getsockname(client, reinterpret_cast<sockaddr*>(&client_address), &length);
  const int client_port = ntohs(client_address.sin_port);

  EXPECT_EQ(LoopbackTcpPeerUid("127.0.0.1", client_port, {server_port}), ::geteuid());
  EXPECT_EQ(LoopbackTcpPeerUid("127.0.0.1", client_port, {}), ::geteuid());
  EXPECT_EQ(LoopbackTcpPeerUid("127.0.0.1", client_port, {server_port + 1}), std::nullopt);  // not to us
  EXPECT_EQ(LoopbackTcpPeerUid("10.0.0.1", client_port, {server_port}), std::nullopt);      // not loopback
  ::close(accepted);
  ::close(client);
  ::close(server);
}

TEST(SocketOwnerTest, ReadsTheKernelTableFormatAndRefusesAmbiguity) {
  testing::TempDir dir;
  const std::string header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
  // 127.0.0.1:40000 -> 127.0.0.1:7070, uid 1234 (and the server's own end, uid 0)
  dir.Write("tcp", header +
                       "   0: 0100007F:9C40 0100007F:1B9E 01 00000000:00000000 00:00000000 00000000  1234        0 1 1\n"
                       "   1: 0100007F:1B9E 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n");
  // [::1]:40001 -> [::1]:7070, uid 42
  dir.Write("tcp6", header +
                        "   0: 00000000000000000000000001000000:9C41 00000000000000000000000001000000:1B9E 01 "
                        "00000000:00000000 00:00000000 00000000    42        0 3 1\n");
  EXPECT_EQ(LoopbackTcpPeerUid("127.0.0.1", 40000, {7070}, dir.path().string()), 1234u);
  EXPECT_EQ(LoopbackTcpPeerUid("::1", 40001, {7070}, dir.path().string()), 42u);
  EXPECT_EQ(LoopbackTcpPeerUid("127.0.0.1", 7070, {7070}, dir.path().string()), std::nullopt);
  dir.Write("tcp", header +
                       "   0: 0100007F:9C40 0100007F:1B9E 01 00000000:00000000 00:00000000 00000000  1234        0 1 1\n"
                       "   1: 0100007F:9C40 0200007F:1B9E 01 00000000:00000000 00:00000000 00000000  999        0 4 1\n");
  EXPECT_EQ(LoopbackTcpPeerUid("127.0.0.1", 40000, {7070}, dir.path().string()), std::nullopt);
  EXPECT_TRUE(IsLoopbackIp("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackIp("::1"));
  EXPECT_TRUE(IsLoopbackIp("::ffff:127.0.0.1"));
  EXPECT_FALSE(IsLoopbackIp("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackIp("localhost"));
}

TEST(CallerTest, OwnersAdminsAndDaemonsMayAccessAJob) {
  JobRecord job;
  job.spec.uid = 1001;
  EXPECT_TRUE(MayAccessJob(Caller{.uid = 1001}, job));
  EXPECT_FALSE(MayAccessJob(Caller{.uid = 1002}, job));
  EXPECT_FALSE(MayAccessJob(Caller{}, job));
  EXPECT_TRUE(MayAccessJob(Caller{.uid = 1002, .admin = true}, job));
  EXPECT_TRUE(MayAccessJob(Caller{.daemon = true}, job));
}

}  // namespace
}  // namespace accel::common
