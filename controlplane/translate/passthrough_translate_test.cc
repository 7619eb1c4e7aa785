// ssl-passthrough: which hosts become TLS passthrough hosts, with which
// single route, and what is refused (translate.h).
#include <gtest/gtest.h>

#include "controlplane/translate/test_manifests.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

using nlohmann::json;
using Severity = Diagnostic::Severity;

json Path(const std::string& path, const std::string& service, int port = 443) {
  return {{"pathType", "Prefix"},
          {"path", path},
          {"backend", {{"service", {{"name", service}, {"port", {{"number", port}}}}}}}};
}

json Ingress(const std::string& name, json rules, json annotations, const std::string& created) {
  json object = {{"apiVersion", "networking.k8s.io/v1"},
                 {"kind", "Ingress"},
                 {"metadata", {{"name", name}, {"namespace", "default"}, {"creationTimestamp", created}}},
                 {"spec", {{"rules", rules}}}};
  if (!annotations.is_null()) object["metadata"]["annotations"] = annotations;
  return object;
}

json Rule(const std::string& host, json paths) {
  json rule = {{"http", {{"paths", paths}}}};
  if (!host.empty()) rule["host"] = host;
  return rule;
}

json Service(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"ports", json::array({{{"port", 443}}, {{"port", 80}}})}}}};
}

const json kPassthrough = {{"nginx.ingress.kubernetes.io/ssl-passthrough", "true"}};

const v1::VirtualHost* FindHost(const v1::Snapshot& snapshot, const std::string& name) {
  for (const v1::VirtualHost& vhost : snapshot.virtual_hosts()) {
    if (vhost.name() == name) return &vhost;
  }
  return nullptr;
}

std::string AllMessages(const Result& result) {
  std::string out;
  for (const Diagnostic& d : result.diagnostics) out += "\n  " + d.name + " [" + d.reason + "]: " + d.message;
  return out;
}

class PassthroughTranslateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Add(SluiceIngressClass(/*default_class=*/true));
    for (const char* name : {"tls-backend", "web", "other"}) Add(Service(name));
  }
  void Add(json object) { store_.Upsert(std::move(object), "test.yaml"); }
  Result Run(bool enabled = true) {
    Options options;
    options.enable_ssl_passthrough = enabled;
    return Translate(store_, options);
  }
  store::Store store_;
};

TEST_F(PassthroughTranslateTest, WholeHostGoesToTheFirstPathsBackend) {
  json annotations = kPassthrough;
  annotations["nginx.ingress.kubernetes.io/proxy-connect-timeout"] = "3";
  annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] = "120";
  Add(Ingress("pt", {Rule("secure.example.com", {Path("/api", "tls-backend"), Path("/other", "other")})},
              annotations, "2026-01-01T00:00:00Z"));
  Result result = Run();
  const v1::VirtualHost* host = FindHost(result.snapshot, "secure.example.com");
  ASSERT_NE(host, nullptr) << AllMessages(result);
  EXPECT_TRUE(host->tls_passthrough());
  ASSERT_EQ(host->routes_size(), 1);
  EXPECT_EQ(host->routes(0).path(), "/");
  EXPECT_EQ(host->routes(0).match(), v1::Route::PREFIX);
  EXPECT_EQ(host->routes(0).cluster(), "default/tls-backend:443");
  EXPECT_EQ(host->passthrough_connect_timeout_ms(), 3000u);
  EXPECT_EQ(host->passthrough_idle_timeout_ms(), 120000u);
  // The ignored second path is said, and its Service is not even a cluster.
  EXPECT_NE(AllMessages(result).find("other paths are ignored"), std::string::npos) << AllMessages(result);
  for (const v1::Cluster& cluster : result.snapshot.clusters()) EXPECT_NE(cluster.name(), "default/other:443");
}

TEST_F(PassthroughTranslateTest, NeedsTheControllerFlag) {
  Add(Ingress("pt", {Rule("secure.example.com", {Path("/", "tls-backend")})}, kPassthrough, "2026-01-01T00:00:00Z"));
  Result result = Run(/*enabled=*/false);
  const v1::VirtualHost* host = FindHost(result.snapshot, "secure.example.com");
  ASSERT_NE(host, nullptr);
  EXPECT_FALSE(host->tls_passthrough());
  EXPECT_NE(AllMessages(result).find("--enable-ssl-passthrough"), std::string::npos) << AllMessages(result);
}

TEST_F(PassthroughTranslateTest, OffAndInvalidValues) {
  json off = {{"sluice.io/ssl-passthrough", "false"}};
  Add(Ingress("off", {Rule("a.example.com", {Path("/", "web", 80)})}, off, "2026-01-01T00:00:00Z"));
  json invalid = {{"nginx.ingress.kubernetes.io/ssl-passthrough", "yes"}};
  Add(Ingress("bad", {Rule("b.example.com", {Path("/", "web", 80)})}, invalid, "2026-01-01T00:00:01Z"));
  Result result = Run();
  EXPECT_FALSE(FindHost(result.snapshot, "a.example.com")->tls_passthrough());
  EXPECT_FALSE(FindHost(result.snapshot, "b.example.com")->tls_passthrough());
  bool reported = false;
  for (const Diagnostic& d : result.diagnostics) {
    if (d.name == "bad" && d.message.find("ssl-passthrough") != std::string::npos) reported = true;
  }
  EXPECT_TRUE(reported) << AllMessages(result);
}

TEST_F(PassthroughTranslateTest, RuleWithoutHostIsServedAsUsual) {
  Add(Ingress("pt", {Rule("", {Path("/", "web", 80)})}, kPassthrough, "2026-01-01T00:00:00Z"));
  Result result = Run();
  const v1::VirtualHost* host = FindHost(result.snapshot, "*");
  ASSERT_NE(host, nullptr);
  EXPECT_FALSE(host->tls_passthrough());
  EXPECT_NE(AllMessages(result).find("needs a host"), std::string::npos) << AllMessages(result);
}

TEST_F(PassthroughTranslateTest, ConflictsWithOtherIngressesOnTheHost) {
  // Older Ingress with paths on the host: the passthrough is refused.
  Add(Ingress("older", {Rule("shared.example.com", {Path("/app", "web", 80)})}, nullptr, "2026-01-01T00:00:00Z"));
  Add(Ingress("pt-late", {Rule("shared.example.com", {Path("/", "tls-backend")})}, kPassthrough,
              "2026-01-02T00:00:00Z"));
  // Passthrough first: a newer Ingress's paths on the host are refused.
  Add(Ingress("pt", {Rule("own.example.com", {Path("/", "tls-backend")})}, kPassthrough, "2026-01-01T00:00:00Z"));
  Add(Ingress("newer", {Rule("own.example.com", {Path("/x", "web", 80)})}, nullptr, "2026-01-03T00:00:00Z"));
  Result result = Run();
  const v1::VirtualHost* shared = FindHost(result.snapshot, "shared.example.com");
  ASSERT_NE(shared, nullptr);
  EXPECT_FALSE(shared->tls_passthrough());
  ASSERT_EQ(shared->routes_size(), 1);
  EXPECT_EQ(shared->routes(0).path(), "/app");
  const v1::VirtualHost* own = FindHost(result.snapshot, "own.example.com");
  ASSERT_NE(own, nullptr);
  EXPECT_TRUE(own->tls_passthrough());
  ASSERT_EQ(own->routes_size(), 1);
  EXPECT_EQ(own->routes(0).path(), "/");
  int conflicts = 0;
  for (const Diagnostic& d : result.diagnostics) conflicts += d.reason == "Conflict";
  EXPECT_EQ(conflicts, 2) << AllMessages(result);
}

}  // namespace
}  // namespace sluice::translate
