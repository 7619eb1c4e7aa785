#include "dataplane/health/outlier.h"

#include <gtest/gtest.h>

#include "sluice/v1/snapshot.pb.h"

namespace sluice::health {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(OutlierTest, EjectsAfterConsecutiveFailuresAndASuccessResetsTheRun) {
  OutlierPolicy policy;  // 5 failures, 30 s
  EndpointHealth health;
  int64_t now = 1000 * kSecond;
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(RecordFailure(health, policy, now, 0, 3));
  RecordSuccess(health);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(RecordFailure(health, policy, now, 0, 3));
  EXPECT_TRUE(health.Available(now));
  EXPECT_TRUE(RecordFailure(health, policy, now, 0, 3));
  EXPECT_FALSE(health.Available(now));
  EXPECT_FALSE(health.Available(now + 30 * kSecond - 1));
  EXPECT_TRUE(health.Available(now + 30 * kSecond));
  EXPECT_EQ(health.consecutive_failures.load(), 0u);
}

TEST(OutlierTest, EachEjectionLastsLongerUpToTheCap) {
  OutlierPolicy policy;
  policy.consecutive_failures = 1;
  policy.base_ejection_ns = 30 * kSecond;
  policy.max_ejection_ns = 100 * kSecond;
  EXPECT_EQ(EjectionDurationNs(policy, 1), 30 * kSecond);
  EXPECT_EQ(EjectionDurationNs(policy, 3), 90 * kSecond);
  EXPECT_EQ(EjectionDurationNs(policy, 4), 100 * kSecond);
  EXPECT_EQ(EjectionDurationNs(policy, 4'000'000'000u), 100 * kSecond);

  EndpointHealth health;
  int64_t now = 0;
  ASSERT_TRUE(RecordFailure(health, policy, now, 0, 2));
  EXPECT_EQ(health.ejected_until_ns.load(), 30 * kSecond);
  now = 31 * kSecond;  // back, fails again at once: twice as long
  ASSERT_TRUE(RecordFailure(health, policy, now, 0, 2));
  EXPECT_EQ(health.ejected_until_ns.load(), now + 60 * kSecond);
  EXPECT_EQ(health.ejection_count.load(), 2u);
  // Failures while ejected (requests already in flight) do not extend it.
  EXPECT_FALSE(RecordFailure(health, policy, now + kSecond, 0, 2));
  EXPECT_EQ(health.ejected_until_ns.load(), now + 60 * kSecond);
  // Healthy for longer than the cap after the ejection ended: back to one base time.
  int64_t later = now + 60 * kSecond + 101 * kSecond;
  ASSERT_TRUE(RecordFailure(health, policy, later, 0, 2));
  EXPECT_EQ(health.ejected_until_ns.load(), later + 30 * kSecond);
  EXPECT_EQ(health.ejection_count.load(), 1u);
}

TEST(OutlierTest, NeverEjectsMoreThanTheMaxPercentButAlwaysAllowsOne) {
  OutlierPolicy policy;  // 50%
  EXPECT_TRUE(MayEject(policy, 0, 3));
  EXPECT_FALSE(MayEject(policy, 1, 3));  // 50% of 3 rounds down to 1
  EXPECT_TRUE(MayEject(policy, 1, 4));
  EXPECT_FALSE(MayEject(policy, 2, 4));
  EXPECT_TRUE(MayEject(policy, 0, 2));
  EXPECT_FALSE(MayEject(policy, 0, 1));  // the only endpoint: ejecting it helps nobody
  policy.max_ejection_percent = 10;
  EXPECT_TRUE(MayEject(policy, 0, 3));  // at least one
  EXPECT_FALSE(MayEject(policy, 1, 3));
  policy.max_ejection_percent = 0;
  EXPECT_FALSE(MayEject(policy, 0, 10));

  OutlierPolicy strict;
  strict.consecutive_failures = 1;
  EndpointHealth health;
  EXPECT_FALSE(RecordFailure(health, strict, 0, /*ejected_now=*/1, /*cluster_size=*/3));
  EXPECT_TRUE(health.Available(0));
  // Room again (the other came back): the run that went on ejects now.
  EXPECT_TRUE(RecordFailure(health, strict, 0, 0, 3));
}

TEST(OutlierTest, DisabledNeverEjects) {
  OutlierPolicy policy;
  policy.enabled = false;
  EndpointHealth health;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(RecordFailure(health, policy, 0, 0, 3));
  EXPECT_TRUE(health.Available(0));
}

TEST(OutlierTest, PolicyDefaultsAndOverrides) {
  v1::OutlierDetection settings;
  OutlierPolicy defaults = OutlierPolicyFrom(settings);
  EXPECT_TRUE(defaults.enabled);
  EXPECT_EQ(defaults.consecutive_failures, 5u);
  EXPECT_EQ(defaults.base_ejection_ns, 30 * kSecond);
  EXPECT_EQ(defaults.max_ejection_ns, 300 * kSecond);
  EXPECT_EQ(defaults.max_ejection_percent, 50u);
  EXPECT_EQ(defaults.panic_threshold_percent, 50u);
  settings.set_consecutive_failures(2);
  settings.set_base_ejection_time_ms(1000);
  settings.set_panic_threshold_percent(0);
  settings.set_max_ejection_percent(250);
  OutlierPolicy set = OutlierPolicyFrom(settings);
  EXPECT_EQ(set.consecutive_failures, 2u);
  EXPECT_EQ(set.base_ejection_ns, kSecond);
  EXPECT_EQ(set.panic_threshold_percent, 0u);
  EXPECT_EQ(set.max_ejection_percent, 100u);
}

}  // namespace
}  // namespace sluice::health
