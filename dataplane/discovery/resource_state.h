#pragma once
// The proxy's copy of the controller's resources, and how a StreamResponse
// changes it. Pure: no gRPC, no threads, so the merge rules are unit-tested
// on their own.
#include <memory>
#include <string>

#include "base/status.h"
#include "dataplane/snapshot/sources.h"
#include "sluice/v1/snapshot.pb.h"
#include "sluice/v1/snapshot_service.pb.h"

namespace sluice::discovery {

class ResourceState {
 public:
  // The state after `response`: a full state replaces everything, a delta
  // upserts `resources` and deletes `removed`. A response that is not
  // internally consistent (a resource without a kind, a name twice, the
  // removal of something this state does not hold) is an error; *this is
  // never modified.
  sluice::Result<ResourceState> Merge(const sluice::v1::StreamResponse& response) const;

  // The complete state as one Snapshot, each kind ordered by name; the
  // caller owns it (and may move from it).
  std::shared_ptr<sluice::v1::Snapshot> ToSnapshot() const;

  // The same state without copying: what snapshot::Compile takes. Shares
  // its nodes with earlier and later states (see persistent_map.h).
  const snapshot::SnapshotSources& sources() const { return sources_; }

  size_t size() const { return sources_.size(); }

 private:
  // Resources are immutable once received and shared between successive
  // states, in maps that share structure: merging a one-Cluster delta into
  // 10,000 hosts copies a few tree nodes, not 10,000 entries.
  snapshot::SnapshotSources sources_;
};

}  // namespace sluice::discovery
