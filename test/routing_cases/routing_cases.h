#pragma once
// The shared routing case table. Each case is the paths of one Ingress
// (host, pathType, path -> backend Service) and requests with the backend
// they must reach ("" for 404). Runners:
//   dataplane/router:router_test              router::Router built from the paths
//   dataplane/snapshot:compiled_snapshot_test  the proxy's CompiledSnapshot::Match
//   controlplane/translate:translate_test      Translate() of the Ingress, then
//                                              translate::MatchRoute
// Rule hosts must be valid Ingress hosts ("" is a rule without a host: the
// catch-all). Paths are listed in no particular order: precedence is the
// router's job. Keep it data only (no gtest, no protobuf).
#include <string_view>
#include <vector>

namespace sluice::routing_cases {

struct Path {
  std::string_view host;  // "", "example.com" or "*.example.com"
  std::string_view type;  // "Exact", "Prefix" or "ImplementationSpecific"
  std::string_view path;
  std::string_view backend;  // Service name (port 80)
};

struct Request {
  std::string_view host;  // as the client sends it
  std::string_view target;
  std::string_view backend;  // expected Service; "" for 404
};

struct Case {
  std::string_view name;
  std::vector<Path> paths;
  std::vector<Request> requests;
};

inline const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      {"HostIsNormalised",
       {{"example.com", "Prefix", "/", "web"}},
       {
           {"example.com", "/", "web"},
           {"Example.COM", "/", "web"},         // case-insensitive host
           {"example.com:8443", "/x", "web"},   // port in Host
           {"EXAMPLE.com:80", "/x", "web"},     // both
           {"example.com.", "/", "web"},        // trailing dot: same host (FQDN)
           {"example.com.:8080", "/", "web"},   // trailing dot and port
           {"other.com", "/", ""},              // no such host, no catch-all
           {"www.example.com", "/", ""},        // an exact host is not a wildcard
           {"example.com..", "/", ""},          // only one trailing dot goes
       }},
      {"WildcardCoversOneLabel",
       {{"*.example.com", "Prefix", "/", "wild"}},
       {
           {"a.example.com", "/", "wild"},
           {"A.Example.Com:8443", "/x", "wild"},
           {"a.example.com.", "/", "wild"},
           {"a.b.example.com", "/", ""},  // two labels
           {"example.com", "/", ""},      // zero labels
           {".example.com", "/", ""},     // an empty label
       }},
      {"ExactHostBeforeWildcardBeforeCatchAll",
       {{"api.example.com", "Prefix", "/", "exact"},
        {"*.example.com", "Prefix", "/", "wild"},
        {"", "Prefix", "/", "any"}},
       {
           {"api.example.com", "/", "exact"},
           {"web.example.com", "/", "wild"},
           {"example.com", "/", "any"},
           {"a.b.example.com", "/", "any"},
           {"elsewhere.org", "/", "any"},
           {"", "/", "any"},  // no Host at all
           {"[::1]:8080", "/", "any"},
       }},
      {"NoFallbackToAnotherHost",
       {{"example.com", "Prefix", "/app", "app"}, {"", "Prefix", "/", "any"}},
       {
           {"example.com", "/app/x", "app"},
           {"example.com", "/other", ""},  // the host exists: its routes only
           {"unknown.org", "/other", "any"},
       }},
      {"QueryAndFragmentAreNotPath",
       {{"example.com", "Exact", "/foo", "exact"}, {"example.com", "Prefix", "/bar", "prefix"}},
       {
           {"example.com", "/foo?x=1", "exact"},
           {"example.com", "/foo#top", "exact"},
           {"example.com", "/foo?x=1#top", "exact"},
           {"example.com", "/foo#top?x=1", "exact"},
           {"example.com", "/foo/?x=1", ""},
           {"example.com", "/bar?q=/x", "prefix"},
           {"example.com", "/bar#/x", "prefix"},
           {"example.com", "/barx?q", ""},
       }},
      {"PrefixIsElementWise",
       {{"example.com", "Prefix", "/foo", "foo"}},
       {
           {"example.com", "/foo", "foo"},
           {"example.com", "/foo/", "foo"},
           {"example.com", "/foo/bar", "foo"},
           {"example.com", "/foobar", ""},
           {"example.com", "/fo", ""},
           {"example.com", "/Foo", ""},  // paths are case-sensitive
       }},
      {"PrefixTrailingSlashIsIgnored",
       {{"example.com", "Prefix", "/foo/", "foo"}},
       {
           {"example.com", "/foo", "foo"},
           {"example.com", "/foo/", "foo"},
           {"example.com", "/foo/x", "foo"},
           {"example.com", "/foobar", ""},
       }},
      {"ExactIsTheWholePath",
       {{"example.com", "Exact", "/foo", "foo"}, {"example.com", "Exact", "/bar/", "bar"}},
       {
           {"example.com", "/foo", "foo"},
           {"example.com", "/foo/", ""},
           {"example.com", "/foobar", ""},
           {"example.com", "/bar/", "bar"},
           {"example.com", "/bar", ""},
       }},
      {"ExactBeforePrefixOnTheSamePath",
       {{"example.com", "Prefix", "/foo", "prefix"}, {"example.com", "Exact", "/foo", "exact"}},
       {
           {"example.com", "/foo", "exact"},
           {"example.com", "/foo/", "prefix"},
           {"example.com", "/foo/x", "prefix"},
           {"example.com", "/foobar", ""},
       }},
      {"LongestPathWins",
       {{"example.com", "Prefix", "/", "root"},
        {"example.com", "Prefix", "/foo", "foo"},
        {"example.com", "Prefix", "/foo/bar", "foobar"},
        {"example.com", "Exact", "/foo/bar/baz", "exact"}},
       {
           {"example.com", "/", "root"},
           {"example.com", "/foobar", "root"},
           {"example.com", "/foo", "foo"},
           {"example.com", "/foo/", "foo"},
           {"example.com", "/foo/ba", "foo"},
           {"example.com", "/foo/bar", "foobar"},
           {"example.com", "/foo/bar/", "foobar"},
           {"example.com", "/foo/bar/baz", "exact"},
           {"example.com", "/foo/bar/baz/", "foobar"},
       }},
      {"ImplementationSpecificIsPrefix",
       {{"example.com", "ImplementationSpecific", "/docs", "docs"}},
       {
           {"example.com", "/docs", "docs"},
           {"example.com", "/docs/x", "docs"},
           {"example.com", "/docsx", ""},
       }},
      {"RootPrefixTakesEverything",
       {{"example.com", "Prefix", "/", "root"}},
       {
           {"example.com", "/", "root"},
           {"example.com", "/a/b/c", "root"},
           {"example.com", "/?q", "root"},
       }},
  };
  return cases;
}

}  // namespace sluice::routing_cases
