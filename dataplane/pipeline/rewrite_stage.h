#pragma once
// What goes upstream of the path (issue 18): rewrite-target and
// x-forwarded-prefix.
//   - Route.rewrite_target: the whole path sent upstream becomes the
//     target, its $0..$9 replaced by the captures of the route's REGEX path
//     on the request path ($0 the whole match; a group that took part in
//     no match is empty), as nginx's `rewrite "(?i)path" target break;`.
//     The query is kept (appended after "?", or after "&" when the target
//     has its own query), as nginx does unless the target ends in "?".
//     The expression is the route's own compiled one (shared, immutable);
//     RE2 matches in time linear in the path, so no request can make a
//     worker spin. Without a regex (another producer's PREFIX route), $0
//     is the route's path and $1..$9 are empty.
//   - RoutePolicy.x_forwarded_prefix: sent as X-Forwarded-Prefix; the
//     client's own X-Forwarded-Prefix is dropped first.
// Runs at kRewrite, after everything that decides on the path the client
// asked for (redirects, static sites, the cache) and before the request
// headers stage. Reads: the request path. Changes: the request path and
// fields, added fields. The access log shows the rewritten path.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/pipeline/stage.h"

namespace re2 {
class RE2;
}

namespace sluice::pipeline {

class RewriteStage final : public Stage {
 public:
  // `target` empty: no rewrite. `regex` may be null (see above).
  RewriteStage(std::string_view target, std::string route_path, std::shared_ptr<const re2::RE2> regex,
               std::string x_forwarded_prefix);

  std::string_view name() const override { return "rewrite"; }
  StageOrder order() const override { return StageOrder::kRewrite; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;

  // The path `target` makes of `path` (without query), or nullopt when the
  // regex does not match it (the path is then sent as it is).
  std::optional<std::string> Rewrite(std::string_view path) const;

 private:
  // The target cut at each $N: literal, then group (-1: none).
  struct Piece {
    std::string literal;
    int group = -1;
  };
  std::vector<Piece> pieces_;
  bool rewrite_ = false;
  int groups_ = 0;  // captures to ask RE2 for ($0 included)
  std::string route_path_;
  std::shared_ptr<const re2::RE2> regex_;
  std::string x_forwarded_prefix_;
};

}  // namespace sluice::pipeline
