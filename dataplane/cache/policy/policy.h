#pragma once
// RFC 9111 (HTTP Caching) for a shared cache, as pure functions over parsed
// directives (dataplane/cache/directives) and plain numbers: may a response
// be stored (§3), how long it is fresh (§4.2.1, heuristics §4.2.2), how old
// it is (§4.2.3), whether a stored response may answer a request as it is,
// stale, or only after validation (§4, §4.2.4, §5.2.1, §5.2.2, RFC 5861),
// the secondary key from Vary (§4.1), which stored fields a 304 updates
// (§3.2, §4.3.4), what an unsafe method invalidates (§4.4), and the values
// of Age (§5.1) and Cache-Status (RFC 9211). No clock, no sockets: every
// time is a parameter in seconds since the epoch.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/cache/directives/directives.h"
#include "dataplane/http/message.h"

namespace sluice::cache {

// A route's cache configuration (compiled once with the snapshot).
struct CachePolicy {
  // Store responses that carry Set-Cookie (off: RFC 9111 allows it, but a
  // shared cache handing one client's cookie to others is the classic
  // leak; `cache-store-set-cookie` turns it on).
  bool store_set_cookie = false;
  // Freshness for a storable response with no explicit freshness and no
  // heuristic (`cache-default-ttl`); kAbsent: off (not stored).
  int64_t default_ttl = kAbsent;
  // Heuristic freshness (§4.2.2): this fraction of the time since
  // Last-Modified, at most `heuristic_cap` seconds.
  double heuristic_fraction = 0.1;
  int64_t heuristic_cap = 86400;
};

// RFC 9110 §15.1: statuses a cache may store with heuristic freshness.
bool IsHeuristicallyCacheable(int status);
// Statuses this cache understands well enough to store (RFC 9111 §3: a
// final status; 206 and 304 are not stored as objects of their own).
bool IsUnderstoodStatus(int status);

enum class StoreVerdict : uint8_t {
  kStore,
  kMethod,           // not GET (HEAD and others are answered from a GET's object)
  kStatus,           // not understood (1xx, 206, 304, or unknown)
  kRequestNoStore,   // §5.2.1.5
  kNoStore,          // §5.2.2.5
  kPrivate,          // §5.2.2.7 (a shared cache)
  kAuthorization,    // §3.5: the request had Authorization, the response does not allow it
  kSetCookie,        // the route does not store Set-Cookie
  kVaryAny,          // Vary: * never matches (§4.1): storing it would be useless
  kNoFreshness,      // no explicit freshness, not heuristically cacheable, no default TTL
  kMustUnderstand,   // must-understand with a status this cache does not understand (§5.2.2.3)
};
std::string_view StoreVerdictName(StoreVerdict verdict);

// §3 for a shared cache. `method` is the request's.
StoreVerdict MayStore(std::string_view method, const RequestDirectives& request, int status,
                      const ResponseDirectives& response, const VaryFields& vary, const CachePolicy& policy);

struct Freshness {
  int64_t lifetime = 0;     // seconds
  bool heuristic = false;   // §4.2.2 (or the route's default TTL)
};

// §4.2.1 (shared: s-maxage, then max-age, then Expires - Date), then the
// heuristic of §4.2.2 where allowed, then the route's default TTL.
// `response_time`: when the response was received (stands in for a missing Date).
Freshness FreshnessLifetime(int status, const ResponseDirectives& response, int64_t response_time,
                            const CachePolicy& policy);

// The inputs of §4.2.3, kept with a stored response.
struct AgeInputs {
  int64_t request_time = 0;   // when the request that got it was sent
  int64_t response_time = 0;  // when its response was received
  int64_t date_value = 0;     // its Date (response_time when none)
  int64_t age_value = 0;      // its Age (0 when none)
};
AgeInputs AgeInputsOf(const ResponseDirectives& response, int64_t request_time, int64_t response_time);
// §4.2.3 current_age at `now`.
int64_t CurrentAge(const AgeInputs& inputs, int64_t now);
// §5.1: the Age field value (2147483648 at most).
std::string AgeValue(int64_t current_age);

// What a stored response can do for a request (§4, §4.2.4, §5.2, RFC 5861).
enum class Usability : uint8_t {
  kFresh,                  // answer with it
  kStaleAllowed,           // stale, but the request's max-stale accepts it
  kStaleWhileRevalidate,   // stale within stale-while-revalidate: answer, and revalidate in the background
  kRevalidate,             // only after a validation with the origin
};
std::string_view UsabilityName(Usability usability);

// The stored response's freshness facts, as kept with it.
struct StoredFreshness {
  int64_t lifetime = 0;
  CacheControl cc;  // the stored response's directives
};

Usability Evaluate(const StoredFreshness& stored, int64_t current_age, const RequestDirectives& request);

// RFC 5861 §4 / RFC 9111 §4.2.4: may a stale response answer when the
// origin failed (a connection error or a 500/502/503/504)?
bool MayServeStaleOnError(const StoredFreshness& stored, int64_t current_age, const RequestDirectives& request);
// The statuses RFC 5861 §4 calls errors.
inline bool IsOriginErrorStatus(int status) { return status == 500 || status == 502 || status == 503 || status == 504; }

// §4.1: the request's values of the fields a stored response varies on,
// normalised (lists re-joined with ", ", OWS removed, case folded for
// fields whose values are case-insensitive), as one string to compare;
// nullopt for Vary: * (never matches).
std::optional<std::string> SecondaryKey(const VaryFields& vary, const http::HeaderMap& request);

// The primary key (§2): scheme, authority (lower case, default port
// dropped), and the target.
std::string PrimaryKey(std::string_view scheme, std::string_view authority, std::string_view path);

// §3.1: fields a cache does not store (hop-by-hop and connection-specific;
// the fields Connection names are the caller's: see StoredFields).
bool IsUnstorableField(std::string_view lower_name);
// The fields to store from a response (§3.1: without the unstorable ones
// and those its Connection field names).
http::HeaderMap StoredFields(const http::HeaderMap& response);
// §3.2 / §4.3.4: the stored fields updated with those of a 304: each
// field of the 304 replaces the stored ones of that name, except
// unstorable fields, Content-Length, and the fields this cache's stored
// body depends on (Content-Encoding, Content-Range, Transfer-Encoding).
http::HeaderMap UpdateFrom304(const http::HeaderMap& stored, const http::HeaderMap& not_modified);
bool UpdatedBy304(std::string_view lower_name);

// §4.4: the primary keys to invalidate after `method` got `status`: none
// for safe methods or an error status; else the target URI and the
// Location and Content-Location URIs when they are same-origin.
bool IsSafeMethod(std::string_view method);
std::vector<std::string> InvalidationTargets(std::string_view method, int status, std::string_view scheme,
                                             std::string_view authority, std::string_view path,
                                             const http::HeaderMap& response);

// RFC 9211 Cache-Status: one member, "name; hit; ttl=N" or
// "name; fwd=reason; fwd-status=S; stored; collapsed".
struct CacheStatus {
  bool hit = false;
  // RFC 9211 §2.2 fwd values: "bypass", "method", "uri-miss", "vary-miss",
  // "miss", "request", "stale", "partial"; empty when not forwarded.
  std::string_view fwd;
  int fwd_status = 0;            // 0: not said
  std::optional<int64_t> ttl;    // freshness left (negative when stale)
  bool stored = false;
  bool collapsed = false;        // served from another request's fill
  std::string_view detail;       // e.g. "stale-if-error"
};
// `cache_name`: an sf-token as it is, else written as an sf-string.
std::string CacheStatusValue(std::string_view cache_name, const CacheStatus& status);

}  // namespace sluice::cache
