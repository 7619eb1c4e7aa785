// Retry, health-check and outlier-detection annotations (annotations.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "controlplane/translate/annotations.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

std::vector<std::string> Messages(const std::vector<AnnotationProblem>& problems) {
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(p.message);
  return out;
}

TEST(RetryAnnotationsTest, NoneLeavesTheDefaults) {
  json annotations = json::object();
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  EXPECT_FALSE(result.policy.has_retry());
}

TEST(RetryAnnotationsTest, SluiceAnnotations) {
  json annotations = {{"sluice.io/retry-on", "connect-failure, 503,timeout"},
                      {"sluice.io/retries", "4"},
                      {"sluice.io/per-try-timeout", "250ms"},
                      {"sluice.io/retry-budget-percent", "30"},
                      {"sluice.io/retry-budget-min-per-second", "5"}};
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  EXPECT_TRUE(result.problems.empty()) << Messages(result.problems)[0];
  const v1::RetryPolicy& retry = result.policy.retry();
  ASSERT_EQ(retry.retry_on_size(), 3);
  EXPECT_EQ(retry.retry_on(0), v1::RetryPolicy::CONNECT_FAILURE);
  EXPECT_EQ(retry.retry_on(1), v1::RetryPolicy::STATUS_503);
  EXPECT_EQ(retry.retry_on(2), v1::RetryPolicy::TIMEOUT);
  EXPECT_EQ(retry.retries(), 4u);
  EXPECT_EQ(retry.per_try_timeout_ms(), 250u);
  EXPECT_EQ(retry.budget_percent(), 30u);
  EXPECT_EQ(retry.budget_min_per_second(), 5u);
  EXPECT_FALSE(retry.disabled());
}

TEST(RetryAnnotationsTest, IngressNginxEquivalents) {
  json annotations = {{"nginx.ingress.kubernetes.io/proxy-next-upstream", "error timeout http_502 non_idempotent"},
                      {"nginx.ingress.kubernetes.io/proxy-next-upstream-tries", "3"},
                      {"nginx.ingress.kubernetes.io/proxy-next-upstream-timeout", "10"}};
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  EXPECT_TRUE(result.problems.empty());
  const v1::RetryPolicy& retry = result.policy.retry();
  ASSERT_EQ(retry.retry_on_size(), 4);
  EXPECT_EQ(retry.retry_on(0), v1::RetryPolicy::CONNECT_FAILURE);
  EXPECT_EQ(retry.retry_on(1), v1::RetryPolicy::RESET);
  EXPECT_EQ(retry.retry_on(2), v1::RetryPolicy::TIMEOUT);
  EXPECT_EQ(retry.retry_on(3), v1::RetryPolicy::STATUS_502);
  EXPECT_EQ(retry.retries(), 2u);  // 3 tries
  EXPECT_EQ(retry.total_timeout_ms(), 10000u);

  json off = {{"nginx.ingress.kubernetes.io/proxy-next-upstream", "off"}};
  EXPECT_TRUE(RoutePolicyFromAnnotations(&off).policy.retry().disabled());
  json sluice_wins = {{"sluice.io/retry-on", "503"}, {"nginx.ingress.kubernetes.io/proxy-next-upstream", "off"}};
  AnnotatedPolicy both = RoutePolicyFromAnnotations(&sluice_wins);
  EXPECT_FALSE(both.policy.retry().disabled());
  EXPECT_EQ(both.policy.retry().retry_on_size(), 1);
}

TEST(RetryAnnotationsTest, InvalidValuesAreReportedAndIgnored) {
  json annotations = {{"sluice.io/retry-on", "503,sometimes"},
                      {"sluice.io/retries", "two"},
                      {"sluice.io/retry-budget-percent", "150"},
                      {"nginx.ingress.kubernetes.io/proxy-next-upstream", "error whenever"}};
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  EXPECT_FALSE(result.policy.has_retry());
  std::vector<std::string> messages = Messages(result.problems);
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[0],
            "sluice.io/retry-on \"503,sometimes\": expected a comma-separated list of connect-failure, reset, "
            "timeout, 502, 503, 504, or \"off\"");
  EXPECT_EQ(messages[2], "sluice.io/retries \"two\": expected a whole number like 3");
  EXPECT_EQ(messages[3], "sluice.io/retry-budget-percent \"150\": must be from 0 to 100");
}

TEST(HealthAnnotationsTest, ActiveChecksAreOffWithoutAPath) {
  json annotations = {{"sluice.io/health-check-interval", "5s"}};
  AnnotatedHealth result = HealthFromAnnotations(&annotations);
  EXPECT_FALSE(result.set);
  EXPECT_TRUE(result.health_check.path().empty());
  EXPECT_FALSE(HealthFromAnnotations(nullptr).set);
}

TEST(HealthAnnotationsTest, ActiveCheckSettings) {
  json annotations = {{"sluice.io/health-check-path", "/healthz"},
                      {"sluice.io/health-check-interval", "5s"},
                      {"sluice.io/health-check-timeout", "500ms"},
                      {"sluice.io/health-check-healthy-threshold", "1"},
                      {"sluice.io/health-check-unhealthy-threshold", "2"},
                      {"sluice.io/health-check-expected-status", "200-299, 404"},
                      {"sluice.io/health-check-host", "app.internal"}};
  AnnotatedHealth result = HealthFromAnnotations(&annotations);
  EXPECT_TRUE(result.problems.empty());
  ASSERT_TRUE(result.set);
  const v1::HealthCheck& check = result.health_check;
  EXPECT_EQ(check.path(), "/healthz");
  EXPECT_EQ(check.interval_ms(), 5000u);
  EXPECT_EQ(check.timeout_ms(), 500u);
  EXPECT_EQ(check.healthy_threshold(), 1u);
  EXPECT_EQ(check.unhealthy_threshold(), 2u);
  ASSERT_EQ(check.expected_statuses_size(), 2);
  EXPECT_EQ(check.expected_statuses(0).start(), 200u);
  EXPECT_EQ(check.expected_statuses(0).end(), 299u);
  EXPECT_EQ(check.expected_statuses(1).start(), 404u);
  EXPECT_EQ(check.expected_statuses(1).end(), 404u);
  EXPECT_EQ(check.host(), "app.internal");
}

TEST(HealthAnnotationsTest, OutlierSettingsAndDisabling) {
  json annotations = {{"sluice.io/outlier-consecutive-failures", "3"},
                      {"sluice.io/outlier-base-ejection-time", "10s"},
                      {"sluice.io/outlier-max-ejection-percent", "34"},
                      {"sluice.io/panic-threshold-percent", "0"}};
  AnnotatedHealth result = HealthFromAnnotations(&annotations);
  EXPECT_TRUE(result.problems.empty());
  EXPECT_TRUE(result.set);
  EXPECT_FALSE(result.outlier_detection.disabled());
  EXPECT_EQ(result.outlier_detection.consecutive_failures(), 3u);
  EXPECT_EQ(result.outlier_detection.base_ejection_time_ms(), 10000u);
  EXPECT_EQ(result.outlier_detection.max_ejection_percent(), 34u);
  EXPECT_TRUE(result.outlier_detection.has_panic_threshold_percent());
  EXPECT_EQ(result.outlier_detection.panic_threshold_percent(), 0u);
  json off = {{"sluice.io/outlier-detection", "false"}};
  EXPECT_TRUE(HealthFromAnnotations(&off).outlier_detection.disabled());
}

TEST(HealthAnnotationsTest, InvalidValuesAreReported) {
  json annotations = {{"sluice.io/health-check-path", "healthz"},
                      {"sluice.io/health-check-expected-status", "299-200"},
                      {"sluice.io/outlier-consecutive-failures", 5}};
  AnnotatedHealth result = HealthFromAnnotations(&annotations);
  EXPECT_FALSE(result.set);
  std::vector<std::string> messages = Messages(result.problems);
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0], "sluice.io/health-check-path \"healthz\": expected a path starting with /");
  EXPECT_EQ(messages[1],
            "sluice.io/health-check-expected-status \"299-200\": expected statuses or ranges like 200-399 or 200,204");
  EXPECT_EQ(messages[2],
            "sluice.io/outlier-consecutive-failures: must be a string, write the value in quotes (got number 5)");
}

}  // namespace
}  // namespace sluice::translate
