#include "dataplane/snapshot/sources.h"

namespace sluice::snapshot {
namespace {

template <typename T, typename Add>
void AddSorted(const SharedByName<T>& resources, Add add) {
  for (const std::string& name : resources.SortedKeys()) *add() = **resources.Find(name);
}

}  // namespace

v1::Snapshot SnapshotSources::ToSnapshot() const {
  v1::Snapshot snapshot;
  snapshot.mutable_virtual_hosts()->Reserve(static_cast<int>(virtual_hosts.size()));
  snapshot.mutable_clusters()->Reserve(static_cast<int>(clusters.size()));
  AddSorted(virtual_hosts, [&snapshot] { return snapshot.add_virtual_hosts(); });
  AddSorted(clusters, [&snapshot] { return snapshot.add_clusters(); });
  AddSorted(certificates, [&snapshot] { return snapshot.add_certificates(); });
  return snapshot;
}

}  // namespace sluice::snapshot
