#include "dataplane/pipeline/access_control_stage.h"

namespace sluice::pipeline {
namespace {

// The controller sends valid CIDRs only; one that does not parse here (a
// controller of another version) makes the list refuse everyone, never
// silently shrink a deny list or widen an allow list.
bool ParseAll(const google::protobuf::RepeatedPtrField<std::string>& cidrs, std::vector<IpPrefix>& out) {
  for (const std::string& cidr : cidrs) {
    std::optional<IpPrefix> prefix = IpPrefix::Parse(cidr);
    if (!prefix) return false;
    out.push_back(*prefix);
  }
  return true;
}

}  // namespace

std::unique_ptr<AccessControlStage> AccessControlStage::FromPolicy(const v1::AccessControlPolicy& policy,
                                                                  bool satisfy_any) {
  if (policy.allow().empty() && policy.deny().empty() && !policy.deny_all()) return nullptr;
  std::vector<IpPrefix> allow, deny;
  bool valid = ParseAll(policy.allow(), allow) && ParseAll(policy.deny(), deny);
  return std::make_unique<AccessControlStage>(PrefixSet(allow), PrefixSet(deny), policy.deny_all() || !valid,
                                              satisfy_any);
}

bool AccessControlStage::Allows(const IpAddress& client) const {
  if (deny_all_ || deny_.Contains(client)) return false;
  return allow_.empty() || allow_.Contains(client);
}

Verdict AccessControlStage::OnRequestHead(ExchangeState& state) const {
  if (satisfy_any_ && state.client != nullptr && !deny_all_ && !deny_.Contains(state.client->address)) {
    // The address alone passes only through a non-empty allow list; an
    // empty one (a deny list only) leaves everyone to authenticate.
    state.access_granted = !allow_.empty() && allow_.Contains(state.client->address);
    return Verdict::kContinue;
  }
  if (state.client != nullptr && Allows(state.client->address)) return Verdict::kContinue;
  state.reply.status = 403;
  state.reply.body = "forbidden\n";
  state.error = ProxyError::Proxy(ErrorCode::kRefused, "client address not allowed");
  return Verdict::kReply;
}

}  // namespace sluice::pipeline
