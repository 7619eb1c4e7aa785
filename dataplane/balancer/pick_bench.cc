// Nanoseconds per Balancer::Pick (+ OnRequestStart/End) for each policy,
// 3 and 50 endpoints, no I/O: the balancer's own share of a request, which
// bench/lb_bench.sh cannot separate from the proxy's noise.
//   bazel run //dataplane/balancer:pick_bench
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "dataplane/balancer/balancer.h"

namespace sluice::balancer {
namespace {

double NsPerPick(v1::LoadBalancingPolicy::Algorithm algorithm, int endpoints, bool affinity, int picks) {
  v1::Cluster source;
  source.set_name("bench/svc:80");
  v1::LoadBalancingPolicy policy;
  policy.set_algorithm(algorithm);
  policy.mutable_hash_key()->set_source(v1::HashKey::HEADER);
  policy.mutable_hash_key()->set_name("x-user");
  policy.mutable_affinity()->set_enabled(affinity);
  snapshot::CompiledCluster cluster;
  cluster.name = source.name();
  cluster.source = &source;
  cluster.endpoints_version = 1;
  for (int i = 0; i < endpoints; ++i) {
    snapshot::CompiledEndpoint e;
    e.key = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":8080";
    e.health = std::make_shared<health::EndpointHealth>();
    cluster.endpoints.push_back(std::move(e));
  }
  // The route's policy, compiled as the snapshot compiler does.
  snapshot::CompiledRoute route;
  route.cluster = &cluster;
  route.balancing.push_back(snapshot::CompileBalancing(policy, cluster));
  http::RequestHead request;
  request.path = "/api/items?page=2";
  request.headers.Add("user-agent", "bench");
  request.headers.Add("x-user", "user-42");
  Balancer balancer(1);
  PickContext context;
  context.route = &route;
  context.request = &request;
  context.client_ip = "192.168.1.10";
  int64_t now = 1'000'000'000;
  context.now_ns = now;
  balancer.Pick(cluster, context);  // builds the worker's per-cluster state
  auto start = std::chrono::steady_clock::now();
  uint64_t sink = 0;
  for (int i = 0; i < picks; ++i) {
    context.now_ns = now + i;
    PickResult r = balancer.Pick(cluster, context);
    balancer.OnRequestStart(cluster, *r.endpoint);
    balancer.OnRequestEnd(cluster, *r.endpoint, std::chrono::microseconds(500), true, now + i);
    sink += r.set_cookie.size() + reinterpret_cast<uintptr_t>(r.endpoint);
  }
  double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / picks;
  if (sink == 42) std::puts("");
  return ns;
}

}  // namespace
}  // namespace sluice::balancer

int main() {
  using Cluster = sluice::v1::LoadBalancingPolicy;
  struct Row {
    const char* name;
    Cluster::Algorithm policy;
    bool affinity;
  } rows[] = {{"round-robin", Cluster::ROUND_ROBIN, false}, {"least-request", Cluster::LEAST_REQUEST, false},
              {"ring-hash (header)", Cluster::RING_HASH, false}, {"maglev (header)", Cluster::MAGLEV, false},
              {"random", Cluster::RANDOM, false},           {"ewma", Cluster::EWMA, false},
              {"rr + affinity (new pin)", Cluster::ROUND_ROBIN, true}};
  std::printf("%-24s %16s %16s\n", "policy", "3 endpoints", "50 endpoints");
  double rr3 = 0, rr50 = 0;
  for (const Row& row : rows) {
    double a = sluice::balancer::NsPerPick(row.policy, 3, row.affinity, 2'000'000);
    double b = sluice::balancer::NsPerPick(row.policy, 50, row.affinity, 500'000);
    if (rr3 == 0) rr3 = a, rr50 = b;
    std::printf("%-24s %8.0f ns %4.1fx %8.0f ns %4.1fx\n", row.name, a, a / rr3, b, b / rr50);
  }
  return 0;
}
