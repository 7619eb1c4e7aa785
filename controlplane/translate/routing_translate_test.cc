// Translation of the regex, rewrite and redirect annotations (issue 18):
// table-driven, one row per annotation and value, then the cross-Ingress
// rules (server-alias and from-to-www-redirect conflicts, a bad regex
// refusing its Ingress only) and where requests go (route_match.h, the
// proxy's own matching).
#include <gtest/gtest.h>

#include "controlplane/translate/route_match.h"
#include "controlplane/translate/test_manifests.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

using nlohmann::json;
using Severity = Diagnostic::Severity;

json Ingress(const std::string& name, const std::string& created, json annotations, const std::string& host,
             json paths) {
  json list = json::array();
  for (const auto& [path, type] : paths.items()) {
    list.push_back({{"pathType", type},
                    {"path", path},
                    {"backend", {{"service", {{"name", "web"}, {"port", {{"number", 80}}}}}}}});
  }
  json object = {
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "Ingress"},
      {"metadata", {{"name", name}, {"namespace", "shop"}, {"annotations", annotations}}},
      {"spec", {{"ingressClassName", "sluice"}, {"rules", {{{"host", host}, {"http", {{"paths", list}}}}}}}}};
  if (!created.empty()) object["metadata"]["creationTimestamp"] = created;
  return object;
}

class RoutingTranslateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Add(SluiceIngressClass());
    Add(ShopService("web"));
  }
  void Add(json object) { store_.Upsert(std::move(object), "test.yaml"); }
  Result Run() { return Translate(store_, {}); }

  static const v1::VirtualHost* FindHost(const Result& result, const std::string& host) {
    for (const v1::VirtualHost& vhost : result.snapshot.virtual_hosts()) {
      if (vhost.name() == host) return &vhost;
    }
    return nullptr;
  }
  static std::string Diagnostics(const Result& result) {
    std::string out;
    for (const Diagnostic& d : result.diagnostics) out += d.ns + "/" + d.name + ": " + d.message + " [" + d.reason + "]\n";
    return out;
  }

  store::Store store_;
};

// One annotation (or pair) per row: what the route carries, what is reported.
TEST_F(RoutingTranslateTest, EveryAnnotation) {
  struct Row {
    std::string name;
    json annotations;
    std::string path;  // as written
    // Expected on the route: match, path, rewrite target, policy fields.
    v1::Route::PathMatch match;
    std::string rewrite_target;
    std::string redirect_url;
    uint32_t redirect_code;
    std::string app_root;
    std::string x_forwarded_prefix;
    bool redirect_to_https;
    std::string problem;  // a substring of the only diagnostic; empty: none
  };
  const std::string n = "nginx.ingress.kubernetes.io/";
  const Row rows[] = {
      {"none", json::object(), "/a", v1::Route::PREFIX, "", "", 0, "", "", false, ""},
      {"use-regex", {{n + "use-regex", "true"}}, "/a/[0-9]+", v1::Route::REGEX, "", "", 0, "", "", false, ""},
      {"sluice use-regex", {{"sluice.io/use-regex", "true"}}, "/a.+", v1::Route::REGEX, "", "", 0, "", "", false, ""},
      {"use-regex false", {{n + "use-regex", "false"}}, "/a", v1::Route::PREFIX, "", "", 0, "", "", false, ""},
      {"use-regex bad", {{n + "use-regex", "yes"}}, "/a", v1::Route::PREFIX, "", "", 0, "", "", false,
       "use-regex \"yes\": expected \"true\" or \"false\""},
      {"rewrite-target", {{n + "rewrite-target", "/$2"}}, "/something(/|$)(.*)", v1::Route::REGEX, "/$2", "", 0, "",
       "", false, ""},
      {"rewrite-target variable", {{n + "rewrite-target", "/$1$is_args"}}, "/a", v1::Route::PREFIX, "", "", 0, "", "",
       false, "only captures $0 to $9"},
      {"app-root", {{n + "app-root", "/app1"}}, "/", v1::Route::PREFIX, "", "", 0, "/app1", "", false, ""},
      {"app-root not a path", {{n + "app-root", "app1"}}, "/", v1::Route::PREFIX, "", "", 0, "", "", false,
       "expected a path starting with /"},
      {"x-forwarded-prefix", {{n + "x-forwarded-prefix", "/shop"}}, "/", v1::Route::PREFIX, "", "", 0, "", "/shop",
       false, ""},
      {"permanent-redirect", {{n + "permanent-redirect", "https://new.example/x"}}, "/", v1::Route::PREFIX, "",
       "https://new.example/x", 301, "", "", false, ""},
      {"permanent-redirect-code",
       {{n + "permanent-redirect", "https://new.example/x"}, {n + "permanent-redirect-code", "308"}}, "/",
       v1::Route::PREFIX, "", "https://new.example/x", 308, "", "", false, ""},
      {"permanent-redirect-code bad",
       {{n + "permanent-redirect", "https://new.example/x"}, {n + "permanent-redirect-code", "200"}}, "/",
       v1::Route::PREFIX, "", "https://new.example/x", 301, "", "", false, "expected a redirect status from 300"},
      {"permanent-redirect injection", {{n + "permanent-redirect", "https://x.example/\r\nSet-Cookie: a=b"}}, "/",
       v1::Route::PREFIX, "", "", 0, "", "", false, "printable ASCII"},
      {"permanent-redirect no scheme", {{n + "permanent-redirect", "javascript:alert(1)"}}, "/", v1::Route::PREFIX,
       "", "", 0, "", "", false, "expected an http(s) URL"},
      {"temporal-redirect", {{n + "temporal-redirect", "/maintenance"}}, "/", v1::Route::PREFIX, "", "/maintenance",
       302, "", "", false, ""},
      {"temporal-redirect-code", {{n + "temporal-redirect", "/m"}, {n + "temporal-redirect-code", "307"}}, "/",
       v1::Route::PREFIX, "", "/m", 307, "", "", false, ""},
      {"temporal wins", {{n + "temporal-redirect", "/t"}, {n + "permanent-redirect", "/p"}}, "/", v1::Route::PREFIX,
       "", "/t", 302, "", "", false, ""},
      {"sluice wins", {{"sluice.io/permanent-redirect", "/s"}, {n + "permanent-redirect", "/p"}}, "/",
       v1::Route::PREFIX, "", "/s", 301, "", "", false, ""},
      {"force-ssl-redirect", {{n + "force-ssl-redirect", "true"}}, "/", v1::Route::PREFIX, "", "", 0, "", "", true, ""},
      {"force-ssl over ssl-redirect false", {{n + "force-ssl-redirect", "true"}, {n + "ssl-redirect", "false"}}, "/",
       v1::Route::PREFIX, "", "", 0, "", "", true, ""},
      {"force-ssl-redirect bad", {{n + "force-ssl-redirect", "on"}}, "/", v1::Route::PREFIX, "", "", 0, "", "", false,
       "expected \"true\" or \"false\""},
  };
  for (const Row& row : rows) {
    store_ = store::Store();
    SetUp();
    Add(Ingress("shop", "", row.annotations, "shop.example", {{row.path, "ImplementationSpecific"}}));
    Result result = Run();
    SCOPED_TRACE(row.name + "\n" + Diagnostics(result));
    const v1::VirtualHost* host = FindHost(result, "shop.example");
    ASSERT_NE(host, nullptr);
    ASSERT_EQ(host->routes_size(), 1);
    const v1::Route& route = host->routes(0);
    EXPECT_EQ(route.match(), row.match);
    EXPECT_EQ(route.path(), row.path);
    EXPECT_EQ(route.rewrite_target(), row.rewrite_target);
    EXPECT_EQ(route.policy().redirect().url(), row.redirect_url);
    EXPECT_EQ(route.policy().redirect().code(), row.redirect_code);
    EXPECT_EQ(route.policy().app_root(), row.app_root);
    EXPECT_EQ(route.policy().x_forwarded_prefix(), row.x_forwarded_prefix);
    EXPECT_EQ(route.policy().redirect_to_https(), row.redirect_to_https);
    if (row.problem.empty()) {
      EXPECT_TRUE(result.diagnostics.empty());
    } else {
      ASSERT_EQ(result.diagnostics.size(), 1u);
      EXPECT_NE(result.diagnostics[0].message.find(row.problem), std::string::npos);
      EXPECT_EQ(result.diagnostics[0].reason, "InvalidAnnotation");
    }
  }
}

TEST_F(RoutingTranslateTest, ABadRegexRefusesItsIngressOnly) {
  Add(Ingress("bad", "2024-01-01T00:00:00Z", {{"nginx.ingress.kubernetes.io/use-regex", "true"}}, "shop.example",
              {{"/ok/(.*)", "Prefix"}, {"/(a)\\1", "Prefix"}}));
  Add(Ingress("lookaround", "2024-01-02T00:00:00Z", {{"nginx.ingress.kubernetes.io/rewrite-target", "/$1"}},
              "other.example", {{"/(?!admin)(.*)", "ImplementationSpecific"}}));
  Add(Ingress("good", "2024-01-03T00:00:00Z", json::object(), "shop.example", {{"/", "Prefix"}}));
  Result result = Run();
  std::string diagnostics = Diagnostics(result);
  EXPECT_NE(diagnostics.find("shop/bad: spec.rules[0].http.paths[0].path \"/(a)\\1\""), std::string::npos)
      << diagnostics;
  EXPECT_NE(diagnostics.find("Ingress not applied [InvalidRegex]"), std::string::npos) << diagnostics;
  EXPECT_NE(diagnostics.find("shop/lookaround:"), std::string::npos) << diagnostics;
  EXPECT_EQ(FindHost(result, "other.example"), nullptr);
  const v1::VirtualHost* shop = FindHost(result, "shop.example");
  ASSERT_NE(shop, nullptr);
  ASSERT_EQ(shop->routes_size(), 1);  // not even the bad Ingress's valid path
  EXPECT_EQ(shop->routes(0).origin(), "shop/good");
}

TEST_F(RoutingTranslateTest, RegexRoutesTakeTheirPlaceBesideOtherIngresses) {
  Add(Ingress("regex", "2024-01-01T00:00:00Z", {{"nginx.ingress.kubernetes.io/use-regex", "true"}}, "shop.example",
              {{"/api/v[0-9]+/.*", "ImplementationSpecific"}, {"/exact", "Exact"}}));
  Add(Ingress("plain", "2024-01-02T00:00:00Z", json::object(), "shop.example",
              {{"/api", "Prefix"}, {"/", "Prefix"}}));
  Result result = Run();
  EXPECT_TRUE(result.diagnostics.empty()) << Diagnostics(result);
  auto origin_of = [&](std::string_view target) -> std::string {
    const v1::Route* route = MatchRoute(result.snapshot, "shop.example", target);
    return route == nullptr ? "404" : route->origin() + " " + route->path();
  };
  EXPECT_EQ(origin_of("/api/v2/users"), "shop/regex /api/v[0-9]+/.*");
  EXPECT_EQ(origin_of("/API/V2/users"), "shop/regex /api/v[0-9]+/.*");  // ~*
  EXPECT_EQ(origin_of("/api/users"), "shop/plain /api");
  // A regex Ingress's Exact path is a "^/exact" regex too (ingress-nginx).
  EXPECT_EQ(origin_of("/exact/more"), "shop/regex /exact");
  EXPECT_EQ(origin_of("/other"), "shop/plain /");
}

TEST_F(RoutingTranslateTest, ServerAliasServesThePathsUnlessAnotherIngressOwnsTheName) {
  Add(Ingress("main", "2024-01-01T00:00:00Z",
              {{"nginx.ingress.kubernetes.io/server-alias", "alias.example, taken.example, Bad_Name!"}},
              "shop.example", {{"/app", "Prefix"}}));
  Add(Ingress("owner", "2024-01-02T00:00:00Z", json::object(), "taken.example", {{"/", "Prefix"}}));
  Add(Ingress("late", "2024-01-03T00:00:00Z", {{"sluice.io/server-alias", "alias.example"}}, "late.example",
              {{"/late", "Prefix"}}));
  Result result = Run();
  std::string diagnostics = Diagnostics(result);
  const v1::Route* aliased = MatchRoute(result.snapshot, "alias.example", "/app/x");
  ASSERT_NE(aliased, nullptr) << diagnostics;
  EXPECT_EQ(aliased->origin(), "shop/main");
  EXPECT_EQ(MatchRoute(result.snapshot, "alias.example", "/late"), nullptr);
  EXPECT_EQ(MatchRoute(result.snapshot, "taken.example", "/app")->origin(), "shop/owner");
  EXPECT_NE(diagnostics.find("shop/main: server-alias \"taken.example\": Ingress shop/owner routes it as a host; "
                             "alias ignored [Conflict]"),
            std::string::npos)
      << diagnostics;
  EXPECT_NE(diagnostics.find("shop/main: server-alias \"Bad_Name!\""), std::string::npos) << diagnostics;
  EXPECT_NE(diagnostics.find("shop/late: server-alias \"alias.example\": it is already a server alias or www "
                             "redirect of Ingress shop/main (older); alias ignored [Conflict]"),
            std::string::npos)
      << diagnostics;
}

TEST_F(RoutingTranslateTest, FromToWwwRedirectAddsTheOtherName) {
  Add(Ingress("www", "2024-01-01T00:00:00Z", {{"nginx.ingress.kubernetes.io/from-to-www-redirect", "true"}},
              "shop.example", {{"/", "Prefix"}}));
  Add(Ingress("back", "2024-01-02T00:00:00Z", {{"nginx.ingress.kubernetes.io/from-to-www-redirect", "true"}},
              "www.blog.example", {{"/", "Prefix"}}));
  Add(Ingress("clash", "2024-01-03T00:00:00Z", {{"nginx.ingress.kubernetes.io/from-to-www-redirect", "true"}},
              "own.example", {{"/", "Prefix"}}));
  Add(Ingress("own", "2024-01-04T00:00:00Z", json::object(), "www.own.example", {{"/", "Prefix"}}));
  Result result = Run();
  std::string diagnostics = Diagnostics(result);
  const v1::VirtualHost* www = FindHost(result, "www.shop.example");
  ASSERT_NE(www, nullptr) << diagnostics;
  ASSERT_EQ(www->routes_size(), 1);
  EXPECT_EQ(www->routes(0).policy().redirect().host(), "shop.example");
  EXPECT_EQ(www->routes(0).policy().redirect().code(), 308u);
  EXPECT_EQ(www->routes(0).cluster(), "");
  const v1::VirtualHost* bare = FindHost(result, "blog.example");
  ASSERT_NE(bare, nullptr);
  EXPECT_EQ(bare->routes(0).policy().redirect().host(), "www.blog.example");
  EXPECT_EQ(MatchRoute(result.snapshot, "www.own.example", "/")->origin(), "shop/own");
  EXPECT_NE(diagnostics.find("shop/clash: from-to-www-redirect: no redirect from \"www.own.example\": Ingress "
                             "shop/own routes it as a host [Conflict]"),
            std::string::npos)
      << diagnostics;
}

}  // namespace
}  // namespace sluice::translate
