// CPU cost of applying the controller's responses in the proxy, in thread
// CPU time, as sluice-proxy does it: ResourceState::Merge, then
// snapshot::Compile(state.sources(), ..., previous), then dropping the
// replaced snapshot. First the full state of a large snapshot (written by
// //controlplane/translate:translate_bench --write-snapshot FILE), then one
// small delta of each kind against it: an endpoint change in one Cluster,
// one VirtualHost changed, added and removed; and the full state re-sent
// (a reconnect), which shares nothing with the state it replaces.
// Usage: apply_bench SNAPSHOT_FILE [--rounds N]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane/discovery/resource_state.h"
#include "dataplane/health/registry.h"
#include "dataplane/snapshot/compiled_snapshot.h"

namespace {

using namespace sluice;

double CpuMs() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

struct Times {
  std::vector<double> merge, compile, release;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double Best(const std::vector<double>& v) { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }

// Applies `response` to `base` (compiled as `base_compiled`) `rounds` times,
// each from the same starting point, as the proxy would apply it once.
Times Apply(const discovery::ResourceState& base, const std::shared_ptr<const snapshot::CompiledSnapshot>& base_compiled,
            const v1::StreamResponse& response, health::HealthRegistry& registry, int rounds) {
  Times times;
  for (int i = 0; i < rounds; ++i) {
    double start = CpuMs();
    auto merged = base.Merge(response);
    double merged_at = CpuMs();
    if (!merged.ok()) {
      std::fprintf(stderr, "merge failed: %s\n", merged.status().message().c_str());
      std::exit(1);
    }
    auto compiled = snapshot::Compile(merged->sources(), response.version(), &registry, snapshot::CompileOptions(),
                                      base_compiled.get());
    double compiled_at = CpuMs();
    if (!compiled.ok()) {
      std::fprintf(stderr, "compile failed: %s\n", compiled.status().message().c_str());
      std::exit(1);
    }
    // What becomes garbage once the new version replaces the old one: the
    // nodes and objects the new one does not share.
    compiled->reset();
    *merged = discovery::ResourceState();
    times.merge.push_back(merged_at - start);
    times.compile.push_back(compiled_at - merged_at);
    times.release.push_back(CpuMs() - compiled_at);
  }
  return times;
}

void Print(const char* what, const Times& t) {
  std::vector<double> total;
  for (size_t i = 0; i < t.merge.size(); ++i) total.push_back(t.merge[i] + t.compile[i] + t.release[i]);
  std::printf("%-34s merge %7.3f  compile %7.3f  release %7.3f  total %7.3f ms (median; best %.3f)\n", what,
              Median(t.merge), Median(t.compile), Median(t.release), Median(total), Best(total));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: apply_bench SNAPSHOT_FILE [--rounds N]\n");
    return 2;
  }
  int rounds = argc >= 4 ? std::atoi(argv[3]) : 21;
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  v1::Snapshot snapshot;
  if (!snapshot.ParseFromString(bytes.str()) || snapshot.virtual_hosts_size() < 2 || snapshot.clusters_size() < 1) {
    std::fprintf(stderr, "cannot parse %s (or it has no hosts)\n", argv[1]);
    return 1;
  }
  v1::StreamResponse full;
  full.set_full_state(true);
  full.set_version("v1");
  for (const auto& host : snapshot.virtual_hosts()) *full.add_resources()->mutable_virtual_host() = host;
  for (const auto& cluster : snapshot.clusters()) *full.add_resources()->mutable_cluster() = cluster;
  for (const auto& certificate : snapshot.certificates()) *full.add_resources()->mutable_certificate() = certificate;
  std::printf("snapshot: %d virtual hosts, %d clusters, %d certificates, %zu bytes; CPU ms per apply, %d rounds\n",
              snapshot.virtual_hosts_size(), snapshot.clusters_size(), snapshot.certificates_size(),
              bytes.str().size(), rounds);

  health::HealthRegistry registry;
  discovery::ResourceState empty;
  Times first = Apply(empty, nullptr, full, registry, std::max(1, rounds / 7));
  Print("full state (first snapshot)", first);
  discovery::ResourceState state = *empty.Merge(full);
  std::shared_ptr<const snapshot::CompiledSnapshot> compiled = *snapshot::Compile(state.sources(), "v1", &registry);

  v1::StreamResponse endpoint;
  endpoint.set_version("v2");
  v1::Cluster changed_cluster = snapshot.clusters(snapshot.clusters_size() / 2);
  if (changed_cluster.endpoints_size() > 0) {
    changed_cluster.mutable_endpoints(0)->set_port(changed_cluster.endpoints(0).port() % 60000 + 1);
  }
  *endpoint.add_resources()->mutable_cluster() = changed_cluster;
  Print("delta: one Cluster's endpoints", Apply(state, compiled, endpoint, registry, rounds));

  const v1::VirtualHost& middle = snapshot.virtual_hosts(snapshot.virtual_hosts_size() / 2);
  v1::StreamResponse host_changed;
  host_changed.set_version("v2");
  v1::VirtualHost changed_host = middle;
  if (changed_host.routes_size() > 0) changed_host.mutable_routes(0)->set_path("/changed-by-apply-bench");
  *host_changed.add_resources()->mutable_virtual_host() = changed_host;
  Print("delta: one VirtualHost changed", Apply(state, compiled, host_changed, registry, rounds));

  v1::StreamResponse host_added;
  host_added.set_version("v2");
  v1::VirtualHost added_host = middle;
  added_host.set_name("added-by-apply-bench.example");
  *host_added.add_resources()->mutable_virtual_host() = added_host;
  Print("delta: one VirtualHost added", Apply(state, compiled, host_added, registry, rounds));

  v1::StreamResponse host_removed;
  host_removed.set_version("v2");
  v1::ResourceRef* ref = host_removed.add_removed();
  ref->set_type(v1::VIRTUAL_HOST);
  ref->set_name(middle.name());
  Print("delta: one VirtualHost removed", Apply(state, compiled, host_removed, registry, rounds));

  full.set_version("v2");
  Print("full state again (reconnect)", Apply(state, compiled, full, registry, std::max(1, rounds / 7)));
  return 0;
}
