// Source address allow/deny annotations -> RoutePolicy.access_control.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "controlplane/translate/annotations.h"

namespace sluice::translate {
namespace {

TEST(AccessAnnotationsTest, NoneNoPolicy) {
  nlohmann::json none = nlohmann::json::object();
  EXPECT_FALSE(RoutePolicyFromAnnotations(&none).policy.has_access_control());
  nlohmann::json empty = {{"sluice.io/allow-source-range", ""}};
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&empty);
  EXPECT_FALSE(result.policy.has_access_control());
  EXPECT_TRUE(result.problems.empty());
}

TEST(AccessAnnotationsTest, OurNamesAndNginxNames) {
  nlohmann::json ours = {{"sluice.io/allow-source-range", "10.0.0.0/8, 2001:db8::/32 192.168.1.7"},
                         {"sluice.io/deny-source-range", "10.1.2.3/16"}};
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&ours);
  EXPECT_TRUE(result.problems.empty());
  const v1::AccessControlPolicy& access = result.policy.access_control();
  ASSERT_EQ(access.allow_size(), 3);
  EXPECT_EQ(access.allow(0), "10.0.0.0/8");
  EXPECT_EQ(access.allow(1), "2001:db8::/32");
  EXPECT_EQ(access.allow(2), "192.168.1.7/32");
  ASSERT_EQ(access.deny_size(), 1);
  EXPECT_EQ(access.deny(0), "10.1.0.0/16");  // written as the network it covers
  EXPECT_FALSE(access.deny_all());

  nlohmann::json nginx = {{"nginx.ingress.kubernetes.io/whitelist-source-range", "172.16.0.0/12"},
                          {"nginx.ingress.kubernetes.io/denylist-source-range", "172.16.5.0/24"}};
  result = RoutePolicyFromAnnotations(&nginx);
  EXPECT_EQ(result.policy.access_control().allow(0), "172.16.0.0/12");
  EXPECT_EQ(result.policy.access_control().deny(0), "172.16.5.0/24");

  nlohmann::json both = {{"nginx.ingress.kubernetes.io/whitelist-source-range", "172.16.0.0/12"},
                         {"sluice.io/allow-source-range", "10.0.0.0/8"}};
  result = RoutePolicyFromAnnotations(&both);
  ASSERT_EQ(result.policy.access_control().allow_size(), 1);
  EXPECT_EQ(result.policy.access_control().allow(0), "10.0.0.0/8");
}

TEST(AccessAnnotationsTest, InvalidListIsAProblemAndRefusesEveryone) {
  nlohmann::json bad = {{"nginx.ingress.kubernetes.io/whitelist-source-range", "10.0.0.0/8, 10.0.0.300/32"},
                        {"sluice.io/proxy-body-size", "1m"}};
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&bad);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].annotation, "nginx.ingress.kubernetes.io/whitelist-source-range");
  EXPECT_NE(result.problems[0].message.find("\"10.0.0.300/32\" is not a CIDR"), std::string::npos)
      << result.problems[0].message;
  EXPECT_TRUE(result.policy.access_control().deny_all());
  EXPECT_EQ(result.policy.max_request_body_bytes(), 1u << 20);  // the rest applies

  nlohmann::json not_string = {{"sluice.io/deny-source-range", 10}};
  result = RoutePolicyFromAnnotations(&not_string);
  EXPECT_EQ(result.problems.size(), 1u);
}

}  // namespace
}  // namespace sluice::translate
