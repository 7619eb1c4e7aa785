#include "dataplane/balancer/balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

namespace sluice::balancer {
namespace {

using snapshot::CompiledCluster;
using snapshot::CompiledEndpoint;

constexpr int64_t kNow = 1'000'000'000'000;  // an arbitrary steady-clock time

// A cluster as the compiler would produce it, with health objects the test
// can flip, and a route to it whose balancing policy is `source` (the
// policy is the route's, RoutePolicy.load_balancing). Not copyable:
// `cluster.source` points into it.
struct TestCluster {
  TestCluster(v1::LoadBalancingPolicy::Algorithm algorithm, std::vector<std::pair<std::string, uint32_t>> endpoints) {
    cluster_source.set_name("ns/svc:80");
    source.set_algorithm(algorithm);
    cluster.name = cluster_source.name();
    cluster.source = &cluster_source;
    SetEndpoints(std::move(endpoints));
  }
  TestCluster(const TestCluster&) = delete;

  void SetEndpoints(std::vector<std::pair<std::string, uint32_t>> endpoints) {
    cluster.endpoints.clear();
    for (auto& [key, weight] : endpoints) {
      CompiledEndpoint e;
      e.key = key;
      e.weight = weight;
      e.health = std::make_shared<health::EndpointHealth>();
      cluster.endpoints.push_back(std::move(e));
    }
    Changed();
  }
  // What the compiler does when the endpoint set or policy changes.
  void Changed() { cluster.endpoints_version = ++version_counter; }
  CompiledEndpoint& Endpoint(const std::string& key) {
    for (CompiledEndpoint& e : cluster.endpoints) {
      if (e.key == key) return e;
    }
    ADD_FAILURE() << "no endpoint " << key;
    return cluster.endpoints.front();
  }

  // Picks as the exchange does: through the route, whose policy is
  // compiled again (as a new snapshot would) when `source` or the endpoints
  // changed.
  PickResult Pick(Balancer& balancer, PickContext context) {
    std::string compiled_for = source.SerializeAsString() + "@" + std::to_string(cluster.endpoints_version);
    if (compiled_for != compiled_for_) {
      route.cluster = &cluster;
      route.balancing.clear();
      route.balancing.push_back(snapshot::CompileBalancing(source, cluster));
      compiled_for_ = compiled_for;
    }
    context.route = &route;
    return balancer.Pick(cluster, context);
  }

  v1::Cluster cluster_source;
  v1::LoadBalancingPolicy source;  // the route's policy
  CompiledCluster cluster;
  snapshot::CompiledRoute route;
  uint64_t version_counter = 0;
  std::string compiled_for_ = "-";
};

std::string KeyOf(const PickResult& result) { return result.endpoint == nullptr ? "-" : result.endpoint->key; }

PickContext At(int64_t now_ns = kNow) {
  PickContext context;
  context.now_ns = now_ns;
  return context;
}

std::string Picks(Balancer& balancer, TestCluster& test, int n, PickContext context = At()) {
  std::string out;
  for (int i = 0; i < n; ++i) out += KeyOf(test.Pick(balancer, context));
  return out;
}

// ---- Round robin. ----

TEST(BalancerTest, RoundRobinIsSmoothAndWeighted) {
  TestCluster test(v1::LoadBalancingPolicy::ROUND_ROBIN, {{"a", 5}, {"b", 1}, {"c", 1}});
  Balancer balancer(1);
  EXPECT_EQ(Picks(balancer, test, 14), "aabacaaaabacaa");
}

TEST(BalancerTest, RoundRobinPositionSurvivesASnapshotSwapThatKeepsTheCluster) {
  TestCluster test(v1::LoadBalancingPolicy::ROUND_ROBIN, {{"a", 1}, {"b", 1}, {"c", 1}});
  Balancer balancer(1);
  EXPECT_EQ(Picks(balancer, test, 2), "ab");
  // A new snapshot: another CompiledCluster object, same name and version.
  CompiledCluster copy = test.cluster;
  EXPECT_EQ(KeyOf(balancer.Pick(copy, At())), "c");
}

TEST(BalancerTest, EmptyClusterPicksNothing) {
  TestCluster test(v1::LoadBalancingPolicy::ROUND_ROBIN, {});
  Balancer balancer(1);
  EXPECT_EQ(test.Pick(balancer, At()).endpoint, nullptr);
}

// ---- Least request. ----

TEST(BalancerTest, LeastRequestSendsToTheEndpointWithFewerInFlight) {
  TestCluster test(v1::LoadBalancingPolicy::LEAST_REQUEST, {{"a", 1}, {"b", 1}});
  Balancer balancer(7);
  for (int i = 0; i < 3; ++i) balancer.OnRequestStart(test.cluster, test.Endpoint("a"));
  EXPECT_EQ(balancer.InFlight(test.cluster, test.Endpoint("a")), 3);
  // With two endpoints both are always drawn: b wins until it has as many.
  EXPECT_EQ(Picks(balancer, test, 50), std::string(50, 'b'));
  for (int i = 0; i < 3; ++i) {
    balancer.OnRequestEnd(test.cluster, test.Endpoint("a"), std::chrono::milliseconds(1), true);
  }
  EXPECT_EQ(balancer.InFlight(test.cluster, test.Endpoint("a")), 0);
}

TEST(BalancerTest, LeastRequestKeepsHeldRequestsEven) {
  TestCluster test(v1::LoadBalancingPolicy::LEAST_REQUEST, {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}});
  Balancer balancer(11);
  for (int i = 0; i < 400; ++i) {
    PickResult r = test.Pick(balancer, At());
    balancer.OnRequestStart(test.cluster, *r.endpoint);  // held, never ended
  }
  for (const char* key : {"a", "b", "c", "d"}) {
    // Random choice would spread about +-17 (1 sigma); two choices keep it tight.
    EXPECT_NEAR(balancer.InFlight(test.cluster, test.Endpoint(key)), 100, 6) << key;
  }
}

TEST(BalancerTest, LeastRequestWeighsInFlightByWeight) {
  TestCluster test(v1::LoadBalancingPolicy::LEAST_REQUEST, {{"a", 3}, {"b", 1}});
  Balancer balancer(5);
  for (int i = 0; i < 400; ++i) {
    PickResult r = test.Pick(balancer, At());
    balancer.OnRequestStart(test.cluster, *r.endpoint);
  }
  // Held requests settle where in-flight/weight is equal: 300 and 100.
  EXPECT_NEAR(balancer.InFlight(test.cluster, test.Endpoint("a")), 300, 6);
}

// ---- Every policy follows the weights. ----

class WeightedRatioTest : public ::testing::TestWithParam<v1::LoadBalancingPolicy::Algorithm> {};

TEST_P(WeightedRatioTest, PickCountsFollowWeights) {
  TestCluster test(GetParam(), {{"10.0.0.1:80", 1}, {"10.0.0.2:80", 2}, {"10.0.0.3:80", 3}});
  test.source.mutable_hash_key()->set_source(v1::HashKey::CLIENT_IP);
  Balancer balancer(12345);
  constexpr int kPicks = 12000;
  std::map<std::string, int> counts;
  for (int i = 0; i < kPicks; ++i) {
    std::string ip = "192.168." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    PickContext context = At(kNow + i * 1000);
    context.client_ip = ip;
    PickResult r = test.Pick(balancer, context);
    ASSERT_NE(r.endpoint, nullptr);
    balancer.OnRequestStart(test.cluster, *r.endpoint);
    balancer.OnRequestEnd(test.cluster, *r.endpoint, std::chrono::milliseconds(2), true, kNow + i * 1000);
    counts[r.endpoint->key]++;
  }
  // Round robin is exact; the random ones are within ~4 sigma at this seed
  // and count; the hash ones within their table's granularity.
  bool exact = GetParam() == v1::LoadBalancingPolicy::ROUND_ROBIN;
  bool hashed = GetParam() == v1::LoadBalancingPolicy::RING_HASH || GetParam() == v1::LoadBalancingPolicy::MAGLEV;
  double tolerance = exact ? 0 : hashed ? 0.10 : 0.075;
  for (int i = 1; i <= 3; ++i) {
    double expected = kPicks * i / 6.0;
    EXPECT_NEAR(counts["10.0.0." + std::to_string(i) + ":80"], expected, expected * tolerance) << "weight " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryPolicy, WeightedRatioTest,
                         ::testing::Values(v1::LoadBalancingPolicy::ROUND_ROBIN, v1::LoadBalancingPolicy::LEAST_REQUEST,
                                           v1::LoadBalancingPolicy::RING_HASH, v1::LoadBalancingPolicy::MAGLEV, v1::LoadBalancingPolicy::RANDOM,
                                           v1::LoadBalancingPolicy::EWMA));

// ---- EWMA. ----

TEST(BalancerTest, EwmaPrefersTheFasterEndpointAndCountsFailuresAsSlow) {
  TestCluster test(v1::LoadBalancingPolicy::EWMA, {{"slow", 1}, {"fast", 1}});
  Balancer balancer(3);
  // The policy is the route's: a worker keeps latency averages for a cluster
  // once an EWMA route has picked from it (as every request does first).
  test.Pick(balancer, At(kNow));
  for (int i = 0; i < 5; ++i) {
    balancer.OnRequestStart(test.cluster, test.Endpoint("slow"));
    balancer.OnRequestEnd(test.cluster, test.Endpoint("slow"), std::chrono::milliseconds(50), true, kNow);
    balancer.OnRequestStart(test.cluster, test.Endpoint("fast"));
    balancer.OnRequestEnd(test.cluster, test.Endpoint("fast"), std::chrono::milliseconds(1), true, kNow);
  }
  std::string all_fast;
  for (int i = 0; i < 20; ++i) all_fast += "fast";
  EXPECT_EQ(Picks(balancer, test, 20, At(kNow)), all_fast);
  // Held requests on the fast endpoint raise its cost: 1 ms x 60 > 50 ms.
  for (int i = 0; i < 60; ++i) balancer.OnRequestStart(test.cluster, test.Endpoint("fast"));
  EXPECT_EQ(KeyOf(test.Pick(balancer, At(kNow))), "slow");
  for (int i = 0; i < 60; ++i) {
    balancer.OnRequestEnd(test.cluster, test.Endpoint("fast"), std::chrono::milliseconds(1), true, kNow);
  }
  // A fast failure counts as at least a second: the endpoint stops looking cheap.
  balancer.OnRequestStart(test.cluster, test.Endpoint("fast"));
  balancer.OnRequestEnd(test.cluster, test.Endpoint("fast"), std::chrono::microseconds(10), false, kNow);
  EXPECT_EQ(KeyOf(test.Pick(balancer, At(kNow))), "slow");
}

// ---- Consistent hashing through the balancer. ----

http::RequestHead Request(std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::RequestHead head;
  head.method = "GET";
  head.path = std::move(path);
  for (auto& [name, value] : headers) head.headers.Add(name, value);
  return head;
}

class HashPolicyTest : public ::testing::TestWithParam<v1::LoadBalancingPolicy::Algorithm> {};

TEST_P(HashPolicyTest, SameKeySameEndpointAndMissingKeySpreads) {
  TestCluster test(GetParam(), {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}});
  test.source.mutable_hash_key()->set_source(v1::HashKey::HEADER);
  test.source.mutable_hash_key()->set_name("x-user");
  Balancer balancer(9);
  std::map<std::string, std::string> first;
  std::set<std::string> used;
  for (int round = 0; round < 3; ++round) {
    for (int user = 0; user < 200; ++user) {
      http::RequestHead request = Request("/", {{"x-user", "user" + std::to_string(user)}});
      PickContext context = At();
      context.request = &request;
      std::string key = KeyOf(test.Pick(balancer, context));
      used.insert(key);
      auto [it, fresh] = first.emplace(std::to_string(user), key);
      EXPECT_EQ(it->second, key) << "user " << user << " moved";
    }
  }
  EXPECT_EQ(used.size(), 4u);
  // No header: spread at random rather than all on one endpoint.
  http::RequestHead anonymous = Request("/");
  PickContext context = At();
  context.request = &anonymous;
  std::set<std::string> spread;
  for (int i = 0; i < 100; ++i) spread.insert(KeyOf(test.Pick(balancer, context)));
  EXPECT_EQ(spread.size(), 4u);
}

TEST_P(HashPolicyTest, CookiePathAndUriKeys) {
  TestCluster test(GetParam(), {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}, {"f", 1}});
  Balancer balancer(9);
  auto pick = [&](const http::RequestHead& request) {
    PickContext context = At();
    context.request = &request;
    return KeyOf(test.Pick(balancer, context));
  };
  test.source.mutable_hash_key()->set_source(v1::HashKey::COOKIE);
  test.source.mutable_hash_key()->set_name("session");
  test.Changed();
  for (int i = 0; i < 50; ++i) {
    std::string id = "s" + std::to_string(i);
    EXPECT_EQ(pick(Request("/", {{"cookie", "theme=dark; session=" + id}})),
              pick(Request("/other", {{"cookie", "session=" + id + "; x=1"}})));
  }
  test.source.mutable_hash_key()->set_source(v1::HashKey::PATH);
  test.Changed();
  int uri_differs = 0;
  for (int i = 0; i < 50; ++i) {
    std::string path = "/item/" + std::to_string(i);
    EXPECT_EQ(pick(Request(path)), pick(Request(path + "?page=2")));
  }
  test.source.mutable_hash_key()->set_source(v1::HashKey::URI);
  test.Changed();
  for (int i = 0; i < 50; ++i) {
    std::string path = "/item/" + std::to_string(i);
    EXPECT_EQ(pick(Request(path + "?q=1")), pick(Request(path + "?q=1")));
    uri_differs += pick(Request(path)) != pick(Request(path + "?page=2"));
  }
  EXPECT_GT(uri_differs, 20);  // the query is part of the key: ~5/6 differ
}

TEST_P(HashPolicyTest, UnhealthyEndpointsKeysFailOverAndComeBack) {
  TestCluster test(GetParam(), {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}});
  test.source.mutable_hash_key()->set_source(v1::HashKey::CLIENT_IP);
  Balancer balancer(9);
  auto pick = [&](int client) {
    std::string ip = "10.9.0." + std::to_string(client);
    PickContext context = At();
    context.client_ip = ip;
    return KeyOf(test.Pick(balancer, context));
  };
  std::vector<std::string> before;
  for (int c = 0; c < 100; ++c) before.push_back(pick(c));
  test.Endpoint("b").health->active_healthy = false;
  for (int c = 0; c < 100; ++c) {
    std::string now = pick(c);
    EXPECT_NE(now, "b");
    if (before[c] != "b") EXPECT_EQ(now, before[c]) << "a key of a healthy endpoint moved";
  }
  test.Endpoint("b").health->active_healthy = true;
  for (int c = 0; c < 100; ++c) EXPECT_EQ(pick(c), before[c]);
}

INSTANTIATE_TEST_SUITE_P(RingHashAndMaglev, HashPolicyTest,
                         ::testing::Values(v1::LoadBalancingPolicy::RING_HASH, v1::LoadBalancingPolicy::MAGLEV));

// ---- Health, panic, retries. ----

TEST(BalancerTest, UnavailableEndpointsAreSkipped) {
  TestCluster test(v1::LoadBalancingPolicy::ROUND_ROBIN, {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}});
  Balancer balancer(1);
  test.Endpoint("b").health->ejected_until_ns = kNow + 1'000'000'000;  // ejected for 1 s more
  test.Endpoint("d").health->active_healthy = false;
  EXPECT_EQ(Picks(balancer, test, 6), "acacac");
  // The ejection is over a second later.
  EXPECT_EQ(Picks(balancer, test, 3, At(kNow + 2'000'000'000)).find('b') != std::string::npos, true);
}

TEST(BalancerTest, BelowThePanicThresholdAllEndpointsAreUsed) {
  TestCluster test(v1::LoadBalancingPolicy::ROUND_ROBIN, {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}});
  Balancer balancer(1);
  // 2 of 4 available: exactly the 50% threshold, not below: healthy only.
  test.Endpoint("a").health->active_healthy = false;
  test.Endpoint("b").health->active_healthy = false;
  EXPECT_EQ(Picks(balancer, test, 4), "cdcd");
  // 1 of 4 (25%): panic, every endpoint takes traffic again.
  test.Endpoint("c").health->active_healthy = false;
  std::string panic = Picks(balancer, test, 8);
  for (char k : std::string("abcd")) EXPECT_NE(panic.find(k), std::string::npos) << panic;
  // None available: still answered, by all of them.
  test.Endpoint("d").health->active_healthy = false;
  EXPECT_EQ(Picks(balancer, test, 4).size(), 4u);
}

TEST(BalancerTest, RetriesAvoidTriedEndpointsWhileOthersRemain) {
  for (auto policy : {v1::LoadBalancingPolicy::ROUND_ROBIN, v1::LoadBalancingPolicy::LEAST_REQUEST, v1::LoadBalancingPolicy::RING_HASH,
                      v1::LoadBalancingPolicy::MAGLEV, v1::LoadBalancingPolicy::RANDOM, v1::LoadBalancingPolicy::EWMA}) {
    TestCluster test(policy, {{"a", 1}, {"b", 1}, {"c", 1}});
    test.source.mutable_hash_key()->set_source(v1::HashKey::CLIENT_IP);
    Balancer balancer(1);
    const CompiledEndpoint* tried[] = {&test.Endpoint("a"), &test.Endpoint("b")};
    PickContext context = At();
    context.client_ip = "10.1.1.1";
    context.tried = tried;
    for (int i = 0; i < 20; ++i) EXPECT_EQ(KeyOf(test.Pick(balancer, context)), "c") << policy;
    const CompiledEndpoint* all[] = {&test.Endpoint("a"), &test.Endpoint("b"), &test.Endpoint("c")};
    context.tried = all;
    EXPECT_NE(test.Pick(balancer, context).endpoint, nullptr) << policy;
  }
}

TEST(BalancerTest, InFlightCountsFollowTheEndpointAcrossEndpointChanges) {
  TestCluster test(v1::LoadBalancingPolicy::LEAST_REQUEST, {{"a", 1}, {"b", 1}});
  Balancer balancer(1);
  test.Pick(balancer, At());
  balancer.OnRequestStart(test.cluster, test.Endpoint("b"));
  test.SetEndpoints({{"b", 1}, {"c", 1}});  // b moves to index 0
  test.Pick(balancer, At());
  EXPECT_EQ(balancer.InFlight(test.cluster, test.Endpoint("b")), 1);
  EXPECT_EQ(balancer.InFlight(test.cluster, test.Endpoint("c")), 0);
}

// ---- Cookie affinity. ----

class AffinityTest : public ::testing::Test {
 protected:
  AffinityTest() : test(v1::LoadBalancingPolicy::ROUND_ROBIN, {{"10.0.0.1:80", 1}, {"10.0.0.2:80", 1}, {"10.0.0.3:80", 1}}) {
    test.source.mutable_affinity()->set_enabled(true);
    test.Changed();
  }
  PickResult PickWith(const std::string& cookie_header) {
    request = Request("/", cookie_header.empty() ? std::vector<std::pair<std::string, std::string>>{}
                                                 : std::vector<std::pair<std::string, std::string>>{
                                                       {"cookie", cookie_header}});
    PickContext context = At();
    context.request = &request;
    return test.Pick(balancer, context);
  }
  // "name=value" from a Set-Cookie value.
  static std::string CookiePair(const std::string& set_cookie) { return set_cookie.substr(0, set_cookie.find(';')); }

  TestCluster test;
  Balancer balancer{1};
  http::RequestHead request;
};

TEST_F(AffinityTest, FirstResponsePinsAndLaterRequestsStick) {
  PickResult first = PickWith("");
  ASSERT_NE(first.endpoint, nullptr);
  std::string value = AffinityCookieValue("ns/svc:80", first.endpoint->key);
  EXPECT_EQ(first.set_cookie, "sluice-affinity=" + value + "; Path=/; HttpOnly");
  EXPECT_EQ(value.size(), 16u);
  EXPECT_EQ(first.set_cookie.find("10.0.0"), std::string::npos) << "the cookie must not reveal the backend";
  for (int i = 0; i < 100; ++i) {
    PickResult again = PickWith("other=1; " + CookiePair(first.set_cookie));
    EXPECT_EQ(again.endpoint, first.endpoint);
    EXPECT_EQ(again.set_cookie, "") << "no new cookie while the pin holds";
  }
}

TEST_F(AffinityTest, FailsOverWhenThePinnedEndpointIsUnhealthyOrGone) {
  PickResult first = PickWith("");
  std::string pinned_key = first.endpoint->key;
  std::string cookie = CookiePair(first.set_cookie);
  test.Endpoint(pinned_key).health->active_healthy = false;
  PickResult moved = PickWith(cookie);
  ASSERT_NE(moved.endpoint, nullptr);
  EXPECT_NE(moved.endpoint->key, pinned_key);
  EXPECT_EQ(moved.set_cookie, "sluice-affinity=" + AffinityCookieValue("ns/svc:80", moved.endpoint->key) +
                                  "; Path=/; HttpOnly");
  // The new pin sticks.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(PickWith(CookiePair(moved.set_cookie)).endpoint, moved.endpoint);

  // Removed from the cluster: the old cookie no longer matches anything.
  std::string moved_key = moved.endpoint->key;
  std::vector<std::pair<std::string, uint32_t>> rest;
  for (auto& e : test.cluster.endpoints) {
    if (e.key != moved_key) rest.push_back({e.key, 1});
  }
  test.SetEndpoints(rest);
  PickResult after = PickWith(CookiePair(moved.set_cookie));
  ASSERT_NE(after.endpoint, nullptr);
  EXPECT_NE(after.endpoint->key, moved_key);
  EXPECT_FALSE(after.set_cookie.empty());
}

TEST_F(AffinityTest, GarbageCookieIsIgnoredAndAttributesAreApplied) {
  v1::SessionAffinity* affinity = test.source.mutable_affinity();
  affinity->set_cookie_name("route");
  affinity->set_max_age_seconds(3600);
  affinity->set_path("/app");
  affinity->set_same_site("Strict");
  affinity->set_secure(true);
  test.Changed();
  PickResult r = PickWith("route=not-a-hash");
  ASSERT_NE(r.endpoint, nullptr);
  EXPECT_EQ(r.set_cookie, "route=" + AffinityCookieValue("ns/svc:80", r.endpoint->key) +
                              "; Path=/app; Max-Age=3600; SameSite=Strict; Secure; HttpOnly");
  EXPECT_EQ(PickWith(CookiePair(r.set_cookie)).endpoint, r.endpoint);
}

// ---- Two routes, two policies, one cluster. ----

// As two Ingresses routing to one Service port: each route's policy picks on
// its own (its own round robin position, its own hash ring, its own cookie),
// over the endpoints, health and in-flight counts the cluster shares.
TEST(BalancerTest, TwoPoliciesOnOneClusterPickIndependentlyAndShareEndpointState) {
  TestCluster test(v1::LoadBalancingPolicy::ROUND_ROBIN, {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}});
  v1::LoadBalancingPolicy hashed;
  hashed.set_algorithm(v1::LoadBalancingPolicy::RING_HASH);
  hashed.mutable_hash_key()->set_source(v1::HashKey::HEADER);
  hashed.mutable_hash_key()->set_name("x-user");
  v1::LoadBalancingPolicy sticky;
  sticky.mutable_affinity()->set_enabled(true);
  sticky.mutable_affinity()->set_cookie_name("stick");
  snapshot::CompiledRoute hashed_route, sticky_route;
  hashed_route.cluster = sticky_route.cluster = &test.cluster;
  hashed_route.balancing.push_back(snapshot::CompileBalancing(hashed, test.cluster));
  sticky_route.balancing.push_back(snapshot::CompileBalancing(sticky, test.cluster));
  Balancer balancer(1);
  auto pick = [&](const snapshot::CompiledRoute& route, const http::RequestHead& request) {
    PickContext context = At();
    context.route = &route;
    context.request = &request;
    return balancer.Pick(test.cluster, context);
  };
  http::RequestHead plain = Request("/");
  std::string rr, sticky_keys;
  std::set<std::string> hashed_keys;
  for (int i = 0; i < 8; ++i) {
    rr += KeyOf(test.Pick(balancer, At()));
    PickResult h = pick(hashed_route, Request("/", {{"x-user", "alice"}}));
    hashed_keys.insert(KeyOf(h));
    EXPECT_EQ(h.set_cookie, "") << "no affinity on the hashed route";
    PickResult s = pick(sticky_route, plain);
    sticky_keys += KeyOf(s);
    EXPECT_EQ(s.set_cookie.rfind("stick=" + AffinityCookieValue("ns/svc:80", s.endpoint->key) + "; Path=/", 0), 0u)
        << s.set_cookie;
  }
  // Each round robin has its own position: the other routes' picks in
  // between do not shift it.
  EXPECT_EQ(rr, "abcdabcd");
  EXPECT_EQ(sticky_keys, "abcdabcd");
  ASSERT_EQ(hashed_keys.size(), 1u) << "one header value, one endpoint";
  std::string alice = *hashed_keys.begin();
  // Different values spread over the endpoints.
  std::set<std::string> users;
  for (int u = 0; u < 64; ++u) users.insert(KeyOf(pick(hashed_route, Request("/", {{"x-user", "u" + std::to_string(u)}}))));
  EXPECT_EQ(users.size(), 4u);
  // The plain route gives no cookie.
  EXPECT_EQ(test.Pick(balancer, At()).set_cookie, "");

  // Health is the cluster's: alice's endpoint ejected, every route avoids it.
  test.Endpoint(alice).health->ejected_until_ns = kNow + 1'000'000'000;
  PickResult moved = pick(hashed_route, Request("/", {{"x-user", "alice"}}));
  EXPECT_NE(KeyOf(moved), alice);
  http::RequestHead pinned =
      Request("/", {{"cookie", "stick=" + AffinityCookieValue("ns/svc:80", alice)}});
  EXPECT_NE(KeyOf(pick(sticky_route, pinned)), alice) << "the pin fails over";
  for (int i = 0; i < 8; ++i) EXPECT_NE(KeyOf(test.Pick(balancer, At())), alice);
  test.Endpoint(alice).health->ejected_until_ns = 0;
  EXPECT_EQ(KeyOf(pick(hashed_route, Request("/", {{"x-user", "alice"}}))), alice);
  EXPECT_EQ(KeyOf(pick(sticky_route, pinned)), alice);

  // In-flight counts are the endpoint's, whichever route's pick started them.
  balancer.OnRequestStart(test.cluster, test.Endpoint("b"));
  balancer.OnRequestStart(test.cluster, test.Endpoint("b"));
  EXPECT_EQ(balancer.InFlight(test.cluster, test.Endpoint("b")), 2);
}

// The snapshot compiler gives each route its own policy towards each of its
// clusters (the canary rule's own when set) and builds the tables then,
// shared between routes using the same kind of table on the same cluster.
TEST(CompiledBalancingTest, PerRoutePoliciesAndSharedTablesAtCompileTime) {
  v1::Snapshot snapshot;
  for (const char* name : {"ns/web:80", "ns/web-v2:80"}) {
    v1::Cluster* cluster = snapshot.add_clusters();
    cluster->set_name(name);
    for (int i = 1; i <= 3; ++i) {
      v1::Endpoint* endpoint = cluster->add_endpoints();
      endpoint->set_address("10.0.0." + std::to_string(i));
      endpoint->set_port(80);
    }
  }
  auto add_route = [&](const std::string& host, v1::LoadBalancingPolicy::Algorithm algorithm, bool affinity) {
    v1::VirtualHost* vhost = snapshot.add_virtual_hosts();
    vhost->set_name(host);
    v1::Route* route = vhost->add_routes();
    route->set_path("/");
    route->set_cluster("ns/web:80");
    route->mutable_policy()->mutable_load_balancing()->set_algorithm(algorithm);
    if (affinity) route->mutable_policy()->mutable_load_balancing()->mutable_affinity()->set_enabled(true);
    return route;
  };
  add_route("api.example", v1::LoadBalancingPolicy::RING_HASH, false);
  add_route("api2.example", v1::LoadBalancingPolicy::RING_HASH, false);
  v1::Route* sticky = add_route("sticky.example", v1::LoadBalancingPolicy::ROUND_ROBIN, true);
  add_route("sticky2.example", v1::LoadBalancingPolicy::LEAST_REQUEST, true);
  sticky->mutable_canary()->set_cluster("ns/web-v2:80");
  sticky->mutable_canary()->mutable_load_balancing()->set_algorithm(v1::LoadBalancingPolicy::MAGLEV);
  auto compiled = snapshot::Compile(snapshot, "1");
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  const snapshot::CompiledRoute* api = (*compiled)->Match("api.example", "/");
  const snapshot::CompiledRoute* api2 = (*compiled)->Match("api2.example", "/");
  const snapshot::CompiledRoute* sticky_route = (*compiled)->Match("sticky.example", "/");
  const snapshot::CompiledRoute* sticky2 = (*compiled)->Match("sticky2.example", "/");
  ASSERT_TRUE(api && api2 && sticky_route && sticky2);
  const snapshot::CompiledBalancing* a = api->BalancingFor(api->cluster);
  const snapshot::CompiledBalancing* a2 = api2->BalancingFor(api2->cluster);
  const snapshot::CompiledBalancing* s = sticky_route->BalancingFor(sticky_route->cluster);
  const snapshot::CompiledBalancing* c = sticky_route->BalancingFor(sticky_route->canary.cluster);
  ASSERT_TRUE(a && a2 && s && c);
  EXPECT_EQ(api->cluster, sticky_route->cluster) << "one cluster, shared";
  EXPECT_NE(a->ring, nullptr);
  EXPECT_EQ(a->ring, a2->ring) << "one ring per cluster, built once";
  EXPECT_EQ(a->policy_id, a2->policy_id);
  EXPECT_EQ(a->set_cookies, nullptr);
  EXPECT_EQ(s->algorithm, v1::LoadBalancingPolicy::ROUND_ROBIN);
  EXPECT_EQ(s->ring, nullptr);
  ASSERT_NE(s->set_cookies, nullptr);
  EXPECT_EQ(s->set_cookies->size(), 3u);
  EXPECT_EQ(s->set_cookies, sticky2->BalancingFor(sticky2->cluster)->set_cookies) << "same cookie, built once";
  EXPECT_EQ(s->affinity, sticky2->BalancingFor(sticky2->cluster)->affinity);
  EXPECT_NE(s->policy_id, a->policy_id);
  EXPECT_EQ(c->algorithm, v1::LoadBalancingPolicy::MAGLEV) << "the canary rule's own policy";
  EXPECT_NE(c->maglev, nullptr);
  EXPECT_EQ(c->set_cookies, nullptr);
}

// ---- Traffic split and canary, on a compiled snapshot. ----

class CanaryTest : public ::testing::Test {
 protected:
  void Compile(uint32_t canary_weight, const std::string& header, const std::string& header_value,
               const std::string& cookie) {
    v1::Snapshot snapshot;
    for (const char* name : {"ns/stable:80", "ns/canary:80"}) {
      v1::Cluster* cluster = snapshot.add_clusters();
      cluster->set_name(name);
      v1::Endpoint* endpoint = cluster->add_endpoints();
      endpoint->set_address("10.0.0.1");
      endpoint->set_port(80);
    }
    v1::Route* route = snapshot.add_virtual_hosts()->add_routes();
    snapshot.mutable_virtual_hosts(0)->set_name("demo.local");
    route->set_path("/");
    route->set_cluster("ns/stable:80");
    if (canary_weight > 0) {
      v1::WeightedCluster* stable = route->add_weighted_clusters();
      stable->set_cluster("ns/stable:80");
      stable->set_weight(100 - canary_weight);
      v1::WeightedCluster* canary = route->add_weighted_clusters();
      canary->set_cluster("ns/canary:80");
      canary->set_weight(canary_weight);
    }
    route->mutable_canary()->set_cluster("ns/canary:80");
    route->mutable_canary()->set_header(header);
    route->mutable_canary()->set_header_value(header_value);
    route->mutable_canary()->set_cookie(cookie);
    auto compiled = snapshot::Compile(snapshot, "1");
    ASSERT_TRUE(compiled.ok()) << compiled.status().message();
    compiled_ = *compiled;
    route_ = compiled_->Match("demo.local", "/");
    ASSERT_NE(route_, nullptr);
  }
  std::string Choose(std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::RequestHead request = Request("/", std::move(headers));
    return balancer_.ChooseCluster(*route_, request)->name;
  }

  std::shared_ptr<const snapshot::CompiledSnapshot> compiled_;
  const snapshot::CompiledRoute* route_ = nullptr;
  Balancer balancer_{42};
};

TEST_F(CanaryTest, HeaderThenCookieThenWeight) {
  Compile(0, "X-Canary", "", "canary");
  EXPECT_EQ(Choose(), "ns/stable:80");
  EXPECT_EQ(Choose({{"x-canary", "always"}}), "ns/canary:80");
  EXPECT_EQ(Choose({{"x-canary", "never"}, {"cookie", "canary=always"}}), "ns/stable:80");  // header first
  EXPECT_EQ(Choose({{"x-canary", "maybe"}, {"cookie", "canary=always"}}), "ns/canary:80");  // falls through
  EXPECT_EQ(Choose({{"cookie", "a=b; canary=always"}}), "ns/canary:80");
  EXPECT_EQ(Choose({{"cookie", "canary=never"}}), "ns/stable:80");
}

TEST_F(CanaryTest, HeaderValueIsAnExactMatchAndOtherValuesFallThrough) {
  Compile(100, "x-region", "eu-west", "");
  EXPECT_EQ(Choose({{"x-region", "eu-west"}}), "ns/canary:80");
  // Weight 100: everything else goes to the canary too...
  EXPECT_EQ(Choose({{"x-region", "us-east"}}), "ns/canary:80");
  Compile(0, "x-region", "eu-west", "");
  // ...and with weight 0 nothing else does, not even "always".
  EXPECT_EQ(Choose({{"x-region", "us-east"}}), "ns/stable:80");
  EXPECT_EQ(Choose({{"x-region", "always"}}), "ns/stable:80");
}

TEST_F(CanaryTest, WeightSplitsTrafficInRatio) {
  Compile(20, "x-canary", "", "canary");
  int canary = 0;
  constexpr int kRequests = 20000;
  for (int i = 0; i < kRequests; ++i) canary += Choose() == "ns/canary:80";
  EXPECT_NEAR(canary, kRequests * 0.20, kRequests * 0.015);  // sigma is 0.28%
  // "never" beats the weight.
  for (int i = 0; i < 200; ++i) EXPECT_EQ(Choose({{"x-canary", "never"}}), "ns/stable:80");
}

TEST(CompiledRouteTest, UnknownWeightedOrCanaryClusterIsRejected) {
  v1::Snapshot snapshot;
  snapshot.add_clusters()->set_name("ns/a:80");
  v1::VirtualHost* vhost = snapshot.add_virtual_hosts();
  vhost->set_name("demo.local");
  v1::Route* route = vhost->add_routes();
  route->set_path("/");
  route->set_cluster("ns/a:80");
  route->add_weighted_clusters()->set_cluster("ns/missing:80");
  EXPECT_FALSE(snapshot::Compile(snapshot, "1").ok());
  route->clear_weighted_clusters();
  route->mutable_canary()->set_cluster("ns/missing:80");
  EXPECT_FALSE(snapshot::Compile(snapshot, "1").ok());
  route->clear_canary();
  EXPECT_TRUE(snapshot::Compile(snapshot, "1").ok());
}

}  // namespace
}  // namespace sluice::balancer
