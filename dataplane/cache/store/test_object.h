#pragma once
// Test-only: the stored object the store's and the disk tier's tests insert
// and write, made one way for both.
#include <memory>
#include <string>
#include <utility>

#include "dataplane/cache/store/cached_object.h"

namespace sluice::cache {

// A 200 text/plain response at `key` with `body_bytes` bytes of `fill`,
// fresh for a minute (the memory store does not read freshness; the disk
// tier writes it, and its tests read it back).
inline std::shared_ptr<CachedObject> TestObject(std::string key, size_t body_bytes, char fill = 'x') {
  auto o = std::make_shared<CachedObject>();
  o->key = std::move(key);
  o->headers.Add("content-type", "text/plain");
  o->body = std::make_shared<const std::string>(body_bytes, fill);
  o->freshness.lifetime = 60;
  return o;
}

}  // namespace sluice::cache
