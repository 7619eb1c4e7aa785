#pragma once
// The response cache's disk tier as the lookup stage sees it
// (dataplane/cache/disk; cache_stage.cc calls these): on a memory miss,
// which disk entry answers the request (through its Vary marker, as the
// memory lookup goes), and the body of an opened entry as body sources
// over its file (FileBodySource: sendfile on plain HTTP/1.1, pread
// otherwise).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/cache/disk/disk_cache.h"
#include "dataplane/cache/store/cached_object.h"
#include "dataplane/cache/store/store.h"
#include "dataplane/http/message.h"
#include "dataplane/pipeline/body_source.h"

namespace sluice::pipeline {

// The store key of the variant of `primary` with `secondary` (store.h,
// "Vary").
std::string VariantKey(std::string_view primary, const std::string& secondary);

// The store's disk tier, or null (no --cache-dir).
cache::disk::DiskCache* DiskTierOf(const cache::Store& store);

// The disk entry answering a request for `primary` with `request`'s
// fields, or nullopt. `memory_marker`: the Vary marker the memory tier
// holds at `primary` (its variant missing there), or null; a disk marker
// with other Vary names than it is out of date. A variant counts only
// when written no earlier than its marker (a marker replaced because Vary
// changed retires the variants written before it).
std::optional<cache::disk::Located> LocateOnDisk(cache::disk::DiskCache& disk, std::string_view primary,
                                                 const cache::CachedObject* memory_marker,
                                                 const http::HeaderMap& request);

// An opened disk entry's body: [offset, offset + length) of its file.
struct DiskBody {
  std::shared_ptr<const FileHandle> file;
  uint64_t offset = 0;
  uint64_t length = 0;
  // [from, from + n) of the body.
  std::unique_ptr<BodySource> Range(uint64_t from, uint64_t n) const;
};

}  // namespace sluice::pipeline
