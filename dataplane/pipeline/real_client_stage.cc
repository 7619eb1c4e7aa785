#include "dataplane/pipeline/real_client_stage.h"

namespace sluice::pipeline {
namespace {

bool IsListSpace(char c) { return c == ' ' || c == '\t' || c == ','; }

}  // namespace

std::string_view ForwardedClient(const http::HeaderMap& fields, const PrefixSet& trusted, IpAddress* address) {
  std::string_view chosen;
  const auto& entries = fields.entries();
  // Several X-Forwarded-For lines are one list, in order: walk them from
  // the last line's last entry back.
  for (auto field = entries.rbegin(); field != entries.rend(); ++field) {
    if (field->name != "x-forwarded-for") continue;
    std::string_view list = field->value;
    size_t end = list.size();
    while (end > 0) {
      while (end > 0 && IsListSpace(list[end - 1])) --end;
      if (end == 0) break;
      size_t start = end;
      while (start > 0 && !IsListSpace(list[start - 1])) --start;
      std::string_view hop = list.substr(start, end - start);
      std::optional<IpAddress> parsed = IpAddress::Parse(hop);
      if (!parsed) return chosen;  // not an address: trust stops at the hop before
      chosen = hop;
      *address = *parsed;
      if (!trusted.Contains(*parsed)) return chosen;
      end = start;
    }
  }
  return chosen;
}

Verdict RealClientStage::OnRequestHead(ExchangeState& state) const {
  const http::ClientInfo* connection = state.client;
  if (connection == nullptr || !trusted_->Contains(connection->address)) return Verdict::kContinue;
  IpAddress address;
  std::string_view forwarded = ForwardedClient(state.request.headers, *trusted_, &address);
  if (forwarded.empty()) return Verdict::kContinue;
  http::ClientInfo& client = state.forwarded_client;
  client.ip = address.ToString();  // one spelling per address, whatever the hop wrote
  client.address = address;
  client.peer_ip = connection->peer_ip.empty() ? connection->ip : connection->peer_ip;
  client.scheme = connection->scheme;
  state.client = &client;
  return Verdict::kContinue;
}

}  // namespace sluice::pipeline
