#include "controlplane/server/resource_set.h"

#include <cstdio>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace sluice::server {
namespace {

using sluice::v1::Resource;

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

std::string VersionOf(const ResourceSet& set) {
  // The map is ordered by (type, name), so the fold does not depend on the
  // order the translator emitted resources in. Each hash covers its
  // resource's type and bytes, the name is in the bytes.
  uint64_t version = Fnv1a64("sluice.v1");
  for (const auto& [key, entry] : set.resources) version = FoldLength(version, entry->hash);
  return Hex16(version);
}

// One kind's messages into `set`, each hashed over its deterministic
// serialisation; an entry of `previous` with the same name and bytes is
// shared instead of copied.
template <typename Message>
void AddAll(const google::protobuf::RepeatedPtrField<Message>& messages,
            sluice::v1::ResourceType type, Message* (Resource::*mutable_field)(),
            const ResourceSet* previous, ResourceSet& set, std::vector<std::string>* duplicates) {
  std::string bytes;
  for (const Message& message : messages) {
    ResourceKey key{type, message.name()};
    auto [slot, fresh] = set.resources.try_emplace(std::move(key));
    if (!fresh) {
      if (duplicates != nullptr) {
        duplicates->push_back(sluice::v1::ResourceType_Name(type) + " \"" + message.name() +
                              "\" occurs more than once; keeping the first");
      }
      continue;
    }
    const uint64_t hash = ContentHash(type, message, bytes);
    if (previous != nullptr) {
      auto known = previous->resources.find(slot->first);
      if (known != previous->resources.end() && known->second->hash == hash) {
        slot->second = known->second;
        continue;
      }
    }
    auto entry = std::make_shared<ResourceEntry>();
    entry->hash = hash;
    *(entry->resource.*mutable_field)() = message;
    slot->second = std::move(entry);
  }
}

}  // namespace

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
  AddAll(snapshot.virtual_hosts(), sluice::v1::VIRTUAL_HOST, &Resource::mutable_virtual_host, previous, set,
         duplicates);
  AddAll(snapshot.clusters(), sluice::v1::CLUSTER, &Resource::mutable_cluster, previous, set, duplicates);
  AddAll(snapshot.certificates(), sluice::v1::CERTIFICATE, &Resource::mutable_certificate, previous, set,
         duplicates);

  set.version = VersionOf(set);
  return set;
}

ResourceSet WithClusters(const ResourceSet& base, const std::vector<sluice::v1::Cluster>& clusters) {
  ResourceSet set;
  set.resources = base.resources;  // shares the entries
  std::string bytes;
  for (const sluice::v1::Cluster& cluster : clusters) {
    auto entry = std::make_shared<ResourceEntry>();
    entry->hash = ContentHash(sluice::v1::CLUSTER, cluster, bytes);
    *entry->resource.mutable_cluster() = cluster;
    set.resources[ResourceKey{sluice::v1::CLUSTER, cluster.name()}] = std::move(entry);
  }
  set.version = VersionOf(set);
  return set;
}

ResourceHashes HashesOf(const ResourceSet& set) {
  ResourceHashes hashes;
  for (const auto& [key, entry] : set.resources) hashes.emplace_hint(hashes.end(), key, entry->hash);
  return hashes;
}

sluice::v1::StreamResponse BuildResponse(const ResourceSet& current, const ResourceHashes* acked) {
  sluice::v1::StreamResponse response;
  response.set_version(current.version);
  response.set_full_state(acked == nullptr);
  if (acked == nullptr) {
    for (const auto& [key, entry] : current.resources) *response.add_resources() = entry->resource;
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
  for (const auto& [key, entry] : current.resources) {
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

}  // namespace sluice::server
