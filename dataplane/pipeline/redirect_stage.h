#pragma once
// Redirects a route answers itself instead of going upstream (issue 18):
//   - RoutePolicy.redirect with a url: every request, that Location and
//     code (ingress-nginx's permanent-redirect / temporal-redirect);
//   - RoutePolicy.redirect with a host: the same scheme, port, path and
//     query on that host (from-to-www-redirect, 308);
//   - RoutePolicy.app_root: a request for exactly "/" gets 302 to that
//     path on the request's own scheme and authority (app-root).
// Runs at kRedirect, just before https_redirect: nginx's `return` runs in
// its rewrite phase, before the ssl-redirect, so a redirect route answers
// plain HTTP with its own redirect too. Access control and rate limits still
// come first (stricter than nginx, whose access phase is later).
// Reads: the request's scheme, authority and path. Changes: nothing.
#include <memory>
#include <string>

#include "dataplane/pipeline/stage.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

class RedirectStage final : public Stage {
 public:
  struct Options {
    int code = 0;           // 0: no redirect of every request
    std::string url;        // fixed Location
    std::string host;       // or: this host, keeping scheme, port, path and query
    std::string app_root;   // empty: none
    static Options From(const v1::RoutePolicy& policy);
    bool any() const { return code != 0 || !app_root.empty(); }
  };
  explicit RedirectStage(Options options) : options_(std::move(options)) {}
  // Null when the policy asks for no redirect.
  static std::unique_ptr<const Stage> FromPolicy(const v1::RoutePolicy& policy);

  std::string_view name() const override { return "redirect"; }
  StageOrder order() const override { return StageOrder::kRedirect; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;

 private:
  Options options_;
};

}  // namespace sluice::pipeline
