#include "controlplane/translate/incremental.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include <nlohmann/json.hpp>

namespace sluice::translate {
namespace {

using nlohmann::json;

json IngressClass() {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "IngressClass"},
          {"metadata", {{"name", "sluice"}, {"annotations", {{"ingressclass.kubernetes.io/is-default-class", "true"}}}}},
          {"spec", {{"controller", "sluice.io/ingress-controller"}}}};
}

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
  store.Upsert(IngressClass(), "api");
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

TEST(IncrementalTranslatorTest, EndpointChangeRecomputesOnlyThatServicesClusters) {
  store::Store store;
  store.Upsert(IngressClass(), "api");
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
