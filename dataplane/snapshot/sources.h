#pragma once
// The controller's resources as the proxy holds them: each one immutable
// and shared, by name, in maps whose successive versions share everything
// that did not change (see persistent_map.h). The proxy's discovery state
// is one of these, and so is what each compiled snapshot was built from.
#include <memory>

#include "dataplane/snapshot/persistent_map.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::snapshot {

template <typename T>
using SharedByName = PersistentMap<std::shared_ptr<const T>>;

struct SnapshotSources {
  SharedByName<v1::VirtualHost> virtual_hosts;
  SharedByName<v1::Cluster> clusters;
  SharedByName<v1::Certificate> certificates;

  size_t size() const { return virtual_hosts.size() + clusters.size() + certificates.size(); }
  // The whole state as one Snapshot, each kind ordered by name. O(size):
  // for the admin view and for callers that want a plain message.
  v1::Snapshot ToSnapshot() const;
};

}  // namespace sluice::snapshot
