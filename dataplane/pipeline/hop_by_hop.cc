#include "dataplane/pipeline/hop_by_hop.h"

#include <string>
#include <vector>

namespace sluice::pipeline {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <typename Fn>
void ForEachToken(std::string_view value, Fn fn) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view token = Trim(value.substr(0, comma));
    if (!token.empty()) fn(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

bool HasConnectionToken(std::string_view connection_value, std::string_view token) {
  bool found = false;
  ForEachToken(connection_value, [&](std::string_view t) { found = found || http::EqualsIgnoreCase(t, token); });
  return found;
}

void RemoveConnectionNamedFields(http::HeaderMap& headers, std::string_view connection_values) {
  std::vector<std::string> named;
  ForEachToken(connection_values, [&](std::string_view t) {
    if (http::EqualsIgnoreCase(t, "keep-alive") || http::EqualsIgnoreCase(t, "close")) return;
    std::string lower(t);
    for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    if (lower != "host" && lower != "content-length") named.push_back(std::move(lower));
  });
  if (named.empty()) return;
  headers.RemoveIf([&](const http::Header& h) {
    for (const std::string& n : named) {
      if (h.name == n) return true;
    }
    return false;
  });
}

}  // namespace sluice::pipeline
