#pragma once
// Ingress annotations for regex paths, rewrites and redirects (issue 18,
// ingress-nginx migration). The sluice.io/ one wins when both it and its
// ingress-nginx equivalent are set; an invalid one counts as not set and is
// reported (Event + log), the rest of the Ingress applies.
//   sluice.io/use-regex             true|false: the Ingress's paths are RE2 regexes, matched
//                                   case-insensitively from the path's start   nginx.ingress.kubernetes.io/use-regex
//   sluice.io/rewrite-target        the path sent upstream, $0..$9 the path regex's captures ("/$2");
//                                   implies use-regex, as in ingress-nginx     nginx.ingress.kubernetes.io/rewrite-target
//   sluice.io/app-root              a path: "/" answers 302 to it              nginx.ingress.kubernetes.io/app-root
//   sluice.io/x-forwarded-prefix    X-Forwarded-Prefix sent upstream           nginx.ingress.kubernetes.io/x-forwarded-prefix
//   sluice.io/permanent-redirect    an http(s) URL or a path: every request redirected
//                                                                              nginx.ingress.kubernetes.io/permanent-redirect
//   sluice.io/permanent-redirect-code  300..308 (default 301)                 nginx.ingress.kubernetes.io/permanent-redirect-code
//   sluice.io/temporal-redirect     the same, 302 (wins over permanent-redirect, as in ingress-nginx)
//                                                                              nginx.ingress.kubernetes.io/temporal-redirect
//   sluice.io/temporal-redirect-code   300..308 (default 302)                 nginx.ingress.kubernetes.io/temporal-redirect-code
//   sluice.io/from-to-www-redirect  true|false: www.<host> <-> <host>, 308    nginx.ingress.kubernetes.io/from-to-www-redirect
//   sluice.io/force-ssl-redirect    true|false: 308 to https even on hosts without TLS
//                                                                              nginx.ingress.kubernetes.io/force-ssl-redirect
//   sluice.io/server-alias          host names, comma separated: they serve the Ingress's paths too
//                                                                              nginx.ingress.kubernetes.io/server-alias
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "controlplane/translate/annotations.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::translate {

// The parts the translator applies itself (they concern routes and hosts,
// not the policy).
struct AnnotatedRouting {
  bool regex = false;              // use-regex, or rewrite-target set
  std::string rewrite_target;      // validated; empty: none
  bool from_to_www = false;
  bool force_ssl_redirect = false;
  std::vector<std::string> server_aliases;  // as written, trimmed (the translator validates host names)
};

// Sets policy.redirect, policy.app_root and policy.x_forwarded_prefix;
// problems are appended.
AnnotatedRouting ReadRoutingAnnotations(const nlohmann::json* annotations, v1::RoutePolicy& policy,
                                        std::vector<AnnotationProblem>& problems);

// A path of a regex Ingress as the route carries it, or what is wrong with
// it: starts with "/", printable ASCII without spaces, at most 1024 bytes,
// and an expression RE2 compiles (no backreferences, no lookaround).
sluice::Result<std::string> ValidateRegexPath(const std::string& path);

}  // namespace sluice::translate
