// The round-robin and ring-hash paths must not allocate per request: this binary counts
// every global operator new while picking.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "dataplane/balancer/balancer.h"

namespace {
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace sluice::balancer {
namespace {

TEST(BalancerAllocationTest, RoundRobinAndRingHashPicksAndAccountingAllocateNothing) {
  v1::Cluster source;
  source.set_name("ns/svc:80");
  snapshot::CompiledCluster cluster;
  cluster.name = source.name();
  cluster.source = &source;
  cluster.endpoints_version = 1;
  for (const char* key : {"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}) {
    snapshot::CompiledEndpoint e;
    e.key = key;
    e.weight = 2;
    e.health = std::make_shared<health::EndpointHealth>();
    cluster.endpoints.push_back(std::move(e));
  }
  // Two routes to the cluster, as two Ingresses: round robin and ring hash
  // on a header, their policies compiled as the snapshot compiler does.
  snapshot::CompiledRoute route, hashed;
  route.cluster = hashed.cluster = &cluster;
  route.balancing.push_back(snapshot::CompileBalancing(v1::LoadBalancingPolicy(), cluster));
  v1::LoadBalancingPolicy ring;
  ring.set_algorithm(v1::LoadBalancingPolicy::RING_HASH);
  ring.mutable_hash_key()->set_source(v1::HashKey::HEADER);
  ring.mutable_hash_key()->set_name("x-user");
  hashed.balancing.push_back(snapshot::CompileBalancing(ring, cluster));
  http::RequestHead request;
  request.path = "/";
  request.headers.Add("cookie", "a=b");
  request.headers.Add("x-user", "alice");

  Balancer balancer(1);
  PickContext context;
  context.request = &request;
  context.now_ns = 1;
  for (const snapshot::CompiledRoute* r : {&route, &hashed}) {
    context.route = r;
    balancer.Pick(cluster, context);  // first picks build the worker's state
  }

  long before = allocations.load();
  int picked = 0;
  for (int i = 0; i < 1000; ++i) {
    const snapshot::CompiledCluster* chosen = balancer.ChooseCluster(route, request);
    context.route = i % 2 == 0 ? &route : &hashed;
    PickResult result = balancer.Pick(*chosen, context);
    balancer.OnRequestStart(*chosen, *result.endpoint);
    balancer.OnRequestEnd(*chosen, *result.endpoint, std::chrono::milliseconds(1), true, 2);
    picked += result.endpoint != nullptr;
  }
  long after = allocations.load();
  EXPECT_EQ(picked, 1000);
  EXPECT_EQ(after - before, 0) << "allocations on the round-robin and ring-hash paths";
}

}  // namespace
}  // namespace sluice::balancer
