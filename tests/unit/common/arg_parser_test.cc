#include "common/cli/arg_parser.h"

#include "gtest/gtest.h"

namespace accel::common {
namespace {

ArgParser MakeParser() {
  ArgParser parser("accelctl demo", "demo");
  parser.Add({.name = "num_processes", .kind = ArgKind::kValue, .type = ArgType::kInt});
  parser.Add({.name = "monitor_interval", .kind = ArgKind::kValue, .type = ArgType::kFloat});
  parser.Add({.name = "mixed_precision", .kind = ArgKind::kValue, .choices = {"no", "fp16"}});
  parser.Add({.name = "cpu", .kind = ArgKind::kFlag});
  parser.Add({.name = "module", .kind = ArgKind::kFlag, .short_names = {"-m"}});
  parser.Add({.name = "vm", .kind = ArgKind::kAppend});
  parser.Add({.name = "command", .kind = ArgKind::kAppendMany});
  parser.AddPositional({"script", "the script"});
  parser.SetRemainderAfterLastPositional(true);
  parser.SetAllowAbbreviations(false);
  return parser;
}

absl::StatusOr<ParsedArgs> Parse(const ArgParser& parser, std::vector<std::string> args) {
  return parser.Parse(args);
}

TEST(ArgParserTest, HyphensAndUnderscoresAreTheSame) {
  const ArgParser parser = MakeParser();
  auto a = Parse(parser, {"--num-processes", "2", "--cpu", "train.py"});
  auto b = Parse(parser, {"--num_processes=2", "--cpu", "train.py"});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->Value("num_processes"), "2");
  EXPECT_EQ(b->Value("num_processes"), "2");
  EXPECT_TRUE(a->Flag("cpu"));
  EXPECT_TRUE(a->Has("num_processes"));
  EXPECT_FALSE(a->Has("mixed_precision"));
}

TEST(ArgParserTest, EverythingAfterTheScriptPassesThrough) {
  auto parsed = Parse(MakeParser(), {"-m", "pkg.train", "--num_processes", "9", "--foo", "-x", "--", "bar"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->Flag("module"));
  EXPECT_EQ(parsed->positionals, std::vector<std::string>{"pkg.train"});
  EXPECT_EQ(parsed->remainder, (std::vector<std::string>{"--num_processes", "9", "--foo", "-x", "--", "bar"}));
  EXPECT_FALSE(parsed->Has("num_processes"));
}

TEST(ArgParserTest, UnknownOptionBeforeScriptIsOneLineError) {
  auto parsed = Parse(MakeParser(), {"--num_proc", "2", "train.py"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "accelctl demo: error: unrecognized arguments: --num_proc");
}

TEST(ArgParserTest, TypeAndChoiceErrors) {
  auto bad_int = Parse(MakeParser(), {"--num_processes", "two", "x.py"});
  ASSERT_FALSE(bad_int.ok());
  EXPECT_EQ(bad_int.status().message(), "accelctl demo: error: argument --num_processes: invalid int value: 'two'");
  auto bad_choice = Parse(MakeParser(), {"--mixed_precision", "fp32", "x.py"});
  ASSERT_FALSE(bad_choice.ok());
  EXPECT_EQ(bad_choice.status().message(),
            "accelctl demo: error: argument --mixed_precision: invalid choice: 'fp32' (choose from 'no', 'fp16')");
  auto missing_value = Parse(MakeParser(), {"x.py", "--num_processes"});
  ASSERT_TRUE(missing_value.ok());  // after the script: passed through
  auto missing_value_before = Parse(MakeParser(), {"--num_processes"});
  ASSERT_FALSE(missing_value_before.ok());
  EXPECT_NE(missing_value_before.status().message().find("expected one argument"), std::string::npos);
}

TEST(ArgParserTest, MissingScriptIsAnError) {
  auto parsed = Parse(MakeParser(), {"--cpu"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("required: script"), std::string::npos);
}

TEST(ArgParserTest, NegativeNumbersAreValues) {
  auto parsed = Parse(MakeParser(), {"--monitor_interval", "-1.5", "x.py"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("monitor_interval"), "-1.5");
}

TEST(ArgParserTest, AppendKinds) {
  auto parsed = Parse(MakeParser(), {"--vm", "a", "--vm=b", "x.py"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->lists.at("vm"), (std::vector<std::string>{"a", "b"}));
  // --command takes every word up to the next option (tpu-config has no positional).
  ArgParser tpu("accelctl tpu-config", "");
  tpu.Add({.name = "command", .kind = ArgKind::kAppendMany});
  tpu.Add({.name = "debug", .kind = ArgKind::kFlag});
  auto commands = tpu.Parse(std::vector<std::string>{"--command", "echo", "hi", "--command", "ls", "--debug"});
  ASSERT_TRUE(commands.ok()) << commands.status();
  EXPECT_EQ(commands->lists.at("command"), (std::vector<std::string>{"echo", "hi", "ls"}));
  EXPECT_TRUE(commands->Flag("debug"));
}

TEST(ArgParserTest, AbbreviationsWhenAllowed) {
  ArgParser parser("accelctl env", "");
  parser.Add({.name = "config_file", .kind = ArgKind::kValue});
  parser.Add({.name = "config_dir", .kind = ArgKind::kValue});
  auto unique = parser.Parse(std::vector<std::string>{"--config_f", "x"});
  ASSERT_TRUE(unique.ok()) << unique.status();
  EXPECT_EQ(unique->Value("config_file"), "x");
  auto ambiguous = parser.Parse(std::vector<std::string>{"--config", "x"});
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_NE(ambiguous.status().message().find("ambiguous"), std::string::npos);
}

TEST(ArgParserTest, HelpIsReportedNotAnError) {
  auto parsed = Parse(MakeParser(), {"--help"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->help);
  const std::string help = MakeParser().Help();
  EXPECT_NE(help.find("--num_processes NUM_PROCESSES"), std::string::npos) << help;
  EXPECT_NE(help.find("-m, --module"), std::string::npos) << help;
}

}  // namespace
}  // namespace accel::common
