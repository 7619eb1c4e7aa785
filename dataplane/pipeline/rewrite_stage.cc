#include "dataplane/pipeline/rewrite_stage.h"

#include <algorithm>
#include <optional>

#include "dataplane/router/router.h"

namespace sluice::pipeline {

RewriteStage::RewriteStage(std::string_view target, std::string route_path, std::shared_ptr<const re2::RE2> regex,
                           std::string x_forwarded_prefix)
    : rewrite_(!target.empty()),
      route_path_(std::move(route_path)),
      regex_(std::move(regex)),
      x_forwarded_prefix_(std::move(x_forwarded_prefix)) {
  // Cut once here, not per request: "$" followed by a digit is a group,
  // any other "$" is literal (the controller refuses those).
  Piece current;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '$' && i + 1 < target.size() && target[i + 1] >= '0' && target[i + 1] <= '9') {
      current.group = target[i + 1] - '0';
      groups_ = std::max(groups_, current.group + 1);
      pieces_.push_back(std::move(current));
      current = Piece();
      ++i;
      continue;
    }
    current.literal += target[i];
  }
  if (!current.literal.empty()) pieces_.push_back(std::move(current));
  if (regex_ != nullptr) groups_ = std::min(groups_, router::RegexGroups(*regex_) + 1);
  groups_ = std::max(groups_, 1);
}

std::optional<std::string> RewriteStage::Rewrite(std::string_view path) const {
  std::string_view captures[10];
  int count = std::min(groups_, 10);
  if (regex_ != nullptr) {
    if (!router::RegexMatches(*regex_, path, captures, count)) return std::nullopt;
  } else {
    count = 1;
    captures[0] = path.substr(0, std::min(path.size(), route_path_.size()));
  }
  std::string out;
  for (const Piece& piece : pieces_) {
    out += piece.literal;
    if (piece.group >= 0 && piece.group < count) out.append(captures[piece.group]);
  }
  return out;
}

Verdict RewriteStage::OnRequestHead(ExchangeState& state) const {
  http::RequestHead& request = state.request;
  if (rewrite_) {
    std::string_view target = request.path;
    size_t query_start = target.find('?');
    std::string_view path = target.substr(0, query_start);
    if (std::optional<std::string> rewritten = Rewrite(path)) {
      std::string out = std::move(*rewritten);
      if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');  // an origin-form target
      if (query_start != std::string_view::npos && query_start + 1 < target.size()) {
        out += out.find('?') == std::string::npos ? '?' : '&';
        out.append(target.substr(query_start + 1));
      }
      request.path = std::move(out);
    }
  }
  if (!x_forwarded_prefix_.empty()) {
    request.headers.Remove("x-forwarded-prefix");
    state.AddField("x-forwarded-prefix", x_forwarded_prefix_);
  }
  return Verdict::kContinue;
}

}  // namespace sluice::pipeline
