#include "controlplane/translate/annotation_catalog.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

namespace sluice::translate {
namespace {

using S = Support;

// Kept sorted by name within each prefix (annotation_catalog_test checks),
// so FindCatalogEntry can search it.
constexpr CatalogEntry kCatalog[] = {
    // ---- ingress-nginx ----
    {"nginx.ingress.kubernetes.io/affinity", S::kSupported, "sluice.io/affinity", "cookie affinity"},
    {"nginx.ingress.kubernetes.io/affinity-canary-behavior", S::kUnsupported, "",
     "a session sticks to the canary or the main backend by its cookie; not configurable"},
    {"nginx.ingress.kubernetes.io/affinity-mode", S::kUnsupported, "",
     "Sluice's affinity is \"persistent\" (the cookie wins while its endpoint is healthy); \"balanced\" is not offered"},
    {"nginx.ingress.kubernetes.io/app-root", S::kSupported, "sluice.io/app-root", "\"/\" answers 302 to this path on the same scheme and host"},
    {"nginx.ingress.kubernetes.io/auth-cache-duration", S::kDifferent, "sluice.io/auth-cache-duration",
     "the cache is per proxy worker (not shared between workers or proxies)"},
    {"nginx.ingress.kubernetes.io/auth-cache-key", S::kDifferent, "sluice.io/auth-cache-key",
     "only $remote_user, $http_NAME, $cookie_NAME, $request_uri and $host; the cache is per proxy worker"},
    {"nginx.ingress.kubernetes.io/auth-method", S::kSupported, "sluice.io/auth-method", ""},
    {"nginx.ingress.kubernetes.io/auth-realm", S::kSupported, "", "the realm of WWW-Authenticate (escaped; default \"\")"},
    {"nginx.ingress.kubernetes.io/auth-request-redirect", S::kSupported, "sluice.io/auth-request-redirect", ""},
    {"nginx.ingress.kubernetes.io/auth-response-headers", S::kSupported, "sluice.io/auth-response-headers",
     ""},
    {"nginx.ingress.kubernetes.io/auth-secret", S::kDifferent, "",
     "the Ingress's namespace only; DES crypt and plaintext users are refused (an Event each, the others apply); "
     "a missing or unusable Secret, or auth-secret without auth-type, answers 503 with an Event"},
    {"nginx.ingress.kubernetes.io/auth-secret-type", S::kSupported, "", "auth-file (key auth, default) or auth-map"},
    {"nginx.ingress.kubernetes.io/auth-signin", S::kDifferent, "sluice.io/auth-signin",
     "variables: only $host, $scheme, $request_uri and $escaped_request_uri"},
    {"nginx.ingress.kubernetes.io/auth-snippet", S::kRefused, "",
     "raw nginx configuration from an Ingress is never applied (the snippet-injection class of CVE-2021-25742)"},
    {"nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream", S::kUnsupported, "",
     "client certificate authentication is not implemented yet"},
    {"nginx.ingress.kubernetes.io/auth-tls-secret", S::kUnsupported, "",
     "client certificate authentication is not implemented yet"},
    {"nginx.ingress.kubernetes.io/auth-tls-verify-client", S::kUnsupported, "",
     "client certificate authentication is not implemented yet"},
    {"nginx.ingress.kubernetes.io/auth-tls-verify-depth", S::kUnsupported, "",
     "client certificate authentication is not implemented yet"},
    {"nginx.ingress.kubernetes.io/auth-type", S::kDifferent, "",
     "basic (bcrypt, SHA1, apr1, $1$/$5$/$6$ hashes); digest is refused: the route answers 503 with an Event"},
    {"nginx.ingress.kubernetes.io/auth-url", S::kDifferent, "sluice.io/auth-url",
     "the auth service must be a Service of the cluster (http://SERVICE.NAMESPACE[.svc...][:PORT]/PATH), plain "
     "HTTP; another URL refuses the Ingress's requests (500)"},
    {"nginx.ingress.kubernetes.io/backend-protocol", S::kDifferent, "sluice.io/backend-protocol",
     "HTTP, HTTPS, GRPC and GRPCS as in nginx (any case); FCGI and AUTO_HTTP are not supported"},
    {"nginx.ingress.kubernetes.io/canary", S::kSupported, "sluice.io/canary", ""},
    {"nginx.ingress.kubernetes.io/canary-by-cookie", S::kSupported, "sluice.io/canary-by-cookie", ""},
    {"nginx.ingress.kubernetes.io/canary-by-header", S::kSupported, "sluice.io/canary-by-header", ""},
    {"nginx.ingress.kubernetes.io/canary-by-header-pattern", S::kUnsupported, "sluice.io/canary-by-header-value",
     "regular expressions on the header are not supported; match one exact value"},
    {"nginx.ingress.kubernetes.io/canary-by-header-value", S::kSupported, "sluice.io/canary-by-header-value", ""},
    {"nginx.ingress.kubernetes.io/canary-weight", S::kSupported, "sluice.io/canary-weight", ""},
    {"nginx.ingress.kubernetes.io/canary-weight-total", S::kSupported, "sluice.io/canary-weight-total", ""},
    {"nginx.ingress.kubernetes.io/client-body-buffer-size", S::kNotNeeded, "",
     "Sluice streams request bodies with bounded buffers and never spools them to disk"},
    {"nginx.ingress.kubernetes.io/client-body-timeout", S::kSupported, "sluice.io/client-body-timeout", ""},
    {"nginx.ingress.kubernetes.io/configuration-snippet", S::kRefused, "",
     "raw nginx configuration from an Ingress is never applied (the snippet-injection class of CVE-2021-25742)"},
    {"nginx.ingress.kubernetes.io/connection-proxy-header", S::kNotNeeded, "",
     "Sluice manages upstream connections (keep-alive, Upgrade) itself"},
    {"nginx.ingress.kubernetes.io/cors-allow-credentials", S::kSupported, "sluice.io/cors-allow-credentials",
     "default true, also with origin \"*\" (as ingress-nginx; browsers then refuse credentialed requests)"},
    {"nginx.ingress.kubernetes.io/cors-allow-headers", S::kSupported, "sluice.io/cors-allow-headers", ""},
    {"nginx.ingress.kubernetes.io/cors-allow-methods", S::kSupported, "sluice.io/cors-allow-methods", ""},
    {"nginx.ingress.kubernetes.io/cors-allow-origin", S::kDifferent, "sluice.io/cors-allow-origin",
     "exact origins and https://*.domain (one label) as ingress-nginx; an invalid entry is left out, and with none "
     "left no origin is allowed (ingress-nginx falls back to *)"},
    {"nginx.ingress.kubernetes.io/cors-expose-headers", S::kSupported, "sluice.io/cors-expose-headers", ""},
    {"nginx.ingress.kubernetes.io/cors-max-age", S::kSupported, "sluice.io/cors-max-age", ""},
    {"nginx.ingress.kubernetes.io/custom-headers", S::kDifferent, "sluice.io/custom-headers",
     "a ConfigMap in the Ingress's namespace labelled sluice.io/headers: \"true\"; literal values; hop-by-hop and "
     "framing names refused (no global-allowed-response-headers list); upstream responses only"},
    {"nginx.ingress.kubernetes.io/custom-http-errors", S::kDifferent, "sluice.io/custom-http-errors",
     "upstream responses only (the proxy's own 502/503/504 are not replaced); the default backend's page is at most "
     "1 MiB; without an answer from it the upstream's response goes out"},
    {"nginx.ingress.kubernetes.io/default-backend", S::kSupported, "sluice.io/default-backend",
     "a Service of the Ingress's namespace (its first port): custom error pages, and routes whose Service has no "
     "endpoints"},
    {"nginx.ingress.kubernetes.io/denylist-source-range", S::kSupported, "sluice.io/deny-source-range", "deny wins over allow"},
    {"nginx.ingress.kubernetes.io/enable-access-log", S::kUnsupported, "",
     "the access log is per proxy (--access-log), not per Ingress"},
    {"nginx.ingress.kubernetes.io/enable-cors", S::kDifferent, "sluice.io/enable-cors",
     "a preflight is OPTIONS with Origin and Access-Control-Request-Method (answered 204 before access control); "
     "CORS fields only for an allowed Origin, with Vary: Origin"},
    {"nginx.ingress.kubernetes.io/enable-global-auth", S::kUnsupported, "", "there is no global auth URL: set auth-url on each Ingress"},
    {"nginx.ingress.kubernetes.io/enable-modsecurity", S::kDifferent, "sluice.io/waf",
     "\"true\" runs the OWASP CRS in detect mode, as ingress-nginx's DetectionOnly default; block with sluice.io/waf: block"},
    {"nginx.ingress.kubernetes.io/enable-opentelemetry", S::kUnsupported, "", "tracing is not implemented yet"},
    {"nginx.ingress.kubernetes.io/enable-owasp-core-rules", S::kDifferent, "sluice.io/waf",
     "the CRS always runs with the firewall: \"true\" is accepted, \"false\" is reported"},
    {"nginx.ingress.kubernetes.io/enable-rewrite-log", S::kUnsupported, "", "the access log shows the rewritten path"},
    {"nginx.ingress.kubernetes.io/force-ssl-redirect", S::kSupported, "sluice.io/force-ssl-redirect", "308 to https even on hosts without TLS (wins over ssl-redirect \"false\")"},
    {"nginx.ingress.kubernetes.io/from-to-www-redirect", S::kDifferent, "sluice.io/from-to-www-redirect", "308 to www.<host> from <host> or back; keeps the path as sent (nginx drops a trailing slash); not when another Ingress routes that name"},
    {"nginx.ingress.kubernetes.io/http2-push-preload", S::kUnsupported, "",
     "HTTP/2 server push is obsolete (browsers removed it); use 103 Early Hints from the application"},
    {"nginx.ingress.kubernetes.io/limit-burst-multiplier", S::kSupported, "sluice.io/rate-limit-burst",
     "burst = rate x multiplier (default 5)"},
    {"nginx.ingress.kubernetes.io/limit-connections", S::kDifferent, "sluice.io/rate-limit-connections",
     "requests in flight per client address for the whole proxy; over it 429 (ingress-nginx answers 503)"},
    {"nginx.ingress.kubernetes.io/limit-rate", S::kUnsupported, "", "response bandwidth limits are not implemented"},
    {"nginx.ingress.kubernetes.io/limit-rate-after", S::kUnsupported, "", "response bandwidth limits are not implemented"},
    {"nginx.ingress.kubernetes.io/limit-rpm", S::kSupported, "sluice.io/rate-limit-rpm", "held for the whole proxy (all workers)"},
    {"nginx.ingress.kubernetes.io/limit-rps", S::kSupported, "sluice.io/rate-limit-rps",
     "held for the whole proxy (all workers); 429 with Retry-After and RateLimit headers"},
    {"nginx.ingress.kubernetes.io/limit-whitelist", S::kSupported, "sluice.io/rate-limit-exempt", ""},
    {"nginx.ingress.kubernetes.io/load-balance", S::kSupported, "sluice.io/load-balance",
     "round_robin and ewma; Sluice also has least-request, ring-hash, maglev and random"},
    {"nginx.ingress.kubernetes.io/mirror-host", S::kSupported, "sluice.io/mirror-host", ""},
    {"nginx.ingress.kubernetes.io/mirror-request-body", S::kSupported, "sluice.io/mirror-request-body", ""},
    {"nginx.ingress.kubernetes.io/mirror-target", S::kDifferent, "sluice.io/mirror-target",
     "an http:// URL naming a cluster Service (svc.ns.svc.cluster.local), not any host; variables $request_uri, "
     "$uri and $args; copies over a per-worker cap are dropped"},
    {"nginx.ingress.kubernetes.io/mirror-uri", S::kUnsupported, "sluice.io/mirror-target",
     "deprecated in ingress-nginx; put the path in mirror-target"},
    {"nginx.ingress.kubernetes.io/modsecurity-snippet", S::kRefused, "",
     "rule text from an Ingress is never applied: use sluice.io/waf, waf-paranoia and waf-exclude-rules; extra rules "
     "come only from the cluster operator (--waf-extra-rules)"},
    {"nginx.ingress.kubernetes.io/modsecurity-transaction-id", S::kDifferent, "sluice.io/waf-transaction-id-header",
     "only $request_id (generated) or $http_NAME (that header)"},
    {"nginx.ingress.kubernetes.io/opentelemetry-trust-incoming-span", S::kUnsupported, "", "tracing is not implemented yet"},
    {"nginx.ingress.kubernetes.io/permanent-redirect", S::kDifferent, "sluice.io/permanent-redirect", "an http(s) URL or a path; printable ASCII only (no nginx variables)"},
    {"nginx.ingress.kubernetes.io/permanent-redirect-code", S::kSupported, "sluice.io/permanent-redirect-code", "300..308 (default 301)"},
    {"nginx.ingress.kubernetes.io/preserve-trailing-slash", S::kNotNeeded, "",
     "Sluice never adds or removes a trailing slash when it redirects to HTTPS"},
    {"nginx.ingress.kubernetes.io/proxy-body-size", S::kSupported, "sluice.io/proxy-body-size", ""},
    {"nginx.ingress.kubernetes.io/proxy-buffer-size", S::kNotNeeded, "",
     "Sluice's response head limit is per proxy, bodies stream"},
    {"nginx.ingress.kubernetes.io/proxy-buffering", S::kNotNeeded, "",
     "Sluice always streams responses with bounded buffers (as proxy-buffering: off, without the cost)"},
    {"nginx.ingress.kubernetes.io/proxy-buffers-number", S::kNotNeeded, "", "bodies stream with bounded buffers"},
    {"nginx.ingress.kubernetes.io/proxy-connect-timeout", S::kSupported, "sluice.io/proxy-connect-timeout", ""},
    {"nginx.ingress.kubernetes.io/proxy-cookie-domain", S::kUnsupported, "", "cookie rewriting is not implemented"},
    {"nginx.ingress.kubernetes.io/proxy-cookie-path", S::kUnsupported, "", "cookie rewriting is not implemented"},
    {"nginx.ingress.kubernetes.io/proxy-http-version", S::kNotNeeded, "sluice.io/backend-protocol",
     "Sluice speaks HTTP/1.1 to HTTP backends (h2c/h2 with backend-protocol); 1.0 is not offered"},
    {"nginx.ingress.kubernetes.io/proxy-max-temp-file-size", S::kNotNeeded, "",
     "Sluice never spools responses to disk"},
    {"nginx.ingress.kubernetes.io/proxy-next-upstream", S::kDifferent, "sluice.io/retry-on",
     "error, timeout, invalid_header, http_502/503/504 and off; the other conditions are accepted with no effect"},
    {"nginx.ingress.kubernetes.io/proxy-next-upstream-timeout", S::kSupported, "sluice.io/retry-timeout", ""},
    {"nginx.ingress.kubernetes.io/proxy-next-upstream-tries", S::kSupported, "sluice.io/retries",
     "counts tries including the first, as nginx; sluice.io/retries counts retries after it"},
    {"nginx.ingress.kubernetes.io/proxy-read-timeout", S::kSupported, "sluice.io/proxy-read-timeout", ""},
    {"nginx.ingress.kubernetes.io/proxy-redirect-from", S::kUnsupported, "", "Location rewriting is not implemented"},
    {"nginx.ingress.kubernetes.io/proxy-redirect-to", S::kUnsupported, "", "Location rewriting is not implemented"},
    {"nginx.ingress.kubernetes.io/proxy-request-buffering", S::kNotNeeded, "",
     "request bodies stream to the backend with flow control"},
    {"nginx.ingress.kubernetes.io/proxy-send-timeout", S::kNotNeeded, "sluice.io/proxy-read-timeout",
     "Sluice bounds a stalled upstream with the read (idle) timeout in both directions"},
    {"nginx.ingress.kubernetes.io/proxy-set-headers", S::kUnsupported, "sluice.io/proxy-set-headers",
     "not an ingress-nginx annotation (its proxy-set-headers is a key of the controller's ConfigMap, for every "
     "Ingress), so ingress-nginx ignores it; per Ingress use sluice.io/proxy-set-headers"},
    {"nginx.ingress.kubernetes.io/proxy-ssl-ciphers", S::kUnsupported, "", "upstream TLS uses OpenSSL's defaults"},
    {"nginx.ingress.kubernetes.io/proxy-ssl-name", S::kSupported, "sluice.io/backend-tls-server-name", ""},
    {"nginx.ingress.kubernetes.io/proxy-ssl-protocols", S::kUnsupported, "", "upstream TLS is 1.2 or 1.3"},
    {"nginx.ingress.kubernetes.io/proxy-ssl-secret", S::kSupported, "sluice.io/backend-tls-ca-secret",
     "its ca.crt verifies the backend; a client certificate for the backend is not sent yet"},
    {"nginx.ingress.kubernetes.io/proxy-ssl-server-name", S::kNotNeeded, "sluice.io/backend-tls-server-name",
     "Sluice always sends SNI to TLS backends"},
    {"nginx.ingress.kubernetes.io/proxy-ssl-verify", S::kSupported, "sluice.io/backend-tls-verify", ""},
    {"nginx.ingress.kubernetes.io/proxy-ssl-verify-depth", S::kUnsupported, "", "OpenSSL's default depth applies"},
    {"nginx.ingress.kubernetes.io/rewrite-target", S::kDifferent, "sluice.io/rewrite-target", "captures $0..$9 of the RE2 path regex; other nginx variables ($args, $host...) are refused; the query is kept"},
    {"nginx.ingress.kubernetes.io/satisfy", S::kDifferent, "",
     "any: a client in whitelist-source-range needs no credentials; the deny list still refuses (403)"},
    {"nginx.ingress.kubernetes.io/server-alias", S::kSupported, "sluice.io/server-alias", "names serve all the Ingress's paths; a name another Ingress routes as a host is ignored with an Event"},
    {"nginx.ingress.kubernetes.io/server-snippet", S::kRefused, "",
     "raw nginx configuration from an Ingress is never applied (the snippet-injection class of CVE-2021-25742)"},
    {"nginx.ingress.kubernetes.io/service-upstream", S::kUnsupported, "",
     "Sluice balances over the EndpointSlices' ready endpoints, never the Service's cluster IP"},
    {"nginx.ingress.kubernetes.io/session-cookie-change-on-failure", S::kNotNeeded, "",
     "Sluice always re-picks (and re-issues the cookie) when the cookie's endpoint is gone or unhealthy"},
    {"nginx.ingress.kubernetes.io/session-cookie-conditional-samesite-none", S::kUnsupported, "sluice.io/session-cookie-samesite",
     "no user-agent sniffing: SameSite is sent as configured"},
    {"nginx.ingress.kubernetes.io/session-cookie-domain", S::kUnsupported, "", "the cookie has no Domain (host-only)"},
    {"nginx.ingress.kubernetes.io/session-cookie-expires", S::kUnsupported, "sluice.io/session-cookie-max-age",
     "use session-cookie-max-age"},
    {"nginx.ingress.kubernetes.io/session-cookie-max-age", S::kSupported, "sluice.io/session-cookie-max-age", ""},
    {"nginx.ingress.kubernetes.io/session-cookie-name", S::kSupported, "sluice.io/session-cookie-name", ""},
    {"nginx.ingress.kubernetes.io/session-cookie-path", S::kSupported, "sluice.io/session-cookie-path", ""},
    {"nginx.ingress.kubernetes.io/session-cookie-samesite", S::kSupported, "sluice.io/session-cookie-samesite", ""},
    {"nginx.ingress.kubernetes.io/session-cookie-secure", S::kSupported, "sluice.io/session-cookie-secure", ""},
    {"nginx.ingress.kubernetes.io/ssl-ciphers", S::kUnsupported, "", "TLS settings are per proxy (OpenSSL's defaults)"},
    {"nginx.ingress.kubernetes.io/ssl-passthrough", S::kSupported, "sluice.io/ssl-passthrough",
     "needs the controller's --enable-ssl-passthrough, as in ingress-nginx"},
    {"nginx.ingress.kubernetes.io/ssl-prefer-server-ciphers", S::kUnsupported, "", "TLS settings are per proxy"},
    {"nginx.ingress.kubernetes.io/ssl-redirect", S::kSupported, "sluice.io/ssl-redirect", ""},
    {"nginx.ingress.kubernetes.io/stream-snippet", S::kRefused, "",
     "raw nginx configuration from an Ingress is never applied (the snippet-injection class of CVE-2021-25742)"},
    {"nginx.ingress.kubernetes.io/temporal-redirect", S::kDifferent, "sluice.io/temporal-redirect", "as permanent-redirect, 302; wins over permanent-redirect"},
    {"nginx.ingress.kubernetes.io/temporal-redirect-code", S::kSupported, "sluice.io/temporal-redirect-code", "300..308 (default 302)"},
    {"nginx.ingress.kubernetes.io/upstream-hash-by", S::kDifferent, "sluice.io/hash-key",
     "one variable: $remote_addr, $request_uri, $uri, $http_NAME or $cookie_NAME (no combined expressions)"},
    {"nginx.ingress.kubernetes.io/upstream-hash-by-subset", S::kUnsupported, "", "hashing to a subset is not offered"},
    {"nginx.ingress.kubernetes.io/upstream-hash-by-subset-size", S::kUnsupported, "", "hashing to a subset is not offered"},
    {"nginx.ingress.kubernetes.io/upstream-vhost", S::kDifferent, "sluice.io/upstream-vhost",
     "a literal HOST or HOST:PORT; nginx variables are refused"},
    {"nginx.ingress.kubernetes.io/use-regex", S::kDifferent, "sluice.io/use-regex", "RE2, not PCRE: no backreferences or lookaround (such an Ingress is refused with an Event); only the annotated Ingress's paths become case-insensitive regexes, not every path of the host"},
    {"nginx.ingress.kubernetes.io/whitelist-source-range", S::kSupported, "sluice.io/allow-source-range",
     "an invalid CIDR refuses everyone (as nginx denies such a location), with an Event"},
    {"nginx.ingress.kubernetes.io/x-forwarded-prefix", S::kSupported, "sluice.io/x-forwarded-prefix", "the client's own X-Forwarded-Prefix is dropped"},
    // ---- Sluice's own ----
    {"sluice.io/affinity", S::kSupported, "", "cookie: session affinity by a cookie the proxy issues"},
    {"sluice.io/allow-source-range", S::kSupported, "", "client CIDRs (IPv4/IPv6) allowed; others get 403"},
    {"sluice.io/app-root", S::kSupported, "", "\"/\" answers 302 to this path"},
    {"sluice.io/auth-cache-duration", S::kSupported, "", "auth statuses and how long they are cached: \"200 202 401 5m\""},
    {"sluice.io/auth-cache-key", S::kSupported, "", "caches auth decisions per worker under this key ($remote_user, ...)"},
    {"sluice.io/auth-method", S::kSupported, "", "the auth subrequest's method (default: the request's)"},
    {"sluice.io/auth-request-redirect", S::kSupported, "", "X-Auth-Request-Redirect of the auth subrequest"},
    {"sluice.io/auth-response-headers", S::kSupported, "", "fields copied from the auth answer to the upstream request"},
    {"sluice.io/auth-signin", S::kSupported, "", "a 401 from the auth service becomes a 302 here, with rd="},
    {"sluice.io/auth-timeout", S::kSupported, "", "the auth subrequest's timeout (default 5s; then 500)"},
    {"sluice.io/auth-url", S::kSupported, "", "external authentication: a Service URL asked before each request"},
    {"sluice.io/backend-protocol", S::kSupported, "", "http, https, h2c, h2, grpc or grpcs (per Service)"},
    {"sluice.io/backend-tls-ca-secret", S::kSupported, "", "Secret (NAME or NS/NAME) whose ca.crt verifies TLS backends"},
    {"sluice.io/backend-tls-server-name", S::kSupported, "", "SNI and verified name for TLS backends"},
    {"sluice.io/backend-tls-verify", S::kSupported, "", "verify TLS backends (default: when a CA secret is set)"},
    {"sluice.io/cache", S::kSupported, "",
     "on|off: RFC 9111 shared cache of GET/HEAD responses in every proxy (off by default; no ingress-nginx equivalent)"},
    {"sluice.io/cache-bypass", S::kSupported, "",
     "requests with any of these skip the cache (neither read nor stored): \"cookie:session header:authorization\""},
    {"sluice.io/cache-default-ttl", S::kSupported, "",
     "freshness for cacheable responses without Cache-Control/Expires, e.g. 5m (off by default)"},
    {"sluice.io/cache-key", S::kSupported, "",
     "what the cache key is made of: scheme, host, path, query or query-sorted (no query: ignored), header:NAME, "
     "cookie:NAME (default \"scheme host path query\")"},
    {"sluice.io/cache-methods", S::kSupported, "", "GET, HEAD or both (default both; HEAD is answered from a stored GET)"},
    {"sluice.io/cache-store-set-cookie", S::kSupported, "",
     "on: also store responses with Set-Cookie (off by default: they are never shared)"},
    {"sluice.io/canary", S::kSupported, "", "this Ingress is a canary of the one with the same host and path"},
    {"sluice.io/canary-by-cookie", S::kSupported, "", "cookie whose value always/never picks the canary"},
    {"sluice.io/canary-by-header", S::kSupported, "", "header whose value always/never picks the canary"},
    {"sluice.io/canary-by-header-value", S::kSupported, "", "the header value that picks the canary"},
    {"sluice.io/canary-weight", S::kSupported, "", "share of requests for the canary"},
    {"sluice.io/canary-weight-total", S::kSupported, "", "what canary-weight is a share of (default 100)"},
    {"sluice.io/client-body-timeout", S::kSupported, "", "longest pause while reading a request body"},
    {"sluice.io/compression", S::kSupported, "", "on|off: compress responses (off by default)"},
    {"sluice.io/compression-codings", S::kSupported, "", "codings offered, preferred first (zstd, br, gzip)"},
    {"sluice.io/compression-level-brotli", S::kSupported, "", "1..11 (default 4)"},
    {"sluice.io/compression-level-gzip", S::kSupported, "", "1..9 (default 5)"},
    {"sluice.io/compression-level-zstd", S::kSupported, "", "1..19 (default 3)"},
    {"sluice.io/compression-min-length", S::kSupported, "", "smaller bodies of known length are sent as they are"},
    {"sluice.io/compression-types", S::kSupported, "", "media types compressed (replaces the built-in list)"},
    {"sluice.io/cors-allow-credentials", S::kSupported, "", "CORS: send Access-Control-Allow-Credentials (default true)"},
    {"sluice.io/cors-allow-headers", S::kSupported, "", "CORS: Access-Control-Allow-Headers (default: ingress-nginx's)"},
    {"sluice.io/cors-allow-methods", S::kSupported, "", "CORS: Access-Control-Allow-Methods (default: ingress-nginx's)"},
    {"sluice.io/cors-allow-origin", S::kSupported, "", "CORS: * (default) or origins, https://*.domain for one label"},
    {"sluice.io/cors-expose-headers", S::kSupported, "", "CORS: Access-Control-Expose-Headers (default none)"},
    {"sluice.io/cors-max-age", S::kSupported, "", "CORS: preflight cache seconds (default 1728000)"},
    {"sluice.io/custom-headers", S::kSupported, "", "ConfigMap (sluice.io/headers) of fields set on responses"},
    {"sluice.io/custom-http-errors", S::kSupported, "", "upstream statuses replaced by the default backend's page"},
    {"sluice.io/default-backend", S::kSupported, "", "a Service: error pages, and requests of routes without endpoints"},
    {"sluice.io/deny-source-range", S::kSupported, "", "client CIDRs refused with 403 (wins over allow)"},
    {"sluice.io/enable-cors", S::kSupported, "", "CORS: answer preflights, add the fields for allowed origins"},
    {"sluice.io/force-ssl-redirect", S::kSupported, "", "true: 308 to https even without TLS on the host"},
    {"sluice.io/from-to-www-redirect", S::kSupported, "", "true: www.<host> <-> <host> answers 308 to the Ingress's host"},
    {"sluice.io/hash-key", S::kSupported, "", "key of ring-hash/maglev balancing"},
    {"sluice.io/health-check-expected-status", S::kSupported, "", "active health check: healthy statuses"},
    {"sluice.io/health-check-healthy-threshold", S::kSupported, "", "active health check: passes to become healthy"},
    {"sluice.io/health-check-host", S::kSupported, "", "active health check: Host header"},
    {"sluice.io/health-check-interval", S::kSupported, "", "active health check: interval"},
    {"sluice.io/health-check-path", S::kSupported, "", "active health check: path (turns checks on)"},
    {"sluice.io/health-check-timeout", S::kSupported, "", "active health check: timeout"},
    {"sluice.io/health-check-unhealthy-threshold", S::kSupported, "", "active health check: failures to become unhealthy"},
    {"sluice.io/hsts-include-subdomains", S::kSupported, "", "HSTS includeSubDomains"},
    {"sluice.io/hsts-max-age", S::kSupported, "", "HSTS max-age in seconds (0: no header)"},
    {"sluice.io/hsts-preload", S::kSupported, "", "HSTS preload"},
    {"sluice.io/keep-server-header", S::kSupported, "", "pass the backend's Server header through"},
    {"sluice.io/load-balance", S::kSupported, "", "round-robin, least-request, ring-hash, maglev, random, ewma"},
    {"sluice.io/mirror-host", S::kSupported, "", "the mirrored copies' Host (default: mirror-target's host)"},
    {"sluice.io/mirror-request-body", S::kSupported, "", "on (default) or off: copy the request body"},
    {"sluice.io/mirror-target", S::kSupported, "",
     "http://SERVICE.NAMESPACE.svc.cluster.local[:PORT]/PATH: fire-and-forget copies of the requests"},
    {"sluice.io/outlier-base-ejection-time", S::kSupported, "", "outlier detection: first ejection time"},
    {"sluice.io/outlier-consecutive-failures", S::kSupported, "", "outlier detection: failures before ejection"},
    {"sluice.io/outlier-detection", S::kSupported, "", "outlier detection on|off"},
    {"sluice.io/outlier-max-ejection-percent", S::kSupported, "", "outlier detection: most endpoints ejected at once"},
    {"sluice.io/outlier-max-ejection-time", S::kSupported, "", "outlier detection: longest ejection"},
    {"sluice.io/panic-threshold-percent", S::kSupported, "", "below this share of healthy endpoints, use all"},
    {"sluice.io/per-try-timeout", S::kSupported, "", "response head timeout of each try"},
    {"sluice.io/permanent-redirect", S::kSupported, "", "every request answers a redirect to this URL or path"},
    {"sluice.io/permanent-redirect-code", S::kSupported, "", "300..308 (default 301)"},
    {"sluice.io/proxy-body-size", S::kSupported, "", "largest request body (413 above)"},
    {"sluice.io/proxy-connect-timeout", S::kSupported, "", "upstream connect timeout"},
    {"sluice.io/proxy-read-timeout", S::kSupported, "", "upstream response and idle timeout"},
    {"sluice.io/proxy-response-timeout", S::kSupported, "", "upstream response head timeout (over proxy-read-timeout)"},
    {"sluice.io/proxy-set-headers", S::kSupported, "", "ConfigMap (sluice.io/headers) of fields set on requests upstream"},
    {"sluice.io/rate-limit-burst", S::kSupported, "", "requests above the steady rate that may arrive at once"},
    {"sluice.io/rate-limit-connections", S::kSupported, "", "requests in flight at once per key (429 above)"},
    {"sluice.io/rate-limit-exempt", S::kSupported, "", "client CIDRs never limited"},
    {"sluice.io/rate-limit-fail", S::kSupported, "", "cluster scope: open (fall back to the local limit) or closed (429) when Redis is down"},
    {"sluice.io/rate-limit-key", S::kSupported, "", "client (default), header:NAME or cookie:NAME"},
    {"sluice.io/rate-limit-rpm", S::kSupported, "", "requests per minute"},
    {"sluice.io/rate-limit-rps", S::kSupported, "", "requests per second"},
    {"sluice.io/rate-limit-scope", S::kSupported, "", "local (per proxy) or cluster (all proxies, through --ratelimit-redis)"},
    {"sluice.io/retries", S::kSupported, "", "retries after the first try (default 2)"},
    {"sluice.io/retry-budget-min-per-second", S::kSupported, "", "retries always allowed per second"},
    {"sluice.io/retry-budget-percent", S::kSupported, "", "retries as a share of requests (default 20)"},
    {"sluice.io/retry-on", S::kSupported, "", "connect-failure, reset, timeout, 502, 503, 504, or off"},
    {"sluice.io/retry-timeout", S::kSupported, "", "no new try after this"},
    {"sluice.io/rewrite-target", S::kSupported, "", "path sent upstream, $0..$9 the path regex's captures (paths become regexes)"},
    {"sluice.io/server-alias", S::kSupported, "", "more host names serving the Ingress's paths (comma separated)"},
    {"sluice.io/session-cookie-max-age", S::kSupported, "", "affinity cookie Max-Age"},
    {"sluice.io/session-cookie-name", S::kSupported, "", "affinity cookie name"},
    {"sluice.io/session-cookie-path", S::kSupported, "", "affinity cookie Path"},
    {"sluice.io/session-cookie-samesite", S::kSupported, "", "affinity cookie SameSite"},
    {"sluice.io/session-cookie-secure", S::kSupported, "", "affinity cookie Secure"},
    {"sluice.io/ssl-passthrough", S::kSupported, "",
     "true: TLS to the Ingress's hosts is passed by SNI to the first path's Service, not terminated (paths "
     "ignored; needs --enable-ssl-passthrough)"},
    {"sluice.io/ssl-redirect", S::kSupported, "", "redirect HTTP to HTTPS on hosts with TLS (default true)"},
    {"sluice.io/temporal-redirect", S::kSupported, "", "as permanent-redirect, 302 (wins over it)"},
    {"sluice.io/temporal-redirect-code", S::kSupported, "", "300..308 (default 302)"},
    {"sluice.io/upstream-vhost", S::kSupported, "", "the Host sent upstream (HOST or HOST:PORT)"},
    {"sluice.io/use-regex", S::kSupported, "", "true: paths are RE2 regexes, case-insensitive, from the path's start"},
    {"sluice.io/waf", S::kSupported, "", "off, detect or block: ModSecurity with the OWASP CRS (off by default)"},
    {"sluice.io/waf-body-limit", S::kSupported, "", "request body bytes inspected (default 128k, at most 64m)"},
    {"sluice.io/waf-body-over-limit", S::kSupported, "", "reject (413, default) or pass uninspected above the limit"},
    {"sluice.io/waf-exclude-rules", S::kSupported, "", "CRS rule IDs and tags removed for this Ingress"},
    {"sluice.io/waf-inbound-anomaly-threshold", S::kSupported, "", "1..10000 (default 5)"},
    {"sluice.io/waf-outbound-anomaly-threshold", S::kSupported, "", "1..10000 (default 4)"},
    {"sluice.io/waf-paranoia", S::kSupported, "", "1..4 (default 1)"},
    {"sluice.io/waf-response-body", S::kSupported, "", "also inspect response bodies (default false)"},
    {"sluice.io/waf-transaction-id-header", S::kSupported, "", "request header whose value is the transaction ID"},
    {"sluice.io/x-forwarded-prefix", S::kSupported, "", "X-Forwarded-Prefix sent upstream"},
};

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string_view SupportName(Support support) {
  switch (support) {
    case Support::kSupported: return "supported";
    case Support::kDifferent: return "different";
    case Support::kNotNeeded: return "not-needed";
    case Support::kUnsupported: return "unsupported";
    case Support::kRefused: return "refused";
  }
  return "unsupported";
}

std::span<const CatalogEntry> AnnotationCatalog() { return kCatalog; }

const CatalogEntry* FindCatalogEntry(std::string_view name) {
  auto it = std::lower_bound(std::begin(kCatalog), std::end(kCatalog), name,
                             [](const CatalogEntry& entry, std::string_view key) { return entry.name < key; });
  return it != std::end(kCatalog) && it->name == name ? &*it : nullptr;
}

std::optional<std::string_view> SuggestAnnotation(std::string_view name) {
  std::string_view prefix;
  for (std::string_view known : {kNginxAnnotationPrefix, kSluiceAnnotationPrefix}) {
    if (name.substr(0, known.size()) == known) prefix = known;
  }
  if (prefix.empty()) return std::nullopt;
  const std::string_view suffix = name.substr(prefix.size());
  const size_t allowed = suffix.size() >= 16 ? 3 : 2;
  std::optional<std::string_view> best;
  size_t best_distance = allowed + 1;
  for (const CatalogEntry& entry : kCatalog) {
    if (entry.name.substr(0, prefix.size()) != prefix) continue;
    size_t distance = EditDistance(suffix, entry.name.substr(prefix.size()));
    if (distance < best_distance) {
      best_distance = distance;
      best = entry.name;
    }
  }
  return best;
}

std::vector<AnnotationProblem> RefusedAnnotationProblems(const nlohmann::json* annotations) {
  std::vector<AnnotationProblem> problems;
  if (annotations == nullptr || !annotations->is_object()) return problems;
  for (auto it = annotations->begin(); it != annotations->end(); ++it) {
    const CatalogEntry* entry = FindCatalogEntry(it.key());
    if (entry == nullptr || entry->support != Support::kRefused) continue;
    problems.push_back({it.key(), it.key() + ": refused, never applied: " + std::string(entry->note) +
                                      "; the rest of the Ingress applies"});
  }
  return problems;
}

std::string MarkdownAnnotationTable() {
  std::string out = "| ingress-nginx annotation | Sluice | Sluice's way, or the difference |\n|---|---|---|\n";
  for (const CatalogEntry& entry : kCatalog) {
    if (entry.name.substr(0, kNginxAnnotationPrefix.size()) != kNginxAnnotationPrefix) continue;
    out += "| `" + std::string(entry.name.substr(kNginxAnnotationPrefix.size())) + "` | " +
           std::string(SupportName(entry.support)) + " | ";
    if (!entry.sluice_way.empty()) out += "`" + std::string(entry.sluice_way) + "`";
    if (!entry.sluice_way.empty() && !entry.note.empty()) out += ": ";
    out += std::string(entry.note) + " |\n";
  }
  return out;
}

}  // namespace sluice::translate
