#pragma once
// Cross-origin resource sharing for a route with RoutePolicy.cors
// (ingress-nginx's enable-cors annotations). Order 8: before access control
// and authentication, because a browser's preflight carries no credentials
// (ingress-nginx answers it in the location before auth_request runs too).
//
// Request head: a preflight (OPTIONS with Origin and
// Access-Control-Request-Method) from an allowed origin is answered here,
// 204 without a body; nothing goes upstream. A preflight from an origin not
// allowed goes upstream as any OPTIONS (as in ingress-nginx).
// Response head (upstream responses and local replies alike, so a 403 or a
// 429 is readable by the page too): when the request's Origin is allowed,
// the upstream's own Access-Control-* fields are replaced by the route's:
// Allow-Origin (the origin itself, with Vary: Origin; "*" when the route
// allows every origin), Allow-Credentials (when true), Allow-Methods,
// Allow-Headers, Expose-Headers (when set) and Max-Age, on actual requests
// too (as ingress-nginx's more_set_headers). A request without Origin, or
// from an origin not allowed, gets no CORS field from us.
//
// "*" with credentials: ingress-nginx sends "Access-Control-Allow-Origin: *"
// and "Access-Control-Allow-Credentials: true" together, and so does this
// stage; browsers then refuse credentialed requests (the Fetch standard
// forbids "*" there) and allow the others. List the origins to allow
// credentials.
//
// Reads: method, Origin, Access-Control-Request-Method. Changes: the local
// reply (preflight), response fields. Keeps no per-request data: the
// response hook reads the request's Origin again (the request lives for the
// whole exchange).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/pipeline/stage.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

class CorsStage final : public Stage {
 public:
  // One allowed origin: scheme "://", then the host (exact, or any one
  // label [A-Za-z0-9-]+ followed by `host_suffix` for "*.example.com"),
  // then ":port" or nothing. Lower case.
  struct OriginPattern {
    std::string scheme;       // "https"
    std::string host_suffix;  // ".example.com" (wildcard) or "a.example.com"
    bool wildcard = false;
    std::string port;  // "" or "8443"
  };
  struct Options {
    bool any_origin = false;  // "*"
    std::vector<OriginPattern> origins;
    std::string allow_methods, allow_headers, expose_headers, max_age;
    bool allow_credentials = false;
    static Options From(const v1::CorsPolicy& policy);
  };
  explicit CorsStage(Options options) : options_(std::move(options)) {}
  std::string_view name() const override { return "cors"; }
  StageOrder order() const override { return StageOrder::kCors; }
  uint32_t hooks() const override { return kRequestHead | kResponseHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;
  Verdict OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const override;

  // Whether `origin` (an Origin field's value) is allowed. Exposed for tests.
  bool Allows(std::string_view origin) const;

 private:
  Options options_;
};

// Parses one allowed-origin entry ("https://*.example.com:8443"); false when
// it is not of that shape (the controller validated the entries already).
bool ParseCorsOrigin(std::string_view text, CorsStage::OriginPattern& out);

}  // namespace sluice::pipeline
