#pragma once
// The controller's view of a Snapshot as named, content-hashed resources: the
// unit the stream protocol versions and diffs. Pure functions, no gRPC.
#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
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
  uint64_t hash = 0;  // FNV-1a of the resource's type and deterministic serialisation
  sluice::v1::Resource resource;
};

// An immutable desired state. Versions are content addresses, so a restarted
// controller that reads the same manifests announces the same version and a
// proxy can tell it already has it.
//
// Persistent: the resources are spread over kBuckets immutable maps by a
// hash of their key, and a set derived from another (WithUpdates) shares
// every bucket and entry it did not change. Publishing one changed resource
// of 12,000 copies one bucket of ~50 pointers, not the whole map; the delta
// for a proxy compares bucket pointers and walks only the buckets that
// differ. The version is a sum over the entries, updated in O(change).
struct ResourceSet {
  static constexpr size_t kBuckets = 256;
  using Bucket = std::map<ResourceKey, std::shared_ptr<const ResourceEntry>>;

  ResourceSet();

  std::string version;  // 16 lower-case hex digits

  size_t size() const { return size_; }
  const ResourceEntry* Find(const ResourceKey& key) const;
  // Every entry, ordered by key: O(n log n), for full states and views.
  std::vector<std::pair<ResourceKey, std::shared_ptr<const ResourceEntry>>> Sorted() const;

  // Internals for the functions below.
  std::array<std::shared_ptr<const Bucket>, kBuckets> buckets;
  uint64_t entry_sum = 0;  // sum of Mix(entry hash): the version before formatting
  size_t size_ = 0;
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

// One resource added or replaced (`resource` holds its virtual_host, cluster
// or certificate), or removed (`resource` empty).
struct ResourceUpdate {
  ResourceKey key;
  std::optional<sluice::v1::Resource> resource;
};

// `base` with `updates` applied in order, sharing everything else: what
// publishing a small change costs (O(updates)), instead of rebuilding a set
// of 12,000 resources. An update to the content already there changes
// nothing (same version).
ResourceSet WithUpdates(const ResourceSet& base, std::vector<ResourceUpdate> updates);

// `base` with these Clusters added or replaced (by name).
ResourceSet WithClusters(const ResourceSet& base, const std::vector<sluice::v1::Cluster>& clusters);

ResourceHashes HashesOf(const ResourceSet& set);

// The response that takes a proxy from `acked` to `current`: with
// `acked == nullptr` the full state, otherwise only added/changed resources
// and the refs of removed ones. Version is set; nonce is left to the caller.
sluice::v1::StreamResponse BuildResponse(const ResourceSet& current, const ResourceHashes* acked);
// The same from the set the proxy acknowledged: O(buckets + what differs).
sluice::v1::StreamResponse BuildResponse(const ResourceSet& current, const ResourceSet& acked);

}  // namespace sluice::server
