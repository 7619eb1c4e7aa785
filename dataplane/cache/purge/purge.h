#pragma once
// Purging the response cache by hand: what an operator or a deploy
// pipeline asks the proxy's admin port for (POST /cache/purge), or the
// controller's, which fans it out to every proxy (see README "Purge").
//
//   url=https://shop.example/a?b=1   that URL's entry and its Vary variants
//   host=shop.example&prefix=/img/   every entry of the host under the path
//                                    prefix (prefix alone: every host)
//   tag=product-42                   every entry whose response carried the
//                                    tag in Cache-Tag or Surrogate-Key
//
// Keys are matched by their URL part (dataplane/cache/key): a route whose
// key leaves out the scheme or host ("*") matches any; header and cookie
// parts of a key are ignored, so a URL purge removes every variant.
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "dataplane/cache/store/cached_object.h"
#include "dataplane/cache/store/store.h"
#include "dataplane/http/message.h"

namespace sluice::cache {

struct PurgeRequest {
  enum class Kind : uint8_t { kUrl, kPrefix, kTag };
  Kind kind = Kind::kUrl;
  std::string scheme;  // kUrl: lower case
  std::string host;    // kUrl, kPrefix (empty: any): lower case, default port dropped
  std::string target;  // kUrl: path and query; kPrefix: the path prefix
  std::string tag;     // kTag
};

// The form-encoded parameters (a query string or an
// application/x-www-form-urlencoded body); a clear error for anything else.
Result<PurgeRequest> ParsePurgeRequest(std::string_view form);
// The same parameters back, form-encoded (the controller forwards them).
std::string FormOf(const PurgeRequest& request);

bool PurgeMatches(const PurgeRequest& request, const CachedObject& object);
// Removes what `request` selects from `store`; how many objects.
size_t Purge(Store& store, const PurgeRequest& request);

// The purge tags of a response: Cache-Tag (comma separated) and
// Surrogate-Key (space separated), each at most 256 bytes, 64 in all.
std::vector<std::string> PurgeTagsOf(const http::HeaderMap& response);

}  // namespace sluice::cache
