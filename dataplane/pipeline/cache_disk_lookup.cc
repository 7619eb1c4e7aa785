#include "dataplane/pipeline/cache_disk_lookup.h"

#include "dataplane/cache/policy/policy.h"

namespace sluice::pipeline {

std::string VariantKey(std::string_view primary, const std::string& secondary) {
  std::string key(primary);
  key.push_back('\x1f');
  key.append(secondary);
  return key;
}

cache::disk::DiskCache* DiskTierOf(const cache::Store& store) {
  // The disk tier is the only lower tier there is.
  return dynamic_cast<cache::disk::DiskCache*>(store.lower_tier());
}

std::optional<cache::disk::Located> LocateOnDisk(cache::disk::DiskCache& disk, std::string_view primary,
                                                 const cache::CachedObject* memory_marker,
                                                 const http::HeaderMap& request) {
  std::optional<cache::disk::Located> found = disk.Locate(primary);
  if (!found) return std::nullopt;
  if (!found->vary_marker) {
    // The memory tier knows the response varies now: this one is older.
    if (memory_marker != nullptr) return std::nullopt;
    return found;
  }
  if (memory_marker != nullptr && memory_marker->vary != found->vary) return std::nullopt;
  std::optional<std::string> secondary = cache::SecondaryKey(cache::VaryFields{false, false, found->vary}, request);
  if (!secondary) return std::nullopt;
  std::optional<cache::disk::Located> variant = disk.Locate(VariantKey(primary, *secondary));
  if (!variant || variant->vary_marker || variant->written_ns < found->written_ns) return std::nullopt;
  return variant;
}

std::unique_ptr<BodySource> DiskBody::Range(uint64_t from, uint64_t n) const {
  return std::make_unique<FileBodySource>(file, offset + from, n);
}

}  // namespace sluice::pipeline
