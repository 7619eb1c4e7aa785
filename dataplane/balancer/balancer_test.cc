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
// can flip. Not copyable: `cluster.source` points into it.
struct TestCluster {
  TestCluster(v1::Cluster::LoadBalancing policy, std::vector<std::pair<std::string, uint32_t>> endpoints) {
    source.set_name("ns/svc:80");
    source.set_load_balancing(policy);
    cluster.name = source.name();
    cluster.source = &source;
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

  v1::Cluster source;
  CompiledCluster cluster;
  uint64_t version_counter = 0;
};

std::string KeyOf(const PickResult& result) { return result.endpoint == nullptr ? "-" : result.endpoint->key; }

PickContext At(int64_t now_ns = kNow) {
  PickContext context;
  context.now_ns = now_ns;
  return context;
}

std::string Picks(Balancer& balancer, TestCluster& test, int n, PickContext context = At()) {
  std::string out;
  for (int i = 0; i < n; ++i) out += KeyOf(balancer.Pick(test.cluster, context));
  return out;
}

// ---- Round robin. ----

TEST(BalancerTest, RoundRobinIsSmoothAndWeighted) {
  TestCluster test(v1::Cluster::ROUND_ROBIN, {{"a", 5}, {"b", 1}, {"c", 1}});
  Balancer balancer(1);
  EXPECT_EQ(Picks(balancer, test, 14), "aabacaaaabacaa");
}

TEST(BalancerTest, RoundRobinPositionSurvivesASnapshotSwapThatKeepsTheCluster) {
  TestCluster test(v1::Cluster::ROUND_ROBIN, {{"a", 1}, {"b", 1}, {"c", 1}});
  Balancer balancer(1);
  EXPECT_EQ(Picks(balancer, test, 2), "ab");
  // A new snapshot: another CompiledCluster object, same name and version.
  CompiledCluster copy = test.cluster;
  EXPECT_EQ(KeyOf(balancer.Pick(copy, At())), "c");
}

TEST(BalancerTest, EmptyClusterPicksNothing) {
  TestCluster test(v1::Cluster::ROUND_ROBIN, {});
  Balancer balancer(1);
  EXPECT_EQ(balancer.Pick(test.cluster, At()).endpoint, nullptr);
}

// ---- Least request. ----

TEST(BalancerTest, LeastRequestSendsToTheEndpointWithFewerInFlight) {
  TestCluster test(v1::Cluster::LEAST_REQUEST, {{"a", 1}, {"b", 1}});
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
  TestCluster test(v1::Cluster::LEAST_REQUEST, {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}});
  Balancer balancer(11);
  for (int i = 0; i < 400; ++i) {
    PickResult r = balancer.Pick(test.cluster, At());
    balancer.OnRequestStart(test.cluster, *r.endpoint);  // held, never ended
  }
  for (const char* key : {"a", "b", "c", "d"}) {
    // Random choice would spread about +-17 (1 sigma); two choices keep it tight.
    EXPECT_NEAR(balancer.InFlight(test.cluster, test.Endpoint(key)), 100, 6) << key;
  }
}

TEST(BalancerTest, LeastRequestWeighsInFlightByWeight) {
  TestCluster test(v1::Cluster::LEAST_REQUEST, {{"a", 3}, {"b", 1}});
  Balancer balancer(5);
  for (int i = 0; i < 400; ++i) {
    PickResult r = balancer.Pick(test.cluster, At());
    balancer.OnRequestStart(test.cluster, *r.endpoint);
  }
  // Held requests settle where in-flight/weight is equal: 300 and 100.
  EXPECT_NEAR(balancer.InFlight(test.cluster, test.Endpoint("a")), 300, 6);
}

// ---- Every policy follows the weights. ----

class WeightedRatioTest : public ::testing::TestWithParam<v1::Cluster::LoadBalancing> {};

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
    PickResult r = balancer.Pick(test.cluster, context);
    ASSERT_NE(r.endpoint, nullptr);
    balancer.OnRequestStart(test.cluster, *r.endpoint);
    balancer.OnRequestEnd(test.cluster, *r.endpoint, std::chrono::milliseconds(2), true, kNow + i * 1000);
    counts[r.endpoint->key]++;
  }
  // Round robin is exact; the random ones are within ~4 sigma at this seed
  // and count; the hash ones within their table's granularity.
  bool exact = GetParam() == v1::Cluster::ROUND_ROBIN;
  bool hashed = GetParam() == v1::Cluster::RING_HASH || GetParam() == v1::Cluster::MAGLEV;
  double tolerance = exact ? 0 : hashed ? 0.10 : 0.075;
  for (int i = 1; i <= 3; ++i) {
    double expected = kPicks * i / 6.0;
    EXPECT_NEAR(counts["10.0.0." + std::to_string(i) + ":80"], expected, expected * tolerance) << "weight " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryPolicy, WeightedRatioTest,
                         ::testing::Values(v1::Cluster::ROUND_ROBIN, v1::Cluster::LEAST_REQUEST,
                                           v1::Cluster::RING_HASH, v1::Cluster::MAGLEV, v1::Cluster::RANDOM,
                                           v1::Cluster::EWMA));

// ---- EWMA. ----

TEST(BalancerTest, EwmaPrefersTheFasterEndpointAndCountsFailuresAsSlow) {
  TestCluster test(v1::Cluster::EWMA, {{"slow", 1}, {"fast", 1}});
  Balancer balancer(3);
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
  EXPECT_EQ(KeyOf(balancer.Pick(test.cluster, At(kNow))), "slow");
  for (int i = 0; i < 60; ++i) {
    balancer.OnRequestEnd(test.cluster, test.Endpoint("fast"), std::chrono::milliseconds(1), true, kNow);
  }
  // A fast failure counts as at least a second: the endpoint stops looking cheap.
  balancer.OnRequestStart(test.cluster, test.Endpoint("fast"));
  balancer.OnRequestEnd(test.cluster, test.Endpoint("fast"), std::chrono::microseconds(10), false, kNow);
  EXPECT_EQ(KeyOf(balancer.Pick(test.cluster, At(kNow))), "slow");
}

// ---- Consistent hashing through the balancer. ----

http::RequestHead Request(std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::RequestHead head;
  head.method = "GET";
  head.path = std::move(path);
  for (auto& [name, value] : headers) head.headers.Add(name, value);
  return head;
}

class HashPolicyTest : public ::testing::TestWithParam<v1::Cluster::LoadBalancing> {};

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
      std::string key = KeyOf(balancer.Pick(test.cluster, context));
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
  for (int i = 0; i < 100; ++i) spread.insert(KeyOf(balancer.Pick(test.cluster, context)));
  EXPECT_EQ(spread.size(), 4u);
}

TEST_P(HashPolicyTest, CookiePathAndUriKeys) {
  TestCluster test(GetParam(), {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}, {"f", 1}});
  Balancer balancer(9);
  auto pick = [&](const http::RequestHead& request) {
    PickContext context = At();
    context.request = &request;
    return KeyOf(balancer.Pick(test.cluster, context));
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
    return KeyOf(balancer.Pick(test.cluster, context));
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
                         ::testing::Values(v1::Cluster::RING_HASH, v1::Cluster::MAGLEV));

// ---- Health, panic, retries. ----

TEST(BalancerTest, UnavailableEndpointsAreSkipped) {
  TestCluster test(v1::Cluster::ROUND_ROBIN, {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}});
  Balancer balancer(1);
  test.Endpoint("b").health->ejected_until_ns = kNow + 1'000'000'000;  // ejected for 1 s more
  test.Endpoint("d").health->active_healthy = false;
  EXPECT_EQ(Picks(balancer, test, 6), "acacac");
  // The ejection is over a second later.
  EXPECT_EQ(Picks(balancer, test, 3, At(kNow + 2'000'000'000)).find('b') != std::string::npos, true);
}

TEST(BalancerTest, BelowThePanicThresholdAllEndpointsAreUsed) {
  TestCluster test(v1::Cluster::ROUND_ROBIN, {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}});
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
  for (auto policy : {v1::Cluster::ROUND_ROBIN, v1::Cluster::LEAST_REQUEST, v1::Cluster::RING_HASH,
                      v1::Cluster::MAGLEV, v1::Cluster::RANDOM, v1::Cluster::EWMA}) {
    TestCluster test(policy, {{"a", 1}, {"b", 1}, {"c", 1}});
    test.source.mutable_hash_key()->set_source(v1::HashKey::CLIENT_IP);
    Balancer balancer(1);
    const CompiledEndpoint* tried[] = {&test.Endpoint("a"), &test.Endpoint("b")};
    PickContext context = At();
    context.client_ip = "10.1.1.1";
    context.tried = tried;
    for (int i = 0; i < 20; ++i) EXPECT_EQ(KeyOf(balancer.Pick(test.cluster, context)), "c") << policy;
    const CompiledEndpoint* all[] = {&test.Endpoint("a"), &test.Endpoint("b"), &test.Endpoint("c")};
    context.tried = all;
    EXPECT_NE(balancer.Pick(test.cluster, context).endpoint, nullptr) << policy;
  }
}

TEST(BalancerTest, InFlightCountsFollowTheEndpointAcrossEndpointChanges) {
  TestCluster test(v1::Cluster::LEAST_REQUEST, {{"a", 1}, {"b", 1}});
  Balancer balancer(1);
  balancer.Pick(test.cluster, At());
  balancer.OnRequestStart(test.cluster, test.Endpoint("b"));
  test.SetEndpoints({{"b", 1}, {"c", 1}});  // b moves to index 0
  balancer.Pick(test.cluster, At());
  EXPECT_EQ(balancer.InFlight(test.cluster, test.Endpoint("b")), 1);
  EXPECT_EQ(balancer.InFlight(test.cluster, test.Endpoint("c")), 0);
}

// ---- Cookie affinity. ----

class AffinityTest : public ::testing::Test {
 protected:
  AffinityTest() : test(v1::Cluster::ROUND_ROBIN, {{"10.0.0.1:80", 1}, {"10.0.0.2:80", 1}, {"10.0.0.3:80", 1}}) {
    test.source.mutable_affinity()->set_enabled(true);
    test.Changed();
  }
  PickResult PickWith(const std::string& cookie_header) {
    request = Request("/", cookie_header.empty() ? std::vector<std::pair<std::string, std::string>>{}
                                                 : std::vector<std::pair<std::string, std::string>>{
                                                       {"cookie", cookie_header}});
    PickContext context = At();
    context.request = &request;
    return balancer.Pick(test.cluster, context);
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
