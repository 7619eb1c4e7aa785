#pragma once
// Request routing: which virtual host and which route a request takes.
//
// This is the ONE implementation of the matching rules. The proxy
// (snapshot::CompiledSnapshot::Match) and the translator's tests
// (controlplane/translate/route_match.h) both use it, and both run the case
// table in test/routing_cases, so the two cannot drift apart again.
// It depends on the standard library and RE2 only (Debian's libre2, for
// regex paths): no sockets, no protobuf, nothing else from the data plane,
// so the control plane may use it too (and validates regexes with it).
//
// The rules (Kubernetes Ingress semantics):
//  1. Host. The request host is lower-cased, loses its ":port" and one
//     trailing dot ("Example.COM.:8443" is "example.com"; an FQDN with its
//     root dot names the same host). IPv6 literals keep their brackets.
//     The virtual host is the one named exactly like it; else the wildcard
//     "*.<parent>", where <parent> is the host minus its first label (a
//     wildcard covers exactly one label: "*.example.com" takes
//     "a.example.com", not "a.b.example.com" nor "example.com"); else the
//     catch-all "*". There is no fallback to another virtual host when none
//     of the chosen host's routes matches (404).
//  2. Path. The request target loses its "?query" and its "#fragment"
//     (a fragment is never part of the path, RFC 3986 section 3.5).
//     Paths are case-sensitive.
//       Exact   the path equals the route's path.
//       Prefix  element-wise: the route's path without trailing slashes
//               ("/foo/" is "/foo") matches the path itself and the path
//               followed by "/..." ("/foo" matches "/foo", "/foo/" and
//               "/foo/bar", not "/foobar"); "/" matches every path.
//       ImplementationSpecific  as Prefix.
//       Regex   (issue 18: ingress-nginx's use-regex and rewrite-target)
//               an RE2 expression matched case-insensitively from the
//               start of the path, not to its end: nginx's
//               `location ~* "^path"`. RE2, not PCRE: matching is linear
//               in the path's length whatever the pattern (no
//               catastrophic backtracking on a hostile path), at the
//               price of backreferences and lookaround, which do not
//               compile (the controller refuses such an Ingress).
//  3. Precedence inside a virtual host, as the Kubernetes documentation
//     states it: the longest matching path wins; on equal paths Exact wins
//     over Prefix. The router orders a host's routes so once, when it is
//     built (stable: routes that tie keep the order they were given in), and
//     takes the first match per request. Choice made when the two former
//     copies were merged: both took "the first route in snapshot order" and
//     relied on the translator to sort; the ordering now belongs to the
//     router, so a snapshot from any producer routes the Kubernetes way, and
//     the translator's (already sorted) output routes exactly as before.
//     A Regex route ranks by the length of its expression's text, as
//     ingress-nginx orders its locations (longest path first, and nginx
//     then takes the first regex location that matches).
//     The former proxy copy kept '#' in the path (an Exact "/a" did not
//     take "/a#x"); the former translator copy kept the trailing dot
//     ("example.com." found no virtual host). Both now follow the rules
//     above.
//
// Per request nothing is allocated (hosts longer than 255 bytes aside).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace re2 {
class RE2;
}

namespace sluice::router {

enum class PathType : uint8_t { kExact, kPrefix, kImplementationSpecific, kRegex };

// A route as the matching sees it: its type, its compiled path (the
// expression's text for kRegex) and, for kRegex only, the compiled
// expression (never null for kRegex: a route whose expression does not
// compile is not given to the router at all).
struct RouteRule {
  PathType type = PathType::kPrefix;
  std::string_view path;
  const re2::RE2* regex = nullptr;
};

// A Regex route's expression compiled as routing matches it (RE2 syntax,
// case-insensitive, bytes as Latin-1 like nginx's PCRE without UTF-8, a
// bounded program size); null with `error` set when it does not compile.
std::shared_ptr<const re2::RE2> CompileRegex(std::string_view pattern, std::string* error);

// Whether `regex` matches at the start of `path` (a RequestPath). With
// `captures` (room for `count`, the first one the whole match), fills them.
bool RegexMatches(const re2::RE2& regex, std::string_view path, std::string_view* captures = nullptr,
                  int count = 0);
// The number of capture groups of `regex`.
int RegexGroups(const re2::RE2& regex);

// The matching form of a route path: Prefix and ImplementationSpecific lose
// their trailing slashes ("/" stays "/").
std::string CompilePath(PathType type, std::string_view path);

// The request target without "?query" and "#fragment".
inline std::string_view RequestPath(std::string_view target) {
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '?' || target[i] == '#') return target.substr(0, i);
  }
  return target;
}

// Whether a route (type, CompilePath'd path) takes `path` (a RequestPath).
// Not for kRegex (see RuleMatches).
inline bool PathMatches(PathType type, std::string_view route_path, std::string_view path) {
  if (type == PathType::kExact) return path == route_path;
  if (route_path.size() == 1) return true;  // "/" (compiled prefix paths are never empty)
  return path.size() >= route_path.size() && path.compare(0, route_path.size(), route_path) == 0 &&
         (path.size() == route_path.size() || path[route_path.size()] == '/');
}

// Whether a route takes `path` (a RequestPath). Routes without a regex pay
// one predictable branch for the feature.
inline bool RuleMatches(const RouteRule& rule, std::string_view path) {
  if (rule.type == PathType::kRegex) [[unlikely]] {
    return rule.regex != nullptr && RegexMatches(*rule.regex, path);
  }
  return PathMatches(rule.type, rule.path, path);
}

// Precedence: whether route a is tried before route b (longer path first,
// then Exact before the others). A strict weak order, for std::stable_sort.
inline bool Precedes(PathType a_type, std::string_view a_path, PathType b_type, std::string_view b_path) {
  if (a_path.size() != b_path.size()) return a_path.size() > b_path.size();
  return a_type == PathType::kExact && b_type != PathType::kExact;
}

// Orders `routes` for first-match: rule(route) returns a RouteRule.
template <typename Route, typename Rule>
void SortByPrecedence(std::vector<Route>& routes, Rule&& rule) {
  std::stable_sort(routes.begin(), routes.end(), [&rule](const Route& a, const Route& b) {
    const RouteRule ra = rule(a);
    const RouteRule rb = rule(b);
    return Precedes(ra.type, ra.path, rb.type, rb.path);
  });
}

// The first route of `routes` (in precedence order) taking `target`'s path,
// or null. rule(route) returns a RouteRule.
template <typename Route, typename Rule>
const Route* FirstMatch(const std::vector<Route>& routes, std::string_view target, Rule&& rule) {
  std::string_view path = RequestPath(target);
  for (const Route& route : routes) {
    if (RuleMatches(rule(route), path)) return &route;
  }
  return nullptr;
}

// A request's host, normalised (see the rules above) into an inline buffer.
class RequestHost {
 public:
  explicit RequestHost(std::string_view raw);
  RequestHost(const RequestHost&) = delete;
  RequestHost& operator=(const RequestHost&) = delete;

  // Lower case, no port, no trailing dot; empty for an empty host and for
  // an unterminated IPv6 literal ("[::1").
  std::string_view name() const { return {data_, size_}; }
  // The key of the wildcard host that may take it: "example.com" for
  // "a.example.com" ("*.example.com"); empty when there is none (no dot, or
  // a leading one).
  std::string_view wildcard_parent() const;

 private:
  static constexpr size_t kInline = 256;
  char inline_[kInline];
  std::string heap_;  // for the rare host longer than kInline
  const char* data_ = inline_;
  size_t size_ = 0;
};

// The same as a string (for Location headers, logs).
std::string NormalizeHost(std::string_view raw);

// The virtual host rule 1 chooses, over any storage:
//   exact(std::string_view name), wildcard(std::string_view parent) and
//   catch_all() each return a pointer, null when there is no such host.
template <typename Exact, typename Wildcard, typename CatchAll>
auto SelectHost(const RequestHost& host, Exact&& exact, Wildcard&& wildcard, CatchAll&& catch_all)
    -> decltype(catch_all()) {
  if (auto found = exact(host.name())) return found;
  if (std::string_view parent = host.wildcard_parent(); !parent.empty()) {
    if (auto found = wildcard(parent)) return found;
  }
  return catch_all();
}

// ---- A routing table in standard containers. ----
// The proxy keeps its virtual hosts in persistent maps shared between
// snapshot versions and calls SelectHost/FirstMatch itself; this table is
// for everything else (the translator's tests, tools).

struct RouteSpec {
  PathType type = PathType::kPrefix;
  std::string path;  // as written (CompilePath is applied); kRegex: the expression
};
struct HostSpec {
  std::string name;  // "a.example.com", "*.example.com" or "*"; lower case
  std::vector<RouteSpec> routes;  // any order
};
// Positions in the HostSpec list the router was built from.
struct RouteRef {
  size_t host = 0;
  size_t route = 0;
};

class Router {
 public:
  // A name given twice: the first host of that name counts. A kRegex route
  // whose expression does not compile is left out (as the proxy does).
  explicit Router(const std::vector<HostSpec>& hosts);

  // `host` as the client sent it; `target` the request target (with or
  // without query and fragment). nullopt: no route (404).
  std::optional<RouteRef> Match(std::string_view host, std::string_view target) const;

 private:
  struct Entry {
    PathType type;
    std::string path;  // compiled
    size_t index;      // in HostSpec::routes
    std::shared_ptr<const re2::RE2> regex;  // kRegex only
  };
  struct Host {
    size_t index;  // in the HostSpec list
    std::vector<Entry> routes;  // precedence order
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using HostMap = std::unordered_map<std::string, Host, Hash, std::equal_to<>>;

  HostMap exact_;
  HostMap wildcard_;  // by parent ("example.com" for "*.example.com")
  std::optional<Host> catch_all_;
};

}  // namespace sluice::router
