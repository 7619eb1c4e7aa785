#include "controlplane/source/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

namespace sluice::source {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 256;

bool IsNull(const std::string& s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

std::optional<bool> AsBool(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

bool AllOf(std::string_view s, bool (*ok)(char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}

std::optional<json> AsInteger(const std::string& s) {
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'o')) {
    if (s[0] == '-' || s[0] == '+') return std::nullopt;  // core schema: no sign on 0x/0o
    base = digits[1] == 'x' ? 16 : 8;
    digits.remove_prefix(2);
  }
  auto is_digit = +[](char c) { return c >= '0' && c <= '9'; };
  auto is_hex = +[](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  auto is_octal = +[](char c) { return c >= '0' && c <= '7'; };
  if (!AllOf(digits, base == 16 ? is_hex : base == 8 ? is_octal : is_digit)) return std::nullopt;
  uint64_t magnitude = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  if (!negative) return json(magnitude);  // unsigned, like nlohmann's JSON parser
  if (magnitude > static_cast<uint64_t>(INT64_MAX) + 1) return std::nullopt;
  return json(static_cast<int64_t>(0 - magnitude));
}

std::optional<json> AsFloat(const std::string& s) {
  // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
  size_t i = 0, n = s.size();
  auto digits = [&]() {
    size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
  size_t mantissa = digits();
  if (i < n && s[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0) return std::nullopt;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
    if (digits() == 0) return std::nullopt;
  }
  if (i != n) return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + n || !std::isfinite(value)) return std::nullopt;
  return json(value);
}

// A plain scalar, resolved by the core schema.
json ResolvePlain(const std::string& s) {
  if (IsNull(s)) return nullptr;
  if (auto b = AsBool(s)) return *b;
  if (auto i = AsInteger(s)) return *i;
  // An integer too large for 64 bits would lose digits as a double.
  bool integer_syntax = s.find_first_of(".eE") == std::string::npos;
  if (!integer_syntax) {
    if (auto f = AsFloat(s)) return *f;
  }
  return s;
}

Result<json> Convert(const YAML::Node& node, int depth) {
  if (depth > kMaxDepth) return Status::Error("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
  const std::string& tag = node.Tag();
  bool tagged_string = tag == "!" || tag == "!!str" || tag == "tag:yaml.org,2002:str";
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      if (tagged_string) return json("");
      return json(nullptr);
    case YAML::NodeType::Scalar:
      // yaml-cpp tags a plain scalar "?" and a quoted or block scalar "!".
      if (tag == "?" || tag.rfind("tag:yaml.org,2002:", 0) == 0 || tag.rfind("!!", 0) == 0) {
        if (!tagged_string) return ResolvePlain(node.Scalar());
      }
      return json(node.Scalar());
    case YAML::NodeType::Sequence: {
      json array = json::array();
      for (const YAML::Node& item : node) {
        Result<json> value = Convert(item, depth + 1);
        if (!value.ok()) return value;
        array.push_back(std::move(value).value());
      }
      return array;
    }
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& entry : node) {
        const YAML::Node& key = entry.first;
        std::string name;
        if (key.IsScalar()) {
          name = key.Scalar();
        } else if (!key.IsNull()) {
          return Status::Error("line " + std::to_string(key.Mark().line + 1) + ": mapping key is not a scalar");
        }
        Result<json> value = Convert(entry.second, depth + 1);
        if (!value.ok()) return value;
        object[name] = std::move(value).value();
      }
      return object;
    }
  }
  return json(nullptr);
}

}  // namespace

Result<std::vector<json>> ParseYamlDocuments(std::string_view text) {
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    // e.mark is 0-based; people count lines from 1.
    return Status::Error("YAML syntax error at line " + std::to_string(e.mark.line + 1) + ", column " +
                         std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  std::vector<json> documents;
  documents.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    Result<json> document = Status::Error("");
    try {
      document = Convert(nodes[i], 0);
    } catch (const YAML::Exception& e) {
      document = Status::Error(e.what());
    }
    if (!document.ok()) {
      return Status::Error("document " + std::to_string(i + 1) + ": " + document.status().message());
    }
    documents.push_back(std::move(document).value());
  }
  return documents;
}

}  // namespace sluice::source
