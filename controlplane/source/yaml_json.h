#pragma once
// YAML (as Kubernetes writes it) to JSON, the shape every other part of the
// controller reads objects in.
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace sluice::source {

// Parses every document of a YAML stream ("---" separated). Empty documents
// (only comments, a trailing "---") come back as JSON null so that document
// numbers stay those a reader counts in the file.
//
// Scalars follow the YAML 1.2 core schema, which is what Kubernetes manifests
// mean in practice: a plain (unquoted) true/false, null/~/empty, integer
// (decimal, 0x, 0o) or float becomes a JSON boolean, null or number; anything
// quoted, a block scalar (| or >) or tagged !!str stays a string. So
// `port: 80` is the number 80 and `port: "80"` the string "80". Values JSON
// cannot hold (.inf, .nan, integers beyond 64 bits) stay strings.
// Errors (syntax, non-scalar mapping keys, nesting deeper than 256) carry the
// document number and yaml-cpp's line/column.
Result<std::vector<nlohmann::json>> ParseYamlDocuments(std::string_view text);

}  // namespace sluice::source
