#include "controlplane/server/resource_set.h"

#include <cstdio>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace sluice::server {
namespace {

using sluice::v1::Resource;

std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream output(&bytes);
    google::protobuf::io::CodedOutputStream coded(&output);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

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

template <typename Message>
void AddAll(const google::protobuf::RepeatedPtrField<Message>& messages,
            sluice::v1::ResourceType type, Message* (Resource::*mutable_field)(),
            ResourceSet& set, std::vector<std::string>* duplicates) {
  for (const Message& message : messages) {
    ResourceKey key{type, message.name()};
    if (set.resources.count(key) != 0) {
      if (duplicates != nullptr) {
        duplicates->push_back(sluice::v1::ResourceType_Name(type) + " \"" + message.name() +
                              "\" occurs more than once; keeping the first");
      }
      continue;
    }
    ResourceEntry entry;
    *(entry.resource.*mutable_field)() = message;
    set.resources.emplace(std::move(key), std::move(entry));
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
                             std::vector<std::string>* duplicates) {
  ResourceSet set;
  AddAll(snapshot.virtual_hosts(), sluice::v1::VIRTUAL_HOST, &Resource::mutable_virtual_host, set,
         duplicates);
  AddAll(snapshot.clusters(), sluice::v1::CLUSTER, &Resource::mutable_cluster, set, duplicates);
  AddAll(snapshot.certificates(), sluice::v1::CERTIFICATE, &Resource::mutable_certificate, set,
         duplicates);

  // The map is ordered by (type, name), so the fold below does not depend on
  // the order the translator emitted resources in.
  uint64_t version = Fnv1a64("sluice.v1");
  for (auto& [key, entry] : set.resources) {
    const std::string bytes = DeterministicBytes(entry.resource);
    entry.hash = Fnv1a64(bytes);
    version = FoldLength(version, bytes.size());
    version = Fnv1a64(bytes, version);
  }
  set.version = Hex16(version);
  return set;
}

ResourceHashes HashesOf(const ResourceSet& set) {
  ResourceHashes hashes;
  for (const auto& [key, entry] : set.resources) hashes.emplace_hint(hashes.end(), key, entry.hash);
  return hashes;
}

sluice::v1::StreamResponse BuildResponse(const ResourceSet& current, const ResourceHashes* acked) {
  sluice::v1::StreamResponse response;
  response.set_version(current.version);
  response.set_full_state(acked == nullptr);
  for (const auto& [key, entry] : current.resources) {
    if (acked != nullptr) {
      auto known = acked->find(key);
      if (known != acked->end() && known->second == entry.hash) continue;
    }
    *response.add_resources() = entry.resource;
  }
  if (acked != nullptr) {
    for (const auto& [key, hash] : *acked) {
      if (current.resources.count(key) != 0) continue;
      sluice::v1::ResourceRef* removed = response.add_removed();
      removed->set_type(key.type);
      removed->set_name(key.name);
    }
  }
  return response;
}

}  // namespace sluice::server
