#include "controlplane/translate/ratelimit_annotations.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sluice::translate {
namespace {

using nlohmann::json;

v1::RateLimitPolicy Parsed(const json& annotations, std::vector<AnnotationProblem>* problems = nullptr) {
  AnnotatedPolicy out = RoutePolicyFromAnnotations(&annotations);
  if (problems != nullptr) *problems = out.problems;
  return out.policy.rate_limit();
}

TEST(RateLimitAnnotations, NoneMeansNoLimit) {
  AnnotatedPolicy out = RoutePolicyFromAnnotations(nullptr);
  EXPECT_FALSE(out.policy.has_rate_limit());
  json only_key = {{"sluice.io/rate-limit-key", "header:x-user"}};
  EXPECT_FALSE(RoutePolicyFromAnnotations(&only_key).policy.has_rate_limit());
}

TEST(RateLimitAnnotations, NginxRpsAndRpmWithTheBurstMultiplier) {
  v1::RateLimitPolicy policy = Parsed({{"nginx.ingress.kubernetes.io/limit-rps", "5"},
                                       {"nginx.ingress.kubernetes.io/limit-rpm", "100"},
                                       {"nginx.ingress.kubernetes.io/limit-burst-multiplier", "3"},
                                       {"nginx.ingress.kubernetes.io/limit-whitelist", "10.0.0.0/8, 2001:db8::/32"}});
  ASSERT_EQ(policy.limits_size(), 2);
  EXPECT_EQ(policy.limits(0).requests(), 5u);
  EXPECT_EQ(policy.limits(0).period_seconds(), 1u);
  EXPECT_EQ(policy.limits(0).burst(), 15u);
  EXPECT_EQ(policy.limits(1).requests(), 100u);
  EXPECT_EQ(policy.limits(1).period_seconds(), 60u);
  EXPECT_EQ(policy.limits(1).burst(), 300u);
  ASSERT_EQ(policy.exempt_size(), 2);
  EXPECT_EQ(policy.exempt(1), "2001:db8::/32");
  EXPECT_EQ(policy.scope(), v1::RateLimitPolicy::LOCAL);
}

TEST(RateLimitAnnotations, NginxDefaultMultiplierIsFive) {
  v1::RateLimitPolicy policy = Parsed({{"nginx.ingress.kubernetes.io/limit-rps", "10"}});
  ASSERT_EQ(policy.limits_size(), 1);
  EXPECT_EQ(policy.limits(0).burst(), 50u);
}

TEST(RateLimitAnnotations, SluiceNamesWinAndSetKeyScopeAndFailMode) {
  v1::RateLimitPolicy policy = Parsed({{"sluice.io/rate-limit-rps", "20"},
                                       {"nginx.ingress.kubernetes.io/limit-rps", "5"},
                                       {"sluice.io/rate-limit-burst", "0"},
                                       {"sluice.io/rate-limit-key", "cookie:session"},
                                       {"sluice.io/rate-limit-scope", "cluster"},
                                       {"sluice.io/rate-limit-fail", "closed"}});
  ASSERT_EQ(policy.limits_size(), 1);
  EXPECT_EQ(policy.limits(0).requests(), 20u);
  EXPECT_EQ(policy.limits(0).burst(), 0u);
  EXPECT_EQ(policy.key(), v1::RateLimitPolicy::COOKIE);
  EXPECT_EQ(policy.key_name(), "session");
  EXPECT_EQ(policy.scope(), v1::RateLimitPolicy::CLUSTER);
  EXPECT_TRUE(policy.fail_closed());
}

TEST(RateLimitAnnotations, InvalidValuesAreReportedAndIgnored) {
  std::vector<AnnotationProblem> problems;
  v1::RateLimitPolicy policy = Parsed({{"sluice.io/rate-limit-rps", "0"},
                                       {"nginx.ingress.kubernetes.io/limit-rps", "7"},
                                       {"sluice.io/rate-limit-key", "ip"},
                                       {"nginx.ingress.kubernetes.io/limit-whitelist", "10.0.0.0/40"},
                                       {"sluice.io/rate-limit-scope", "global"}},
                                      &problems);
  ASSERT_EQ(policy.limits_size(), 1);
  EXPECT_EQ(policy.limits(0).requests(), 7u);  // the invalid sluice.io/ one counts as not set
  EXPECT_EQ(policy.key(), v1::RateLimitPolicy::CLIENT_ADDRESS);
  EXPECT_EQ(policy.exempt_size(), 0);
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_EQ(problems[0].annotation, "sluice.io/rate-limit-rps");
  EXPECT_NE(problems[2].message.find("10.0.0.0/40"), std::string::npos);
}

}  // namespace
}  // namespace sluice::translate
