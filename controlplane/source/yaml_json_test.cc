#include "controlplane/source/yaml_json.h"

#include <gtest/gtest.h>

namespace sluice::source {
namespace {

using nlohmann::json;

json ParseOne(std::string_view text) {
  Result<std::vector<json>> documents = ParseYamlDocuments(text);
  EXPECT_TRUE(documents.ok()) << documents.status().message();
  if (!documents.ok() || documents->empty()) return nullptr;
  return documents.value()[0];
}

TEST(YamlJsonTest, PlainScalarsAreTypedQuotedScalarsStayStrings) {
  json doc = ParseOne(R"(
port: 80
quotedPort: "80"
singleQuoted: '80'
negative: -3
hex: 0x1F
octal: 0o17
ratio: 1.5
exponent: 1e3
yes: true
no: FALSE
quotedBool: "true"
nothing: null
tilde: ~
empty:
quotedNull: "null"
word: hello
version: 1.2.3
leadingZero: "007"
)");
  EXPECT_EQ(doc["port"], json(80));
  EXPECT_TRUE(doc["port"].is_number_integer());
  EXPECT_EQ(doc["quotedPort"], json("80"));
  EXPECT_EQ(doc["singleQuoted"], json("80"));
  EXPECT_EQ(doc["negative"], json(-3));
  EXPECT_EQ(doc["hex"], json(31));
  EXPECT_EQ(doc["octal"], json(15));
  EXPECT_EQ(doc["ratio"], json(1.5));
  EXPECT_EQ(doc["exponent"], json(1000.0));
  EXPECT_EQ(doc["yes"], json(true));
  EXPECT_EQ(doc["no"], json(false));
  EXPECT_EQ(doc["quotedBool"], json("true"));
  EXPECT_TRUE(doc["nothing"].is_null());
  EXPECT_TRUE(doc["tilde"].is_null());
  EXPECT_TRUE(doc["empty"].is_null());
  EXPECT_EQ(doc["quotedNull"], json("null"));
  EXPECT_EQ(doc["word"], json("hello"));
  EXPECT_EQ(doc["version"], json("1.2.3"));
  EXPECT_EQ(doc["leadingZero"], json("007"));
}

TEST(YamlJsonTest, BlockScalarsAndExplicitTagsAreStrings) {
  json doc = ParseOne("literal: |\n  42\nfolded: >\n  true\ntagged: !!str 443\nint: !!int 443\n");
  EXPECT_EQ(doc["literal"], json("42\n"));
  EXPECT_EQ(doc["folded"], json("true\n"));
  EXPECT_EQ(doc["tagged"], json("443"));
  EXPECT_EQ(doc["int"], json(443));
}

TEST(YamlJsonTest, ValuesJsonCannotHoldStayStrings) {
  json doc = ParseOne("inf: .inf\nbig: 123456789012345678901234567890\n");
  EXPECT_EQ(doc["inf"], json(".inf"));
  EXPECT_EQ(doc["big"], json("123456789012345678901234567890"));
}

TEST(YamlJsonTest, NestedStructuresAndFlowStyle) {
  json doc = ParseOne("a: {b: [1, \"2\", {c: d}]}\nlist:\n- x\n- 3\n");
  EXPECT_EQ(doc, json::parse(R"({"a": {"b": [1, "2", {"c": "d"}]}, "list": ["x", 3]})"));
}

TEST(YamlJsonTest, MultipleDocumentsKeepTheirNumbers) {
  Result<std::vector<json>> documents = ParseYamlDocuments("a: 1\n---\n# only a comment\n---\nb: 2\n");
  ASSERT_TRUE(documents.ok());
  ASSERT_EQ(documents->size(), 3u);
  EXPECT_EQ(documents.value()[0]["a"], json(1));
  EXPECT_TRUE(documents.value()[1].is_null());
  EXPECT_EQ(documents.value()[2]["b"], json(2));
}

TEST(YamlJsonTest, SyntaxErrorsNameTheLine) {
  Result<std::vector<json>> documents = ParseYamlDocuments("a: 1\nb: [unclosed\n");
  ASSERT_FALSE(documents.ok());
  EXPECT_NE(documents.status().message().find("line"), std::string::npos) << documents.status().message();
}

}  // namespace
}  // namespace sluice::source
