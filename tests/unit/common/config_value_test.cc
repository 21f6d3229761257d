#include "common/config/config_value.h"

#include <cmath>

#include "gtest/gtest.h"

namespace accel::common {
namespace {

TEST(ResolveYamlScalarTest, FollowsYaml11LikePyYaml) {
  EXPECT_EQ(ResolveYamlScalar("no"), ConfigValue(false));
  EXPECT_EQ(ResolveYamlScalar("NO"), ConfigValue(false));
  EXPECT_EQ(ResolveYamlScalar("Yes"), ConfigValue(true));
  EXPECT_EQ(ResolveYamlScalar("on"), ConfigValue(true));
  EXPECT_EQ(ResolveYamlScalar("off"), ConfigValue(false));
  // PyYAML does not treat y/n as booleans.
  EXPECT_EQ(ResolveYamlScalar("y"), ConfigValue("y"));
  EXPECT_EQ(ResolveYamlScalar("~"), ConfigValue(nullptr));
  EXPECT_EQ(ResolveYamlScalar("null"), ConfigValue(nullptr));
  EXPECT_EQ(ResolveYamlScalar(""), ConfigValue(nullptr));
  EXPECT_EQ(ResolveYamlScalar("42"), ConfigValue(42));
  EXPECT_EQ(ResolveYamlScalar("-7"), ConfigValue(-7));
  EXPECT_EQ(ResolveYamlScalar("1_000"), ConfigValue(1000));
  EXPECT_EQ(ResolveYamlScalar("010"), ConfigValue(8));    // octal in YAML 1.1
  EXPECT_EQ(ResolveYamlScalar("0x1f"), ConfigValue(31));
  EXPECT_EQ(ResolveYamlScalar("0b101"), ConfigValue(5));
  EXPECT_EQ(ResolveYamlScalar("1:30"), ConfigValue(90));  // sexagesimal
  EXPECT_EQ(ResolveYamlScalar("1.5"), ConfigValue(1.5));
  EXPECT_EQ(ResolveYamlScalar("1.0e+3"), ConfigValue(1000.0));
  // Without a dot PyYAML reads an exponent form as a string.
  EXPECT_EQ(ResolveYamlScalar("1e5"), ConfigValue("1e5"));
  EXPECT_TRUE(std::isinf(ResolveYamlScalar(".inf").get<double>()));
  EXPECT_EQ(ResolveYamlScalar("0,1"), ConfigValue("0,1"));
  EXPECT_EQ(ResolveYamlScalar("fp16"), ConfigValue("fp16"));
}

TEST(ParseYamlTest, QuotedScalarsStayStrings) {
  auto value = ParseYaml("a: 'no'\nb: no\nc: \"1\"\nd: 1\ne: !!str 5\n");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ((*value)["a"], "no");
  EXPECT_EQ((*value)["b"], false);
  EXPECT_EQ((*value)["c"], "1");
  EXPECT_EQ((*value)["d"], 1);
  EXPECT_EQ((*value)["e"], "5");
}

TEST(ParseYamlTest, NestedMappingsAndListsKeepOrder) {
  auto value = ParseYaml("z: 1\nnested:\n  b: 2\n  a: [x, 'y']\nlist:\n- one\n- two\n");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->begin().key(), "z");
  EXPECT_EQ((*value)["nested"].begin().key(), "b");
  EXPECT_EQ((*value)["nested"]["a"], ConfigValue::array({"x", "y"}));
  EXPECT_EQ((*value)["list"], ConfigValue::array({"one", "two"}));
}

TEST(ParseYamlTest, JsonIsYaml) {
  auto value = ParseYaml("{\"a\": 1, \"b\": [true, null], \"c\": \"x\"}");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ((*value)["a"], 1);
  EXPECT_EQ((*value)["b"][0], true);
  EXPECT_TRUE((*value)["b"][1].is_null());
}

TEST(ParseYamlTest, SyntaxErrorNamesTheLine) {
  auto value = ParseYaml("a: 1\nb: [unclosed\n");
  ASSERT_FALSE(value.ok());
  EXPECT_NE(value.status().message().find("line"), std::string::npos) << value.status();
}

TEST(ParseYamlTest, AliasesWorkButCannotRecurseOrExplode) {
  auto shared = ParseYaml("base: &b {x: 1}\nuse: *b\n");
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_EQ((*shared)["use"]["x"], 1);
  // An alias inside its own anchor is a cycle: refused, not followed until the stack runs out.
  auto cycle = ParseYaml("a: &x\n  b: *x\n");
  ASSERT_FALSE(cycle.ok());
  EXPECT_EQ(cycle.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cycle.status().message().find("levels deep"), std::string::npos) << cycle.status();
  // The fuzzer's find: the same through a flow sequence.
  EXPECT_FALSE(ParseYaml("anchors: &a\n 1,] 2[ref: *a\n").ok());
  // Ten levels of doubling is 2^10 leaves per level: "billion laughs" stops at the value budget.
  std::string laughs = "l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n";
  for (int i = 1; i <= 9; ++i) {
    laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) laughs += std::string(j == 0 ? "" : ", ") + "*l" + std::to_string(i - 1);
    laughs += "]\n";
  }
  auto exploded = ParseYaml(laughs);
  ASSERT_FALSE(exploded.ok());
  EXPECT_NE(exploded.status().message().find("expands to more than"), std::string::npos) << exploded.status();
}

TEST(ParseYamlTest, UnknownTagIsAnError) {
  auto value = ParseYaml("a: !!python/tuple [1, 2]\n");
  ASSERT_FALSE(value.ok());
  EXPECT_NE(value.status().message().find("unsupported YAML tag"), std::string::npos);
}

TEST(ParseJsonTest, ErrorNamesTheOffset) {
  auto value = ParseJson("{\"a\": 1,}");
  ASSERT_FALSE(value.ok());
  EXPECT_NE(value.status().message().find("byte"), std::string::npos) << value.status();
}

TEST(EmitYamlTest, WritesSafeDumpStyle) {
  ConfigValue value = ConfigValue::object();
  value["use_cpu"] = false;
  value["distributed_type"] = "NO";
  value["num_processes"] = 2;
  value["mixed_precision"] = "no";
  value["gpu_ids"] = "all";
  value["tpu_env"] = ConfigValue::array();
  value["dynamo_config"] = ConfigValue{{"dynamo_backend", "INDUCTOR"}};
  value["clip"] = 1.0;
  value["port_text"] = "29500";
  value["empty"] = "";
  const std::string expected =
      "clip: 1.0\n"
      "distributed_type: 'NO'\n"
      "dynamo_config:\n"
      "  dynamo_backend: INDUCTOR\n"
      "empty: ''\n"
      "gpu_ids: all\n"
      "mixed_precision: 'no'\n"
      "num_processes: 2\n"
      "port_text: '29500'\n"
      "tpu_env: []\n"
      "use_cpu: false\n";
  EXPECT_EQ(EmitYaml(value), expected);
}

TEST(EmitYamlTest, RoundTripsThroughParse) {
  ConfigValue value = ConfigValue::object();
  value["a"] = ConfigValue::array({"echo hi", "on", "1:30", "- dash", "x: y"});
  value["b"] = ConfigValue{{"k", true}, {"n", nullptr}};
  auto parsed = ParseYaml(EmitYaml(value));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)["a"], value["a"]);
  EXPECT_EQ((*parsed)["b"]["k"], true);
  EXPECT_TRUE((*parsed)["b"]["n"].is_null());
}

TEST(EmitJsonTest, SortedIndentedWithNewline) {
  ConfigValue value = ConfigValue::object();
  value["b"] = 1;
  value["a"] = ConfigValue::array();
  value["c"] = "é";
  EXPECT_EQ(EmitJson(value), "{\n  \"a\": [],\n  \"b\": 1,\n  \"c\": \"\\u00e9\"\n}\n");
}

TEST(PythonReprTest, MatchesPython) {
  ConfigValue value = ConfigValue::object();
  value["a"] = true;
  value["b"] = nullptr;
  value["c"] = "it's";
  value["d"] = ConfigValue::array({1, 2.5, "x"});
  value["e"] = 1.0;
  EXPECT_EQ(PythonRepr(value), "{'a': True, 'b': None, 'c': \"it's\", 'd': [1, 2.5, 'x'], 'e': 1.0}");
  EXPECT_EQ(PythonStr(ConfigValue("text")), "text");
  EXPECT_EQ(PythonStr(ConfigValue(false)), "False");
  EXPECT_EQ(PythonRepr(ConfigValue(1e-05)), "1e-05");
}

TEST(PythonTruthyTest, FollowsPython) {
  EXPECT_FALSE(PythonTruthy(ConfigValue(nullptr)));
  EXPECT_FALSE(PythonTruthy(ConfigValue("")));
  EXPECT_TRUE(PythonTruthy(ConfigValue("false")));  // a non-empty string
  EXPECT_FALSE(PythonTruthy(ConfigValue(0)));
  EXPECT_FALSE(PythonTruthy(ConfigValue::object()));
  EXPECT_TRUE(PythonTruthy(ConfigValue::array({0})));
}

}  // namespace
}  // namespace accel::common
