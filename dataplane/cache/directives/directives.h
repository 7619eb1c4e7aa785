#pragma once
// Parsers for the header fields an HTTP shared cache reads (RFC 9111, RFC
// 9110, RFC 9213, RFC 5861): Cache-Control, CDN-Cache-Control, Expires,
// Date, Age, Last-Modified, Pragma and Vary. Strict about syntax, and where
// a field is malformed or directives conflict they follow the RFC rather
// than guess:
//   - a delta-seconds that is not 1*DIGIT (quoted or not) makes max-age /
//     s-maxage 0 (RFC 9111 §4.2.1: "consider responses that have invalid
//     freshness information ... to be stale"); above 2^31 it is 2^31
//     (§1.2.2);
//   - a directive given twice keeps the most restrictive value (§4.2.1:
//     the smaller max-age, s-maxage, max-stale, stale-*; the larger
//     min-fresh);
//   - an invalid Expires (e.g. "0") means already expired (§5.3), and two
//     different Expires values too (§4.2.1);
//   - a list-valued or invalid Age: its first member, else ignored (§5.1);
//   - qualified no-cache="f" / private="f" are kept as their unqualified,
//     stricter forms (§5.2.2.4, §5.2.2.7 allow it) and flagged;
//   - CDN-Cache-Control (RFC 9213) is a Structured Field Dictionary (RFC
//     8941): when it parses it replaces Cache-Control for the response,
//     when it does not it is ignored; within it a key given twice keeps the
//     last value (RFC 8941 §4.2.2, unlike Cache-Control).
// Allocation-light: parsing Cache-Control allocates nothing; Vary's names
// are the only strings built (stored with the object).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/http/message.h"

namespace sluice::cache {

// RFC 9111 §1.2.2: the largest delta-seconds a cache must represent.
inline constexpr int64_t kMaxDeltaSeconds = 2147483648;  // 2^31
// A directive's value when it is absent.
inline constexpr int64_t kAbsent = -1;
// max-stale without a value: any staleness is acceptable (§5.2.1.2).
inline constexpr int64_t kAnyStale = kMaxDeltaSeconds;

struct CacheControl {
  int64_t max_age = kAbsent;
  int64_t s_maxage = kAbsent;
  int64_t max_stale = kAbsent;   // request
  int64_t min_fresh = kAbsent;   // request
  int64_t stale_while_revalidate = kAbsent;  // RFC 5861 §3
  int64_t stale_if_error = kAbsent;          // RFC 5861 §4 (request and response)
  bool no_store = false;
  bool no_cache = false;
  bool no_cache_qualified = false;  // no-cache="field" (treated as no-cache)
  bool is_private = false;
  bool private_qualified = false;   // private="field" (treated as private)
  bool is_public = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool must_understand = false;
  bool no_transform = false;
  bool only_if_cached = false;  // request
  bool immutable = false;       // RFC 8246 (read, not used by a shared cache)
  // Something did not parse (an element skipped, a bad argument); the
  // directives above already say what the RFC makes of it.
  bool malformed = false;
  // At least one directive (known or not) was present.
  bool present = false;
};

// Adds the directives of one Cache-Control field line to `out` (call once
// per line: the lines of a list field combine).
void ParseCacheControl(std::string_view line, CacheControl& out);

// One CDN-Cache-Control (RFC 9213) field value, all lines joined; false
// when it is not a valid Structured Field Dictionary (then ignore it and
// `out` is unspecified).
bool ParseCdnCacheControl(const std::vector<std::string_view>& lines, CacheControl& out);

// An HTTP-date in any of RFC 9110 §5.6.7's three forms (IMF-fixdate,
// obsolete RFC 850, asctime), as seconds since the epoch; nullopt when it
// is none of them. `now` (seconds) places RFC 850's two-digit years: a year
// more than 50 years in the future is the most recent past one instead.
std::optional<int64_t> ParseHttpDate(std::string_view text, int64_t now);
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string FormatHttpDate(int64_t seconds);

// delta-seconds (1*DIGIT), clamped to kMaxDeltaSeconds; nullopt otherwise.
std::optional<int64_t> ParseDeltaSeconds(std::string_view text);

struct ResponseDirectives {
  CacheControl cc;
  bool from_cdn_cache_control = false;  // cc came from CDN-Cache-Control
  bool has_expires = false;
  // Expires when present: its time, or (invalid, or several different
  // values) the earliest possible time: already expired.
  int64_t expires = 0;
  std::optional<int64_t> date;
  int64_t age = kAbsent;  // Age's delta-seconds, kAbsent when none or invalid
  std::optional<int64_t> last_modified;
  bool has_set_cookie = false;
  bool has_vary = false;
};

ResponseDirectives ParseResponseDirectives(const http::HeaderMap& headers, int64_t now);

struct RequestDirectives {
  CacheControl cc;
  // Pragma: no-cache with no Cache-Control in the request (RFC 9111 §5.4
  // deprecates Pragma; HTTP/1.0 clients still send it, and RFC 7234 §5.4
  // read it this way): folded into cc.no_cache.
  bool pragma_no_cache = false;
  bool has_authorization = false;
};

RequestDirectives ParseRequestDirectives(const http::HeaderMap& headers);

// The field names a response varies on (RFC 9110 §12.5.5), lower case,
// sorted, without duplicates; `any` for "*" (never matches, RFC 9111 §4.1).
struct VaryFields {
  bool any = false;
  bool malformed = false;  // an element that is not a token (it is skipped)
  std::vector<std::string> names;
  bool empty() const { return !any && names.empty(); }
};

// Every Vary line of `headers`.
VaryFields ParseVary(const http::HeaderMap& headers);
// One Vary line added to `out` (names stay sorted and unique).
void ParseVaryLine(std::string_view line, VaryFields& out);

}  // namespace sluice::cache
