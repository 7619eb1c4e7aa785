#pragma once
// Who may use the route, by the client's address
// (RoutePolicy.access_control; sluice.io/allow-source-range and
// deny-source-range, ingress-nginx's whitelist-source-range and
// denylist-source-range): 403 for a client in the deny list, or outside a
// non-empty allow list. The client is the real one (ExchangeState::client:
// after the PROXY protocol and the real_client stage). The lists are
// compiled with the snapshot into merged sorted ranges: a request costs at
// most two binary searches. Reads: the client address. Changes: nothing,
// except under `satisfy: any` (RoutePolicy.satisfy_any on a route with an
// authentication stage): then a client in the non-empty allow list gets
// ExchangeState::access_granted (the authentication stages let it pass)
// and a client outside it is not refused here but must authenticate; the
// deny list (and deny_all) still refuses with 403.
#include <memory>

#include "base/ip_prefix.h"
#include "dataplane/pipeline/stage.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

class AccessControlStage final : public Stage {
 public:
  // Null when the policy restricts nothing (no stage on the route).
  static std::unique_ptr<AccessControlStage> FromPolicy(const v1::AccessControlPolicy& policy,
                                                        bool satisfy_any = false);
  AccessControlStage(PrefixSet allow, PrefixSet deny, bool deny_all, bool satisfy_any = false)
      : allow_(std::move(allow)), deny_(std::move(deny)), deny_all_(deny_all), satisfy_any_(satisfy_any) {}

  std::string_view name() const override { return "access_control"; }
  StageOrder order() const override { return StageOrder::kAccessControl; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;
  bool Allows(const IpAddress& client) const;

 private:
  PrefixSet allow_;  // empty: everyone not denied
  PrefixSet deny_;
  bool deny_all_;
  bool satisfy_any_;  // the allow list grants access; outside it, authentication decides
};

}  // namespace sluice::pipeline
