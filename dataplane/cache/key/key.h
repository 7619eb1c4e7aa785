#pragma once
// The cache key recipe of a route (sluice.io/cache-key) and its bypass
// conditions (sluice.io/cache-bypass), as pure functions of the request.
//
// A key always starts with the URL part, "scheme://authority/path?query"
// (cache::PrimaryKey's normalisation), so purging by host and path prefix
// works whatever the recipe; a part left out of the recipe is written as
// "*" (e.g. "*://example.com/a" when the scheme is not in the key). The
// named request headers and cookies follow, each after a 0x1e separator,
// as "h:name=value" / "c:name=value" (an absent one as "h:name" with no
// '=', so absent and empty differ).
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/http/message.h"

namespace sluice::cache {

enum class QueryInKey : uint8_t {
  kAsSent,   // the query as the client sent it (the default: RFC 9111's key)
  kSorted,   // parameters sorted, so ?a=1&b=2 and ?b=2&a=1 share an entry
  kIgnored,  // no query: every query string shares the path's entry
};

struct KeyRecipe {
  bool scheme = true;
  bool host = true;
  QueryInKey query = QueryInKey::kAsSent;
  std::vector<std::string> headers;  // lower case
  std::vector<std::string> cookies;
};

// "a=1&c=3&b=2" -> "a=1&b=2&c=3": whole parameters compared byte-wise
// (no percent-decoding: two spellings of one value stay two entries, which
// is a miss, never a wrong hit). Empty parameters ("a=1&&b") are dropped.
std::string SortedQuery(std::string_view query);

// `target` is the request target (path and query).
std::string BuildKey(const KeyRecipe& recipe, std::string_view scheme, std::string_view authority,
                     std::string_view target, const http::HeaderMap& request_headers);

// The key's URL part only (what InvalidationTargets and purges compare):
// BuildKey up to the first 0x1e.
std::string_view UrlPartOf(std::string_view key);

// sluice.io/cache-bypass: a request that carries any of these cookies or
// header fields (any value, even empty) neither reads nor fills the cache.
struct BypassConditions {
  std::vector<std::string> headers;  // lower case
  std::vector<std::string> cookies;
  bool empty() const { return headers.empty() && cookies.empty(); }
};
bool ShouldBypass(const BypassConditions& conditions, const http::HeaderMap& request_headers);

}  // namespace sluice::cache
