#pragma once
// The per-worker load balancer the Exchange asks for an endpoint. It holds
// per-cluster state (positions, hash rings, in-flight counts, latency
// averages) keyed by the cluster's stable name, so a snapshot swap that keeps
// the cluster keeps its state; no locks, each worker owns its own.
//
// Policy per cluster comes from the snapshot (v1::Cluster load_balancing,
// hash_key, affinity). Endpoints whose shared health says unavailable are
// skipped, unless too few are available (panic threshold: then all are
// used, as Envoy does, rather than failing every request).
#include <chrono>
#include <span>
#include <string>
#include <string_view>

#include "dataplane/balancer/round_robin.h"
#include "dataplane/http/message.h"
#include "dataplane/snapshot/compiled_snapshot.h"

namespace sluice::balancer {

struct PickContext {
  const http::RequestHead* request = nullptr;  // hash keys, affinity cookie
  std::string_view client_ip;
  // Endpoints this request already tried (retries): avoided while another
  // eligible endpoint exists.
  std::span<const snapshot::CompiledEndpoint* const> tried;
  int64_t now_ns = 0;  // steady clock, for health and EWMA decay
};

struct PickResult {
  const snapshot::CompiledEndpoint* endpoint = nullptr;  // null: no endpoint at all
  // Session affinity: a Set-Cookie value to add to the response (empty: none).
  std::string set_cookie;
};

class Balancer {
 public:
  PickResult Pick(const snapshot::CompiledCluster& cluster, const PickContext& context);
  // In-flight accounting (least-request) and latency (EWMA). Every Pick that
  // leads to an upstream request is paired with one OnRequestEnd.
  void OnRequestStart(const snapshot::CompiledCluster& cluster, const snapshot::CompiledEndpoint& endpoint);
  void OnRequestEnd(const snapshot::CompiledCluster& cluster, const snapshot::CompiledEndpoint& endpoint,
                    std::chrono::nanoseconds latency, bool success);

 private:
  RoundRobin round_robin_;  // placeholder until every policy lands
};

}  // namespace sluice::balancer
