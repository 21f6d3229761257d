// acceld's security policy (issue #9): which addresses it may listen on, and whose workers a node runs
// as (root, non-root, SLURM allocation owner).
#include <unistd.h>

#include "daemon/acceld_config.h"
#include "daemon/node/run_as.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace accel::daemon {
namespace {

using ::testing::HasSubstr;

absl::Status Listen(std::vector<std::string> args) {
  args.insert(args.begin(), {"--role", "coordinator", "--state_dir", "/tmp/unused"});
  return ParseAcceldCommandLine(args).status();
}

TEST(ListenPolicyTest, LoopbackAndUnixSocketsNeedNothing) {
  EXPECT_TRUE(Listen({"--listen", "unix:/tmp/a.sock", "--listen", "127.0.0.1:7070"}).ok());
  EXPECT_TRUE(Listen({"--listen", "[::1]:7070"}).ok());
  EXPECT_TRUE(Listen({"--listen", "localhost:7070"}).ok());
}

TEST(ListenPolicyTest, OtherAddressesNeedTlsAndClientAuthentication) {
  const absl::Status plain = Listen({"--listen", "0.0.0.0:7070"});
  EXPECT_EQ(plain.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(plain.message()), HasSubstr("refusing to listen on 0.0.0.0:7070"));
  EXPECT_EQ(std::string(plain.message()).find('\n'), std::string::npos);
  EXPECT_EQ(Listen({"--listen", "10.0.0.1:7070", "--tls_cert", "c.pem", "--tls_key", "k.pem"}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Listen({"--listen", "10.0.0.1:7070", "--tls_cert", "c.pem", "--tls_key", "k.pem", "--tls_ca", "ca.pem",
                      "--identity_map", "ids"})
                  .ok());
  EXPECT_TRUE(Listen({"--listen", "10.0.0.1:7070", "--tls_cert", "c.pem", "--tls_key", "k.pem", "--token_file", "t"}).ok());
  EXPECT_EQ(Listen({"--listen", "10.0.0.1:7070", "--tls_cert", "c.pem", "--token_file", "t"}).code(),
            absl::StatusCode::kInvalidArgument);  // a certificate without its key
  EXPECT_EQ(Listen({"--identity_map", "ids"}).code(), absl::StatusCode::kInvalidArgument);  // needs TLS and a CA
}

TEST(ListenPolicyTest, SecurityKeysParse) {
  auto parsed = ParseAcceldCommandLine(std::vector<std::string>{
      "--role", "both", "--admin_group", "wheel", "--socket_group", "accel", "--slurm_integration", "true"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.admin_group, "wheel");
  EXPECT_EQ(parsed->config.socket_group, "accel");
  EXPECT_TRUE(parsed->config.slurm_integration);
}

common::JobSpec Owned(int64_t uid, std::string user = "alice") {
  common::JobSpec spec;
  spec.uid = uid;
  spec.gid = uid;
  spec.user = std::move(user);
  return spec;
}

TEST(RunAsTest, ANonRootDaemonRunsOnlyItsOwnUsersJobs) {
  auto own = DecideRunAs(Owned(1000), 1000, false, std::nullopt, "n1");
  ASSERT_TRUE(own.ok());
  EXPECT_FALSE(own->run_as.has_value());  // no switch needed
  auto other = DecideRunAs(Owned(1001, "bob"), 1000, false, std::nullopt, "n1");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("runs only that user's jobs"));
}

TEST(RunAsTest, ARootDaemonSwitchesToTheOwnersAccount) {
  auto root = DecideRunAs(Owned(0, "root"), 0, false, std::nullopt, "n1");
  ASSERT_TRUE(root.ok()) << root.status();
  ASSERT_TRUE(root->run_as.has_value());
  EXPECT_EQ(root->run_as->uid, 0u);
  ASSERT_TRUE(root->account.has_value());
  std::map<std::string, std::string> env = {{"HOME", "/elsewhere"}, {"USER", "mallory"}};
  SetAccountEnvironment(*root->account, env);
  EXPECT_EQ(env["USER"], "root");
  EXPECT_EQ(env["HOME"], root->account->home);
  EXPECT_EQ(DecideRunAs(Owned(4000000000LL, "ghost"), 0, false, std::nullopt, "n1").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DecideRunAs(Owned(-1), 0, false, std::nullopt, "n1").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RunAsTest, WithSlurmIntegrationOnlyTheAllocationsOwnerRuns) {
  const uid_t self = ::geteuid();
  EXPECT_EQ(DecideRunAs(Owned(self), self, true, std::nullopt, "n1").status().code(), absl::StatusCode::kPermissionDenied);
  const AllocationOwner other{.job_id = "77", .uid = self + 1, .user = "bob"};
  auto refused = DecideRunAs(Owned(self), self, true, other, "n1");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("SLURM job 77"));
  const AllocationOwner mine{.job_id = "78", .uid = self, .user = "me"};
  EXPECT_TRUE(DecideRunAs(Owned(self), self, true, mine, "n1").ok());
  const AllocationOwner by_name{.job_id = "79", .uid = -1, .user = "alice"};
  EXPECT_TRUE(DecideRunAs(Owned(self, "alice"), self, true, by_name, "n1").ok());
}

}  // namespace
}  // namespace accel::daemon
