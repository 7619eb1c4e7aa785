#pragma once
// The real client behind trusted proxies (--trusted-proxies; ingress-nginx's
// use-forwarded-headers with proxy-real-ip-cidr, i.e. nginx's realip module
// with real_ip_recursive on): when the connection's client is a trusted
// proxy, X-Forwarded-For is read from the right, skipping trusted hops; the
// first untrusted address is the client (all trusted: the leftmost). An
// entry that is not an IP literal stops the walk at the hop before it, as
// nginx does. X-Real-IP is not read: it names one hop with no chain to
// check, and ingress-nginx reads only the one configured header
// (forwarded-for-header, X-Forwarded-For by default).
//
// Runs first (order 5), so every later stage (access control, rate limits,
// the X-Forwarded-For sent upstream, the access log) sees the real client.
// Only on routes of a proxy started with --trusted-proxies. Reads: the
// client, X-Forwarded-For. Changes: ExchangeState::client.
#include <memory>

#include "base/ip_prefix.h"
#include "dataplane/pipeline/stage.h"

namespace sluice::pipeline {

class RealClientStage final : public Stage {
 public:
  explicit RealClientStage(std::shared_ptr<const PrefixSet> trusted) : trusted_(std::move(trusted)) {}
  std::string_view name() const override { return "real_client"; }
  StageOrder order() const override { return StageOrder::kRealClient; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;

 private:
  std::shared_ptr<const PrefixSet> trusted_;
};

// The walk above over the request's X-Forwarded-For fields (in order):
// the chosen hop as written (a view into `fields`) with its parsed
// `address`, or empty when the connection's client stays the client.
std::string_view ForwardedClient(const http::HeaderMap& fields, const PrefixSet& trusted, IpAddress* address);

}  // namespace sluice::pipeline
