// CPU cost of the controller's hot path at cluster scale, measured in thread
// CPU time (meaningful on a loaded machine, unlike wall time): the store
// bench/kube_bench_gen.py describes (N Ingresses x 2 paths over M Services x 3
// endpoints), a full translation, the incremental translator after one
// Ingress change and after one endpoint change, and the snapshot server's
// resource-set build.
// Usage: translate_bench [--ingresses 10000] [--services 1000] [--rounds 5]
//                        [--write-snapshot FILE]
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "controlplane/server/resource_set.h"
#include "controlplane/store/store.h"
#include "controlplane/translate/incremental.h"
#include "controlplane/translate/translate.h"

namespace {

using nlohmann::json;

double CpuMs() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

// Best of `rounds` (the least disturbed by other processes).
double Measure(int rounds, const std::function<void()>& work) {
  double best = 1e18;
  for (int i = 0; i < rounds; ++i) {
    double start = CpuMs();
    work();
    best = std::min(best, CpuMs() - start);
  }
  return best;
}

// Best of `rounds` of `work`, timing only the part after `prepare` (e.g.
// the translator's Update, not building and storing the changed object).
double MeasureAfter(int rounds, const std::function<void()>& prepare, const std::function<void()>& work) {
  double best = 1e18;
  for (int i = 0; i < rounds; ++i) {
    prepare();
    double start = CpuMs();
    work();
    best = std::min(best, CpuMs() - start);
  }
  return best;
}

json Ingress(int i, int services, const std::string& extra_host = "") {
  int s = i % services;
  std::string ns = "team-" + std::to_string(s % 10), svc = "svc-" + std::to_string(s);
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "2024-01-01T00:%02d:%02dZ", (i / 60) % 60, i % 60);
  json paths = json::array(
      {{{"path", "/"}, {"pathType", "Prefix"}, {"backend", {{"service", {{"name", svc}, {"port", {{"number", 80}}}}}}}},
       {{"path", "/api"},
        {"pathType", "Prefix"},
        {"backend", {{"service", {{"name", svc}, {"port", {{"name", "http"}}}}}}}}});
  json rules = json::array({{{"host", "host-" + std::to_string(i) + ".bench.example"}, {"http", {{"paths", paths}}}}});
  if (!extra_host.empty()) rules.push_back({{"host", extra_host}, {"http", {{"paths", paths}}}});
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "Ingress"},
          {"metadata", {{"name", "ing-" + std::to_string(i)}, {"namespace", ns}, {"creationTimestamp", stamp}}},
          {"spec", {{"ingressClassName", "sluice"}, {"rules", rules}}}};
}

json Slice(int s, int first_octet) {
  std::string ns = "team-" + std::to_string(s % 10), name = "svc-" + std::to_string(s);
  json endpoints = json::array();
  for (int e = 0; e < 3; ++e) {
    endpoints.push_back({{"addresses", {std::to_string(first_octet) + "." + std::to_string(s / 250 + 1) + "." +
                                        std::to_string(s % 250) + "." + std::to_string(e + 1)}},
                         {"conditions", {{"ready", true}, {"serving", true}, {"terminating", false}}},
                         {"zone", "zone-" + std::to_string(e)}});
  }
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"addressType", "IPv4"},
          {"metadata", {{"name", name + "-x7k2p"}, {"namespace", ns}, {"labels", {{"kubernetes.io/service-name", name}}}}},
          {"ports", {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}}},
          {"endpoints", endpoints}};
}

void Load(sluice::store::Store& store, int ingresses, int services) {
  store.Upsert({{"apiVersion", "networking.k8s.io/v1"},
                {"kind", "IngressClass"},
                {"metadata", {{"name", "sluice"}, {"annotations", {{"ingressclass.kubernetes.io/is-default-class", "true"}}}}},
                {"spec", {{"controller", "sluice.io/ingress-controller"}}}},
               "api");
  for (int s = 0; s < services; ++s) {
    std::string ns = "team-" + std::to_string(s % 10), name = "svc-" + std::to_string(s);
    store.Upsert({{"apiVersion", "v1"},
                  {"kind", "Service"},
                  {"metadata", {{"name", name}, {"namespace", ns}}},
                  {"spec", {{"type", "ClusterIP"}, {"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}},
                 "api");
    store.Upsert(Slice(s, 10), "api");
  }
  for (int i = 0; i < ingresses; ++i) store.Upsert(Ingress(i, services), "api");
}

}  // namespace

int main(int argc, char** argv) {
  int ingresses = 10000, services = 1000, rounds = 5;
  std::string write_snapshot;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--ingresses") ingresses = std::atoi(argv[i + 1]);
    if (flag == "--services") services = std::atoi(argv[i + 1]);
    if (flag == "--rounds") rounds = std::atoi(argv[i + 1]);
    if (flag == "--write-snapshot") write_snapshot = argv[i + 1];
  }
  using namespace sluice;
  store::Store store;
  double load_ms = Measure(1, [&] { Load(store, ingresses, services); });
  std::printf("store load (%zu objects): %.1f ms CPU\n", store.size(), load_ms);

  translate::Options options;
  translate::Result full;
  std::printf("full Translate: %.1f ms CPU\n", Measure(rounds, [&] { full = translate::Translate(store, options); }));
  std::printf("  -> %d virtual hosts, %d clusters, %zu diagnostics, %zu bytes\n", full.snapshot.virtual_hosts_size(),
              full.snapshot.clusters_size(), full.diagnostics.size(), translate::SerializeDeterministic(full.snapshot).size());
  std::printf("SerializeDeterministic: %.1f ms CPU\n",
              Measure(rounds, [&] { (void)translate::SerializeDeterministic(full.snapshot); }));
  server::ResourceSet set;
  std::printf("BuildResourceSet (from scratch): %.1f ms CPU\n",
              Measure(rounds, [&] { set = server::BuildResourceSet(full.snapshot); }));
  std::printf("BuildResourceSet (reusing the previous set): %.1f ms CPU\n",
              Measure(rounds, [&] { (void)server::BuildResourceSet(full.snapshot, nullptr, &set); }));

  translate::IncrementalTranslator incremental(options);
  std::printf("IncrementalTranslator first run: %.1f ms CPU\n", Measure(1, [&] { (void)incremental.Update(store); }));
  int flip = 0;
  double endpoint_ms = Measure(rounds, [&] {
    store.Upsert(Slice(7, (++flip % 2) ? 11 : 10), "api");
    (void)incremental.Update(store);
  });
  std::printf("endpoint change: Upsert + IncrementalTranslator::Update: %.2f ms CPU (%s)\n", endpoint_ms,
              incremental.last_update_kind());
  // What publishing a change costs the snapshot server: the change's
  // resources hashed into a set sharing everything else, then one proxy's
  // delta against the set it acknowledged.
  auto publish_cost = [&](const char* what) {
    const translate::SnapshotChanges& names = incremental.last_changes();
    const v1::Snapshot& snapshot = incremental.result().snapshot;
    std::vector<server::ResourceUpdate> updates;
    auto add = [&](const auto& all, const std::vector<std::string>& wanted, v1::ResourceType type, auto setter) {
      for (const std::string& name : wanted) {
        for (const auto& message : all) {
          if (message.name() != name) continue;
          server::ResourceUpdate& update = updates.emplace_back();
          update.key = {type, name};
          setter(update.resource.emplace(), message);
        }
      }
    };
    add(snapshot.virtual_hosts(), names.virtual_hosts, v1::VIRTUAL_HOST,
        [](v1::Resource& r, const v1::VirtualHost& m) { *r.mutable_virtual_host() = m; });
    add(snapshot.clusters(), names.clusters, v1::CLUSTER, [](v1::Resource& r, const v1::Cluster& m) { *r.mutable_cluster() = m; });
    for (const std::string& name : names.removed_virtual_hosts) updates.push_back({{v1::VIRTUAL_HOST, name}, {}});
    for (const std::string& name : names.removed_clusters) updates.push_back({{v1::CLUSTER, name}, {}});
    server::ResourceSet next;
    std::printf("  %s publish: WithUpdates (%zu resources): %.3f ms CPU\n", what, updates.size(),
                Measure(rounds, [&] { next = server::WithUpdates(set, updates); }));
    size_t bytes = 0;
    const double delta_ms = Measure(rounds, [&] { bytes = server::BuildResponse(next, set).ByteSizeLong(); });
    std::printf("  %s publish: BuildResponse (delta from the acked set) per proxy: %.3f ms CPU (%zu bytes)\n", what,
                delta_ms, bytes);
    std::printf("  %s publish, before: HashesOf + BuildResponse (hash walk) per proxy: %.2f ms CPU\n", what,
                Measure(rounds, [&] {
                  server::ResourceHashes acked = server::HashesOf(set);
                  (void)server::BuildResponse(next, &acked);
                }));
    set = next;
  };
  set = server::BuildResourceSet(incremental.result().snapshot);
  store.Upsert(Slice(7, (++flip % 2) ? 11 : 10), "api");
  (void)incremental.Update(store);
  publish_cost("endpoint change");

  // An Ingress change: host-3's Ingress gains a host (re-translates it and
  // the Ingresses sharing its Service port).
  double ingress_ms = Measure(rounds, [&] {
    store.Upsert(Ingress(3, services, "changed-" + std::to_string(++flip) + ".bench.example"), "api");
    (void)incremental.Update(store);
  });
  std::printf("Ingress change: Upsert + IncrementalTranslator::Update: %.2f ms CPU (%s, %zu Ingresses re-translated)\n",
              ingress_ms, incremental.last_update_kind(), incremental.last_retranslated());
  std::printf("Ingress change: IncrementalTranslator::Update alone: %.2f ms CPU\n",
              MeasureAfter(
                  rounds,
                  [&] { store.Upsert(Ingress(3, services, "changed-" + std::to_string(++flip) + ".bench.example"), "api"); },
                  [&] { (void)incremental.Update(store); }));
  set = server::BuildResourceSet(incremental.result().snapshot);
  store.Upsert(Ingress(3, services, "changed-" + std::to_string(++flip) + ".bench.example"), "api");
  (void)incremental.Update(store);
  publish_cost("Ingress change");
  bool same = translate::SerializeDeterministic(incremental.result().snapshot) ==
              translate::SerializeDeterministic(translate::Translate(store, options).snapshot);

  // A Service change (a port added): its Ingresses are re-translated.
  int service_flip = 0;  // odd: a port more than the stored Service has, so every round is a change
  double service_ms = Measure(rounds, [&] {
    json ports = json::array({{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}});
    if (++service_flip % 2) ports.push_back({{"name", "metrics"}, {"port", 9090}});
    store.Upsert({{"apiVersion", "v1"},
                  {"kind", "Service"},
                  {"metadata", {{"name", "svc-7"}, {"namespace", "team-7"}}},
                  {"spec", {{"type", "ClusterIP"}, {"ports", ports}}}},
                 "api");
    (void)incremental.Update(store);
  });
  std::printf("Service change: Upsert + IncrementalTranslator::Update: %.2f ms CPU (%s, %zu Ingresses re-translated)\n",
              service_ms, incremental.last_update_kind(), incremental.last_retranslated());
  same = same && translate::SerializeDeterministic(incremental.result().snapshot) ==
                     translate::SerializeDeterministic(translate::Translate(store, options).snapshot);
  std::printf("incremental == full: %s\n", same ? "yes" : "NO");

  if (!write_snapshot.empty()) {
    std::ofstream(write_snapshot, std::ios::binary) << translate::SerializeDeterministic(full.snapshot);
    std::printf("snapshot written to %s\n", write_snapshot.c_str());
  }
  return same ? 0 : 1;
}
