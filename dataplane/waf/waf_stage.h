#pragma once
// The application firewall's stages (dataplane/pipeline/README.md, orders 30
// and 120): the OWASP CRS through a ModSecurity Transaction per request,
// kept in the request's StageData (kWafData).
//
//   WafRequestStage (30)  head: phases 1 (connection, URI, headers); asks
//                         for request buffering, so that no body byte goes
//                         upstream before phase 2 decided;
//                         body: feeds ModSecurity up to the body limit (over
//                         it: 413, or the first bytes are inspected and the
//                         rest passes);
//                         end: phase 2 (body and every phase-2 rule: most of
//                         the CRS, the anomaly score evaluation 949110).
//   WafResponseStage (120) head: phase 3 (response headers); body and end:
//                         phase 4 when the route inspects response bodies
//                         (an intervention there cuts the response short:
//                         its head already left).
//
// Blocked (mode block): 403 with a short text carrying the transaction ID,
// never the rule; 400 for a body ModSecurity cannot parse. Mode detect
// evaluates the same and only logs. Each intervention (or, in detect mode,
// each request that would have been blocked) writes one audit line and
// counts per route and rule. libmodsecurity is C++: its exceptions are
// caught here and never reach the event loop (a failing transaction in
// block mode answers 500: an unexamined request does not pass).
#include <memory>
#include <string>

#include "dataplane/pipeline/stage.h"
#include "dataplane/waf/waf_audit.h"
#include "dataplane/waf/waf_rules.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::waf {

// What both stages of one route share (immutable; the counters are atomic).
struct RouteFirewall {
  std::shared_ptr<const CompiledRules> rules;
  bool block = false;  // else detect
  uint64_t body_limit = kDefaultRequestBodyLimit;
  bool pass_over_body_limit = false;
  bool inspect_response_body = false;
  std::string transaction_id_header;  // lower case; empty: generated IDs
  std::string route;                  // "namespace/ingress"
  const AuditLog* audit = nullptr;    // null: no audit lines
  std::shared_ptr<RouteCounters> counters;

  static std::shared_ptr<const RouteFirewall> From(const v1::WafPolicy& policy, std::shared_ptr<const CompiledRules> rules,
                                                   std::string route, const AuditLog* audit,
                                                   std::shared_ptr<RouteCounters> counters);
};

class WafRequestStage final : public pipeline::Stage {
 public:
  explicit WafRequestStage(std::shared_ptr<const RouteFirewall> firewall) : firewall_(std::move(firewall)) {}
  std::string_view name() const override { return "waf_request"; }
  pipeline::StageOrder order() const override { return pipeline::StageOrder::kWafRequest; }
  uint32_t hooks() const override { return pipeline::kRequestHead | pipeline::kRequestBody | pipeline::kRequestEnd; }
  pipeline::Verdict OnRequestHead(pipeline::ExchangeState& state) const override;
  pipeline::Verdict OnRequestBody(pipeline::ExchangeState& state, std::string_view chunk) const override;
  pipeline::Verdict OnRequestEnd(pipeline::ExchangeState& state, http::HeaderMap* trailers) const override;

 private:
  std::shared_ptr<const RouteFirewall> firewall_;
};

class WafResponseStage final : public pipeline::Stage {
 public:
  explicit WafResponseStage(std::shared_ptr<const RouteFirewall> firewall) : firewall_(std::move(firewall)) {}
  std::string_view name() const override { return "waf_response"; }
  pipeline::StageOrder order() const override { return pipeline::StageOrder::kWafResponse; }
  uint32_t hooks() const override;
  pipeline::Verdict OnResponseHead(pipeline::ExchangeState& state, http::ResponseHead& head, bool local) const override;
  pipeline::Verdict OnResponseBody(pipeline::ExchangeState& state, std::string_view& chunk) const override;
  bool WantsResponseBody(const pipeline::ExchangeState& state) const override;
  pipeline::Verdict OnResponseEnd(pipeline::ExchangeState& state, std::string_view& tail) const override;

 private:
  std::shared_ptr<const RouteFirewall> firewall_;
};

// A route whose firewall configuration did not compile: it answers 503
// rather than serve the route unprotected (fail closed).
class WafUnavailableStage final : public pipeline::Stage {
 public:
  // Why, held while the route is in a snapshot: the Firewall reports the
  // live ones in the proxy's partial ACK (Firewall::RejectedRoutes).
  struct Rejection {
    std::string route;  // "namespace/ingress"
    std::string error;
  };
  explicit WafUnavailableStage(std::shared_ptr<const Rejection> rejection) : rejection_(std::move(rejection)) {}
  std::string_view name() const override { return "waf_unavailable"; }
  pipeline::StageOrder order() const override { return pipeline::StageOrder::kWafRequest; }
  uint32_t hooks() const override { return pipeline::kRequestHead; }
  pipeline::Verdict OnRequestHead(pipeline::ExchangeState& state) const override;

 private:
  std::shared_ptr<const Rejection> rejection_;
};

}  // namespace sluice::waf
