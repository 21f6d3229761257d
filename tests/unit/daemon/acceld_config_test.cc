#include "daemon/acceld_config.h"

#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace accel::daemon {
namespace {

absl::StatusOr<AcceldCommandLine> Parse(std::vector<std::string> args) { return ParseAcceldCommandLine(args); }

TEST(AcceldConfigTest, YamlFileThenFlagsOverride) {
  testing::TempDir dir;
  const auto file = dir.Write("acceld.yaml",
                              "role: agent\nnode_name: gpu07\nlisten:\n  - unix:/tmp/a.sock\n  - 127.0.0.1:7070\n"
                              "coordinator: 127.0.0.1:7000\nheartbeat_interval: 0.5\nheartbeat_timeout: 3\n"
                              "log_root: /data/logs\nstate_dir: /data/state\nmetrics_port: 9400\n");
  auto parsed = Parse({"--config", file.string(), "--heartbeat-timeout", "4", "--node_name", "gpu08"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const AcceldConfig& config = parsed->config;
  EXPECT_EQ(config.role, AcceldRole::kAgent);
  EXPECT_EQ(config.node_name, "gpu08");
  EXPECT_EQ(config.listen, (std::vector<std::string>{"unix:/tmp/a.sock", "127.0.0.1:7070"}));
  EXPECT_EQ(config.advertise_address, "127.0.0.1:7070");  // the first TCP address
  EXPECT_EQ(config.coordinator, "127.0.0.1:7000");
  EXPECT_EQ(config.heartbeat_interval, absl::Milliseconds(500));
  EXPECT_EQ(config.heartbeat_timeout, absl::Seconds(4));
  EXPECT_EQ(config.log_root, "/data/logs");
  EXPECT_EQ(config.metrics_port, 9400);
}

TEST(AcceldConfigTest, DefaultsForTheRankZeroNode) {
  auto parsed = Parse({"--role", "both"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.listen, (std::vector<std::string>{"unix:/run/accel/acceld.sock"}));
  EXPECT_FALSE(parsed->config.node_name.empty());
}

TEST(AcceldConfigTest, BadInputIsOneLineNamingTheKey) {
  testing::TempDir dir;
  const struct {
    std::vector<std::string> args;
    std::string part;
  } cases[] = {
      {{"--role", "boss"}, "invalid choice: 'boss'"},
      {{"--role", "both", "--heartbeat_interval", "-1"}, "heartbeat_interval: invalid value '-1'"},
      {{"--role", "both", "--heartbeat_interval", "6"}, "must be longer than heartbeat_interval"},
      {{"--role", "both", "--metrics_port", "70000"}, "metrics_port: invalid value '70000'"},
      {{"--role", "agent"}, "needs --coordinator"},
      {{"--role", "both", "--listen", "0.0.0.0:7000"}, "refusing to listen on 0.0.0.0:7000"},
      {{"--config", dir.Write("bad.yaml", "role: [x\n").string()}, "invalid YAML"},
      {{"--config", dir.Write("unknown.yaml", "colour: blue\n").string()}, "unknown key 'colour'"},
      {{"--config", "/nonexistent/acceld.yaml"}, "cannot read config file"},
      {{"--frobnicate"}, "unrecognized arguments: --frobnicate"},
  };
  for (const auto& test_case : cases) {
    auto parsed = Parse(test_case.args);
    ASSERT_FALSE(parsed.ok()) << test_case.args.front();
    const std::string message(parsed.status().message());
    EXPECT_NE(message.find(test_case.part), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(AcceldConfigTest, HelpAndVersion) {
  auto help = Parse({"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_TRUE(help->help);
  EXPECT_NE(AcceldUsage().find("--heartbeat_timeout"), std::string::npos);
  auto version = Parse({"--version"});
  ASSERT_TRUE(version.ok());
  EXPECT_TRUE(version->version);
}

}  // namespace
}  // namespace accel::daemon
