// External auth annotations: the parsing (auth_annotations.h) and what the
// translator makes of them (the auth Service's cluster, Events, refusal).
#include "controlplane/translate/ext_auth_annotations.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

AnnotatedAuth Parse(const json& annotations) { return ExternalAuthFromAnnotations(&annotations, "app"); }

TEST(AuthAnnotations, NoUrlNoPolicy) {
  AnnotatedAuth none = ExternalAuthFromAnnotations(nullptr, "app");
  EXPECT_FALSE(none.set);
  AnnotatedAuth only_method = Parse({{"nginx.ingress.kubernetes.io/auth-method", "POST"}});
  EXPECT_FALSE(only_method.set);
  EXPECT_EQ(only_method.policy.ByteSizeLong(), 0u);
}

TEST(AuthAnnotations, ServiceUrlsInTheirForms) {
  struct Case {
    const char* url;
    const char* ns;
    const char* service;
    uint32_t port;
    const char* path;
  };
  for (const Case& c : {Case{"http://auth.sec.svc.cluster.local:8080/verify?x=1", "sec", "auth", 8080, "/verify?x=1"},
                        Case{"http://auth.sec.svc/v", "sec", "auth", 80, "/v"},
                        Case{"http://auth.sec", "sec", "auth", 80, "/"},
                        Case{"auth.sec:9000?q", "sec", "auth", 9000, "/?q"},
                        Case{"http://auth/check", "app", "auth", 80, "/check"}}) {
    AnnotatedAuth auth = Parse({{"nginx.ingress.kubernetes.io/auth-url", c.url}});
    EXPECT_TRUE(auth.set) << c.url;
    EXPECT_TRUE(auth.problems.empty()) << c.url << ": " << auth.problems[0].message;
    EXPECT_FALSE(auth.policy.deny_all()) << c.url;
    EXPECT_EQ(auth.service_namespace, c.ns) << c.url;
    EXPECT_EQ(auth.service_name, c.service) << c.url;
    EXPECT_EQ(auth.service_port, c.port) << c.url;
    EXPECT_EQ(auth.policy.path(), c.path) << c.url;
  }
}

TEST(AuthAnnotations, UrlsOutsideTheClusterFailClosed) {
  for (const char* url : {"http://auth.example.com/verify", "https://auth.sec.svc/verify", "http://auth.sec:99999/",
                          "http://Auth.sec/", "http://auth.sec/a b", "ftp://x"}) {
    AnnotatedAuth auth = Parse({{"nginx.ingress.kubernetes.io/auth-url", url}});
    EXPECT_TRUE(auth.set) << url;
    EXPECT_TRUE(auth.policy.deny_all()) << url;
    ASSERT_EQ(auth.problems.size(), 1u) << url;
    EXPECT_NE(auth.problems[0].message.find("refused"), std::string::npos) << auth.problems[0].message;
  }
}

TEST(AuthAnnotations, TheOtherAnnotations) {
  AnnotatedAuth auth = Parse({{"nginx.ingress.kubernetes.io/auth-url", "http://auth.sec/v"},
                              {"nginx.ingress.kubernetes.io/auth-method", "POST"},
                              {"nginx.ingress.kubernetes.io/auth-signin", "https://$host/oauth2/start?rd=$escaped_request_uri"},
                              {"nginx.ingress.kubernetes.io/auth-response-headers", "X-Auth-Request-User, X-Auth-Request-Email"},
                              {"nginx.ingress.kubernetes.io/auth-request-redirect", "https://app.example/back"},
                              {"nginx.ingress.kubernetes.io/auth-cache-key", "$remote_user$http_authorization$cookie_session"},
                              {"nginx.ingress.kubernetes.io/auth-cache-duration", "200 202 10m, 401 30s"},
                              {"sluice.io/auth-method", "GET"},  // wins
                              {"sluice.io/auth-timeout", "2s"}});
  EXPECT_TRUE(auth.problems.empty()) << auth.problems[0].message;
  const v1::ExternalAuthPolicy& p = auth.policy;
  EXPECT_EQ(p.method(), "GET");
  EXPECT_EQ(p.signin_url(), "https://$host/oauth2/start?rd=$escaped_request_uri");
  ASSERT_EQ(p.response_headers_size(), 2);
  EXPECT_EQ(p.response_headers(0), "x-auth-request-user");
  EXPECT_EQ(p.request_redirect(), "https://app.example/back");
  EXPECT_EQ(p.cache_key(), "$remote_user$http_authorization$cookie_session");
  ASSERT_EQ(p.cache_rules_size(), 2);
  EXPECT_EQ(p.cache_rules(0).statuses_size(), 2);
  EXPECT_EQ(p.cache_rules(0).duration_ms(), 600000u);
  EXPECT_EQ(p.cache_rules(1).statuses(0), 401u);
  EXPECT_EQ(p.cache_rules(1).duration_ms(), 30000u);
  EXPECT_EQ(p.timeout_ms(), 2000u);
}

TEST(AuthAnnotations, CacheKeyAloneUsesNginxDefaultDuration) {
  AnnotatedAuth auth = Parse({{"nginx.ingress.kubernetes.io/auth-url", "http://auth.sec/v"},
                              {"nginx.ingress.kubernetes.io/auth-cache-key", "$http_authorization"}});
  ASSERT_EQ(auth.policy.cache_rules_size(), 1);
  EXPECT_EQ(auth.policy.cache_rules(0).statuses_size(), 3);  // 200 202 401
  EXPECT_EQ(auth.policy.cache_rules(0).duration_ms(), 300000u);
}

TEST(AuthAnnotations, InvalidValuesAreProblemsAndSafe) {
  AnnotatedAuth auth = Parse({{"nginx.ingress.kubernetes.io/auth-url", "http://auth.sec/v"},
                              {"nginx.ingress.kubernetes.io/auth-method", "BREW"},
                              {"nginx.ingress.kubernetes.io/auth-signin", "https://x/$arbitrary"},
                              {"nginx.ingress.kubernetes.io/auth-response-headers", "X-Ok, bad header"},
                              {"nginx.ingress.kubernetes.io/auth-cache-key", "$request_body"},
                              {"nginx.ingress.kubernetes.io/auth-cache-duration", "200 forever"}});
  EXPECT_EQ(auth.problems.size(), 5u);
  EXPECT_FALSE(auth.policy.deny_all());
  EXPECT_TRUE(auth.policy.method().empty());
  EXPECT_TRUE(auth.policy.signin_url().empty());  // a 401 stays a 401
  EXPECT_EQ(auth.policy.response_headers_size(), 0);
  EXPECT_TRUE(auth.policy.cache_key().empty());  // no cache
  EXPECT_EQ(auth.policy.cache_rules_size(), 0);
}

// ---- Through the translator. ----

json Manifest(const std::string& text) { return json::parse(text); }

store::Store StoreWith(const json& annotations) {
  store::Store store;
  store.Upsert(Manifest(R"({"apiVersion":"networking.k8s.io/v1","kind":"IngressClass","metadata":{"name":"sluice"},
                           "spec":{"controller":"sluice.io/ingress-controller"}})"),
               "t");
  for (const char* service : {R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"app"},
                                  "spec":{"ports":[{"port":80}]}})",
                              R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"auth","namespace":"sec"},
                                  "spec":{"ports":[{"name":"http","port":8080}]}})",
                              R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"auth-1",
                                  "namespace":"sec","labels":{"kubernetes.io/service-name":"auth"}},"addressType":"IPv4",
                                  "ports":[{"name":"http","port":9000}],"endpoints":[{"addresses":["10.0.0.9"]}]})"}) {
    store.Upsert(Manifest(service), "t");
  }
  json ingress = Manifest(R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress",
      "metadata":{"namespace":"app","name":"site"},
      "spec":{"ingressClassName":"sluice","rules":[{"host":"a.example","http":{"paths":[
        {"path":"/","pathType":"Prefix","backend":{"service":{"name":"web","port":{"number":80}}}}]}}]}})");
  ingress["metadata"]["annotations"] = annotations;
  store.Upsert(ingress, "t");
  return store;
}

TEST(AuthTranslate, TheAuthServiceBecomesACluster) {
  store::Store store = StoreWith({{"nginx.ingress.kubernetes.io/auth-url", "http://auth.sec.svc.cluster.local:8080/verify"}});
  Result result = Translate(store, Options{});
  ASSERT_EQ(result.snapshot.virtual_hosts_size(), 1);
  const v1::Route& route = result.snapshot.virtual_hosts(0).routes(0);
  EXPECT_EQ(route.policy().external_auth().cluster(), "sec/auth:8080");
  EXPECT_EQ(route.policy().external_auth().host(), "auth.sec.svc.cluster.local");  // as ingress-nginx: no port
  const v1::Cluster* auth = nullptr;
  for (const v1::Cluster& c : result.snapshot.clusters()) {
    if (c.name() == "sec/auth:8080") auth = &c;
  }
  ASSERT_NE(auth, nullptr);
  ASSERT_EQ(auth->endpoints_size(), 1);
  EXPECT_EQ(auth->endpoints(0).address(), "10.0.0.9");
  EXPECT_EQ(auth->endpoints(0).port(), 9000u);
  EXPECT_TRUE(result.diagnostics.empty());
  // Deterministic: the same objects, the same bytes.
  EXPECT_EQ(Translate(store, Options{}).snapshot.SerializeAsString(), result.snapshot.SerializeAsString());
}

TEST(AuthTranslate, AMissingAuthServiceIsAWarningAndTheRouteStaysGuarded) {
  Result result = Translate(StoreWith({{"nginx.ingress.kubernetes.io/auth-url", "http://ghost.sec/verify"}}), Options{});
  const v1::Route& route = result.snapshot.virtual_hosts(0).routes(0);
  EXPECT_EQ(route.policy().external_auth().cluster(), "sec/ghost:80");
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_NE(result.diagnostics[0].message.find("auth service sec/ghost:80"), std::string::npos)
      << result.diagnostics[0].message;
}

TEST(AuthTranslate, AnExternalUrlIsAnEventAndRefusesTheRoute) {
  Result result = Translate(StoreWith({{"nginx.ingress.kubernetes.io/auth-url", "https://login.example.com/auth"}}),
                            Options{});
  const v1::Route& route = result.snapshot.virtual_hosts(0).routes(0);
  EXPECT_TRUE(route.policy().external_auth().deny_all());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].reason, "InvalidAnnotation");
  EXPECT_NE(result.diagnostics[0].message.find("refused"), std::string::npos) << result.diagnostics[0].message;
}

TEST(AuthTranslate, AuthSnippetIsStillRefused) {
  Result result = Translate(StoreWith({{"nginx.ingress.kubernetes.io/auth-snippet", "proxy_set_header A b;"}}),
                            Options{});
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].reason, "RefusedAnnotation");
}

}  // namespace
}  // namespace sluice::translate
