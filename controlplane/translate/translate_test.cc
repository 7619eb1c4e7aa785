#include "controlplane/translate/translate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "controlplane/translate/route_match.h"
#include "controlplane/translate/test_manifests.h"
#include "test/routing_cases/routing_cases.h"

namespace sluice::translate {
namespace {

using nlohmann::json;
using Severity = Diagnostic::Severity;

// ---- Object builders: just enough Kubernetes to say what each test means. ----

json Backend(const std::string& service, json port) {
  return {{"service", {{"name", service}, {"port", port.is_string() ? json{{"name", port}} : json{{"number", port}}}}}};
}

json Path(const std::string& type, const std::string& path, const std::string& service, json port = 80) {
  return {{"pathType", type}, {"path", path}, {"backend", Backend(service, port)}};
}

json Rule(const std::string& host, json paths) {
  json rule = {{"http", {{"paths", paths}}}};
  if (!host.empty()) rule["host"] = host;
  return rule;
}

json Ingress(const std::string& ns, const std::string& name, json rules, const std::string& class_name = "sluice") {
  json object = {{"apiVersion", "networking.k8s.io/v1"},
                 {"kind", "Ingress"},
                 {"metadata", {{"name", name}, {"namespace", ns}}},
                 {"spec", {{"rules", rules}}}};
  if (!class_name.empty()) object["spec"]["ingressClassName"] = class_name;
  return object;
}

json Service(const std::string& ns, const std::string& name, json ports) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"selector", {{"app", name}}}, {"ports", ports}}}};
}

json Slice(const std::string& ns, const std::string& name, const std::string& service, json ports, json endpoints) {
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"kubernetes.io/service-name", service}}}}},
          {"addressType", "IPv4"},
          {"ports", ports},
          {"endpoints", endpoints}};
}

const v1::VirtualHost* FindHost(const v1::Snapshot& snapshot, const std::string& name) {
  for (const v1::VirtualHost& vhost : snapshot.virtual_hosts()) {
    if (vhost.name() == name) return &vhost;
  }
  return nullptr;
}

const v1::Cluster* FindCluster(const v1::Snapshot& snapshot, const std::string& name) {
  for (const v1::Cluster& cluster : snapshot.clusters()) {
    if (cluster.name() == name) return &cluster;
  }
  return nullptr;
}

// "10.0.0.1:8080@zone" for each endpoint.
std::vector<std::string> EndpointList(const v1::Cluster& cluster) {
  std::vector<std::string> out;
  for (const v1::Endpoint& e : cluster.endpoints()) {
    out.push_back(e.address() + ":" + std::to_string(e.port()) + (e.zone().empty() ? "" : "@" + e.zone()));
    EXPECT_EQ(e.weight(), 1u);
  }
  return out;
}

// The cluster a request reaches, "" for a 404.
std::string Route(const v1::Snapshot& snapshot, const std::string& host, const std::string& path) {
  const v1::Route* route = MatchRoute(snapshot, host, path);
  return route == nullptr ? "" : route->cluster();
}

std::vector<std::string> Messages(const Result& result, Severity severity) {
  std::vector<std::string> out;
  for (const Diagnostic& d : result.diagnostics) {
    if (d.severity == severity) out.push_back(d.kind + " " + d.ns + "/" + d.name + ": " + d.message);
  }
  return out;
}

std::string AllMessages(const Result& result) {
  std::string out;
  for (const Diagnostic& d : result.diagnostics) out += "\n  " + d.kind + " " + d.name + ": " + d.message;
  return out;
}

class TranslateTest : public ::testing::Test {
 protected:
  void SetUp() override { Add(IngressClass("sluice", "sluice.io/ingress-controller", true)); }
  void Add(json object, const std::string& origin = "test.yaml") { store_.Upsert(std::move(object), origin); }
  Result Run(const Options& options = {}) { return Translate(store_, options); }

  store::Store store_;
};

// ---- The path matching table of the Kubernetes Ingress documentation. ----

struct PathRow {
  std::vector<std::pair<std::string, std::string>> paths;  // (pathType, path); path i -> Service "svc<i>"
  std::string request;
  std::string expected;  // "svc<i>", "default-backend" or "" (no match: 404)
};

class PathTableTest : public TranslateTest, public ::testing::WithParamInterface<PathRow> {};

TEST_P(PathTableTest, RequestReachesTheDocumentedBackend) {
  const PathRow& row = GetParam();
  json paths = json::array();
  for (size_t i = 0; i < row.paths.size(); ++i) {
    paths.push_back(Path(row.paths[i].first, row.paths[i].second, "svc" + std::to_string(i)));
  }
  json ingress = Ingress("default", "table", {Rule("example.com", paths)});
  if (row.expected == "default-backend") ingress["spec"]["defaultBackend"] = Backend("default-backend", 80);
  Add(ingress);
  Result result = Run();
  ASSERT_TRUE(Messages(result, Severity::kError).empty()) << AllMessages(result);
  std::string expected = row.expected.empty() ? "" : "default/" + row.expected + ":80";
  EXPECT_EQ(Route(result.snapshot, "example.com", row.request), expected)
      << "request " << row.request << "\n" << result.snapshot.DebugString();
}

INSTANTIATE_TEST_SUITE_P(
    KubernetesDocumentation, PathTableTest,
    ::testing::Values(
        // Prefix / matches all paths.
        PathRow{{{"Prefix", "/"}}, "/", "svc0"}, PathRow{{{"Prefix", "/"}}, "/anything/at/all", "svc0"},
        PathRow{{{"Exact", "/foo"}}, "/foo", "svc0"},   //
        PathRow{{{"Exact", "/foo"}}, "/bar", ""},       //
        PathRow{{{"Exact", "/foo"}}, "/foo/", ""},      //
        PathRow{{{"Exact", "/foo/"}}, "/foo", ""},      //
        PathRow{{{"Prefix", "/foo"}}, "/foo", "svc0"},  //
        PathRow{{{"Prefix", "/foo"}}, "/foo/", "svc0"},
        PathRow{{{"Prefix", "/foo/"}}, "/foo", "svc0"},  // trailing slash ignored
        PathRow{{{"Prefix", "/foo/"}}, "/foo/", "svc0"},
        PathRow{{{"Prefix", "/aaa/bb"}}, "/aaa/bbb", ""},  // not a string prefix match
        PathRow{{{"Prefix", "/aaa/bbb"}}, "/aaa/bbb", "svc0"},
        PathRow{{{"Prefix", "/aaa/bbb/"}}, "/aaa/bbb", "svc0"},  // ignores trailing slash
        PathRow{{{"Prefix", "/aaa/bbb"}}, "/aaa/bbb/", "svc0"},  // matches trailing slash
        PathRow{{{"Prefix", "/aaa/bbb"}}, "/aaa/bbb/ccc", "svc0"},  // matches subpath
        PathRow{{{"Prefix", "/aaa/bbb"}}, "/aaa/bbbxyz", ""},       // not a string prefix match
        PathRow{{{"Prefix", "/"}, {"Prefix", "/aaa"}}, "/aaa/ccc", "svc1"},
        PathRow{{{"Prefix", "/"}, {"Prefix", "/aaa"}, {"Prefix", "/aaa/bbb"}}, "/aaa/bbb", "svc2"},
        PathRow{{{"Prefix", "/"}, {"Prefix", "/aaa"}, {"Prefix", "/aaa/bbb"}}, "/ccc", "svc0"},
        PathRow{{{"Prefix", "/aaa"}}, "/ccc", "default-backend"},
        PathRow{{{"Prefix", "/aaa"}}, "/ccc", ""},  // and without a default backend: 404
        // Mixed: Prefix /foo and Exact /foo, request /foo prefers Exact (either order).
        PathRow{{{"Prefix", "/foo"}, {"Exact", "/foo"}}, "/foo", "svc1"},
        PathRow{{{"Exact", "/foo"}, {"Prefix", "/foo"}}, "/foo", "svc0"},
        PathRow{{{"Exact", "/foo"}, {"Prefix", "/foo"}}, "/foo/bar", "svc1"},
        // Paths are case-sensitive.
        PathRow{{{"Prefix", "/foo"}}, "/FOO", ""}, PathRow{{{"Exact", "/foo"}}, "/FOO", ""},
        // ImplementationSpecific is Prefix in Sluice; the query is not part of the path.
        PathRow{{{"ImplementationSpecific", "/foo"}}, "/foo/bar", "svc0"},
        PathRow{{{"ImplementationSpecific", "/foo"}}, "/foobar", ""},
        PathRow{{{"Exact", "/foo"}}, "/foo?x=1", "svc0"}));

// ---- The routing case table shared with the router's tests. ----

// Each case's paths as one Ingress (one rule per host, in order of first
// mention), translated, then routed with MatchRoute: the same table the
// router (dataplane/router) and the proxy's CompiledSnapshot run.
TEST(SharedRoutingCasesTest, TranslatedIngressRoutesAsTheTableSays) {
  for (const routing_cases::Case& c : routing_cases::Cases()) {
    std::vector<std::string> hosts;
    json rules = json::array();
    for (const routing_cases::Path& p : c.paths) {
      std::string host(p.host);
      size_t i = std::find(hosts.begin(), hosts.end(), host) - hosts.begin();
      if (i == hosts.size()) {
        hosts.push_back(host);
        rules.push_back(Rule(host, json::array()));
      }
      rules[i]["http"]["paths"].push_back(Path(std::string(p.type), std::string(p.path), std::string(p.backend)));
    }
    store::Store store;
    store.Upsert(IngressClass("sluice", "sluice.io/ingress-controller", true), "test.yaml");
    store.Upsert(Ingress("default", "cases", rules), "test.yaml");
    Result result = Translate(store, {});
    ASSERT_TRUE(Messages(result, Severity::kError).empty()) << c.name << AllMessages(result);
    for (const routing_cases::Request& r : c.requests) {
      std::string expected = r.backend.empty() ? "" : "default/" + std::string(r.backend) + ":80";
      EXPECT_EQ(Route(result.snapshot, std::string(r.host), std::string(r.target)), expected)
          << c.name << ": Host \"" << r.host << "\" " << r.target;
    }
  }
}

// ---- Hosts. ----

TEST_F(TranslateTest, WildcardHostMatchesExactlyOneLabel) {
  Add(Ingress("default", "wild", {Rule("*.bar.com", {Path("Prefix", "/", "wild")})}));
  Result result = Run();
  EXPECT_EQ(Route(result.snapshot, "foo.bar.com", "/"), "default/wild:80");
  EXPECT_EQ(Route(result.snapshot, "FOO.Bar.com:8443", "/x"), "default/wild:80");
  EXPECT_EQ(Route(result.snapshot, "baz.foo.bar.com", "/"), "");
  EXPECT_EQ(Route(result.snapshot, "bar.com", "/"), "");
}

TEST_F(TranslateTest, ExactHostBeatsWildcardAndWildcardBeatsCatchAll) {
  Add(Ingress("default", "hosts",
              {Rule("*.bar.com", {Path("Prefix", "/", "wild")}), Rule("Foo.Bar.com", {Path("Prefix", "/", "exact")}),
               Rule("", {Path("Prefix", "/", "any")})}));
  Result result = Run();
  EXPECT_NE(FindHost(result.snapshot, "foo.bar.com"), nullptr) << "host names are lower-cased";
  EXPECT_EQ(Route(result.snapshot, "foo.bar.com", "/"), "default/exact:80");
  EXPECT_EQ(Route(result.snapshot, "other.bar.com", "/"), "default/wild:80");
  EXPECT_EQ(Route(result.snapshot, "bar.com", "/"), "default/any:80");
  EXPECT_EQ(Route(result.snapshot, "elsewhere.org", "/"), "default/any:80");
}

TEST_F(TranslateTest, InvalidHostsAreErrorsAndOtherRulesStillApply) {
  Add(Ingress("default", "bad-hosts",
              {Rule("foo.*.com", {Path("Prefix", "/", "a")}), Rule("*foo.com", {Path("Prefix", "/", "a")}),
               Rule("under_score.com", {Path("Prefix", "/", "a")}), Rule("1.2.3.4", {Path("Prefix", "/", "a")}),
               Rule("good.com", {Path("Prefix", "/", "good")})}));
  Result result = Run();
  std::vector<std::string> errors = Messages(result, Severity::kError);
  ASSERT_EQ(errors.size(), 4u) << AllMessages(result);
  EXPECT_EQ(errors[0],
            "Ingress default/bad-hosts: spec.rules[0].host \"foo.*.com\": \"*\" is only allowed as the whole first "
            "label (\"*.example.com\"); rule skipped");
  EXPECT_NE(errors[2].find("spec.rules[2].host \"under_score.com\""), std::string::npos) << errors[2];
  EXPECT_NE(errors[3].find("not an IP address"), std::string::npos) << errors[3];
  ASSERT_EQ(result.snapshot.virtual_hosts_size(), 1);
  EXPECT_EQ(Route(result.snapshot, "good.com", "/"), "default/good:80");
  EXPECT_EQ(result.diagnostics[0].origin, "test.yaml");
}

// ---- Route order and duplicates. ----

TEST_F(TranslateTest, RoutesAreOrderedLongestFirstExactBeforePrefix) {
  Add(Ingress("default", "order",
              {Rule("example.com", {Path("Prefix", "/", "root"), Path("Prefix", "/b", "b"), Path("Prefix", "/abc", "p"),
                                    Path("Exact", "/abc", "e"), Path("Prefix", "/a/", "a")})}));
  Result result = Run();
  const v1::VirtualHost* vhost = FindHost(result.snapshot, "example.com");
  ASSERT_NE(vhost, nullptr);
  std::vector<std::string> order;
  for (const v1::Route& r : vhost->routes()) {
    order.push_back((r.match() == v1::Route::EXACT ? "Exact " : "Prefix ") + r.path());
    EXPECT_EQ(r.origin(), "default/order");
  }
  EXPECT_EQ(order, (std::vector<std::string>{"Exact /abc", "Prefix /abc", "Prefix /a", "Prefix /b", "Prefix /"}));
}

TEST_F(TranslateTest, DuplicatePathGoesToTheOldestIngress) {
  json newer = Ingress("a-first-by-name", "newer", {Rule("example.com", {Path("Prefix", "/app", "new")})});
  newer["metadata"]["creationTimestamp"] = "2024-05-01T00:00:00Z";
  json older = Ingress("z-last-by-name", "older", {Rule("example.com", {Path("Prefix", "/app/", "old")})});
  older["metadata"]["creationTimestamp"] = "2023-01-01T00:00:00Z";
  Add(newer, "newer.yaml");
  Add(older, "older.yaml");
  Add(Service("z-last-by-name", "old", {{{"port", 80}}}));
  Result result = Run();
  EXPECT_EQ(Route(result.snapshot, "example.com", "/app"), "z-last-by-name/old:80");
  std::vector<std::string> warnings = Messages(result, Severity::kWarning);
  ASSERT_EQ(warnings.size(), 1u) << AllMessages(result);
  EXPECT_EQ(warnings[0],
            "Ingress a-first-by-name/newer: spec.rules[0].http.paths[0]: host \"example.com\" Prefix \"/app\" is "
            "already routed by Ingress z-last-by-name/older (older); path ignored");
  EXPECT_EQ(result.diagnostics[0].origin, "newer.yaml");
  // The loser's cluster is referenced by no route, so it is not emitted.
  EXPECT_EQ(FindCluster(result.snapshot, "a-first-by-name/new:80"), nullptr);
  EXPECT_EQ(result.snapshot.clusters_size(), 1);
}

TEST_F(TranslateTest, DuplicatePathWithoutTimestampsGoesByNamespaceAndName) {
  Add(Ingress("default", "b", {Rule("example.com", {Path("Exact", "/x", "from-b")})}));
  Add(Ingress("default", "a", {Rule("example.com", {Path("Exact", "/x", "from-a")})}));
  Add(Service("default", "from-a", {{{"port", 80}}}));
  Result result = Run();
  EXPECT_EQ(Route(result.snapshot, "example.com", "/x"), "default/from-a:80");
  EXPECT_EQ(Messages(result, Severity::kWarning).size(), 1u);
}

// ---- Default backend. ----

TEST_F(TranslateTest, DefaultBackendEndsEveryHostWithoutItsOwnRoot) {
  json first = Ingress("default", "first", {Rule("demo.local", {Path("Prefix", "/app", "app"), Path("Exact", "/", "home")}),
                                            Rule("own-root.local", {Path("Prefix", "/", "root")})});
  first["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z";
  first["spec"]["defaultBackend"] = Backend("fallback", "http");
  json second = Ingress("default", "second", json::array());
  second["metadata"]["creationTimestamp"] = "2021-01-01T00:00:00Z";
  second["spec"]["defaultBackend"] = Backend("other-fallback", 80);
  Add(second);
  Add(first);
  Result result = Run();

  const v1::VirtualHost* demo = FindHost(result.snapshot, "demo.local");
  ASSERT_NE(demo, nullptr);
  ASSERT_EQ(demo->routes_size(), 3);
  EXPECT_EQ(demo->routes(2).match(), v1::Route::PREFIX);
  EXPECT_EQ(demo->routes(2).path(), "/");
  EXPECT_EQ(demo->routes(2).cluster(), "default/fallback:http");
  EXPECT_EQ(Route(result.snapshot, "demo.local", "/"), "default/home:80");
  EXPECT_EQ(Route(result.snapshot, "demo.local", "/elsewhere"), "default/fallback:http");
  EXPECT_EQ(Route(result.snapshot, "own-root.local", "/elsewhere"), "default/root:80");
  EXPECT_EQ(FindHost(result.snapshot, "own-root.local")->routes_size(), 1);
  // A catch-all host exists just for the default backend.
  const v1::VirtualHost* any = FindHost(result.snapshot, "*");
  ASSERT_NE(any, nullptr);
  ASSERT_EQ(any->routes_size(), 1);
  EXPECT_EQ(Route(result.snapshot, "unknown.host", "/x"), "default/fallback:http");
  // The newer default backend loses, with a warning.
  std::vector<std::string> warnings = Messages(result, Severity::kWarning);
  EXPECT_NE(std::find(warnings.begin(), warnings.end(),
                      "Ingress default/second: spec.defaultBackend ignored: Ingress default/first (older) already "
                      "provides the default backend"),
            warnings.end())
      << AllMessages(result);
  EXPECT_EQ(FindCluster(result.snapshot, "default/other-fallback:80"), nullptr);
}

TEST_F(TranslateTest, NoDefaultBackendMeansNoCatchAllHost) {
  Add(Ingress("default", "web", {Rule("demo.local", {Path("Prefix", "/app", "app")})}));
  Result result = Run();
  EXPECT_EQ(FindHost(result.snapshot, "*"), nullptr);
  EXPECT_EQ(Route(result.snapshot, "demo.local", "/"), "");
}

// ---- Backends and endpoints. ----

class EndpointsTest : public TranslateTest {
 protected:
  void SetUp() override {
    TranslateTest::SetUp();
    Add(Service("default", "app",
                {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}, {{"name", "metrics"}, {"port", 9090}}}));
    Add(Slice("default", "app-abc", "app", {{{"name", "http"}, {"port", 8080}}, {{"name", "metrics"}, {"port", 9090}}},
              {{{"addresses", {"10.0.0.2"}}, {"conditions", {{"ready", true}}}},
               {{"addresses", {"10.0.0.1"}}},  // no conditions: ready
               {{"addresses", {"10.0.0.3"}}, {"conditions", {{"ready", false}}}}}));
    Add(Slice("default", "app-def", "app",
              {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}, {{"name", "http"}, {"port", 53}, {"protocol", "UDP"}}},
              {{{"addresses", {"10.0.0.1"}}},  // also in app-abc: counted once
               {{"addresses", {"10.0.0.4"}}, {"zone", "zone-b"}}}));
    Add(Slice("default", "other-xyz", "other", {{{"name", "http"}, {"port", 8080}}}, {{{"addresses", {"10.9.9.9"}}}}));
    Add(Slice("elsewhere", "app-abc", "app", {{{"name", "http"}, {"port", 8080}}}, {{{"addresses", {"10.8.8.8"}}}}));
  }
};

TEST_F(EndpointsTest, PortByNameResolvesThroughServiceAndEndpointSlices) {
  Add(Ingress("default", "web", {Rule("demo.local", {Path("Prefix", "/", "app", "http")})}));
  Result result = Run();
  const v1::Cluster* cluster = FindCluster(result.snapshot, "default/app:http");
  ASSERT_NE(cluster, nullptr) << result.snapshot.DebugString();
  // Not-ready 10.0.0.3 dropped; duplicates merged; UDP port ignored; sorted.
  EXPECT_EQ(EndpointList(*cluster),
            (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.4:8080@zone-b"}));
  EXPECT_TRUE(result.diagnostics.empty()) << AllMessages(result);
}

TEST_F(EndpointsTest, PortByNumberUsesTheServicePortsName) {
  Add(Ingress("default", "web", {Rule("demo.local", {Path("Prefix", "/", "app", 80), Path("Prefix", "/m", "app", 9090)})}));
  Result result = Run();
  ASSERT_NE(FindCluster(result.snapshot, "default/app:80"), nullptr);
  EXPECT_EQ(EndpointList(*FindCluster(result.snapshot, "default/app:80")),
            (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.4:8080@zone-b"}));
  EXPECT_EQ(EndpointList(*FindCluster(result.snapshot, "default/app:9090")),
            (std::vector<std::string>{"10.0.0.1:9090", "10.0.0.2:9090"}));
}

TEST_F(EndpointsTest, UnknownPortIsAWarningAndTheClusterHasNoEndpoints) {
  Add(Ingress("default", "web", {Rule("demo.local", {Path("Prefix", "/", "app", "web")})}));
  Result result = Run();
  std::vector<std::string> warnings = Messages(result, Severity::kWarning);
  ASSERT_EQ(warnings.size(), 1u) << AllMessages(result);
  EXPECT_EQ(warnings[0],
            "Ingress default/web: spec.rules[0].http.paths[0].backend.service.port.name \"web\": Service default/app "
            "has no such port");
  ASSERT_NE(FindCluster(result.snapshot, "default/app:web"), nullptr);
  EXPECT_EQ(FindCluster(result.snapshot, "default/app:web")->endpoints_size(), 0);
}

TEST_F(TranslateTest, UnnamedSinglePortServiceMatchesUnnamedSlicePort) {
  Add(Service("demo", "api", {{{"port", 80}}}));
  Add(Slice("demo", "api-1", "api", {{{"port", 9002}}}, {{{"addresses", {"127.0.0.1"}}}}));
  Add(Ingress("demo", "web", {Rule("demo.local", {Path("Prefix", "/api", "api", 80)})}));
  Result result = Run();
  ASSERT_NE(FindCluster(result.snapshot, "demo/api:80"), nullptr);
  EXPECT_EQ(EndpointList(*FindCluster(result.snapshot, "demo/api:80")), (std::vector<std::string>{"127.0.0.1:9002"}));
}

TEST_F(TranslateTest, MissingServiceIsAWarningAndTheRouteStays) {
  Add(Ingress("default", "web", {Rule("demo.local", {Path("Prefix", "/", "ghost")})}));
  Result result = Run();
  std::vector<std::string> warnings = Messages(result, Severity::kWarning);
  ASSERT_EQ(warnings.size(), 1u) << AllMessages(result);
  EXPECT_NE(warnings[0].find("Service default/ghost not found"), std::string::npos) << warnings[0];
  EXPECT_EQ(Route(result.snapshot, "demo.local", "/"), "default/ghost:80");
  ASSERT_NE(FindCluster(result.snapshot, "default/ghost:80"), nullptr);
  EXPECT_EQ(FindCluster(result.snapshot, "default/ghost:80")->endpoints_size(), 0);
}

TEST_F(TranslateTest, ExternalNameServiceIsOneDnsEndpoint) {
  Add({{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata", {{"name", "ext"}, {"namespace", "default"}}},
       {"spec", {{"type", "ExternalName"}, {"externalName", "backend.example.org"}}}});
  Add(Ingress("default", "web", {Rule("demo.local", {Path("Prefix", "/", "ext", 8443)})}));
  Result result = Run();
  ASSERT_NE(FindCluster(result.snapshot, "default/ext:8443"), nullptr);
  EXPECT_EQ(EndpointList(*FindCluster(result.snapshot, "default/ext:8443")),
            (std::vector<std::string>{"backend.example.org:8443"}));
}

TEST_F(TranslateTest, InvalidBackendsSkipOnlyTheirPath) {
  json paths = {Path("Prefix", "/ok", "ok"),
                {{"pathType", "Prefix"}, {"path", "/res"}, {"backend", {{"resource", {{"kind", "Bucket"}, {"name", "b"}}}}}},
                {{"pathType", "Prefix"},
                 {"path", "/quoted"},
                 {"backend", {{"service", {{"name", "ok"}, {"port", {{"number", "80"}}}}}}}}};
  Add(Ingress("default", "web", {Rule("demo.local", paths)}));
  Result result = Run();
  std::vector<std::string> errors = Messages(result, Severity::kError);
  ASSERT_EQ(errors.size(), 2u) << AllMessages(result);
  EXPECT_NE(errors[0].find("spec.rules[0].http.paths[1].backend.resource: resource backends are not supported"),
            std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("spec.rules[0].http.paths[2].backend.service.port.number must be an integer"),
            std::string::npos)
      << errors[1];
  EXPECT_EQ(FindHost(result.snapshot, "demo.local")->routes_size(), 1);
  EXPECT_EQ(Route(result.snapshot, "demo.local", "/ok"), "default/ok:80");
}

// ---- Paths. ----

TEST_F(TranslateTest, InvalidPathsAreErrorsAndOtherPathsStillApply) {
  json no_type = Path("Prefix", "/no-type", "a");
  no_type.erase("pathType");
  Add(Ingress("default", "web",
              {Rule("demo.local", {Path("Prefix", "relative", "a"), Path("Exact", "/a//b", "a"), no_type,
                                   Path("Regex", "/x", "a"), Path("Prefix", "/fine", "fine")})}));
  Result result = Run();
  std::vector<std::string> errors = Messages(result, Severity::kError);
  ASSERT_EQ(errors.size(), 4u) << AllMessages(result);
  EXPECT_EQ(errors[0],
            "Ingress default/web: spec.rules[0].http.paths[0].path \"relative\": must be an absolute path starting "
            "with \"/\"; path skipped");
  EXPECT_EQ(errors[1],
            "Ingress default/web: spec.rules[0].http.paths[1].path \"/a//b\": must not contain \"//\"; path skipped");
  EXPECT_EQ(errors[2],
            "Ingress default/web: spec.rules[0].http.paths[2].pathType: must be Exact, Prefix or "
            "ImplementationSpecific; path skipped");
  EXPECT_NE(errors[3].find("pathType \"Regex\""), std::string::npos) << errors[3];
  EXPECT_EQ(Route(result.snapshot, "demo.local", "/fine/x"), "default/fine:80");
  EXPECT_EQ(FindHost(result.snapshot, "demo.local")->routes_size(), 1);
}

// ---- Which Ingresses are ours. ----

TEST_F(TranslateTest, ClassSelectionRules) {
  Add(IngressClass("other", "example.com/other-controller", false));
  Add(Service("default", "app", {{{"port", 80}}}));
  auto ingress = [](const std::string& name, const std::string& class_name) {
    return Ingress("default", name, {Rule(name + ".test", {Path("Prefix", "/", "app")})}, class_name);
  };
  Add(ingress("by-class-name", "sluice"));
  Add(ingress("other-class-name", "other"));
  Add(ingress("unknown-class-name", "nope"));
  json by_annotation = ingress("by-annotation", "");
  by_annotation["metadata"]["annotations"] = {{"kubernetes.io/ingress.class", "sluice"}};
  Add(by_annotation);
  json other_annotation = ingress("other-annotation", "");
  other_annotation["metadata"]["annotations"] = {{"kubernetes.io/ingress.class", "other"}};
  Add(other_annotation);
  json name_beats_annotation = ingress("name-beats-annotation", "other");
  name_beats_annotation["metadata"]["annotations"] = {{"kubernetes.io/ingress.class", "sluice"}};
  Add(name_beats_annotation);
  Add(ingress("no-class", ""));

  Result result = Run();
  std::vector<std::string> hosts;
  for (const v1::VirtualHost& vhost : result.snapshot.virtual_hosts()) hosts.push_back(vhost.name());
  EXPECT_EQ(hosts, (std::vector<std::string>{"by-annotation.test", "by-class-name.test", "no-class.test"}));
  std::vector<std::string> warnings = Messages(result, Severity::kWarning);
  EXPECT_EQ(warnings.size(), 4u) << AllMessages(result);
  EXPECT_NE(std::find(warnings.begin(), warnings.end(),
                      "Ingress default/other-class-name: spec.ingressClassName \"other\" is not an IngressClass of "
                      "controller sluice.io/ingress-controller; Ingress ignored"),
            warnings.end())
      << AllMessages(result);

  // Without a default class, an Ingress without a class is not ours.
  Add(IngressClass("sluice", "sluice.io/ingress-controller", false));
  result = Run();
  EXPECT_EQ(FindHost(result.snapshot, "no-class.test"), nullptr);
  EXPECT_NE(FindHost(result.snapshot, "by-class-name.test"), nullptr);

  // Another controller name: none of these classes are ours.
  Options options;
  options.ingress_class_controller = "example.com/other-controller";
  result = Run(options);
  EXPECT_NE(FindHost(result.snapshot, "other-class-name.test"), nullptr);
  EXPECT_EQ(FindHost(result.snapshot, "by-class-name.test"), nullptr);
}

TEST_F(TranslateTest, WatchNamespaceLimitsTheIngresses) {
  Add(Ingress("team-a", "web", {Rule("a.test", {Path("Prefix", "/", "app")})}));
  Add(Ingress("team-b", "web", {Rule("b.test", {Path("Prefix", "/", "app")})}));
  Options options;
  options.watch_namespace = "team-b";
  Result result = Run(options);
  ASSERT_EQ(result.snapshot.virtual_hosts_size(), 1);
  EXPECT_EQ(result.snapshot.virtual_hosts(0).name(), "b.test");
}

// ---- TLS. ----

std::string Base64(const std::string& text) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < text.size(); i += 3) {
    uint32_t chunk = static_cast<unsigned char>(text[i]) << 16;
    if (i + 1 < text.size()) chunk |= static_cast<unsigned char>(text[i + 1]) << 8;
    if (i + 2 < text.size()) chunk |= static_cast<unsigned char>(text[i + 2]);
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += i + 1 < text.size() ? kAlphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < text.size() ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

constexpr const char* kChain = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
constexpr const char* kKey = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

json TlsSecret(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", "kubernetes.io/tls"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"data", {{"tls.crt", Base64(kChain)}, {"tls.key", Base64(kKey)}}}};
}

TEST_F(TranslateTest, TlsSecretBecomesCertificate) {
  Add(Service("demo", "app", {{{"port", 80}}}));
  Add(TlsSecret("demo", "demo-tls"));
  Add(TlsSecret("demo", "unused-tls"));
  json ingress = Ingress("demo", "web",
                         {Rule("demo.local", {Path("Prefix", "/", "app")}), Rule("a.demo.local", {Path("Prefix", "/", "app")}),
                          Rule("plain.local", {Path("Prefix", "/", "app")})});
  ingress["spec"]["tls"] = {{{"secretName", "demo-tls"}, {"hosts", {"Demo.Local", "*.demo.local"}}},
                            {{"secretName", "missing-tls"}, {"hosts", {"other.local"}}}};
  Add(ingress);
  Result result = Run();
  ASSERT_EQ(result.snapshot.certificates_size(), 1) << "only Secrets referenced by handled Ingresses";
  const v1::Certificate& certificate = result.snapshot.certificates(0);
  EXPECT_EQ(certificate.name(), "demo/demo-tls");
  EXPECT_EQ(std::vector<std::string>(certificate.sni_names().begin(), certificate.sni_names().end()),
            (std::vector<std::string>{"*.demo.local", "demo.local"}));
  EXPECT_EQ(certificate.certificate_chain_pem(), kChain);
  EXPECT_EQ(certificate.private_key_pem(), kKey);
  EXPECT_EQ(FindHost(result.snapshot, "demo.local")->certificate(), "demo/demo-tls");
  EXPECT_EQ(FindHost(result.snapshot, "a.demo.local")->certificate(), "demo/demo-tls") << "covered by the wildcard";
  EXPECT_EQ(FindHost(result.snapshot, "plain.local")->certificate(), "");
  std::vector<std::string> warnings = Messages(result, Severity::kWarning);
  ASSERT_EQ(warnings.size(), 1u) << AllMessages(result);
  EXPECT_NE(AllMessages(result).find("spec.tls[1].secretName \"missing-tls\": Secret demo/missing-tls not found"),
            std::string::npos)
      << AllMessages(result);
}

TEST_F(TranslateTest, TlsSecretFromStringDataAndBrokenSecrets) {
  json from_string_data = TlsSecret("demo", "string-tls");
  from_string_data.erase("data");
  from_string_data["stringData"] = {{"tls.crt", kChain}, {"tls.key", kKey}};
  Add(from_string_data);
  json broken = TlsSecret("demo", "broken-tls");
  broken["data"]["tls.key"] = "not base64!";
  Add(broken);
  json ingress = Ingress("demo", "web", {Rule("a.local", {Path("Prefix", "/", "app")})});
  ingress["spec"]["tls"] = {{{"secretName", "string-tls"}, {"hosts", {"a.local"}}},
                            {{"secretName", "broken-tls"}, {"hosts", {"b.local"}}}};
  Add(ingress);
  Result result = Run();
  ASSERT_EQ(result.snapshot.certificates_size(), 1);
  EXPECT_EQ(result.snapshot.certificates(0).name(), "demo/string-tls");
  EXPECT_EQ(result.snapshot.certificates(0).certificate_chain_pem(), kChain);
  bool reported = false;
  for (const Diagnostic& d : result.diagnostics) {
    if (d.kind == "Secret" && d.name == "broken-tls") {
      reported = true;
      EXPECT_NE(d.message.find("data[\"tls.key\"] is not valid base64"), std::string::npos) << d.message;
    }
  }
  EXPECT_TRUE(reported) << AllMessages(result);
}

// ---- Determinism. ----

std::vector<json> DemoObjects() {
  std::vector<json> objects = {
      IngressClass("sluice", "sluice.io/ingress-controller", true),
      Service("demo", "app", {{{"name", "http"}, {"port", 80}}}),
      Service("demo", "api", {{{"port", 80}}}),
      Slice("demo", "app-1", "app", {{{"name", "http"}, {"port", 9001}}},
            {{{"addresses", {"127.0.0.2", "127.0.0.1"}}}}),
      Slice("demo", "api-1", "api", {{{"port", 9002}}}, {{{"addresses", {"127.0.0.1"}}}}),
      TlsSecret("demo", "demo-tls"),
  };
  json web = Ingress("demo", "web",
                     {Rule("demo.local", {Path("Prefix", "/app", "app", "http"), Path("Prefix", "/api", "api", 80),
                                          Path("Exact", "/", "app", "http")})});
  web["spec"]["tls"] = {{{"secretName", "demo-tls"}, {"hosts", {"demo.local"}}}};
  web["spec"]["defaultBackend"] = Backend("app", "http");
  objects.push_back(web);
  objects.push_back(Ingress("demo", "wild", {Rule("*.demo.local", {Path("Prefix", "/", "api", 80)}),
                                             Rule("demo.local", {Path("Prefix", "/app", "api", 80)})}));
  return objects;
}

TEST(TranslateDeterminismTest, SameObjectsInAnyOrderGiveIdenticalBytes) {
  std::vector<json> objects = DemoObjects();
  store::Store first;
  for (const json& object : objects) first.Upsert(object, "demo.yaml");
  std::string expected = SerializeDeterministic(Translate(first, {}).snapshot);
  EXPECT_EQ(SerializeDeterministic(Translate(first, {}).snapshot), expected);

  std::mt19937 random(42);
  for (int round = 0; round < 10; ++round) {
    std::shuffle(objects.begin(), objects.end(), random);
    store::Store shuffled;
    for (const json& object : objects) shuffled.Upsert(object, "demo.yaml");
    Result result = Translate(shuffled, {});
    EXPECT_EQ(SerializeDeterministic(result.snapshot), expected) << "round " << round;
  }

  Result result = Translate(first, {});
  EXPECT_EQ(Route(result.snapshot, "demo.local", "/app/x"), "demo/app:http");
  EXPECT_EQ(Route(result.snapshot, "x.demo.local", "/"), "demo/api:80");
  EXPECT_EQ(Messages(result, Severity::kWarning),
            (std::vector<std::string>{"Ingress demo/wild: spec.rules[1].http.paths[0]: host \"demo.local\" Prefix "
                                      "\"/app\" is already routed by Ingress demo/web (older); path ignored"}));
  // Every list is sorted by name.
  std::vector<std::string> names;
  for (const v1::VirtualHost& v : result.snapshot.virtual_hosts()) names.push_back(v.name());
  EXPECT_EQ(names, (std::vector<std::string>{"*", "*.demo.local", "demo.local"}));
  names.clear();
  for (const v1::Cluster& c : result.snapshot.clusters()) names.push_back(c.name());
  EXPECT_EQ(names, (std::vector<std::string>{"demo/api:80", "demo/app:http"}));
  EXPECT_EQ(EndpointList(result.snapshot.clusters(1)), (std::vector<std::string>{"127.0.0.1:9001", "127.0.0.2:9001"}));
}


// ---- Per-route policies from annotations. ----

json Annotated(json ingress, json annotations) {
  ingress["metadata"]["annotations"] = std::move(annotations);
  return ingress;
}

// The policy of the route a request takes, as one line; "unset" when the
// route carries none (the proxy's defaults), "404" when there is no route.
std::string PolicyAt(const v1::Snapshot& snapshot, const std::string& host, const std::string& path) {
  const v1::Route* route = MatchRoute(snapshot, host, path);
  if (route == nullptr) return "404";
  if (!route->has_policy()) return "unset";
  const v1::RoutePolicy& p = route->policy();
  return "connect=" + std::to_string(p.connect_timeout_ms()) + " response=" + std::to_string(p.response_timeout_ms()) +
         " idle=" + std::to_string(p.idle_timeout_ms()) + " body=" + std::to_string(p.max_request_body_bytes()) +
         " client_body=" + std::to_string(p.client_body_timeout_ms()) +
         " keep_server=" + (p.keep_server_header() ? "true" : "false");
}

TEST_F(TranslateTest, EveryRouteCarriesThePolicyOfItsOwnIngress) {
  json slow = Ingress("default", "slow",
                      {Rule("demo.local", {Path("Prefix", "/upload", "uploader"), Path("Exact", "/exact", "uploader")}),
                       Rule("", {Path("Prefix", "/slow", "uploader")})});
  slow["spec"]["defaultBackend"] = Backend("fallback", 80);
  Add(Annotated(slow, {{"sluice.io/proxy-read-timeout", "300"},
                       {"sluice.io/proxy-body-size", "64m"},
                       {"sluice.io/keep-server-header", "true"}}));
  Add(Ingress("default", "plain",
              {Rule("demo.local", {Path("Prefix", "/api", "api")}), Rule("other.local", {Path("Prefix", "/", "api")})}));
  Add(Annotated(Ingress("team", "from-nginx", {Rule("demo.local", {Path("Prefix", "/nginx", "legacy")})}),
                {{"nginx.ingress.kubernetes.io/proxy-connect-timeout", "3"},
                 {"nginx.ingress.kubernetes.io/proxy-body-size", "1m"},
                 {"nginx.ingress.kubernetes.io/client-body-timeout", "20"}}));
  Result result = Run();
  ASSERT_TRUE(Messages(result, Severity::kError).empty()) << AllMessages(result);

  const std::string slow_policy =
      "connect=0 response=300000 idle=300000 body=67108864 client_body=0 keep_server=true";
  const std::string nginx_policy = "connect=3000 response=0 idle=0 body=1048576 client_body=20000 keep_server=false";
  struct Row {
    std::string host, path, expected;
  };
  for (const Row& row : std::vector<Row>{
           {"demo.local", "/upload/big", slow_policy},
           {"demo.local", "/exact", slow_policy},
           {"anything.example", "/slow", slow_policy},  // rule without a host
           {"demo.local", "/api/x", "unset"},           // an Ingress without annotations
           {"other.local", "/", "unset"},
           {"demo.local", "/nginx", nginx_policy},  // ingress-nginx annotations alone
           {"demo.local", "/elsewhere", slow_policy},  // default backend, from Ingress slow
           {"unknown.host", "/", slow_policy},         // default backend on the catch-all host
       }) {
    EXPECT_EQ(PolicyAt(result.snapshot, row.host, row.path), row.expected) << row.host << row.path;
  }
}

TEST_F(TranslateTest, DefaultBackendCarriesThePolicyOfTheIngressItComesFrom) {
  json older = Ingress("default", "older", {Rule("a.local", {Path("Prefix", "/a", "a")})});
  older["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z";
  older["spec"]["defaultBackend"] = Backend("fallback", 80);
  Add(older);
  json newer = Ingress("default", "newer", {Rule("b.local", {Path("Prefix", "/b", "b")})});
  newer["metadata"]["creationTimestamp"] = "2024-06-01T00:00:00Z";
  newer["spec"]["defaultBackend"] = Backend("other-fallback", 80);  // loses to the older one
  Add(Annotated(newer, {{"sluice.io/proxy-connect-timeout", "7s"}}));
  Result result = Run();
  EXPECT_EQ(Route(result.snapshot, "b.local", "/"), "default/fallback:80");
  EXPECT_EQ(PolicyAt(result.snapshot, "b.local", "/"), "unset");
  EXPECT_EQ(PolicyAt(result.snapshot, "x.local", "/"), "unset");
  EXPECT_EQ(PolicyAt(result.snapshot, "b.local", "/b"),
            "connect=7000 response=0 idle=0 body=0 client_body=0 keep_server=false");
}

// sluice.io/ against ingress-nginx, through the whole translation.
struct PrecedenceRow {
  std::string what;
  json annotations;
  std::string expected;  // PolicyAt of the Ingress's only route
};

class PolicyPrecedenceTest : public TranslateTest, public ::testing::WithParamInterface<PrecedenceRow> {};

TEST_P(PolicyPrecedenceTest, RouteGetsThePolicy) {
  const PrecedenceRow& row = GetParam();
  Add(Annotated(Ingress("default", "web", {Rule("demo.local", {Path("Prefix", "/", "app")})}), row.annotations));
  Result result = Run();
  EXPECT_EQ(PolicyAt(result.snapshot, "demo.local", "/x"), row.expected) << row.what << AllMessages(result);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, PolicyPrecedenceTest,
    ::testing::Values(
        PrecedenceRow{"nginx read timeout covers response and idle",
                      {{"nginx.ingress.kubernetes.io/proxy-read-timeout", "90"}},
                      "connect=0 response=90000 idle=90000 body=0 client_body=0 keep_server=false"},
        PrecedenceRow{"sluice.io wins over nginx",
                      {{"nginx.ingress.kubernetes.io/proxy-read-timeout", "90"},
                       {"sluice.io/proxy-read-timeout", "15s"},
                       {"nginx.ingress.kubernetes.io/proxy-body-size", "1m"},
                       {"sluice.io/proxy-body-size", "2m"}},
                      "connect=0 response=15000 idle=15000 body=2097152 client_body=0 keep_server=false"},
        PrecedenceRow{"response timeout overrides the nginx read timeout for headers only",
                      {{"nginx.ingress.kubernetes.io/proxy-read-timeout", "90"},
                       {"sluice.io/proxy-response-timeout", "500ms"}},
                      "connect=0 response=500 idle=90000 body=0 client_body=0 keep_server=false"},
        PrecedenceRow{"sluice.io unlimited body beats an nginx limit; all defaults leave the policy unset",
                      {{"nginx.ingress.kubernetes.io/proxy-body-size", "1m"},
                       {"sluice.io/proxy-body-size", "0"},
                       {"sluice.io/keep-server-header", "false"}},
                      "unset"},
        PrecedenceRow{"an invalid sluice.io value falls back to the nginx one",
                      {{"sluice.io/proxy-connect-timeout", "forever"},
                       {"nginx.ingress.kubernetes.io/proxy-connect-timeout", "4"}},
                      "connect=4000 response=0 idle=0 body=0 client_body=0 keep_server=false"}),
    [](const ::testing::TestParamInfo<PrecedenceRow>& info) { return "row" + std::to_string(info.index); });

TEST_F(TranslateTest, InvalidAnnotationIsAWarningAndTheRestOfTheIngressApplies) {
  Add(Annotated(Ingress("shop", "web", {Rule("demo.local", {Path("Prefix", "/", "app")})}),
                {{"sluice.io/proxy-body-size", "8q"},
                 {"sluice.io/proxy-read-timeout", 30},  // YAML without quotes: a number
                 {"sluice.io/client-body-timeout", "25h"},
                 {"sluice.io/proxy-connect-timeout", "2"}}),
      "manifests/shop.yaml (document 3)");
  Result result = Run();
  // The route exists and carries the valid annotation.
  EXPECT_EQ(Route(result.snapshot, "demo.local", "/"), "shop/app:80");
  EXPECT_EQ(PolicyAt(result.snapshot, "demo.local", "/"),
            "connect=2000 response=0 idle=0 body=0 client_body=0 keep_server=false");
  EXPECT_TRUE(Messages(result, Severity::kError).empty()) << AllMessages(result);

  std::vector<std::string> annotation_warnings;
  for (const Diagnostic& d : result.diagnostics) {
    if (d.message.rfind("sluice.io/", 0) != 0) continue;  // e.g. the missing Service
    EXPECT_EQ(d.severity, Severity::kWarning);
    EXPECT_EQ(d.kind + " " + d.ns + "/" + d.name, "Ingress shop/web");
    EXPECT_EQ(d.origin, "manifests/shop.yaml (document 3)");
    annotation_warnings.push_back(d.message);
  }
  EXPECT_EQ(annotation_warnings,
            (std::vector<std::string>{
                "sluice.io/proxy-read-timeout: must be a string, write the value in quotes (got number 30); "
                "annotation ignored",
                "sluice.io/proxy-body-size \"8q\": expected a size like 8m, 512k or 1048576; annotation ignored",
                "sluice.io/client-body-timeout \"25h\": expected a timeout like 60 (seconds), 60s, 500ms or 5m; "
                "annotation ignored"}))
      << AllMessages(result);
}

TEST_F(TranslateTest, AnnotationsOfIgnoredIngressesAreNotReported) {
  Add(IngressClass("other", "example.com/other-controller", false));
  Add(Annotated(Ingress("default", "theirs", {Rule("demo.local", {Path("Prefix", "/", "app")})}, "other"),
                {{"nginx.ingress.kubernetes.io/proxy-body-size", "8q"}}));
  Result result = Run();
  for (const Diagnostic& d : result.diagnostics) EXPECT_EQ(d.message.find("proxy-body-size"), std::string::npos);
  EXPECT_EQ(FindHost(result.snapshot, "demo.local"), nullptr);
}

TEST(TranslateDeterminismTest, PoliciesAndTheirWarningsDoNotDependOnOrder) {
  std::vector<json> objects = {
      IngressClass("sluice", "sluice.io/ingress-controller", true),
      Annotated(Ingress("a", "one", {Rule("demo.local", {Path("Prefix", "/one", "app")})}),
                {{"sluice.io/proxy-read-timeout", "bad"}, {"sluice.io/proxy-body-size", "1g"}}),
      Annotated(Ingress("b", "two", {Rule("demo.local", {Path("Prefix", "/two", "app")})}),
                {{"nginx.ingress.kubernetes.io/proxy-body-size", "bad"}, {"sluice.io/keep-server-header", "true"}}),
      Service("a", "app", {{{"name", "http"}, {"port", 80}}}),
      Service("b", "app", {{{"name", "http"}, {"port", 80}}}),
  };
  auto run = [&]() {
    store::Store store;
    for (const json& object : objects) store.Upsert(object, "demo.yaml");
    Result result = Translate(store, {});
    return std::make_pair(SerializeDeterministic(result.snapshot), AllMessages(result));
  };
  auto expected = run();
  EXPECT_NE(expected.second.find("proxy-read-timeout"), std::string::npos);
  std::mt19937 random(7);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(objects.begin(), objects.end(), random);
    EXPECT_EQ(run(), expected) << "round " << round;
  }
}

}  // namespace
}  // namespace sluice::translate

// ---- Rules merged across Ingresses, endpoint conditions, event reasons. ----

namespace sluice::translate {
namespace {

TEST_F(TranslateTest, RulesForOneHostMergeAcrossIngressesLongestFirst) {
  json older = Ingress("team-a", "shop", {Rule("shop.example", {Path("Prefix", "/cart", "cart")})});
  older["metadata"]["creationTimestamp"] = "2023-01-01T00:00:00Z";
  json newer = Ingress("team-b", "shop-api", {Rule("shop.example", {Path("Prefix", "/cart/api", "api"),
                                                                     Path("Prefix", "/", "home")})});
  newer["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z";
  Add(newer);
  Add(older);
  Result result = Run();
  const v1::VirtualHost* host = FindHost(result.snapshot, "shop.example");
  ASSERT_NE(host, nullptr);
  ASSERT_EQ(host->routes_size(), 3);
  EXPECT_EQ(host->routes(0).path(), "/cart/api");
  EXPECT_EQ(host->routes(0).origin(), "team-b/shop-api");
  EXPECT_EQ(host->routes(1).path(), "/cart");
  EXPECT_EQ(host->routes(1).origin(), "team-a/shop");
  EXPECT_EQ(Route(result.snapshot, "shop.example", "/cart/api/x"), "team-b/api:80");
  EXPECT_EQ(Route(result.snapshot, "shop.example", "/cart/x"), "team-a/cart:80");
  EXPECT_EQ(Route(result.snapshot, "shop.example", "/other"), "team-b/home:80");
}

TEST_F(TranslateTest, ExactHostWinsOverWildcardForTheSamePath) {
  Add(Ingress("default", "wild", {Rule("*.example.com", {Path("Prefix", "/", "wild")})}));
  Add(Ingress("default", "exact", {Rule("api.example.com", {Path("Prefix", "/", "exact")})}));
  Result result = Run();
  EXPECT_EQ(Route(result.snapshot, "api.example.com", "/"), "default/exact:80");
  EXPECT_EQ(Route(result.snapshot, "web.example.com", "/"), "default/wild:80");
  EXPECT_EQ(Route(result.snapshot, "a.b.example.com", "/"), "") << "one label only";
  EXPECT_EQ(Route(result.snapshot, "example.com", "/"), "");
}

TEST_F(TranslateTest, TerminatingEndpointsGetNoNewRequests) {
  Add(Service("default", "app", {{{"name", "http"}, {"port", 80}}}));
  Add(Slice("default", "app-1", "app", {{{"name", "http"}, {"port", 8080}}},
            {{{"addresses", {"10.0.0.1"}}, {"conditions", {{"ready", true}}}},
             // What the EndpointSlice controller writes for a terminating pod.
             {{"addresses", {"10.0.0.2"}}, {"conditions", {{"ready", false}, {"serving", true}, {"terminating", true}}}},
             // A hand-written slice saying only "terminating".
             {{"addresses", {"10.0.0.3"}}, {"conditions", {{"terminating", true}}}},
             // Ready and terminating (publishNotReadyAddresses): still sent.
             {{"addresses", {"10.0.0.4"}}, {"conditions", {{"ready", true}, {"terminating", true}}}}}));
  Add(Ingress("default", "web", {Rule("demo.local", {Path("Prefix", "/", "app", "http")})}));
  Result result = Run();
  const v1::Cluster* cluster = FindCluster(result.snapshot, "default/app:http");
  ASSERT_NE(cluster, nullptr);
  EXPECT_EQ(EndpointList(*cluster), (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.4:8080"}));
}

// reason of the first diagnostic whose message contains `needle`, or "none".
std::string ReasonOf(const Result& result, const std::string& needle) {
  for (const Diagnostic& d : result.diagnostics) {
    if (d.message.find(needle) != std::string::npos) return d.reason;
  }
  return "none";
}

TEST_F(TranslateTest, DiagnosticsCarryTheirEventReason) {
  Add(Service("default", "known", {{{"name", "http"}, {"port", 80}}}));
  json older = Ingress("default", "older", {Rule("a.example", {Path("Prefix", "/dup", "known")})});
  older["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z";
  older["spec"]["defaultBackend"] = Backend("known", 80);
  json newer = Ingress("default", "newer",
                       {Rule("a.example", {Path("Prefix", "/dup", "known"), Path("Prefix", "/missing", "ghost"),
                                           Path("Prefix", "/port", "known", "nope"),
                                           {{"pathType", "Prefix"}, {"path", "/res"},
                                            {"backend", {{"resource", {{"kind", "Bucket"}, {"name", "b"}}}}}},
                                           Path("Sometimes", "/bad", "known")})});
  newer["metadata"]["creationTimestamp"] = "2021-01-01T00:00:00Z";
  newer["spec"]["defaultBackend"] = Backend("known", 80);
  newer["spec"]["tls"] = {{{"hosts", {"a.example"}}, {"secretName", "absent"}}};
  Add(older);
  Add(newer);
  Add(Ingress("default", "theirs", {Rule("b.example", {Path("Prefix", "/", "known")})}, "nginx"));
  Result result = Run();
  EXPECT_EQ(ReasonOf(result, "is already routed by Ingress default/older"), "Conflict");
  EXPECT_EQ(ReasonOf(result, "Ingress default/older (older) already provides the default backend"), "Conflict");
  EXPECT_EQ(ReasonOf(result, "Service default/ghost not found"), "ServiceNotFound");
  EXPECT_EQ(ReasonOf(result, "Service default/known has no such port"), "ServicePortNotFound");
  EXPECT_EQ(ReasonOf(result, "resource backends are not supported"), "UnsupportedBackend");
  EXPECT_EQ(ReasonOf(result, "must be Exact, Prefix or ImplementationSpecific"), "InvalidIngress");
  EXPECT_EQ(ReasonOf(result, "Secret default/absent not found"), "SecretNotFound");
  EXPECT_EQ(ReasonOf(result, "is not an IngressClass of controller"), "IngressClassNotHandled");
  // The rest of the newer Ingress still applies: its /res path did not stop /missing.
  EXPECT_EQ(Route(result.snapshot, "a.example", "/missing"), "default/ghost:80");
  for (const Diagnostic& d : result.diagnostics) EXPECT_FALSE(d.reason.empty()) << d.message;
}

}  // namespace
}  // namespace sluice::translate
