#include "controlplane/status/lease.h"

#include <gtest/gtest.h>

#include "controlplane/status/k8s_time.h"

namespace sluice::status {
namespace {

using std::chrono::seconds;

const Clock::time_point kNow = *ParseTime("2024-05-01T12:00:00Z");

LeaseRecord HeldBy(const std::string& holder, Clock::time_point renewed, int duration = 15) {
  LeaseRecord record;
  record.holder = holder;
  record.renew_time = renewed;
  record.lease_duration = seconds(duration);
  return record;
}

TEST(DecideLeaseTest, AbsentLeaseIsCreated) { EXPECT_EQ(DecideLease(std::nullopt, "me", kNow), LeaseAction::kCreate); }

TEST(DecideLeaseTest, OursIsRenewed) {
  EXPECT_EQ(DecideLease(HeldBy("me", kNow - seconds(5)), "me", kNow), LeaseAction::kRenew);
  // Even when it ran out: nobody took it, so it is still ours to renew.
  EXPECT_EQ(DecideLease(HeldBy("me", kNow - seconds(60)), "me", kNow), LeaseAction::kRenew);
}

TEST(DecideLeaseTest, SomeoneElsesLiveLeaseIsRespectedUntilItExpires) {
  EXPECT_EQ(DecideLease(HeldBy("other", kNow - seconds(14)), "me", kNow), LeaseAction::kWait);
  EXPECT_EQ(DecideLease(HeldBy("other", kNow - seconds(15)), "me", kNow), LeaseAction::kWait);
  EXPECT_EQ(DecideLease(HeldBy("other", kNow - seconds(16)), "me", kNow), LeaseAction::kAcquire);
}

TEST(DecideLeaseTest, ReleasedOrNeverRenewedLeaseIsTaken) {
  EXPECT_EQ(DecideLease(HeldBy("", kNow), "me", kNow), LeaseAction::kAcquire);
  LeaseRecord no_renew_time;
  no_renew_time.holder = "other";
  EXPECT_EQ(DecideLease(no_renew_time, "me", kNow), LeaseAction::kAcquire);
}

TEST(ParseLeaseTest, ReadsTheSpecAsTheApiServerWritesIt) {
  LeaseRecord record = ParseLease(nlohmann::json::parse(R"({
    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
    "metadata": {"name": "sluice-controller-leader", "resourceVersion": "7"},
    "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15, "leaseTransitions": 3,
             "acquireTime": "2024-05-01T11:00:00.000000Z", "renewTime": "2024-05-01T11:59:58.250000Z"}})"));
  EXPECT_EQ(record.holder, "pod-a");
  EXPECT_EQ(record.lease_duration, seconds(15));
  EXPECT_EQ(record.lease_transitions, 3);
  ASSERT_TRUE(record.renew_time.has_value());
  EXPECT_EQ(*record.renew_time, kNow - std::chrono::milliseconds(1750));
  EXPECT_EQ(DecideLease(record, "pod-b", kNow), LeaseAction::kWait);
}

TEST(K8sTimeTest, FormatsAndParsesBothPrecisions) {
  const Clock::time_point time = kNow + std::chrono::microseconds(123456);
  EXPECT_EQ(FormatMicroTime(time), "2024-05-01T12:00:00.123456Z");
  EXPECT_EQ(FormatTime(time), "2024-05-01T12:00:00Z");
  EXPECT_EQ(*ParseTime(FormatMicroTime(time)), time);
  EXPECT_EQ(*ParseTime("2024-05-01T14:00:00+02:00"), kNow);
  EXPECT_FALSE(ParseTime("yesterday").has_value());
  EXPECT_FALSE(ParseTime("2024-05-01T12:00:00").has_value());  // no zone
}

}  // namespace
}  // namespace sluice::status
