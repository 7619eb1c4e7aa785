// Ingress backend.resource -> RoutePolicy.static_site: ConfigMap sites
// (key encoding, binaryData, size caps, options from annotations) and
// StaticSite resources (root confinement, spec options), through
// Translate() as the controller runs it.
#include "controlplane/translate/static_sites.h"

#include <gtest/gtest.h>

#include "controlplane/translate/test_manifests.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

json ResourceIngress(const std::string& name, const std::string& path, json resource) {
  json backend = {{"resource", resource}};
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "Ingress"},
          {"metadata", {{"name", name}, {"namespace", "web"}}},
          {"spec",
           {{"ingressClassName", "sluice"},
            {"rules", {{{"host", name + ".example"},
                        {"http", {{"paths", {{{"path", path}, {"pathType", "Prefix"}, {"backend", backend}}}}}}}}}}}};
}

json ConfigMapSite(const std::string& name, json data, bool labelled = true) {
  json object = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}, {"namespace", "web"}}},
                 {"data", data}};
  if (labelled) object["metadata"]["labels"] = {{"sluice.io/static-site", "true"}};
  return object;
}

json ConfigMapRef(const std::string& name) { return {{"kind", "ConfigMap"}, {"name", name}}; }

const v1::Route* FindRoute(const Result& result, const std::string& host) {
  for (const v1::VirtualHost& vhost : result.snapshot.virtual_hosts()) {
    if (vhost.name() == host && vhost.routes_size() > 0) return &vhost.routes(0);
  }
  return nullptr;
}

std::string Messages(const Result& result) {
  std::string all;
  for (const Diagnostic& d : result.diagnostics) all += d.message + " [" + d.reason + "]\n";
  return all;
}

TEST(StaticSitesTest, DecodesConfigMapKeys) {
  EXPECT_EQ(DecodeConfigMapKey("index.html"), "index.html");
  EXPECT_EQ(DecodeConfigMapKey("css__site.css"), "css/site.css");
  EXPECT_EQ(DecodeConfigMapKey("a__b__c_d.txt"), "a/b/c_d.txt");
  EXPECT_EQ(DecodeConfigMapKey("__index.html"), "");
  EXPECT_EQ(DecodeConfigMapKey("a____b"), "");
  EXPECT_EQ(DecodeConfigMapKey("..__secret"), "");
  EXPECT_EQ(DecodeConfigMapKey("a__.."), "");
  EXPECT_EQ(DecodeConfigMapKey("dir__"), "");
}

TEST(StaticSitesTest, ConfigMapSiteBecomesInMemoryFiles) {
  store::Store store;
  store.Upsert(SluiceIngressClass(), "test");
  json site = ConfigMapSite("landing", {{"index.html", "<h1>hi</h1>"}, {"css__site.css", "body{}"}, {"__bad", "x"}});
  site["binaryData"] = {{"img__dot.gif", "R0lGODlh"}};
  site["metadata"]["annotations"] = {{"sluice.io/static-spa-fallback", "index.html"},
                                     {"sluice.io/static-cache-control", "public, max-age=60\r\nX: y"}};
  store.Upsert(site, "test");
  store.Upsert(ResourceIngress("landing", "/site", ConfigMapRef("landing")), "test");
  Result result = Translate(store, Options{});
  const v1::Route* route = FindRoute(result, "landing.example");
  ASSERT_NE(route, nullptr) << Messages(result);
  EXPECT_TRUE(route->cluster().empty());
  const v1::StaticSitePolicy& policy = route->policy().static_site();
  EXPECT_EQ(policy.source(), "ConfigMap web/landing");
  ASSERT_EQ(policy.files_size(), 3);
  EXPECT_EQ(policy.files(0).path(), "css/site.css");
  EXPECT_EQ(policy.files(1).path(), "img/dot.gif");
  EXPECT_EQ(policy.files(1).content(), "GIF89a");
  EXPECT_EQ(policy.files(2).path(), "index.html");
  EXPECT_EQ(policy.spa_fallback(), "index.html");
  EXPECT_EQ(policy.cache_control(), "");  // a CR LF in it: ignored, never sent
  EXPECT_EQ(policy.strip_prefix(), "/site");
  std::string messages = Messages(result);
  EXPECT_NE(messages.find("key \"__bad\" names no file path"), std::string::npos) << messages;
  EXPECT_NE(messages.find("sluice.io/static-cache-control: only printable ASCII"), std::string::npos) << messages;
}

TEST(StaticSitesTest, UnlabelledConfigMapsAreNotStoredNorServed) {
  store::Store store;
  store.Upsert(SluiceIngressClass(), "test");
  store.Upsert(ConfigMapSite("plain", {{"index.html", "x"}}, /*labelled=*/false), "test");
  store.Upsert(ResourceIngress("plain", "/", ConfigMapRef("plain")), "test");
  EXPECT_EQ(store.Find("ConfigMap", "web", "plain"), nullptr);
  Result result = Translate(store, Options{});
  EXPECT_EQ(FindRoute(result, "plain.example"), nullptr);
  ASSERT_EQ(result.diagnostics.size(), 1u) << Messages(result);
  EXPECT_EQ(result.diagnostics[0].reason, "StaticSiteNotFound");
}

TEST(StaticSitesTest, SizeCapsRefuseOnlyTheSiteOverThem) {
  store::Store store;
  store.Upsert(SluiceIngressClass(), "test");
  store.Upsert(ConfigMapSite("big", {{"index.html", std::string(2000, 'b')}}), "test");
  store.Upsert(ConfigMapSite("small", {{"index.html", std::string(600, 's')}}), "test");
  store.Upsert(ConfigMapSite("tiny", {{"index.html", "t"}}), "test");
  store.Upsert(ResourceIngress("big", "/", ConfigMapRef("big")), "test");
  store.Upsert(ResourceIngress("small", "/", ConfigMapRef("small")), "test");
  store.Upsert(ResourceIngress("small2", "/", ConfigMapRef("small")), "test");
  store.Upsert(ResourceIngress("tiny", "/", ConfigMapRef("tiny")), "test");
  Options options;
  options.static_sites.max_site_bytes = 1000;
  options.static_sites.max_total_bytes = 1000;
  Result result = Translate(store, options);
  std::string messages = Messages(result);
  EXPECT_EQ(FindRoute(result, "big.example"), nullptr);
  EXPECT_NE(messages.find("ConfigMap web/big holds 2000 bytes of files, over the per-site cap of 1000"),
            std::string::npos) << messages;
  // In (namespace, name) order with equal ages: small fits, small2 would
  // take the total over the cap, tiny still fits.
  EXPECT_NE(FindRoute(result, "small.example"), nullptr);
  EXPECT_EQ(FindRoute(result, "small2.example"), nullptr);
  EXPECT_NE(messages.find("over the total cap of 1000 bytes"), std::string::npos) << messages;
  EXPECT_NE(FindRoute(result, "tiny.example"), nullptr);
}

json StaticSiteObject(const std::string& name, json spec) {
  return {{"apiVersion", "sluice.io/v1alpha1"},
          {"kind", "StaticSite"},
          {"metadata", {{"name", name}, {"namespace", "web"}}},
          {"spec", spec}};
}

TEST(StaticSitesTest, StaticSiteRootsStayBeneathTheConfiguredBase) {
  store::Store store;
  store.Upsert(SluiceIngressClass(), "test");
  store.Upsert(StaticSiteObject("docs", {{"root", "/srv/sluice/static/docs"},
                                         {"spaFallback", "/index.html"},
                                         {"cacheControl", "public, max-age=300"},
                                         {"precompressed", true}}),
               "test");
  store.Upsert(StaticSiteObject("etc", {{"root", "/etc"}}), "test");
  store.Upsert(StaticSiteObject("climb", {{"root", "/srv/sluice/static/../../../etc"}}), "test");
  json ref = {{"apiGroup", "sluice.io"}, {"kind", "StaticSite"}};
  for (const char* name : {"docs", "etc", "climb"}) {
    ref["name"] = name;
    store.Upsert(ResourceIngress(name, "/", ref), "test");
  }
  Result result = Translate(store, Options{});
  const v1::Route* docs = FindRoute(result, "docs.example");
  ASSERT_NE(docs, nullptr) << Messages(result);
  const v1::StaticSitePolicy& policy = docs->policy().static_site();
  EXPECT_EQ(policy.root(), "/srv/sluice/static/docs");
  EXPECT_EQ(policy.spa_fallback(), "index.html");
  EXPECT_EQ(policy.cache_control(), "public, max-age=300");
  EXPECT_TRUE(policy.precompressed());
  EXPECT_TRUE(policy.hashed_assets());
  EXPECT_FALSE(policy.show_dotfiles());
  EXPECT_EQ(policy.strip_prefix(), "");
  EXPECT_EQ(FindRoute(result, "etc.example"), nullptr);
  EXPECT_EQ(FindRoute(result, "climb.example"), nullptr);
  std::string messages = Messages(result);
  EXPECT_NE(messages.find("StaticSite web/etc spec.root \"/etc\" must be a directory beneath /srv/sluice/static"),
            std::string::npos) << messages;
  EXPECT_NE(messages.find("must be a plain path"), std::string::npos) << messages;
}

}  // namespace
}  // namespace sluice::translate
