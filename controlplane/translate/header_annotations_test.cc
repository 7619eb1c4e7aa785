// upstream-vhost, proxy-set-headers / custom-headers ConfigMaps and CORS:
// annotations -> RoutePolicy fields 100-103, table-driven; then through the
// translator with the ConfigMap in the store.
#include "controlplane/translate/header_annotations.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controlplane/store/store.h"
#include "controlplane/translate/test_manifests.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

json HeaderMap(const std::string& ns, const std::string& name, json data, bool labelled = true) {
  json object = {{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", {{"name", name}, {"namespace", ns}}},
                 {"data", std::move(data)}};
  if (labelled) object["metadata"]["labels"] = {{"sluice.io/headers", "true"}};
  return object;
}

struct Parsed {
  v1::RoutePolicy policy;
  std::vector<AnnotationProblem> problems;
  std::string ProblemText() const {
    std::string all;
    for (const auto& p : problems) all += p.message + "\n";
    return all;
  }
};

Parsed Read(const json& annotations, const std::map<std::string, json>& config_maps = {}) {
  Parsed parsed;
  ReadHeaderAnnotations(
      &annotations, "shop",
      [&](const std::string& ns, const std::string& name) -> const json* {
        auto it = config_maps.find(ns + "/" + name);
        return it == config_maps.end() ? nullptr : &it->second;
      },
      parsed.policy, parsed.problems);
  return parsed;
}

std::string Fields(const google::protobuf::RepeatedPtrField<v1::HeaderField>& fields) {
  std::string text;
  for (const auto& f : fields) text += f.name() + "=" + f.value() + ";";
  return text;
}

TEST(HeaderAnnotationsTest, UpstreamVhost) {
  struct Case {
    json annotations;
    std::string vhost;  // expected
    size_t problems;
  };
  const Case cases[] = {
      {{{"nginx.ingress.kubernetes.io/upstream-vhost", "internal.svc"}}, "internal.svc", 0},
      {{{"nginx.ingress.kubernetes.io/upstream-vhost", "Internal.SVC:8080"}}, "internal.svc:8080", 0},
      {{{"sluice.io/upstream-vhost", "a.example"}, {"nginx.ingress.kubernetes.io/upstream-vhost", "b.example"}},
       "a.example", 0},
      {{{"nginx.ingress.kubernetes.io/upstream-vhost", "[::1]:80"}}, "[::1]:80", 0},
      {{{"nginx.ingress.kubernetes.io/upstream-vhost", "$host"}}, "", 1},
      {{{"nginx.ingress.kubernetes.io/upstream-vhost", "a b"}}, "", 1},
      {{{"nginx.ingress.kubernetes.io/upstream-vhost", "a\r\nx-evil: 1"}}, "", 1},
      {{{"nginx.ingress.kubernetes.io/upstream-vhost", 5}}, "", 1},
      {json::object(), "", 0},
  };
  for (const Case& c : cases) {
    Parsed parsed = Read(c.annotations);
    EXPECT_EQ(parsed.policy.upstream_vhost(), c.vhost) << c.annotations.dump();
    EXPECT_EQ(parsed.problems.size(), c.problems) << c.annotations.dump() << parsed.ProblemText();
  }
}

TEST(HeaderAnnotationsTest, HeaderSetsFromLabelledConfigMapsInTheSameNamespace) {
  const std::map<std::string, json> maps = {
      {"shop/req", HeaderMap("shop", "req", {{"X-Team", "checkout"}, {"X-Env", " prod "}})},
      {"shop/resp", HeaderMap("shop", "resp", {{"X-Frame-Options", "DENY"}, {"Cache-Control", "no-store"}})},
      {"shop/plain", HeaderMap("shop", "plain", {{"X-A", "b"}}, /*labelled=*/false)},
      {"other/req", HeaderMap("other", "req", {{"X-Secret", "s3cr3t"}})},
  };
  struct Case {
    json annotations;
    std::string request, response;  // expected fields
    std::vector<std::string> problem_words;
  };
  const Case cases[] = {
      {{{"sluice.io/proxy-set-headers", "req"}}, "x-env=prod;x-team=checkout;", "", {}},
      {{{"sluice.io/proxy-set-headers", "shop/req"}}, "x-env=prod;x-team=checkout;", "", {}},
      {{{"nginx.ingress.kubernetes.io/custom-headers", "shop/resp"}}, "",
       "cache-control=no-store;x-frame-options=DENY;", {}},
      {{{"sluice.io/custom-headers", "resp"}, {"nginx.ingress.kubernetes.io/custom-headers", "shop/plain"}}, "",
       "cache-control=no-store;x-frame-options=DENY;", {}},
      // Not the ingress-nginx way to set request headers: never read.
      {{{"nginx.ingress.kubernetes.io/proxy-set-headers", "shop/req"}}, "", "", {}},
      {{{"sluice.io/proxy-set-headers", "other/req"}}, "", "", {"namespace"}},
      {{{"sluice.io/proxy-set-headers", "plain"}}, "", "", {"not labelled sluice.io/headers"}},
      {{{"sluice.io/custom-headers", "missing"}}, "", "", {"not found"}},
      {{{"sluice.io/custom-headers", "a/b/c"}}, "", "", {"NAMESPACE/NAME"}},
  };
  for (const Case& c : cases) {
    Parsed parsed = Read(c.annotations, maps);
    EXPECT_EQ(Fields(parsed.policy.set_request_headers()), c.request) << c.annotations.dump();
    EXPECT_EQ(Fields(parsed.policy.set_response_headers()), c.response) << c.annotations.dump();
    ASSERT_EQ(parsed.problems.size(), c.problem_words.size()) << c.annotations.dump() << parsed.ProblemText();
    for (size_t i = 0; i < c.problem_words.size(); ++i) {
      EXPECT_NE(parsed.problems[i].message.find(c.problem_words[i]), std::string::npos) << parsed.problems[i].message;
    }
  }
}

TEST(HeaderAnnotationsTest, HeaderNamesAndValuesAreValidated) {
  struct Case {
    std::string name, value;
    bool request;  // proxy-set-headers, else custom-headers
    bool kept;
  };
  const Case cases[] = {
      {"X-Ok", "a value, with: punctuation", true, true},
      {"X-Ok", "caf\xc3\xa9", false, true},
      {"X Bad", "v", true, false},           // not a token
      {"X-Bad:", "v", false, false},         // not a token
      {"X-CRLF", "a\r\nx-evil: 1", true, false},
      {"X-LF", "a\nb", false, false},
      {"X-NUL", std::string("a\0b", 3), true, false},
      {"X-Var", "$remote_addr", true, false},  // an nginx variable: not interpreted, refused
      {"X-Var", "${host}", false, false},
      {"X-Price", "5$", false, true},          // a dollar, not a variable
      {"Host", "h", true, false},
      {"Content-Length", "5", false, false},
      {"Transfer-Encoding", "chunked", true, false},
      {"Connection", "close", false, false},
      {"Upgrade", "websocket", true, false},
      {"Keep-Alive", "timeout=5", false, false},
      {"TE", "trailers", true, false},
      {"Trailer", "x", false, false},
      {"X-Forwarded-For", "1.2.3.4", true, false},  // the proxy writes it
      {"X-Forwarded-For", "1.2.3.4", false, true},  // a response field: the backend's business
      {"Expect", "100-continue", true, false},
  };
  for (const Case& c : cases) {
    std::map<std::string, json> maps = {{"shop/set", HeaderMap("shop", "set", {{c.name, c.value}})}};
    json annotations = {{c.request ? "sluice.io/proxy-set-headers" : "sluice.io/custom-headers", "set"}};
    Parsed parsed = Read(annotations, maps);
    const auto& fields = c.request ? parsed.policy.set_request_headers() : parsed.policy.set_response_headers();
    EXPECT_EQ(fields.size(), c.kept ? 1 : 0) << c.name << ": " << c.value;
    EXPECT_EQ(parsed.problems.size(), c.kept ? 0u : 1u) << c.name << ": " << c.value;
  }
}

TEST(HeaderAnnotationsTest, HeaderSetsAreBounded) {
  json data = json::object();
  for (int i = 0; i < 70; ++i) data["X-Field-" + std::to_string(100 + i)] = "v";
  std::map<std::string, json> maps = {{"shop/many", HeaderMap("shop", "many", data)}};
  Parsed parsed = Read({{"sluice.io/custom-headers", "many"}}, maps);
  EXPECT_EQ(parsed.policy.set_response_headers_size(), static_cast<int>(kMaxHeaderFields));
  EXPECT_EQ(parsed.problems.size(), 1u);
}

TEST(HeaderAnnotationsTest, Cors) {
  struct Case {
    json annotations;
    bool on;
    std::vector<std::string> origins;
    std::string methods, headers, expose;
    bool credentials;
    int64_t max_age;
    size_t problems;
  };
  const std::string kMethods = "GET, PUT, POST, DELETE, PATCH, OPTIONS";
  const std::string kHeaders =
      "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization";
  const Case cases[] = {
      // ingress-nginx's defaults.
      {{{"nginx.ingress.kubernetes.io/enable-cors", "true"}}, true, {"*"}, kMethods, kHeaders, "", true, 1728000, 0},
      {{{"nginx.ingress.kubernetes.io/enable-cors", "false"}, {"nginx.ingress.kubernetes.io/cors-allow-origin", "x"}},
       false, {}, "", "", "", false, 0, 0},
      {{{"nginx.ingress.kubernetes.io/cors-allow-origin", "https://a.example"}}, false, {}, "", "", "", false, 0, 0},
      {{{"nginx.ingress.kubernetes.io/enable-cors", "yes"}}, false, {}, "", "", "", false, 0, 1},
      {{{"sluice.io/enable-cors", "true"},
        {"nginx.ingress.kubernetes.io/cors-allow-origin", "https://A.example, http://*.b.example:8080 ,https://c.example:4443"},
        {"nginx.ingress.kubernetes.io/cors-allow-methods", "GET,POST"},
        {"nginx.ingress.kubernetes.io/cors-allow-headers", "X-Token, Content-Type"},
        {"nginx.ingress.kubernetes.io/cors-expose-headers", "*, X-Count"},
        {"nginx.ingress.kubernetes.io/cors-allow-credentials", "false"},
        {"nginx.ingress.kubernetes.io/cors-max-age", "600"}},
       true,
       {"https://a.example", "http://*.b.example:8080", "https://c.example:4443"},
       "GET, POST",
       "X-Token, Content-Type",
       "*, X-Count",
       false,
       600,
       0},
      // sluice.io/ wins.
      {{{"nginx.ingress.kubernetes.io/enable-cors", "true"},
        {"sluice.io/cors-allow-origin", "https://s.example"},
        {"nginx.ingress.kubernetes.io/cors-allow-origin", "https://n.example"}},
       true, {"https://s.example"}, kMethods, kHeaders, "", true, 1728000, 0},
      // An invalid origin is left out; the rest stays.
      {{{"nginx.ingress.kubernetes.io/enable-cors", "true"},
        {"nginx.ingress.kubernetes.io/cors-allow-origin", "https://ok.example, ftp://x.example, https://a..b"}},
       true, {"https://ok.example"}, kMethods, kHeaders, "", true, 1728000, 2},
      // None valid: no origin allowed (never "*" instead).
      {{{"nginx.ingress.kubernetes.io/enable-cors", "true"},
        {"nginx.ingress.kubernetes.io/cors-allow-origin", "not-an-origin"}},
       true, {}, kMethods, kHeaders, "", true, 1728000, 2},
      // Invalid lists and numbers: the defaults.
      {{{"nginx.ingress.kubernetes.io/enable-cors", "true"},
        {"nginx.ingress.kubernetes.io/cors-allow-methods", "GET, P0ST"},
        {"nginx.ingress.kubernetes.io/cors-allow-headers", "X-A, X;B"},
        {"nginx.ingress.kubernetes.io/cors-expose-headers", "X\r\nY"},
        {"nginx.ingress.kubernetes.io/cors-allow-credentials", "maybe"},
        {"nginx.ingress.kubernetes.io/cors-max-age", "-1"}},
       true, {"*"}, kMethods, kHeaders, "", true, 1728000, 5},
  };
  for (const Case& c : cases) {
    Parsed parsed = Read(c.annotations);
    EXPECT_EQ(parsed.policy.has_cors(), c.on) << c.annotations.dump();
    EXPECT_EQ(parsed.problems.size(), c.problems) << c.annotations.dump() << parsed.ProblemText();
    if (!c.on) continue;
    const v1::CorsPolicy& cors = parsed.policy.cors();
    EXPECT_EQ(std::vector<std::string>(cors.allow_origins().begin(), cors.allow_origins().end()), c.origins)
        << c.annotations.dump();
    EXPECT_EQ(cors.allow_methods(), c.methods);
    EXPECT_EQ(cors.allow_headers(), c.headers);
    EXPECT_EQ(cors.expose_headers(), c.expose);
    EXPECT_EQ(cors.allow_credentials(), c.credentials);
    EXPECT_EQ(cors.max_age_seconds(), c.max_age);
  }
}

// Through the translator: the store keeps only labelled ConfigMaps, the
// route carries the fields, a refused field is an InvalidAnnotation Event.
TEST(HeaderAnnotationsTest, TranslatorReadsTheStoresConfigMaps) {
  store::Store store;
  store.Upsert(SluiceIngressClass(), "test");
  store.Upsert({{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", "app"}, {"namespace", "shop"}}},
                {"spec", {{"ports", {{{"name", "http"}, {"port", 80}}}}}}},
               "test");
  store.Upsert(HeaderMap("shop", "req", {{"X-Team", "checkout"}, {"Host", "evil"}}), "test");
  store.Upsert(HeaderMap("shop", "unlabelled", {{"X-A", "b"}}, /*labelled=*/false), "test");
  json ingress = json::parse(R"({
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
    "metadata": {"name": "web", "namespace": "shop", "annotations": {
      "sluice.io/proxy-set-headers": "req",
      "nginx.ingress.kubernetes.io/custom-headers": "shop/unlabelled",
      "nginx.ingress.kubernetes.io/upstream-vhost": "backend.internal",
      "nginx.ingress.kubernetes.io/enable-cors": "true",
      "nginx.ingress.kubernetes.io/cors-allow-origin": "https://*.shop.example"}},
    "spec": {"ingressClassName": "sluice", "rules": [{"host": "shop.example", "http": {"paths": [
      {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "app", "port": {"number": 80}}}}]}}]}})");
  store.Upsert(ingress, "test");
  EXPECT_EQ(store.Find("ConfigMap", "shop", "unlabelled"), nullptr) << "an unlabelled ConfigMap is never kept";
  Result result = Translate(store, Options{});
  ASSERT_EQ(result.snapshot.virtual_hosts_size(), 1);
  ASSERT_EQ(result.snapshot.virtual_hosts(0).routes_size(), 1);
  const v1::RoutePolicy& policy = result.snapshot.virtual_hosts(0).routes(0).policy();
  EXPECT_EQ(Fields(policy.set_request_headers()), "x-team=checkout;");
  EXPECT_EQ(policy.set_response_headers_size(), 0);
  EXPECT_EQ(policy.upstream_vhost(), "backend.internal");
  ASSERT_TRUE(policy.has_cors());
  EXPECT_EQ(policy.cors().allow_origins(0), "https://*.shop.example");
  int events = 0;
  for (const Diagnostic& d : result.diagnostics) {
    if (d.reason != "InvalidAnnotation") continue;
    ++events;
    EXPECT_EQ(d.name, "web");
  }
  EXPECT_EQ(events, 2) << "the Host key and the unlabelled ConfigMap";
}

// A header-set ConfigMap is not a static site (the store keeps both kinds).
TEST(HeaderAnnotationsTest, HeaderSetIsNotAStaticSite) {
  store::Store store;
  store.Upsert(HeaderMap("shop", "req", {{"index.html", "x"}}), "test");
  EXPECT_NE(store.Find("ConfigMap", "shop", "req"), nullptr);
  store.Upsert(SluiceIngressClass(), "test");
  store.Upsert(json::parse(R"({
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"ingressClassName": "sluice", "rules": [{"host": "shop.example", "http": {"paths": [
      {"path": "/", "pathType": "Prefix", "backend": {"resource": {"kind": "ConfigMap", "name": "req"}}}]}}]}})"),
               "test");
  Result result = Translate(store, Options{});
  for (const auto& host : result.snapshot.virtual_hosts()) {
    for (const auto& route : host.routes()) EXPECT_FALSE(route.policy().has_static_site());
  }
}

}  // namespace
}  // namespace sluice::translate
