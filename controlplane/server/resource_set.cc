#include "controlplane/server/resource_set.h"

#include <algorithm>
#include <cstdio>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace sluice::server {
namespace {

using sluice::v1::Resource;
using Bucket = ResourceSet::Bucket;

uint64_t FoldLength(uint64_t hash, uint64_t length) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return Fnv1a64(std::string_view(bytes, sizeof bytes), hash);
}

std::string Hex16(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

// splitmix64's finaliser: entry hashes are summed, so each is spread first.
uint64_t Mix(uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

// The version depends on the set of entries only (a sum does not see
// order), so it is the same however the set was built.
std::string VersionOf(uint64_t entry_sum, size_t size) {
  return Hex16(Mix(FoldLength(Fnv1a64("sluice.v1"), entry_sum) ^ Mix(size)));
}

size_t BucketOf(const ResourceKey& key) {
  return Fnv1a64(key.name, static_cast<uint64_t>(key.type) * 0x100000001b3ULL + 0xcbf29ce484222325ULL) %
         ResourceSet::kBuckets;
}

const std::shared_ptr<const Bucket>& EmptyBucket() {
  static const auto* empty = new std::shared_ptr<const Bucket>(std::make_shared<const Bucket>());
  return *empty;
}

// The type is part of the hash: a host and a cluster with the same bytes
// are still different resources. `bytes` is scratch space.
uint64_t ContentHash(sluice::v1::ResourceType type, const google::protobuf::Message& message, std::string& bytes) {
  bytes.clear();
  {
    google::protobuf::io::StringOutputStream output(&bytes);
    google::protobuf::io::CodedOutputStream coded(&output);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return FoldLength(Fnv1a64(bytes, Fnv1a64(sluice::v1::ResourceType_Name(type))), bytes.size());
}

const google::protobuf::Message* Payload(const Resource& resource) {
  if (resource.has_virtual_host()) return &resource.virtual_host();
  if (resource.has_cluster()) return &resource.cluster();
  if (resource.has_certificate()) return &resource.certificate();
  return nullptr;
}

// Builds buckets in place while they are exclusively ours: `fresh` marks
// the buckets already copied from the base.
class Builder {
 public:
  explicit Builder(ResourceSet& set) : set_(set) {}

  Bucket& Writable(size_t index) {
    if (!fresh_[index]) {
      set_.buckets[index] = std::make_shared<const Bucket>(*set_.buckets[index]);
      fresh_[index] = true;
    }
    return const_cast<Bucket&>(*set_.buckets[index]);  // ours alone: just copied
  }

  void Put(const ResourceKey& key, std::shared_ptr<const ResourceEntry> entry) {
    const size_t index = BucketOf(key);
    const Bucket& current = *set_.buckets[index];
    auto found = current.find(key);
    if (found != current.end()) {
      if (found->second->hash == entry->hash) return;
      set_.entry_sum -= Mix(found->second->hash);
      --set_.size_;
    }
    set_.entry_sum += Mix(entry->hash);
    ++set_.size_;
    Writable(index)[key] = std::move(entry);
  }

  void Remove(const ResourceKey& key) {
    const size_t index = BucketOf(key);
    auto found = set_.buckets[index]->find(key);
    if (found == set_.buckets[index]->end()) return;
    set_.entry_sum -= Mix(found->second->hash);
    --set_.size_;
    Writable(index).erase(key);
  }

 private:
  ResourceSet& set_;
  std::array<bool, ResourceSet::kBuckets> fresh_{};
};

// One kind's messages into `set`, each hashed over its deterministic
// serialisation; an entry of `previous` with the same name and bytes is
// shared instead of copied.
template <typename Message>
void AddAll(const google::protobuf::RepeatedPtrField<Message>& messages,
            sluice::v1::ResourceType type, Message* (Resource::*mutable_field)(),
            const ResourceSet* previous, ResourceSet& set, Builder& builder, std::vector<std::string>* duplicates) {
  std::string bytes;
  for (const Message& message : messages) {
    ResourceKey key{type, message.name()};
    const size_t index = BucketOf(key);
    if (set.buckets[index]->count(key)) {
      if (duplicates != nullptr) {
        duplicates->push_back(sluice::v1::ResourceType_Name(type) + " \"" + message.name() +
                              "\" occurs more than once; keeping the first");
      }
      continue;
    }
    const uint64_t hash = ContentHash(type, message, bytes);
    std::shared_ptr<const ResourceEntry> shared;
    if (previous != nullptr) {
      auto known = previous->buckets[index]->find(key);
      if (known != previous->buckets[index]->end() && known->second->hash == hash) shared = known->second;
    }
    if (shared == nullptr) {
      auto entry = std::make_shared<ResourceEntry>();
      entry->hash = hash;
      *(entry->resource.*mutable_field)() = message;
      shared = std::move(entry);
    }
    set.entry_sum += Mix(hash);
    ++set.size_;
    builder.Writable(index).emplace(std::move(key), std::move(shared));
  }
}

}  // namespace

ResourceSet::ResourceSet() { buckets.fill(EmptyBucket()); }

const ResourceEntry* ResourceSet::Find(const ResourceKey& key) const {
  const Bucket& bucket = *buckets[BucketOf(key)];
  auto found = bucket.find(key);
  return found == bucket.end() ? nullptr : found->second.get();
}

std::vector<std::pair<ResourceKey, std::shared_ptr<const ResourceEntry>>> ResourceSet::Sorted() const {
  std::vector<std::pair<ResourceKey, std::shared_ptr<const ResourceEntry>>> all;
  all.reserve(size_);
  for (const auto& bucket : buckets) all.insert(all.end(), bucket->begin(), bucket->end());
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return all;
}

uint64_t Fnv1a64(std::string_view bytes, uint64_t seed) {
  uint64_t hash = seed;
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

ResourceSet BuildResourceSet(const sluice::v1::Snapshot& snapshot,
                             std::vector<std::string>* duplicates, const ResourceSet* previous) {
  ResourceSet set;
  Builder builder(set);
  AddAll(snapshot.virtual_hosts(), sluice::v1::VIRTUAL_HOST, &Resource::mutable_virtual_host, previous, set,
         builder, duplicates);
  AddAll(snapshot.clusters(), sluice::v1::CLUSTER, &Resource::mutable_cluster, previous, set, builder, duplicates);
  AddAll(snapshot.certificates(), sluice::v1::CERTIFICATE, &Resource::mutable_certificate, previous, set, builder,
         duplicates);
  if (previous != nullptr) {
    // Buckets whose entries are all the previous ones: share the bucket too,
    // so the next delta skips it by pointer.
    for (size_t index = 0; index < ResourceSet::kBuckets; ++index) {
      const Bucket& mine = *set.buckets[index];
      const Bucket& theirs = *previous->buckets[index];
      if (mine.size() != theirs.size()) continue;
      if (std::equal(mine.begin(), mine.end(), theirs.begin(),
                     [](const auto& a, const auto& b) { return a.first == b.first && a.second == b.second; })) {
        set.buckets[index] = previous->buckets[index];
      }
    }
  }
  set.version = VersionOf(set.entry_sum, set.size_);
  return set;
}

ResourceSet WithUpdates(const ResourceSet& base, std::vector<ResourceUpdate> updates) {
  ResourceSet set = base;  // shares every bucket
  Builder builder(set);
  std::string bytes;
  for (ResourceUpdate& update : updates) {
    const google::protobuf::Message* payload = update.resource ? Payload(*update.resource) : nullptr;
    if (payload == nullptr) {
      builder.Remove(update.key);
      continue;
    }
    auto entry = std::make_shared<ResourceEntry>();
    entry->hash = ContentHash(update.key.type, *payload, bytes);
    entry->resource = std::move(*update.resource);
    builder.Put(update.key, std::move(entry));
  }
  set.version = VersionOf(set.entry_sum, set.size_);
  return set;
}

ResourceSet WithClusters(const ResourceSet& base, const std::vector<sluice::v1::Cluster>& clusters) {
  std::vector<ResourceUpdate> updates;
  updates.reserve(clusters.size());
  for (const sluice::v1::Cluster& cluster : clusters) {
    ResourceUpdate& update = updates.emplace_back();
    update.key = {sluice::v1::CLUSTER, cluster.name()};
    *update.resource.emplace().mutable_cluster() = cluster;
  }
  return WithUpdates(base, std::move(updates));
}

ResourceHashes HashesOf(const ResourceSet& set) {
  ResourceHashes hashes;
  for (const auto& bucket : set.buckets) {
    for (const auto& [key, entry] : *bucket) hashes.emplace(key, entry->hash);
  }
  return hashes;
}

sluice::v1::StreamResponse BuildResponse(const ResourceSet& current, const ResourceHashes* acked) {
  sluice::v1::StreamResponse response;
  response.set_version(current.version);
  response.set_full_state(acked == nullptr);
  const auto sorted = current.Sorted();
  if (acked == nullptr) {
    for (const auto& [key, entry] : sorted) *response.add_resources() = entry->resource;
    return response;
  }
  // Both are ordered by key: one merge walk finds what is new, changed and
  // gone without a lookup per resource.
  auto known = acked->begin();
  auto remove = [&response](const ResourceKey& key) {
    sluice::v1::ResourceRef* removed = response.add_removed();
    removed->set_type(key.type);
    removed->set_name(key.name);
  };
  for (const auto& [key, entry] : sorted) {
    while (known != acked->end() && known->first < key) remove((known++)->first);
    if (known != acked->end() && known->first == key) {
      const bool same = known->second == entry->hash;
      ++known;
      if (same) continue;
    }
    *response.add_resources() = entry->resource;
  }
  while (known != acked->end()) remove((known++)->first);
  return response;
}

sluice::v1::StreamResponse BuildResponse(const ResourceSet& current, const ResourceSet& acked) {
  sluice::v1::StreamResponse response;
  response.set_version(current.version);
  response.set_full_state(false);
  std::vector<const Bucket::value_type*> changed;
  std::vector<const ResourceKey*> removed;
  for (size_t index = 0; index < ResourceSet::kBuckets; ++index) {
    const Bucket& now = *current.buckets[index];
    const Bucket& then = *acked.buckets[index];
    if (&now == &then) continue;  // shared: nothing in it changed
    auto known = then.begin();
    for (const auto& item : now) {
      while (known != then.end() && known->first < item.first) removed.push_back(&(known++)->first);
      if (known != then.end() && known->first == item.first) {
        const bool same = known->second->hash == item.second->hash;
        ++known;
        if (same) continue;
      }
      changed.push_back(&item);
    }
    for (; known != then.end(); ++known) removed.push_back(&known->first);
  }
  // In key order, as a full state is: the delta does not depend on bucketing.
  std::sort(changed.begin(), changed.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  std::sort(removed.begin(), removed.end(), [](const auto* a, const auto* b) { return *a < *b; });
  for (const auto* item : changed) *response.add_resources() = item->second->resource;
  for (const ResourceKey* key : removed) {
    sluice::v1::ResourceRef* ref = response.add_removed();
    ref->set_type(key->type);
    ref->set_name(key->name);
  }
  return response;
}

}  // namespace sluice::server
