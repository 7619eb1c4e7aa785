// The rate-limit stage alone: requests in ExchangeStates, its own bucket
// table, and a scripted ClusterLimiter in place of Redis.
#include "dataplane/pipeline/rate_limit_stage.h"

#include <gtest/gtest.h>

#include "dataplane/pipeline/chain.h"
#include "dataplane/pipeline/concurrency_limit_stage.h"

#include <vector>

namespace sluice::pipeline {
namespace {

ExchangeState Request(const http::ClientInfo* client, std::initializer_list<http::Header> headers = {}) {
  ExchangeState state;
  state.client = client;
  state.request.method = "GET";
  state.request.path = "/";
  for (const auto& field : headers) state.request.headers.Add(field.name, field.value);
  return state;
}

v1::RateLimitPolicy Policy(uint32_t requests, uint32_t period, uint32_t burst) {
  v1::RateLimitPolicy policy;
  policy.set_name("shop/web");
  auto* limit = policy.add_limits();
  limit->set_requests(requests);
  limit->set_period_seconds(period);
  limit->set_burst(burst);
  return policy;
}

int Passed(const RateLimitStage& stage, const http::ClientInfo& client, int tries,
           std::initializer_list<http::Header> headers = {}) {
  int passed = 0;
  for (int i = 0; i < tries; ++i) {
    ExchangeState state = Request(&client, headers);
    passed += stage.OnRequestHead(state) == Verdict::kContinue;
  }
  return passed;
}

TEST(RateLimitStage, RefusesOverTheBurstWith429AndTheRateLimitFields) {
  ratelimit::BucketTable table(10);
  RateLimitStage stage(RateLimitStage::Options::From(Policy(2, 1, 3)), &table, nullptr);
  http::ClientInfo client{"10.0.0.1"};
  EXPECT_EQ(Passed(stage, client, 4), 4);  // burst 3: four at once
  ExchangeState state = Request(&client);
  ASSERT_EQ(stage.OnRequestHead(state), Verdict::kReply);
  EXPECT_EQ(state.reply.status, 429);
  EXPECT_EQ(state.error.code, ErrorCode::kRefused);
  EXPECT_EQ(*state.reply.headers.Get("retry-after"), "1");  // 0.5 s, rounded up
  EXPECT_EQ(*state.reply.headers.Get("ratelimit-policy"), "\"1s\";q=2;w=1");
  EXPECT_EQ(*state.reply.headers.Get("ratelimit"), "\"1s\";r=0;t=1");
  // The reply carries them.
  http::ResponseHead head = BuildLocalReplyHead(state.reply, ReplyShape{});
  EXPECT_EQ(head.status, 429);
  EXPECT_NE(head.headers.Get("retry-after"), nullptr);
  EXPECT_NE(head.headers.Get("ratelimit"), nullptr);
}

TEST(RateLimitStage, PerMinuteRetryAfterCountsSeconds) {
  ratelimit::BucketTable table(10);
  RateLimitStage stage(RateLimitStage::Options::From(Policy(6, 60, 0)), &table, nullptr);
  http::ClientInfo client{"10.0.0.1"};
  EXPECT_EQ(Passed(stage, client, 3), 1);
  ExchangeState state = Request(&client);
  ASSERT_EQ(stage.OnRequestHead(state), Verdict::kReply);
  int retry = std::stoi(*state.reply.headers.Get("retry-after"));
  EXPECT_GE(retry, 9);
  EXPECT_LE(retry, 10);
  EXPECT_EQ(*state.reply.headers.Get("ratelimit-policy"), "\"60s\";q=6;w=60");
}

TEST(RateLimitStage, ClientsAreCountedSeparatelyAndExemptOnesNotAtAll) {
  ratelimit::BucketTable table(10);
  v1::RateLimitPolicy policy = Policy(1, 60, 0);
  policy.add_exempt("192.168.0.0/16");
  RateLimitStage stage(RateLimitStage::Options::From(policy), &table, nullptr);
  http::ClientInfo a{"10.0.0.1"}, b{"10.0.0.2"}, office{"192.168.4.4"};
  EXPECT_EQ(Passed(stage, a, 5), 1);
  EXPECT_EQ(Passed(stage, b, 5), 1);
  EXPECT_EQ(Passed(stage, office, 50), 50);
}

TEST(RateLimitStage, HeaderKeyFallsBackOnTheAddress) {
  ratelimit::BucketTable table(10);
  v1::RateLimitPolicy policy = Policy(1, 60, 0);
  policy.set_key(v1::RateLimitPolicy::HEADER);
  policy.set_key_name("X-Api-Key");
  RateLimitStage stage(RateLimitStage::Options::From(policy), &table, nullptr);
  http::ClientInfo a{"10.0.0.1"}, b{"10.0.0.2"};
  EXPECT_EQ(Passed(stage, a, 3, {{"x-api-key", "alice"}}), 1);
  EXPECT_EQ(Passed(stage, b, 3, {{"x-api-key", "alice"}}), 0);  // alice's bucket, from anywhere
  EXPECT_EQ(Passed(stage, a, 3, {{"x-api-key", "bob"}}), 1);
  EXPECT_EQ(Passed(stage, b, 3), 1);  // no key: b's address
}

TEST(RateLimitStage, TwoLimitsBothApply) {
  ratelimit::BucketTable table(10);
  v1::RateLimitPolicy policy = Policy(100, 1, 100);
  auto* per_minute = policy.add_limits();
  per_minute->set_requests(3);
  per_minute->set_period_seconds(60);
  RateLimitStage stage(RateLimitStage::Options::From(policy), &table, nullptr);
  http::ClientInfo a{"10.0.0.1"};
  EXPECT_EQ(Passed(stage, a, 10), 1);  // the per-minute one (burst 0) decides
}

class ScriptedCluster : public ratelimit::ClusterLimiter {
 public:
  Answer Take(const ratelimit::ClusterLimit&, int64_t) override { return answer; }
  Answer answer;
};

TEST(RateLimitStage, ClusterScopeAsksTheClusterAndFailsOpenOnThisProxysBucket) {
  ratelimit::BucketTable table(10);
  ScriptedCluster cluster;
  v1::RateLimitPolicy policy = Policy(2, 60, 0);
  policy.set_scope(v1::RateLimitPolicy::CLUSTER);
  RateLimitStage stage(RateLimitStage::Options::From(policy), &table, &cluster);
  http::ClientInfo a{"10.0.0.1"};
  EXPECT_EQ(Passed(stage, a, 10), 10);  // the cluster allows: the local bucket is not used
  cluster.answer.outcome = ratelimit::ClusterLimiter::Outcome::kDenied;
  cluster.answer.retry_after_us = 2500000;
  ExchangeState denied = Request(&a);
  ASSERT_EQ(stage.OnRequestHead(denied), Verdict::kReply);
  EXPECT_EQ(*denied.reply.headers.Get("retry-after"), "3");
  cluster.answer.outcome = ratelimit::ClusterLimiter::Outcome::kUnavailable;
  EXPECT_EQ(Passed(stage, a, 10), 1);  // fail open: this proxy's own bucket
}

TEST(RateLimitStage, ClusterScopeFailClosedRefusesWhileRedisIsUnavailable) {
  ratelimit::BucketTable table(10);
  ScriptedCluster cluster;
  cluster.answer.outcome = ratelimit::ClusterLimiter::Outcome::kUnavailable;
  v1::RateLimitPolicy policy = Policy(100, 1, 100);
  policy.set_scope(v1::RateLimitPolicy::CLUSTER);
  policy.set_fail_closed(true);
  RateLimitStage stage(RateLimitStage::Options::From(policy), &table, &cluster);
  http::ClientInfo a{"10.0.0.1"};
  EXPECT_EQ(Passed(stage, a, 5), 0);
}

TEST(RateLimitStage, ComesFirstInTheChainWhenTheRouteHasALimit) {
  v1::RoutePolicy route;
  *route.mutable_rate_limit() = Policy(1, 1, 0);
  route.set_max_request_body_bytes(10);
  auto chain = CompileChain(route, ChainDefaults{});
  ASSERT_FALSE(chain->StageNames().empty());
  EXPECT_EQ(chain->StageNames().front(), "rate_limit");
  auto plain = CompileChain(v1::RoutePolicy{}, ChainDefaults{});
  for (auto name : plain->StageNames()) EXPECT_NE(name, "rate_limit");
}

}  // namespace
}  // namespace sluice::pipeline

namespace sluice::pipeline {
namespace {

// limit-connections: the slot lives as long as the exchange's state.
TEST(ConcurrencyLimitStage, HoldsASlotPerRequestUntilItsStateDies) {
  ratelimit::InFlightTable table;
  v1::RateLimitPolicy policy;
  policy.set_name("shop/web");
  policy.set_max_concurrent_requests(2);
  policy.add_exempt("10.9.0.0/16");
  ConcurrencyLimitStage stage(policy, &table);
  http::ClientInfo client{"10.0.0.1"}, other{"10.0.0.2"}, exempt{"10.9.1.1"};
  std::vector<ExchangeState> in_flight;
  in_flight.reserve(4);
  for (int i = 0; i < 2; ++i) {
    in_flight.push_back(Request(&client));
    EXPECT_EQ(stage.OnRequestHead(in_flight.back()), Verdict::kContinue);
  }
  ExchangeState third = Request(&client);
  ASSERT_EQ(stage.OnRequestHead(third), Verdict::kReply);
  EXPECT_EQ(third.reply.status, 429);
  ASSERT_NE(third.reply.headers.Get("retry-after"), nullptr);
  EXPECT_EQ(*third.reply.headers.Get("retry-after"), "1");
  ExchangeState elsewhere = Request(&other);
  EXPECT_EQ(stage.OnRequestHead(elsewhere), Verdict::kContinue);
  for (int i = 0; i < 5; ++i) {
    ExchangeState free_pass = Request(&exempt);
    EXPECT_EQ(stage.OnRequestHead(free_pass), Verdict::kContinue);
    in_flight.push_back(std::move(free_pass));
    in_flight.pop_back();
  }
  in_flight.pop_back();  // one request ends
  ExchangeState fourth = Request(&client);
  EXPECT_EQ(stage.OnRequestHead(fourth), Verdict::kContinue);
}

// Compiled into a route's chain only when the policy asks.
TEST(ConcurrencyLimitStage, InTheChainOnlyWhenSet) {
  v1::RoutePolicy policy;
  ChainDefaults defaults;
  auto without = CompileChain(policy, defaults);
  policy.mutable_rate_limit()->set_max_concurrent_requests(3);
  auto with = CompileChain(policy, defaults);
  auto names = [](const Chain& chain) {
    std::string all;
    for (std::string_view name : chain.StageNames()) all += std::string(name) + ",";
    return all;
  };
  EXPECT_EQ(names(*without).find("concurrency_limit"), std::string::npos);
  EXPECT_NE(names(*with).find("concurrency_limit"), std::string::npos) << names(*with);
}

}  // namespace
}  // namespace sluice::pipeline
