#include "controlplane/translate/incremental.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "controlplane/translate/test_manifests.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

json Service(const std::string& name, bool external = false) {
  json spec = {{"ports", {{{"name", "http"}, {"port", 80}}}}};
  if (external) {
    spec["type"] = "ExternalName";
    spec["externalName"] = name + ".example.net";
  }
  return {{"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", {{"name", name}, {"namespace", "ns"}}}, {"spec", spec}};
}

json Slice(const std::string& name, const std::string& service, const std::vector<std::string>& addresses,
           bool some_not_ready) {
  json endpoints = json::array();
  for (size_t i = 0; i < addresses.size(); ++i) {
    bool ready = !(some_not_ready && i == 0);
    endpoints.push_back({{"addresses", {addresses[i]}}, {"conditions", {{"ready", ready}}}});
  }
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata", {{"name", name}, {"namespace", "ns"}, {"labels", {{"kubernetes.io/service-name", service}}}}},
          {"ports", {{{"name", "http"}, {"port", 8080}}}},
          {"endpoints", endpoints}};
}

json Ingress(const std::string& name, const std::string& host, const std::string& service, bool by_name) {
  json port = by_name ? json{{"name", "http"}} : json{{"number", 80}};
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "Ingress"},
          {"metadata", {{"name", name}, {"namespace", "ns"}}},
          {"spec",
           {{"rules",
             {{{"host", host},
               {"http",
                {{"paths",
                  {{{"path", "/"}, {"pathType", "Prefix"}, {"backend", {{"service", {{"name", service}, {"port", port}}}}}}}}}}}}}}}};
}

std::string Describe(const std::vector<Diagnostic>& diagnostics) {
  std::string text;
  for (const Diagnostic& d : diagnostics) text += d.kind + " " + d.ns + "/" + d.name + ": " + d.message + "\n";
  return text;
}

// Random sequences of store changes (mostly endpoint changes, as in a real
// cluster, plus Ingress and Service changes): after every step the
// incremental result must equal a fresh full translation.
TEST(IncrementalTranslatorTest, EqualsFullTranslationOverRandomChanges) {
  std::mt19937 random(20261126);
  auto pick = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
  store::Store store;
  Options options;
  store.Upsert(SluiceIngressClass(/*default_class=*/true), "api");
  for (int s = 0; s < 6; ++s) store.Upsert(Service("svc-" + std::to_string(s), s == 5), "api");
  for (int i = 0; i < 8; ++i) {
    store.Upsert(Ingress("ing-" + std::to_string(i), "h" + std::to_string(i % 5) + ".example", "svc-" + std::to_string(i % 7),
                         i % 2 == 0),
                 "api");
  }
  IncrementalTranslator incremental(options);
  int endpoint_updates = 0;
  for (int step = 0; step < 400; ++step) {
    int what = pick(10);
    std::string service = "svc-" + std::to_string(pick(7));  // svc-6 never exists
    if (what < 6) {  // endpoint change: new addresses, a slice moving Service, or gone
      std::string slice = "slice-" + std::to_string(pick(8));
      if (pick(5) == 0) {
        store.Remove("EndpointSlice", "ns", slice);
      } else {
        std::vector<std::string> addresses;
        for (int a = pick(4); a > 0; --a) addresses.push_back("10.0." + std::to_string(pick(3)) + "." + std::to_string(pick(9)));
        store.Upsert(Slice(slice, service, addresses, pick(3) == 0), "api");
      }
    } else if (what < 8) {
      std::string name = "ing-" + std::to_string(pick(10));
      if (pick(4) == 0) {
        store.Remove("Ingress", "ns", name);
      } else {
        store.Upsert(Ingress(name, "h" + std::to_string(pick(5)) + ".example", service, pick(2) == 0), "api");
      }
    } else if (what < 9) {
      if (pick(3) == 0) {
        store.Remove("Service", "ns", service);
      } else {
        store.Upsert(Service(service, pick(4) == 0), "api");
      }
    }  // else: nothing changed
    const Result& got = incremental.Update(store);
    if (std::string(incremental.last_update_kind()) == "endpoints") ++endpoint_updates;
    Result want = Translate(store, options);
    ASSERT_EQ(SerializeDeterministic(got.snapshot), SerializeDeterministic(want.snapshot))
        << "step " << step << " (" << incremental.last_update_kind() << "):\n"
        << got.snapshot.DebugString() << "\nwant:\n" << want.snapshot.DebugString();
    ASSERT_EQ(Describe(got.diagnostics), Describe(want.diagnostics)) << "step " << step;
  }
  // The fast path was taken (this test is about it).
  EXPECT_GT(endpoint_updates, 100);
}

// A random Ingress drawn from a small world, so that Ingresses collide on
// hosts, paths, Services, certificates and the default backend: canaries,
// TLS (exact, wildcard and fallback), conflicting balancing policies,
// ssl-redirect opt-outs, invalid paths, other namespaces and timestamps.
// `sparse`: many hosts and Services, so that most Ingresses share nothing
// and a change re-translates few of them (the closure's edges matter).
json RandomIngress(const std::function<int(int)>& pick, const std::string& ns, const std::string& name,
                   bool sparse = false) {
  static const char* kHosts[] = {"h0.example", "h1.example", "h2.example", "a.wild.example",
                                 "b.wild.example", "*.wild.example", ""};
  auto random_host = [&](int dense_choices) -> std::string {
    if (!sparse) return kHosts[pick(dense_choices)];
    switch (pick(8)) {
      case 0: return "*.wild.example";
      case 1: return pick(4) == 0 ? "" : "*.other.example";
      case 2: case 3: return "w" + std::to_string(pick(12)) + ".wild.example";
      default: return "h" + std::to_string(pick(40)) + ".example";
    }
  };
  const int services = sparse ? 40 : 7;
  static const char* kPaths[] = {"/", "/api", "/x/", "bad"};
  json metadata = {{"name", name}, {"namespace", ns}};
  if (pick(4) != 0) metadata["creationTimestamp"] = "2024-01-0" + std::to_string(1 + pick(3)) + "T00:00:00Z";
  json annotations = json::object();
  if (pick(5) == 0) annotations["sluice.io/canary"] = "true";
  if (pick(6) == 0) annotations["sluice.io/canary-weight"] = std::to_string(pick(3) * 20);
  if (pick(5) == 0) annotations["sluice.io/load-balance"] = pick(2) == 0 ? "round_robin" : "least_request";
  if (pick(6) == 0) annotations["sluice.io/ssl-redirect"] = "false";
  if (pick(8) == 0) annotations["sluice.io/proxy-read-timeout"] = pick(2) == 0 ? "5s" : "soon";
  if (pick(8) == 0) annotations["sluice.io/health-check-path"] = "/healthz";
  if (pick(6) == 0) {
    annotations["sluice.io/backend-protocol"] = "https";
    annotations["sluice.io/backend-tls-ca-secret"] = "ca-" + std::to_string(pick(2));
  }
  if (pick(7) == 0) {
    annotations["nginx.ingress.kubernetes.io/auth-type"] = "basic";
    annotations["nginx.ingress.kubernetes.io/auth-secret"] = "auth-" + std::to_string(pick(2));
  }
  // Issue 18: aliases and www redirect hosts that collide with rule hosts
  // and with each other, regex Ingresses ("bad" refuses one), force-ssl.
  if (pick(6) == 0) {
    static const char* kAliases[] = {"h0.example", "h1.example", "www.h1.example", "alias.example"};
    annotations["sluice.io/server-alias"] = kAliases[pick(4)];
  }
  if (pick(6) == 0) annotations["sluice.io/from-to-www-redirect"] = "true";
  if (pick(7) == 0) annotations["sluice.io/use-regex"] = "true";
  if (pick(9) == 0) annotations["sluice.io/force-ssl-redirect"] = "true";
  if (!annotations.empty()) metadata["annotations"] = annotations;
  auto backend = [&] {
    json port = pick(2) == 0 ? json{{"name", "http"}} : json{{"number", 80}};
    return json{{"service", {{"name", "svc-" + std::to_string(pick(services))}, {"port", port}}}};
  };
  json spec = json::object();
  json rules = json::array();
  for (int r = pick(3); r > 0; --r) {
    json paths = json::array();
    for (int p = 1 + pick(2); p > 0; --p) {
      paths.push_back({{"path", kPaths[pick(4)]}, {"pathType", pick(3) == 0 ? "Exact" : "Prefix"}, {"backend", backend()}});
    }
    rules.push_back({{"host", random_host(7)}, {"http", {{"paths", paths}}}});
  }
  if (!rules.empty() || pick(3) != 0) spec["rules"] = rules;
  if (pick(sparse ? 60 : 12) == 0) spec["defaultBackend"] = backend();
  if (pick(3) == 0) {
    json tls = {{"secretName", "tls-" + std::to_string(pick(3))}};
    if (pick(4) != 0) tls["hosts"] = json::array({random_host(6)});
    spec["tls"] = json::array({tls});
  }
  return {{"apiVersion", "networking.k8s.io/v1"}, {"kind", "Ingress"}, {"metadata", metadata}, {"spec", spec}};
}

json CaSecret(const std::string& name, bool valid) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", "Opaque"},
          {"metadata", {{"name", name}, {"namespace", "ns"}}},
          {"stringData", {{"ca.crt", valid ? "-----BEGIN CERTIFICATE-----\n" + name + "\n-----END CERTIFICATE-----\n"
                                           : std::string("not pem")}}}};
}

// A basic-auth Secret: an htpasswd file with one user, or (invalid) one
// with a DES crypt user only (refused: the routes answer 503).
json AuthSecret(const std::string& name, bool valid) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", "Opaque"},
          {"metadata", {{"name", name}, {"namespace", "ns"}}},
          {"stringData",
           {{"auth", valid ? name + ":{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n" : std::string("dave:XoHrPzmA7g6Ew\n")}}}};
}

json TlsSecret(const std::string& name, bool valid) {
  json data = {{"tls.crt", "-----BEGIN CERTIFICATE-----\n" + name + "\n-----END CERTIFICATE-----\n"}};
  if (valid) data["tls.key"] = "-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n";
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", "kubernetes.io/tls"},
          {"metadata", {{"name", name}, {"namespace", "ns"}}},
          {"stringData", data}};
}

// Random sequences of Ingress, Service, Secret and endpoint changes over a
// world where Ingresses interact in every way Translate() knows: after every
// step the incremental result equals a fresh full translation, and most
// Ingress changes did not need one.
TEST(IncrementalTranslatorTest, IngressServiceSecretChangesEqualFullTranslation) {
  for (unsigned seed : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u}) {
    const bool sparse = seed > 4;  // 60 Ingresses over 40 Services and ~55 hosts
    const int ingresses = sparse ? 60 : 14, services = sparse ? 40 : 7;
    std::mt19937 random(seed);
    std::function<int(int)> pick = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
    store::Store store;
    Options options;
    store.Upsert(SluiceIngressClass(/*default_class=*/true), "api");
    for (int s = 0; s < services - 1; ++s) store.Upsert(Service("svc-" + std::to_string(s), s == 5), "api");
    for (int t = 0; t < 2; ++t) store.Upsert(TlsSecret("tls-" + std::to_string(t), true), "api");
    auto ingress_ns = [&] { return pick(6) == 0 ? std::string("other") : std::string("ns"); };
    for (int i = 0; i < ingresses; ++i) {
      std::string ns = ingress_ns(), name = "ing-" + std::to_string(i);
      store.Upsert(RandomIngress(pick, ns, name, sparse), "api");
    }
    IncrementalTranslator incremental(options);
    int partial_updates = 0;
    for (int step = 0; step < 300; ++step) {
      int what = pick(10);
      if (what < 5) {
        std::string ns = ingress_ns(), name = "ing-" + std::to_string(pick(ingresses + 2));
        if (pick(5) == 0) {
          store.Remove("Ingress", ns, name);
        } else {
          store.Upsert(RandomIngress(pick, ns, name, sparse), "api");
        }
      } else if (what < 7) {
        std::string service = "svc-" + std::to_string(pick(services));
        if (pick(3) == 0) {
          store.Remove("Service", "ns", service);
        } else {
          store.Upsert(Service(service, pick(4) == 0), "api");
        }
      } else if (what < 8) {
        const int kind = pick(4);  // 0: a backend CA, 1: basic-auth users, else a certificate
        std::string secret = (kind == 0 ? "ca-" : kind == 1 ? "auth-" : "tls-") + std::to_string(pick(3));
        if (pick(3) == 0) {
          store.Remove("Secret", "ns", secret);
        } else {
          bool valid = pick(3) != 0;
          store.Upsert(kind == 0 ? CaSecret(secret, valid) : kind == 1 ? AuthSecret(secret, valid) : TlsSecret(secret, valid),
                       "api");
        }
      } else {
        std::vector<std::string> addresses;
        for (int a = pick(3); a > 0; --a) addresses.push_back("10.0.0." + std::to_string(pick(9)));
        store.Upsert(Slice("slice-" + std::to_string(pick(4)), "svc-" + std::to_string(pick(services)), addresses, false),
                     "api");
      }
      const Result& got = incremental.Update(store);
      if (std::string(incremental.last_update_kind()) == "partial") ++partial_updates;
      Result want = Translate(store, options);
      ASSERT_EQ(SerializeDeterministic(got.snapshot), SerializeDeterministic(want.snapshot))
          << "seed " << seed << " step " << step << " (" << incremental.last_update_kind() << "):\n"
          << got.snapshot.DebugString() << "\nwant:\n" << want.snapshot.DebugString();
      ASSERT_EQ(Describe(got.diagnostics), Describe(want.diagnostics))
          << "seed " << seed << " step " << step << " (" << incremental.last_update_kind() << ")";
    }
    // In so small a world many changes reach the default backend (a full
    // translation); the rest must have been partial.
    EXPECT_GT(partial_updates, 25) << "seed " << seed;
  }
}

// What an Ingress change re-translates: that Ingress and those sharing a
// host or a Service port with it, not the others; and it reports exactly
// the resources that differ.
TEST(IncrementalTranslatorTest, IngressChangeRetranslatesOnlyWhatItTouches) {
  store::Store store;
  store.Upsert(SluiceIngressClass(/*default_class=*/true), "api");
  for (int i = 0; i < 20; ++i) {
    std::string s = "svc-" + std::to_string(i);
    store.Upsert(Service(s), "api");
    store.Upsert(Ingress("ing-" + std::to_string(i), "h" + std::to_string(i) + ".example", s, false), "api");
  }
  // Shares ing-1's host (a conflict on "/": ing-1, older by name, wins).
  store.Upsert(Ingress("ing-1b", "h1.example", "svc-7", false), "api");
  IncrementalTranslator incremental{Options()};
  incremental.Update(store);
  ASSERT_STREQ(incremental.last_update_kind(), "full");

  store.Upsert(Ingress("ing-3", "h3.example", "svc-4", false), "api");  // svc-4 is ing-4's
  incremental.Update(store);
  EXPECT_STREQ(incremental.last_update_kind(), "partial");
  EXPECT_EQ(incremental.last_retranslated(), 2u);  // ing-3, and ing-4 (same cluster now)
  EXPECT_EQ(incremental.last_changes().virtual_hosts, std::vector<std::string>{"h3.example"});
  EXPECT_EQ(incremental.last_changes().removed_clusters, std::vector<std::string>{"ns/svc-3:80"});
  EXPECT_TRUE(incremental.last_changes().clusters.empty());

  store.Remove("Ingress", "ns", "ing-1");
  const Result& result = incremental.Update(store);
  EXPECT_STREQ(incremental.last_update_kind(), "partial");
  // ing-1, ing-1b, and ing-7: ing-1b's path now wins and uses ing-7's cluster.
  EXPECT_EQ(incremental.last_retranslated(), 3u);
  EXPECT_EQ(incremental.last_changes().virtual_hosts, std::vector<std::string>{"h1.example"});
  EXPECT_TRUE(incremental.last_changes().clusters.empty());
  EXPECT_EQ(incremental.last_changes().removed_clusters, std::vector<std::string>{"ns/svc-1:80"});
  EXPECT_EQ(SerializeDeterministic(result.snapshot), SerializeDeterministic(Translate(store, Options()).snapshot));

  store.Upsert(Service("svc-9", true), "api");  // a Service change: its Ingress only
  incremental.Update(store);
  EXPECT_STREQ(incremental.last_update_kind(), "partial");
  EXPECT_EQ(incremental.last_retranslated(), 1u);
  EXPECT_EQ(incremental.last_changes().clusters, std::vector<std::string>{"ns/svc-9:80"});
  EXPECT_TRUE(incremental.last_changes().virtual_hosts.empty());
}

// A wildcard certificate serves every host it covers: claiming or dropping
// it changes Ingresses that share nothing else with the one that changed.
TEST(IncrementalTranslatorTest, WildcardCertificateReachesTheHostsItCovers) {
  store::Store store;
  store.Upsert(SluiceIngressClass(/*default_class=*/true), "api");
  store.Upsert(Service("svc-a"), "api");
  store.Upsert(Service("svc-b"), "api");
  store.Upsert(TlsSecret("wild", true), "api");
  store.Upsert(Ingress("app", "a.wild.example", "svc-a", false), "api");
  json cert = Ingress("cert", "*.wild.example", "svc-b", false);
  store.Upsert(cert, "api");
  IncrementalTranslator incremental{Options()};
  incremental.Update(store);

  cert["spec"]["tls"] = json::array({{{"hosts", {"*.wild.example"}}, {"secretName", "wild"}}});
  store.Upsert(cert, "api");
  const Result& with_tls = incremental.Update(store);
  EXPECT_STREQ(incremental.last_update_kind(), "partial");
  ASSERT_EQ(with_tls.snapshot.virtual_hosts_size(), 2);
  EXPECT_EQ(with_tls.snapshot.virtual_hosts(1).name(), "a.wild.example");
  EXPECT_EQ(with_tls.snapshot.virtual_hosts(1).certificate(), "ns/wild");
  EXPECT_EQ(SerializeDeterministic(with_tls.snapshot), SerializeDeterministic(Translate(store, Options()).snapshot));

  store.Remove("Ingress", "ns", "cert");
  const Result& without = incremental.Update(store);
  ASSERT_EQ(without.snapshot.virtual_hosts_size(), 1);
  EXPECT_EQ(without.snapshot.virtual_hosts(0).certificate(), "");
  EXPECT_EQ(SerializeDeterministic(without.snapshot), SerializeDeterministic(Translate(store, Options()).snapshot));
}

TEST(IncrementalTranslatorTest, EndpointChangeRecomputesOnlyThatServicesClusters) {
  store::Store store;
  store.Upsert(SluiceIngressClass(/*default_class=*/true), "api");
  for (const char* s : {"a", "b"}) {
    store.Upsert(Service(s), "api");
    store.Upsert(Slice(std::string(s) + "-1", s, {"10.0.0.1"}, false), "api");
    store.Upsert(Ingress(std::string("ing-") + s, std::string(s) + ".example", s, false), "api");
  }
  IncrementalTranslator incremental{Options()};
  EXPECT_EQ(incremental.Update(store).snapshot.clusters_size(), 2);
  EXPECT_STREQ(incremental.last_update_kind(), "full");

  store.Upsert(Slice("b-1", "b", {"10.0.0.2"}, false), "api");
  const Result& result = incremental.Update(store);
  EXPECT_STREQ(incremental.last_update_kind(), "endpoints");
  EXPECT_EQ(incremental.refreshed_clusters(), std::vector<std::string>{"ns/b:80"});
  ASSERT_EQ(result.snapshot.clusters_size(), 2);
  EXPECT_EQ(result.snapshot.clusters(1).endpoints(0).address(), "10.0.0.2");

  incremental.Update(store);
  EXPECT_STREQ(incremental.last_update_kind(), "unchanged");
}

}  // namespace
}  // namespace sluice::translate
