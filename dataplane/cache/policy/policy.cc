#include "dataplane/cache/policy/policy.h"

#include <algorithm>
#include <array>

namespace sluice::cache {
namespace {

bool IsOws(char c) { return c == ' ' || c == '\t'; }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string_view Trim(std::string_view v) {
  while (!v.empty() && IsOws(v.front())) v.remove_prefix(1);
  while (!v.empty() && IsOws(v.back())) v.remove_suffix(1);
  return v;
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return a > 0 ? kMaxDeltaSeconds : 0;
  return r;
}

bool IsSfTokenStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*'; }
bool IsSfTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~:/").find(c) != std::string_view::npos;
}
bool IsSfToken(std::string_view v) {
  if (v.empty() || !IsSfTokenStart(v[0])) return false;
  return std::all_of(v.begin() + 1, v.end(), IsSfTokenChar);
}
// An sf-token as it is, anything else as an sf-string (printable ASCII; other bytes dropped).
void AppendTokenOrString(std::string& out, std::string_view v) {
  if (IsSfToken(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    if (c < 0x20 || c >= 0x7f) continue;
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

bool IsHeuristicallyCacheable(int status) {
  // RFC 9110 §15.1, plus 451 (RFC 7725 §3). 206 is listed there but this
  // cache does not store partial responses.
  switch (status) {
    case 200: case 203: case 204: case 300: case 301: case 308: case 404: case 405: case 410: case 414:
    case 451: case 501:
      return true;
    default:
      return false;
  }
}

bool IsUnderstoodStatus(int status) {
  if (IsHeuristicallyCacheable(status)) return true;
  switch (status) {
    case 302: case 303: case 307: case 400: case 403: case 500: case 502: case 503: case 504:
      return true;  // storable with explicit freshness only
    default:
      return false;
  }
}

std::string_view StoreVerdictName(StoreVerdict verdict) {
  switch (verdict) {
    case StoreVerdict::kStore: return "store";
    case StoreVerdict::kMethod: return "method";
    case StoreVerdict::kStatus: return "status";
    case StoreVerdict::kRequestNoStore: return "request-no-store";
    case StoreVerdict::kNoStore: return "no-store";
    case StoreVerdict::kPrivate: return "private";
    case StoreVerdict::kAuthorization: return "authorization";
    case StoreVerdict::kSetCookie: return "set-cookie";
    case StoreVerdict::kVaryAny: return "vary-any";
    case StoreVerdict::kNoFreshness: return "no-freshness";
    case StoreVerdict::kMustUnderstand: return "must-understand";
  }
  return "?";
}

StoreVerdict MayStore(std::string_view method, const RequestDirectives& request, int status,
                      const ResponseDirectives& response, const VaryFields& vary, const CachePolicy& policy) {
  const CacheControl& cc = response.cc;
  // §3: the request method is understood and cacheable; this cache keeps
  // GET responses (HEAD is answered from them, §4.3.5's reverse is not done).
  if (method != "GET") return StoreVerdict::kMethod;
  if (request.cc.no_store) return StoreVerdict::kRequestNoStore;  // §5.2.1.5
  const bool understood = IsUnderstoodStatus(status);
  if (!understood) return cc.must_understand ? StoreVerdict::kMustUnderstand : StoreVerdict::kStatus;
  // §5.2.2.3: must-understand with an understood status overrides no-store.
  if (cc.no_store && !cc.must_understand) return StoreVerdict::kNoStore;
  if (cc.is_private) return StoreVerdict::kPrivate;  // qualified too (stricter)
  // §3.5: a shared cache stores a response to an authorized request only
  // when the response says so.
  if (request.has_authorization && !cc.is_public && cc.s_maxage == kAbsent && !cc.must_revalidate) {
    return StoreVerdict::kAuthorization;
  }
  if (response.has_set_cookie && !policy.store_set_cookie) return StoreVerdict::kSetCookie;
  if (vary.any) return StoreVerdict::kVaryAny;
  const bool explicit_freshness = cc.max_age != kAbsent || cc.s_maxage != kAbsent || response.has_expires;
  if (!explicit_freshness && !cc.is_public && !IsHeuristicallyCacheable(status) && policy.default_ttl == kAbsent) {
    return StoreVerdict::kNoFreshness;
  }
  return StoreVerdict::kStore;
}

Freshness FreshnessLifetime(int status, const ResponseDirectives& response, int64_t response_time,
                            const CachePolicy& policy) {
  const CacheControl& cc = response.cc;
  if (cc.s_maxage != kAbsent) return {cc.s_maxage, false};
  if (cc.max_age != kAbsent) return {cc.max_age, false};
  const int64_t date = response.date.value_or(response_time);
  if (response.has_expires) return {std::max<int64_t>(0, response.expires - date), false};
  // §4.2.2: only without explicit expiration, for heuristically cacheable
  // statuses or responses marked public.
  if ((IsHeuristicallyCacheable(status) || cc.is_public) && response.last_modified && *response.last_modified < date) {
    const double since = static_cast<double>(date - *response.last_modified);
    const int64_t lifetime = std::min<int64_t>(static_cast<int64_t>(since * policy.heuristic_fraction), policy.heuristic_cap);
    if (lifetime > 0) return {lifetime, true};
  }
  if (policy.default_ttl != kAbsent) return {policy.default_ttl, true};
  return {0, false};
}

AgeInputs AgeInputsOf(const ResponseDirectives& response, int64_t request_time, int64_t response_time) {
  AgeInputs in;
  in.request_time = request_time;
  in.response_time = response_time;
  in.date_value = response.date.value_or(response_time);
  in.age_value = response.age == kAbsent ? 0 : response.age;
  return in;
}

int64_t CurrentAge(const AgeInputs& in, int64_t now) {
  // RFC 9111 §4.2.3, verbatim.
  const int64_t apparent_age = std::max<int64_t>(0, in.response_time - in.date_value);
  const int64_t response_delay = std::max<int64_t>(0, in.response_time - in.request_time);
  const int64_t corrected_age_value = SaturatingAdd(in.age_value, response_delay);
  const int64_t corrected_initial_age = std::max(apparent_age, corrected_age_value);
  const int64_t resident_time = std::max<int64_t>(0, now - in.response_time);
  return std::min(SaturatingAdd(corrected_initial_age, resident_time), kMaxDeltaSeconds);
}

std::string AgeValue(int64_t current_age) {
  return std::to_string(std::clamp<int64_t>(current_age, 0, kMaxDeltaSeconds));
}

std::string_view UsabilityName(Usability usability) {
  switch (usability) {
    case Usability::kFresh: return "fresh";
    case Usability::kStaleAllowed: return "stale-allowed";
    case Usability::kStaleWhileRevalidate: return "stale-while-revalidate";
    case Usability::kRevalidate: return "revalidate";
  }
  return "?";
}

namespace {
// §4.2.4: directives that forbid serving a stale response (for a shared
// cache s-maxage implies proxy-revalidate, §5.2.2.10).
bool StaleForbidden(const CacheControl& cc) {
  return cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage != kAbsent || cc.no_cache;
}
}  // namespace

Usability Evaluate(const StoredFreshness& stored, int64_t current_age, const RequestDirectives& request) {
  const CacheControl& req = request.cc;
  if (req.no_cache) return Usability::kRevalidate;         // §5.2.1.4 (and Pragma)
  if (stored.cc.no_cache) return Usability::kRevalidate;   // §5.2.2.4
  if (req.max_age != kAbsent && current_age > req.max_age) return Usability::kRevalidate;  // §5.2.1.1
  const int64_t fresh_left = stored.lifetime - current_age;
  if (req.min_fresh != kAbsent && fresh_left < req.min_fresh) return Usability::kRevalidate;  // §5.2.1.3
  if (fresh_left > 0) return Usability::kFresh;  // §4.2: lifetime > current_age
  const int64_t staleness = -fresh_left;
  if (StaleForbidden(stored.cc)) return Usability::kRevalidate;
  if (req.max_stale != kAbsent && staleness <= req.max_stale) return Usability::kStaleAllowed;  // §5.2.1.2
  if (stored.cc.stale_while_revalidate != kAbsent && staleness <= stored.cc.stale_while_revalidate) {
    return Usability::kStaleWhileRevalidate;  // RFC 5861 §3
  }
  return Usability::kRevalidate;
}

bool MayServeStaleOnError(const StoredFreshness& stored, int64_t current_age, const RequestDirectives& request) {
  const int64_t staleness = current_age - stored.lifetime;
  if (staleness < 0) return true;  // still fresh
  if (StaleForbidden(stored.cc)) return false;
  int64_t window = std::max(stored.cc.stale_if_error, request.cc.stale_if_error);  // RFC 5861 §4: either may allow
  window = std::max(window, request.cc.max_stale);
  return window != kAbsent && staleness <= window;
}

namespace {

// Fields whose values are case-insensitive lists whose order does not
// matter (RFC 9110 §12.5.3 Accept-Encoding) or at least case-insensitive.
bool CaseInsensitiveValue(std::string_view name) {
  return name == "accept-encoding" || name == "accept-language" || name == "accept-charset";
}

// One field's combined value normalised: members split at commas, OWS
// trimmed, whitespace runs collapsed, empty members dropped, joined ", ".
void AppendNormalised(std::string_view name, const http::HeaderMap& request, std::string& out) {
  std::vector<std::string> members;
  for (const http::Header& field : request.entries()) {
    if (field.name != name) continue;
    std::string_view v = field.value;
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      if (comma == std::string_view::npos) comma = v.size();
      std::string_view member = Trim(v.substr(start, comma - start));
      if (!member.empty()) {
        std::string m;
        m.reserve(member.size());
        bool space = false;
        for (char c : member) {
          if (IsOws(c)) {
            space = true;
            continue;
          }
          if (space) m.push_back(' ');
          space = false;
          m.push_back(CaseInsensitiveValue(name) ? Lower(c) : c);
        }
        members.push_back(std::move(m));
      }
      start = comma + 1;
    }
  }
  if (name == "accept-encoding") std::sort(members.begin(), members.end());
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out.append(", ");
    out.append(members[i]);
  }
}

}  // namespace

std::optional<std::string> SecondaryKey(const VaryFields& vary, const http::HeaderMap& request) {
  if (vary.any) return std::nullopt;
  std::string key;
  for (const std::string& name : vary.names) {
    key.append(name);
    // An absent field differs from an empty one (§4.1).
    if (request.Get(name) == nullptr) {
      key.append("!\n");
      continue;
    }
    key.push_back('=');
    AppendNormalised(name, request, key);
    key.push_back('\n');
  }
  return key;
}

std::string PrimaryKey(std::string_view scheme, std::string_view authority, std::string_view path) {
  std::string key;
  key.reserve(scheme.size() + authority.size() + path.size() + 3);
  for (char c : scheme) key.push_back(Lower(c));
  key.append("://");
  // The default port says nothing (RFC 9110 §4.2.3 normalisation).
  if (scheme == "http" && authority.ends_with(":80")) authority.remove_suffix(3);
  if (scheme == "https" && authority.ends_with(":443")) authority.remove_suffix(4);
  for (char c : authority) key.push_back(Lower(c));
  key.append(path.empty() ? std::string_view("/") : path);
  return key;
}

bool IsUnstorableField(std::string_view n) {
  // §3.1: connection-specific fields; Proxy-Authenticate & co. SHOULD NOT.
  static constexpr std::array<std::string_view, 10> kNames = {
      "connection", "proxy-connection", "keep-alive", "te", "transfer-encoding", "upgrade", "trailer",
      "proxy-authenticate", "proxy-authentication-info", "proxy-authorization"};
  return std::find(kNames.begin(), kNames.end(), n) != kNames.end();
}

http::HeaderMap StoredFields(const http::HeaderMap& response) {
  // The names Connection lists are hop-by-hop too.
  std::vector<std::string> listed;
  for (const http::Header& field : response.entries()) {
    if (field.name != "connection") continue;
    std::string_view v = field.value;
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      if (comma == std::string_view::npos) comma = v.size();
      std::string name(Trim(v.substr(start, comma - start)));
      for (char& c : name) c = Lower(c);
      if (!name.empty()) listed.push_back(std::move(name));
      start = comma + 1;
    }
  }
  http::HeaderMap out;
  for (const http::Header& field : response.entries()) {
    // Age is recomputed on every hit from the stored AgeInputs (§4.2.3).
    if (IsUnstorableField(field.name) || field.name == "age") continue;
    if (std::find(listed.begin(), listed.end(), field.name) != listed.end()) continue;
    out.Add(field.name, field.value);
  }
  return out;
}

bool UpdatedBy304(std::string_view n) {
  if (IsUnstorableField(n) || n == "age") return false;
  // §3.2: Content-Length is excepted; the stored body depends on
  // Content-Encoding and Content-Range (updating them would describe bytes
  // this cache does not have).
  return n != "content-length" && n != "content-encoding" && n != "content-range";
}

http::HeaderMap UpdateFrom304(const http::HeaderMap& stored, const http::HeaderMap& not_modified) {
  const http::HeaderMap fresh = StoredFields(not_modified);
  auto replaced = [&](std::string_view name) { return UpdatedBy304(name) && fresh.Get(name) != nullptr; };
  http::HeaderMap out;
  for (const http::Header& field : stored.entries()) {
    if (!replaced(field.name)) out.Add(field.name, field.value);
  }
  for (const http::Header& field : fresh.entries()) {
    if (UpdatedBy304(field.name)) out.Add(field.name, field.value);
  }
  return out;
}

bool IsSafeMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE";
}

namespace {

// A Location / Content-Location reference resolved against the request
// (RFC 3986 §5.2, the common forms), as a primary key; nullopt when it is
// of another origin or not understood.
std::optional<std::string> SameOriginKey(std::string_view ref, std::string_view scheme, std::string_view authority,
                                         std::string_view path) {
  ref = Trim(ref);
  if (ref.empty()) return std::nullopt;
  const std::string origin = PrimaryKey(scheme, authority, "");
  std::string resolved;
  const size_t colon = ref.find(':');
  const size_t first_slash = ref.find('/');
  if (colon != std::string_view::npos && (first_slash == std::string_view::npos || colon < first_slash)) {
    // Absolute: "scheme://authority/path".
    const std::string_view ref_scheme = ref.substr(0, colon);
    if (ref.substr(colon, 3) != "://") return std::nullopt;
    const std::string_view rest = ref.substr(colon + 3);
    const size_t slash = rest.find_first_of("/?");
    const std::string_view ref_authority = rest.substr(0, slash);
    const std::string_view ref_path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
    const std::string full_path = ref_path[0] == '?' ? "/" + std::string(ref_path) : std::string(ref_path);
    std::string key = PrimaryKey(ref_scheme, ref_authority, full_path);
    if (!key.starts_with(origin)) return std::nullopt;  // origin ends with "/", so "a.com.evil" differs
    return key;
  }
  if (ref.starts_with("//")) {
    const std::string_view rest = ref.substr(2);
    const size_t slash = rest.find_first_of("/?");
    std::string key = PrimaryKey(scheme, rest.substr(0, slash), slash == std::string_view::npos ? "/" : rest.substr(slash));
    if (!key.starts_with(origin)) return std::nullopt;  // origin ends with "/", so "a.com.evil" differs
    return key;
  }
  if (ref[0] == '/') return PrimaryKey(scheme, authority, ref);
  // Relative to the request's directory ("a/b", "?q" keeps the path).
  std::string_view base = http::PathWithoutQuery(path);
  if (ref[0] == '?') return PrimaryKey(scheme, authority, std::string(base) + std::string(ref));
  const size_t last = base.rfind('/');
  resolved = std::string(last == std::string_view::npos ? std::string_view("/") : base.substr(0, last + 1));
  resolved.append(ref);
  return PrimaryKey(scheme, authority, resolved);
}

}  // namespace

std::vector<std::string> InvalidationTargets(std::string_view method, int status, std::string_view scheme,
                                             std::string_view authority, std::string_view path,
                                             const http::HeaderMap& response) {
  std::vector<std::string> out;
  if (IsSafeMethod(method) || status < 200 || status >= 400) return out;
  out.push_back(PrimaryKey(scheme, authority, path));
  for (std::string_view field : {"location", "content-location"}) {
    const std::string* value = response.Get(field);
    if (value == nullptr) continue;
    std::optional<std::string> key = SameOriginKey(*value, scheme, authority, path);
    if (key && std::find(out.begin(), out.end(), *key) == out.end()) out.push_back(std::move(*key));
  }
  return out;
}

std::string CacheStatusValue(std::string_view cache_name, const CacheStatus& status) {
  std::string out;
  out.reserve(64);
  AppendTokenOrString(out, cache_name);
  if (status.hit) out.append("; hit");
  if (!status.fwd.empty()) {
    out.append("; fwd=");
    out.append(status.fwd);
    if (status.fwd_status != 0) {
      out.append("; fwd-status=");
      out.append(std::to_string(status.fwd_status));
    }
  }
  if (status.ttl) {
    out.append("; ttl=");
    out.append(std::to_string(std::clamp<int64_t>(*status.ttl, -999999999999999, 999999999999999)));
  }
  if (status.stored) out.append("; stored");
  if (status.collapsed) out.append("; collapsed");
  if (!status.detail.empty()) {
    out.append("; detail=");
    AppendTokenOrString(out, status.detail);
  }
  return out;
}

}  // namespace sluice::cache
