#pragma once
// The controller's view of a Snapshot as named, content-hashed resources: the
// unit the stream protocol versions and diffs. Pure functions, no gRPC.
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sluice/v1/snapshot.pb.h"
#include "sluice/v1/snapshot_service.pb.h"

namespace sluice::server {

struct ResourceKey {
  sluice::v1::ResourceType type = sluice::v1::RESOURCE_TYPE_UNSPECIFIED;
  std::string name;
  auto operator<=>(const ResourceKey&) const = default;
};

struct ResourceEntry {
  uint64_t hash = 0;  // FNV-1a of the resource's deterministic serialisation
  sluice::v1::Resource resource;
};

// An immutable desired state. Versions are content addresses, so a restarted
// controller that reads the same manifests announces the same version and a
// proxy can tell it already has it. Entries are immutable and shared between
// successive sets: a publish that changes one Cluster of 11,000 resources
// copies one resource, not all of them.
struct ResourceSet {
  std::string version;  // 16 lower-case hex digits
  std::map<ResourceKey, std::shared_ptr<const ResourceEntry>> resources;
};

// What a proxy has acknowledged: resource -> content hash.
using ResourceHashes = std::map<ResourceKey, uint64_t>;

uint64_t Fnv1a64(std::string_view bytes, uint64_t seed = 0xcbf29ce484222325ULL);

// Splits `snapshot` into resources. A name that occurs twice within one kind
// keeps its first occurrence; each dropped duplicate is described in
// `duplicates` (a translator bug, but the proxy must never see it).
// With `previous`, resources whose content is unchanged share its entries
// (no copy); the result is the same either way.
ResourceSet BuildResourceSet(const sluice::v1::Snapshot& snapshot,
                             std::vector<std::string>* duplicates = nullptr,
                             const ResourceSet* previous = nullptr);

// `base` with these Clusters added or replaced (by name), sharing every
// other entry: what publishing an endpoint change costs, instead of
// rebuilding a set of 11,000 resources.
ResourceSet WithClusters(const ResourceSet& base, const std::vector<sluice::v1::Cluster>& clusters);

ResourceHashes HashesOf(const ResourceSet& set);

// The response that takes a proxy from `acked` to `current`: with
// `acked == nullptr` the full state, otherwise only added/changed resources
// and the refs of removed ones. Version is set; nonce is left to the caller.
sluice::v1::StreamResponse BuildResponse(const ResourceSet& current, const ResourceHashes* acked);

}  // namespace sluice::server
