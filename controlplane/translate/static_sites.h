#pragma once
// Ingress backend.resource -> the static site a route serves
// (v1::StaticSitePolicy, answered by the proxy's static stage).
//
// Two kinds of resource are supported:
//  - a ConfigMap (core group, in the Ingress's namespace) labelled
//    sluice.io/static-site: "true": its data and binaryData keys are file
//    paths, pushed to the proxies in the snapshot. ConfigMap keys allow only
//    [-._a-zA-Z0-9], so "__" (two underscores) stands for "/":
//    "css__site.css" is "css/site.css", "index.html" is "index.html". A
//    key that decodes to an empty, "." or ".." segment is skipped with a
//    warning. Options come from the ConfigMap's annotations
//    sluice.io/static-index-file, sluice.io/static-spa-fallback,
//    sluice.io/static-cache-control. Size caps: per site and over all the
//    routes' sites together (each route carries its site's bytes); a site
//    over a cap is an error and its paths are not routed, the rest applies.
//  - a StaticSite (sluice.io/v1alpha1, in the Ingress's namespace) naming a
//    directory on a volume mounted into the proxy pods (spec.root, which
//    must lie beneath the controller's --static-site-root, so an Ingress
//    author cannot serve the proxy's own files), with spec.indexFile,
//    spaFallback, cacheControl, immutableCacheControl, hashedAssets,
//    precompressed, showDotfiles.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controlplane/store/store.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::translate {

struct StaticSiteLimits {
  uint64_t max_site_bytes = 1 << 20;         // one ConfigMap site's files
  uint64_t max_total_bytes = 8 << 20;        // every route's in-memory site together
  std::string root_base = "/srv/sluice/static";  // StaticSite roots lie beneath
};

struct StaticSiteResult {
  bool ok = false;  // `policy` is usable
  v1::StaticSitePolicy policy;
  std::string error;             // why not (when !ok)
  std::string reason;            // the Event reason of `error`
  std::vector<std::string> warnings;  // skipped keys, ignored options
};

// `resource`: the backend.resource object; `ns`: the Ingress's namespace;
// `route_prefix`: the Prefix path of the route ("" for Exact, or "/"),
// removed from request paths. `total_bytes` is the in-memory bytes used so
// far by earlier routes, increased by this site's when it fits.
StaticSiteResult ResolveStaticSite(const store::Store& store, const std::string& ns, const nlohmann::json& resource,
                                   const std::string& route_prefix, const StaticSiteLimits& limits,
                                   uint64_t& total_bytes);

// "css__site.css" -> "css/site.css"; "" when the key names no valid path.
std::string DecodeConfigMapKey(const std::string& key);

}  // namespace sluice::translate
