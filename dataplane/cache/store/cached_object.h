#pragma once
// One stored response: immutable once the store publishes it, shared by
// every reader through std::shared_ptr<const CachedObject>, so a hit that
// is still streaming to a slow client keeps its bytes alive after the
// object was evicted, replaced or purged (the store then no longer counts
// it: see store.h on accounting).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/cache/directives/directives.h"
#include "dataplane/cache/policy/policy.h"
#include "dataplane/http/message.h"

namespace sluice::cache {

struct CachedObject {
  // The store key: PrimaryKey(...), or for a variant PrimaryKey + '\x1f' +
  // SecondaryKey (see "Vary" in store.h).
  std::string key;
  int status = 200;
  http::HeaderMap headers;  // StoredFields(...) of the response
  // The body, shared with the MemoryBodySources answering hits (an
  // aliasing shared_ptr to it keeps the whole object alive). Never null.
  std::shared_ptr<const std::string> body = std::make_shared<const std::string>();
  // §4.2.3's inputs and the freshness facts (policy.h).
  AgeInputs age;
  StoredFreshness freshness;
  // The names the response varies on (empty: none).
  std::vector<std::string> vary;
  // Purge tags: the response's Cache-Tag and Surrogate-Key values (see
  // dataplane/cache/purge).
  std::vector<std::string> tags;
  // A Vary marker stands at the primary key of a response with Vary: it
  // has no body, only `vary`, and says where the variants are.
  bool vary_marker = false;
  // Set by the store when it publishes the object: a store-wide increasing
  // number (a variant older than its marker is not used: see store.h).
  uint64_t sequence = 0;
  // The bytes the store accounts for it (ChargeOf), set when published.
  size_t charge = 0;
};

// Heap bytes of a string (0 while it fits its small buffer).
inline size_t HeapBytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

// The memory the store charges for an object: the fixed per-entry overhead
// (the object, its store entry, the hash node, the two shared_ptr control
// blocks) plus every heap byte of its key, fields, Vary names and body.
// Exact up to the allocator's own rounding and headers (not knowable).
size_t ChargeOf(const CachedObject& object);

}  // namespace sluice::cache
