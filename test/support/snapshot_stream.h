#pragma once
// Test-only: what the snapshot-stream tests put in a controller's manifests
// folder, and a stand-in for the proxy that records what it would serve.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataplane/discovery/snapshot_client.h"

namespace sluice::testing {

// An IngressClass, a Service "web" with one EndpointSlice whose single
// ready endpoint is `endpoint_address`, and an Ingress for demo.local: one
// Cluster with one endpoint, so that each address is one recognisable state.
std::string OneEndpointManifests(const std::string& endpoint_address);

// The proxy's side of discovery::SnapshotClient: the last state apply()
// accepted (always ACKed).
class ServingState {
 public:
  discovery::ApplyFn Apply();
  // The endpoint of the only Cluster, "" while the state is not one Cluster
  // with one endpoint.
  std::string EndpointAddress();
  int applies();

 private:
  std::mutex mu_;
  std::shared_ptr<const v1::Snapshot> state_;
  int applies_ = 0;
};

}  // namespace sluice::testing
