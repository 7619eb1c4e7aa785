#include "controlplane/translate/balancing_annotations.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sluice::translate {
namespace {

using nlohmann::json;

std::string Problems(const std::vector<AnnotationProblem>& problems) {
  std::string out;
  for (const AnnotationProblem& p : problems) out += p.message + "\n";
  return out;
}

AnnotatedBalancing Balancing(json annotations) { return BalancingFromAnnotations(&annotations); }
AnnotatedCanary Canary(json annotations) { return CanaryFromAnnotations(&annotations); }

TEST(BalancingAnnotationsTest, NoAnnotationsMeansNoPolicy) {
  AnnotatedBalancing b = Balancing(json::object());
  EXPECT_FALSE(b.set);
  EXPECT_EQ(b.load_balancing, v1::LoadBalancingPolicy::ROUND_ROBIN);
  EXPECT_TRUE(b.problems.empty());
  EXPECT_FALSE(BalancingFromAnnotations(nullptr).set);
}

TEST(BalancingAnnotationsTest, EveryPolicyByName) {
  std::vector<std::pair<std::string, v1::LoadBalancingPolicy::Algorithm>> cases = {
      {"round-robin", v1::LoadBalancingPolicy::ROUND_ROBIN}, {"least-request", v1::LoadBalancingPolicy::LEAST_REQUEST},
      {"ring-hash", v1::LoadBalancingPolicy::RING_HASH},     {"maglev", v1::LoadBalancingPolicy::MAGLEV},
      {"random", v1::LoadBalancingPolicy::RANDOM},           {"ewma", v1::LoadBalancingPolicy::EWMA}};
  for (auto& [name, policy] : cases) {
    AnnotatedBalancing b = Balancing({{"sluice.io/load-balance", name}});
    EXPECT_TRUE(b.set) << name;
    EXPECT_EQ(b.load_balancing, policy) << name;
    EXPECT_TRUE(b.problems.empty()) << Problems(b.problems);
  }
  // Hash policies without a key hash the client address.
  EXPECT_EQ(Balancing({{"sluice.io/load-balance", "maglev"}}).hash_key.source(), v1::HashKey::CLIENT_IP);
}

TEST(BalancingAnnotationsTest, InvalidPolicyIsAProblemAndTheDefaultStays) {
  AnnotatedBalancing b = Balancing({{"sluice.io/load-balance", "fastest"}});
  EXPECT_FALSE(b.set);
  EXPECT_EQ(b.load_balancing, v1::LoadBalancingPolicy::ROUND_ROBIN);
  ASSERT_EQ(b.problems.size(), 1u);
  EXPECT_EQ(b.problems[0].annotation, "sluice.io/load-balance");
  EXPECT_NE(b.problems[0].message.find("\"fastest\""), std::string::npos) << b.problems[0].message;
  EXPECT_NE(b.problems[0].message.find("least-request"), std::string::npos);
  // Not a string.
  EXPECT_EQ(Balancing({{"sluice.io/load-balance", 3}}).problems.size(), 1u);
}

TEST(BalancingAnnotationsTest, IngressNginxLoadBalance) {
  EXPECT_EQ(Balancing({{"nginx.ingress.kubernetes.io/load-balance", "ewma"}}).load_balancing, v1::LoadBalancingPolicy::EWMA);
  EXPECT_EQ(Balancing({{"nginx.ingress.kubernetes.io/load-balance", "round_robin"}}).load_balancing,
            v1::LoadBalancingPolicy::ROUND_ROBIN);
  AnnotatedBalancing invalid = Balancing({{"nginx.ingress.kubernetes.io/load-balance", "least_conn"}});
  EXPECT_FALSE(invalid.set);
  EXPECT_EQ(invalid.problems.size(), 1u);
  // Ours wins over theirs.
  EXPECT_EQ(Balancing({{"sluice.io/load-balance", "random"}, {"nginx.ingress.kubernetes.io/load-balance", "ewma"}})
                .load_balancing,
            v1::LoadBalancingPolicy::RANDOM);
}

TEST(BalancingAnnotationsTest, HashKeySyntax) {
  auto key = [](const std::string& text) { return Balancing({{"sluice.io/hash-key", text}}); };
  AnnotatedBalancing header = key("header:X-User");
  EXPECT_EQ(header.load_balancing, v1::LoadBalancingPolicy::RING_HASH);  // a key alone means ring-hash
  EXPECT_EQ(header.hash_key.source(), v1::HashKey::HEADER);
  EXPECT_EQ(header.hash_key.name(), "x-user");
  EXPECT_EQ(key("cookie:SessionID").hash_key.name(), "SessionID");
  EXPECT_EQ(key("cookie:SessionID").hash_key.source(), v1::HashKey::COOKIE);
  EXPECT_EQ(key("client-ip").hash_key.source(), v1::HashKey::CLIENT_IP);
  EXPECT_EQ(key("path").hash_key.source(), v1::HashKey::PATH);
  EXPECT_EQ(key("uri").hash_key.source(), v1::HashKey::URI);
  for (const char* bad : {"header:", "header:a b", "ip", "cookie:a;b"}) {
    AnnotatedBalancing b = key(bad);
    EXPECT_EQ(b.problems.size(), 1u) << bad;
    EXPECT_FALSE(b.set) << bad;
  }
  AnnotatedBalancing maglev = Balancing({{"sluice.io/load-balance", "maglev"}, {"sluice.io/hash-key", "path"}});
  EXPECT_EQ(maglev.load_balancing, v1::LoadBalancingPolicy::MAGLEV);
  EXPECT_EQ(maglev.hash_key.source(), v1::HashKey::PATH);
  // A key with a policy that does not hash: the key is ignored, said so.
  AnnotatedBalancing mismatch = Balancing({{"sluice.io/load-balance", "random"}, {"sluice.io/hash-key", "path"}});
  EXPECT_EQ(mismatch.load_balancing, v1::LoadBalancingPolicy::RANDOM);
  EXPECT_EQ(mismatch.hash_key.source(), v1::HashKey::NONE);
  ASSERT_EQ(mismatch.problems.size(), 1u);
  EXPECT_EQ(mismatch.problems[0].annotation, "sluice.io/hash-key");
}

TEST(BalancingAnnotationsTest, IngressNginxUpstreamHashBy) {
  auto by = [](const std::string& text) {
    return Balancing({{"nginx.ingress.kubernetes.io/upstream-hash-by", text}});
  };
  EXPECT_EQ(by("$remote_addr").hash_key.source(), v1::HashKey::CLIENT_IP);
  EXPECT_EQ(by("$request_uri").hash_key.source(), v1::HashKey::URI);
  EXPECT_EQ(by("$uri").hash_key.source(), v1::HashKey::PATH);
  EXPECT_EQ(by("$http_x_user").hash_key.name(), "x-user");
  EXPECT_EQ(by("$http_x_user").hash_key.source(), v1::HashKey::HEADER);
  EXPECT_EQ(by("$cookie_session").hash_key.name(), "session");
  EXPECT_EQ(by("$cookie_session").load_balancing, v1::LoadBalancingPolicy::RING_HASH);
  AnnotatedBalancing compound = by("$host$request_uri");
  EXPECT_FALSE(compound.set);
  EXPECT_EQ(compound.problems.size(), 1u);
  // As in ingress-nginx, upstream-hash-by wins over its load-balance.
  EXPECT_EQ(Balancing({{"nginx.ingress.kubernetes.io/upstream-hash-by", "$remote_addr"},
                       {"nginx.ingress.kubernetes.io/load-balance", "round_robin"}})
                .load_balancing,
            v1::LoadBalancingPolicy::RING_HASH);
}

TEST(BalancingAnnotationsTest, CookieAffinity) {
  AnnotatedBalancing b = Balancing({{"sluice.io/affinity", "cookie"},
                                    {"sluice.io/session-cookie-name", "route"},
                                    {"sluice.io/session-cookie-max-age", "3600"},
                                    {"sluice.io/session-cookie-path", "/app"},
                                    {"sluice.io/session-cookie-samesite", "strict"},
                                    {"sluice.io/session-cookie-secure", "true"}});
  EXPECT_TRUE(b.set);
  EXPECT_TRUE(b.problems.empty()) << Problems(b.problems);
  EXPECT_TRUE(b.affinity.enabled());
  EXPECT_EQ(b.affinity.cookie_name(), "route");
  EXPECT_EQ(b.affinity.max_age_seconds(), 3600u);
  EXPECT_EQ(b.affinity.path(), "/app");
  EXPECT_EQ(b.affinity.same_site(), "Strict");
  EXPECT_TRUE(b.affinity.secure());
  EXPECT_EQ(b.load_balancing, v1::LoadBalancingPolicy::ROUND_ROBIN);

  AnnotatedBalancing nginx = Balancing({{"nginx.ingress.kubernetes.io/affinity", "cookie"},
                                        {"nginx.ingress.kubernetes.io/session-cookie-name", "INGRESSCOOKIE"},
                                        {"nginx.ingress.kubernetes.io/session-cookie-max-age", "172800"}});
  EXPECT_TRUE(nginx.affinity.enabled());
  EXPECT_EQ(nginx.affinity.cookie_name(), "INGRESSCOOKIE");
  EXPECT_EQ(nginx.affinity.max_age_seconds(), 172800u);
}

TEST(BalancingAnnotationsTest, InvalidAffinityValuesAreProblemsAndDefaultsStay) {
  AnnotatedBalancing mode = Balancing({{"sluice.io/affinity", "ip"}});
  EXPECT_FALSE(mode.affinity.enabled());
  EXPECT_EQ(mode.problems.size(), 1u);
  AnnotatedBalancing b = Balancing({{"sluice.io/affinity", "cookie"},
                                    {"sluice.io/session-cookie-name", "bad name"},
                                    {"sluice.io/session-cookie-max-age", "1h"},
                                    {"sluice.io/session-cookie-path", "app"},
                                    {"sluice.io/session-cookie-samesite", "sometimes"},
                                    {"sluice.io/session-cookie-secure", "yes"}});
  EXPECT_TRUE(b.affinity.enabled());
  EXPECT_EQ(b.problems.size(), 5u) << Problems(b.problems);
  EXPECT_EQ(b.affinity.cookie_name(), "");  // the proxy's default, sluice-affinity
  EXPECT_EQ(b.affinity.max_age_seconds(), 0u);
  EXPECT_EQ(b.affinity.path(), "");
  EXPECT_EQ(b.affinity.same_site(), "");
  EXPECT_FALSE(b.affinity.secure());
}

TEST(BalancingAnnotationsTest, PoliciesCompareAndDescribe) {
  AnnotatedBalancing a = Balancing({{"sluice.io/hash-key", "header:x-user"}});
  AnnotatedBalancing b = Balancing({{"nginx.ingress.kubernetes.io/upstream-hash-by", "$http_x_user"}});
  EXPECT_TRUE(a.SamePolicyAs(b));
  EXPECT_EQ(a.Describe(), "ring-hash by header:x-user");
  AnnotatedBalancing c = Balancing({{"sluice.io/load-balance", "ewma"}, {"sluice.io/affinity", "cookie"}});
  EXPECT_FALSE(a.SamePolicyAs(c));
  EXPECT_EQ(c.Describe(), "ewma, cookie affinity");
}

TEST(CanaryAnnotationsTest, CanaryWithWeightHeaderAndCookie) {
  AnnotatedCanary c = Canary({{"sluice.io/canary", "true"},
                              {"sluice.io/canary-weight", "20"},
                              {"sluice.io/canary-by-header", "X-Canary"},
                              {"sluice.io/canary-by-header-value", "yes-please"},
                              {"sluice.io/canary-by-cookie", "canary"}});
  EXPECT_TRUE(c.canary);
  EXPECT_TRUE(c.problems.empty()) << Problems(c.problems);
  EXPECT_EQ(c.weight, 20u);
  EXPECT_EQ(c.weight_total, 100u);
  EXPECT_EQ(c.header, "x-canary");
  EXPECT_EQ(c.header_value, "yes-please");
  EXPECT_EQ(c.cookie, "canary");

  AnnotatedCanary nginx = Canary({{"nginx.ingress.kubernetes.io/canary", "true"},
                                  {"nginx.ingress.kubernetes.io/canary-weight", "5"},
                                  {"nginx.ingress.kubernetes.io/canary-weight-total", "1000"}});
  EXPECT_TRUE(nginx.canary);
  EXPECT_EQ(nginx.weight, 5u);
  EXPECT_EQ(nginx.weight_total, 1000u);
}

TEST(CanaryAnnotationsTest, InvalidValuesAreProblemsAndDefaultsStay) {
  AnnotatedCanary not_bool = Canary({{"sluice.io/canary", "yes"}});
  EXPECT_FALSE(not_bool.canary);
  EXPECT_EQ(not_bool.problems.size(), 1u);
  AnnotatedCanary c = Canary({{"sluice.io/canary", "true"},
                              {"sluice.io/canary-weight", "120"},
                              {"sluice.io/canary-weight-total", "0"},
                              {"sluice.io/canary-by-header", "x canary"},
                              {"sluice.io/canary-by-cookie", ""}});
  EXPECT_TRUE(c.canary);
  EXPECT_EQ(c.problems.size(), 4u) << Problems(c.problems);
  EXPECT_EQ(c.weight, 0u);
  EXPECT_EQ(c.weight_total, 100u);
  EXPECT_EQ(c.header, "");
  EXPECT_EQ(c.cookie, "");
  // canary-* on a primary Ingress mean nothing: no problem either.
  AnnotatedCanary primary = Canary({{"sluice.io/canary-weight", "oops"}});
  EXPECT_FALSE(primary.canary);
  EXPECT_TRUE(primary.problems.empty());
}

}  // namespace
}  // namespace sluice::translate
