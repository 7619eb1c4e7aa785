// The round-robin path must not allocate per request: this binary counts
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

TEST(BalancerAllocationTest, RoundRobinPickAndAccountingAllocateNothing) {
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
  snapshot::CompiledRoute route;
  route.cluster = &cluster;
  http::RequestHead request;
  request.path = "/";
  request.headers.Add("cookie", "a=b");

  Balancer balancer(1);
  PickContext context;
  context.request = &request;
  context.now_ns = 1;
  balancer.Pick(cluster, context);  // first pick builds the cluster's state

  long before = allocations.load();
  int picked = 0;
  for (int i = 0; i < 1000; ++i) {
    const snapshot::CompiledCluster* chosen = balancer.ChooseCluster(route, request);
    PickResult result = balancer.Pick(*chosen, context);
    balancer.OnRequestStart(*chosen, *result.endpoint);
    balancer.OnRequestEnd(*chosen, *result.endpoint, std::chrono::milliseconds(1), true, 2);
    picked += result.endpoint != nullptr;
  }
  long after = allocations.load();
  EXPECT_EQ(picked, 1000);
  EXPECT_EQ(after - before, 0) << "allocations on the round-robin path";
}

}  // namespace
}  // namespace sluice::balancer
