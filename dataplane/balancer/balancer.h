#pragma once
// The per-worker load balancer the Exchange asks for a cluster (traffic
// split, canary) and then an endpoint. It holds per-cluster state (in-flight
// counts, latency averages, keyed by the cluster's stable name) and, inside
// it, per-policy pick state (round robin positions, keyed by the policy's
// CompiledBalancing::policy_id), rebuilt only when the cluster's endpoint set
// changes (CompiledCluster::endpoints_version), so a snapshot swap that keeps
// a cluster keeps its state. No locks: each worker owns its own Balancer.
//
// The policy is the route's, not the cluster's: PickContext::route names the
// route, whose CompiledBalancing for the cluster (v1::RoutePolicy
// load_balancing, or the canary rule's) gives the algorithm, hash key and
// affinity, with hash rings, Maglev tables and the affinity index built when
// the snapshot was compiled and shared by the workers. Two routes to one
// cluster with different policies pick independently, over the same
// endpoints, health and outlier state. Without a route (or for a cluster the
// route does not name): round robin, no affinity.
// Algorithms:
//   ROUND_ROBIN    nginx's smooth weighted round robin (deterministic).
//   LEAST_REQUEST  power of two choices: two endpoints drawn by weight, the
//                  one with fewer in-flight requests per unit of weight wins
//                  (the first drawn on a tie, so idle clusters split by weight).
//   RING_HASH      Ketama ring over HashKey; MAGLEV: Maglev table over it.
//                  Requests without the key are spread at random by weight.
//   RANDOM         weighted random.
//   EWMA           peak-EWMA latency (Finagle, ingress-nginx): cost =
//                  latency average decaying towards 0 with a 10 s time
//                  constant, times (in-flight + 1); best of two drawn by
//                  weight (the second wins only if over 5% cheaper, so equally
//                  fast endpoints share by weight). A failed attempt counts
//                  as >= 1 s.
// Endpoints whose shared health says unavailable are skipped, unless fewer
// than the panic threshold (CompiledCluster::outlier.panic_threshold_percent,
// 50% by default as in Envoy) are available: then all are used, rather than
// failing every request. Endpoints already
// tried by this request are avoided while another eligible one exists.
//
// Cookie affinity: the cookie's value names the endpoint by an opaque stable
// hash of cluster name and endpoint key (AffinityCookieValue), never its
// address; a request carrying a valid one for an eligible endpoint goes
// there, otherwise the policy picks and PickResult.set_cookie pins the new
// endpoint.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dataplane/balancer/hash.h"
#include "dataplane/http/message.h"
#include "dataplane/snapshot/compiled_snapshot.h"

namespace sluice::balancer {

struct PickContext {
  // The route the request matched: its balancing policy for the cluster
  // (CompiledRoute::BalancingFor). Null: the default policy.
  const snapshot::CompiledRoute* route = nullptr;
  const http::RequestHead* request = nullptr;  // hash keys, affinity cookie
  std::string_view client_ip;
  // Endpoints this request already tried (retries): avoided while another
  // eligible endpoint exists.
  std::span<const snapshot::CompiledEndpoint* const> tried;
  int64_t now_ns = 0;  // steady clock, for health and EWMA decay
};

struct PickResult {
  const snapshot::CompiledEndpoint* endpoint = nullptr;  // null: no endpoint at all
  // Session affinity: a Set-Cookie value to add to the response (empty:
  // none), from the route's policy (CompiledBalancing::set_cookies).
  std::string set_cookie;
};

class Balancer {
 public:
  // `seed` drives the random choices (random, least-request, EWMA, traffic
  // split); tests pass a fixed one.
  explicit Balancer(uint64_t seed = DefaultSeed());
  ~Balancer();
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  // The cluster a request on `route` goes to: the canary rule first (header,
  // then cookie, as ingress-nginx), then the weighted split, else the route's
  // cluster. Never null for a compiled route.
  const snapshot::CompiledCluster* ChooseCluster(const snapshot::CompiledRoute& route,
                                                 const http::RequestHead& request);

  PickResult Pick(const snapshot::CompiledCluster& cluster, const PickContext& context);

  // In-flight accounting (least-request, EWMA) and latency (EWMA). Every
  // Pick that leads to an upstream attempt is paired with one
  // OnRequestStart and one OnRequestEnd. `now_ns` 0: the steady clock now.
  void OnRequestStart(const snapshot::CompiledCluster& cluster, const snapshot::CompiledEndpoint& endpoint);
  void OnRequestEnd(const snapshot::CompiledCluster& cluster, const snapshot::CompiledEndpoint& endpoint,
                    std::chrono::nanoseconds latency, bool success, int64_t now_ns = 0);

  // This worker's in-flight requests on an endpoint (tests, metrics).
  int64_t InFlight(const snapshot::CompiledCluster& cluster, const snapshot::CompiledEndpoint& endpoint) const;

 private:
  struct ClusterState;
  struct EndpointStats;
  struct PolicyState;
  static uint64_t DefaultSeed();
  ClusterState& Sync(const snapshot::CompiledCluster& cluster, int64_t now_ns);
  EndpointStats* StatsOf(const snapshot::CompiledCluster& cluster, const snapshot::CompiledEndpoint& endpoint,
                         ClusterState** state = nullptr) const;

  // The state of the cluster named `name`, or null.
  ClusterState* FindState(const std::string& name) const;

  std::unordered_map<std::string, std::unique_ptr<ClusterState>> clusters_;
  // The cluster state found last and its name: a request looks its cluster
  // up three times (Pick, OnRequestStart, OnRequestEnd) and the next
  // request nearly always names the same one; a compare of the name is a
  // fraction of hashing it (~300 instructions per proxied request in
  // callgrind). Cleared where clusters_ erases.
  mutable const std::string* last_name_ = nullptr;
  mutable ClusterState* last_state_ = nullptr;
  FastRandom random_;
};

// AffinityCookieValue (hash.h) is the affinity cookie's value for an endpoint.

}  // namespace sluice::balancer
