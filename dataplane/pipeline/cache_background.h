#pragma once
// Revalidation of a stored response with the origin, apart from a client's
// request: stale-while-revalidate (RFC 5861 §3). The client that found
// the stale object got it at once (cache_lookup); this sends one
// conditional GET per key (a store fill is held meanwhile, so a second
// request for the key neither sends another nor waits, while a request past
// the window waits for it as for any fill) through the exchange's
// subrequest client, detached from the exchange:
//   - 304: the stored response is refreshed (RefreshedBy304) and the
//     waiters find it;
//   - any other answer from the origin: the origin has something else; the
//     stored response is removed and the next request fetches it through
//     the route's stages (response_headers, compression, the WAF apply to a
//     new response as to any miss; a response fetched here would skip them);
//   - no answer or a 5xx: the stale response stays (stale-if-error and the
//     rest of the window still apply).
// A stored response without a validator (no ETag, no Last-Modified) is not
// revalidated in the background: its answer would always be a 200.
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/cache/policy/policy.h"
#include "dataplane/cache/store/store.h"
#include "dataplane/pipeline/exchange_state.h"

namespace sluice::pipeline {

// RFC 9111 §4.3.4: a copy of `stored` whose fields the 304 `not_modified`
// updated (UpdateFrom304), with a new age (from the 304's Date and Age, the
// request sent at `request_time`) and a freshness lifetime from the merged
// fields (a 304 may bring a new Cache-Control or Expires). The body bytes
// are shared, not copied.
std::shared_ptr<cache::CachedObject> RefreshedBy304(const cache::CachedObject& stored,
                                                    const http::HeaderMap& not_modified, int64_t request_time,
                                                    int64_t now, const cache::CachePolicy& policy);

struct BackgroundRevalidation {
  // The route's cluster; empty: no background revalidation (the route
  // rewrites the path or the Host, which this request would not).
  std::string cluster;
  int64_t timeout_ms = 10000;
};

// Starts the revalidation of `stale` (found for `state.request`) unless one
// is in progress for its key, it has no validator, or the exchange has no
// subrequest client. True when one was started.
bool RevalidateInBackground(const ExchangeState& state, const std::shared_ptr<const cache::CachedObject>& stale,
                            cache::Store& store, const cache::CachePolicy& policy,
                            const BackgroundRevalidation& how);

}  // namespace sluice::pipeline
