// CPU cost of applying the controller's responses in the proxy, in thread
// CPU time: the full state of a large snapshot (written by
// //controlplane/translate:translate_bench --write-snapshot FILE) and then
// a one-Cluster delta, through ResourceState::Merge, ToSnapshot and
// snapshot::Compile as proxy_main does.
// Usage: apply_bench SNAPSHOT_FILE [--rounds 5]
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "dataplane/discovery/resource_state.h"
#include "dataplane/health/registry.h"
#include "dataplane/snapshot/compiled_snapshot.h"

namespace {

double CpuMs() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

double Measure(int rounds, const std::function<void()>& work) {
  double best = 1e18;
  for (int i = 0; i < rounds; ++i) {
    double start = CpuMs();
    work();
    best = std::min(best, CpuMs() - start);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: apply_bench SNAPSHOT_FILE [--rounds N]\n");
    return 2;
  }
  int rounds = argc >= 4 ? std::atoi(argv[3]) : 5;
  using namespace sluice;
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  v1::Snapshot snapshot;
  if (!snapshot.ParseFromString(bytes.str())) {
    std::fprintf(stderr, "cannot parse %s\n", argv[1]);
    return 1;
  }
  v1::StreamResponse full;
  full.set_full_state(true);
  full.set_version("v1");
  for (const auto& host : snapshot.virtual_hosts()) *full.add_resources()->mutable_virtual_host() = host;
  for (const auto& cluster : snapshot.clusters()) *full.add_resources()->mutable_cluster() = cluster;
  for (const auto& certificate : snapshot.certificates()) *full.add_resources()->mutable_certificate() = certificate;
  std::printf("snapshot: %d virtual hosts, %d clusters, %zu bytes\n", snapshot.virtual_hosts_size(),
              snapshot.clusters_size(), bytes.str().size());

  health::HealthRegistry registry;
  discovery::ResourceState empty, state;
  std::printf("Merge(full state): %.1f ms CPU\n", Measure(rounds, [&] { state = *empty.Merge(full); }));
  std::shared_ptr<v1::Snapshot> desired;
  std::printf("ToSnapshot: %.1f ms CPU\n", Measure(rounds, [&] { desired = state.ToSnapshot(); }));
  std::shared_ptr<const snapshot::CompiledSnapshot> compiled;
  std::printf("Compile (of a copy): %.1f ms CPU\n", Measure(rounds, [&] {
                compiled = *snapshot::Compile(*desired, "v1", &registry);
              }));
  v1::StreamResponse delta;
  delta.set_version("v2");
  v1::Cluster changed = snapshot.clusters(snapshot.clusters_size() / 2);
  if (changed.endpoints_size() > 0) changed.mutable_endpoints(0)->set_port(changed.endpoints(0).port() + 1);
  *delta.add_resources()->mutable_cluster() = changed;
  std::printf("delta of %zu bytes:\n", delta.ByteSizeLong());
  discovery::ResourceState next;
  double merge_ms = Measure(rounds, [&] { next = *state.Merge(delta); });
  // As proxy_main does: a fresh snapshot per apply, moved into Compile,
  // which reuses what did not change in the snapshot it replaces (v1).
  const std::shared_ptr<const snapshot::CompiledSnapshot> v1_compiled = compiled;
  double to_snapshot_ms = 0, compile_ms = 1e18, release_ms = 1e18;
  for (int i = 0; i < rounds; ++i) {
    // Freeing the snapshot that the new one replaces (in the proxy: on
    // whichever thread drops the last reference), measured on its own.
    double release_start = CpuMs();
    if (compiled != v1_compiled) {
      compiled.reset();
      release_ms = std::min(release_ms, CpuMs() - release_start);
    }
    double start = CpuMs();
    desired = next.ToSnapshot();
    double built = CpuMs();
    compiled = *snapshot::Compile(std::move(*desired), "v2", &registry, snapshot::CompileOptions(), v1_compiled.get());
    to_snapshot_ms = i == 0 ? built - start : std::min(to_snapshot_ms, built - start);
    compile_ms = std::min(compile_ms, CpuMs() - built);
  }
  std::printf("  Merge: %.1f ms, ToSnapshot: %.1f ms, Compile (incremental): %.1f ms CPU; total %.1f ms\n", merge_ms,
              to_snapshot_ms, compile_ms, merge_ms + to_snapshot_ms + compile_ms);
  std::printf("  freeing the replaced snapshot: %.1f ms CPU\n", release_ms);
  return 0;
}
