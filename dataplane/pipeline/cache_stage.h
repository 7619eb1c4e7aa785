#pragma once
// The response cache's two stages (dataplane/cache: the RFC 9111 policy and
// the process-wide store; store.h says how they fit together):
//   cache_lookup (70)  answers a GET or HEAD from a usable stored object (a
//                      MemoryBodySource over the object's shared bytes, Age
//                      and Cache-Status added), or admits a fill for the
//                      miss; notes unsafe methods for invalidation.
//   cache_store (140)  judges the response the client gets (after
//                      compression, so a compressed variant is stored under
//                      its Vary), tees its body into the fill and publishes
//                      it when complete; invalidates after a successful
//                      unsafe method; adds Cache-Status to misses.
// Conditional requests and ranges (RFC 9110 13, 14 with the rules of
// dataplane/http/conditional, shared with the static stage):
//   - a hit answers If-None-Match (weak comparison) / If-Modified-Since
//     (only without If-None-Match) with a 304 carrying the stored
//     validators and the fields of RFC 9110 15.4.5; a Range on a stored 200
//     with a 206 (one MemoryBodySource over the object's shared bytes, or a
//     multipart/byteranges SequenceBodySource of them), a 416 with
//     Content-Range: bytes */len when unsatisfiable; If-Range honoured.
//     If-Match / If-Unmodified-Since are left to the origin (fwd=request).
//   - a miss with Range or a conditional goes to the origin as the client
//     sent it and is not stored (its answer is not the whole object): a
//     range miss does not fill the cache; the next plain GET does.
//   - a stored response that needs validation (stale, or no-cache) is asked
//     about with If-None-Match / If-Modified-Since from its ETag and
//     Last-Modified (the client's own when its request is conditional); a
//     304 that speaks of it updates its fields (RFC 9111 4.3.4), age and
//     freshness, and the client gets the stored response; a 200 replaces
//     it; with must-revalidate / proxy-revalidate an unreachable origin
//     gives 504, never the stale response.
// Coalescing: a GET miss for a key another request is filling pauses
// (kPause) until the fill's head is known storable with a Content-Length
// (it is then answered at once, its body streamed from the fill as it
// arrives: FillBodySource, Cache-Status "collapsed; detail=streamed"; a
// miss coming later is answered from the stream without pausing), the
// fill ends (a body of unknown length: answered from the published
// object), turns out uncacheable (to the origin at once) or is abandoned
// before the waiter was answered (to the origin), or the wait times out
// (wait_timeout_ms; then to the origin). A fill abandoned after a waiter
// was answered fails that waiter's body: the exchange cuts the response. stale-if-error: an
// origin 5xx, or the proxy's 502/504 for a failed upstream, is replaced by
// a stale object that may be served on error.
// stale-while-revalidate: the stale object is answered and revalidated in
// the background (cache_background.h).
// Disk tier (dataplane/cache/disk, --cache-dir): a memory miss the disk
// index knows pauses (kPause) while the I/O pool opens the entry and reads
// its head (cache_disk_lookup.h); on the loop the same decision as for a
// memory hit follows, the body a FileBodySource over the file. A disk
// entry answers only fresh or stale-as-allowed: otherwise it is a miss.
// Not yet: a fill that goes on for its waiters when its own client goes
// away (it is abandoned with it: store.h).
#include <cstdint>
#include <memory>
#include <string_view>

#include "api/sluice/v1/snapshot.pb.h"
#include "dataplane/cache/key/key.h"
#include "dataplane/cache/policy/policy.h"
#include "dataplane/cache/store/store.h"
#include "dataplane/pipeline/cache_background.h"
#include "dataplane/pipeline/stage.h"

namespace sluice::pipeline {

struct CacheStageOptions {
  cache::CachePolicy policy;
  // sluice.io/cache-key, cache-bypass, cache-methods.
  cache::KeyRecipe key;
  cache::BypassConditions bypass;
  bool cache_get = true, cache_head = true;
  // How long a key found uncacheable goes straight to the origin.
  int64_t hit_for_pass_seconds = 30;
  // How long a miss waits for another request's fill of the same key
  // before it goes to the origin itself (nginx's proxy_cache_lock_timeout);
  // 0: never waits.
  int64_t wait_timeout_ms = 5000;
  // stale-while-revalidate: where the background revalidation goes
  // (cache_background.h); no cluster, none.
  BackgroundRevalidation background;
  static CacheStageOptions From(const v1::CachePolicy& policy);
};

class CacheLookupStage final : public Stage {
 public:
  CacheLookupStage(const CacheStageOptions& options, cache::Store* store) : options_(options), store_(store) {}
  std::string_view name() const override { return "cache_lookup"; }
  StageOrder order() const override { return StageOrder::kCacheLookup; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;

 private:
  CacheStageOptions options_;
  cache::Store* store_;
};

class CacheStoreStage final : public Stage {
 public:
  CacheStoreStage(const CacheStageOptions& options, cache::Store* store) : options_(options), store_(store) {}
  std::string_view name() const override { return "cache_store"; }
  StageOrder order() const override { return StageOrder::kCacheStore; }
  uint32_t hooks() const override { return kResponseHead | kResponseBody | kResponseEnd | kComplete; }
  Verdict OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const override;
  Verdict OnResponseBody(ExchangeState& state, std::string_view& chunk) const override;
  bool WantsResponseBody(const ExchangeState& state) const override;
  Verdict OnResponseEnd(ExchangeState& state, std::string_view& tail) const override;
  void OnComplete(const ExchangeState& state) const override;

 private:
  CacheStageOptions options_;
  cache::Store* store_;
};

// The name Cache-Status gives this cache (RFC 9211 §2).
inline constexpr std::string_view kCacheStatusName = "sluice";

}  // namespace sluice::pipeline
