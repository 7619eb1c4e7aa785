#include "dataplane/router/router.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "test/routing_cases/routing_cases.h"

namespace sluice::router {
namespace {

PathType TypeOf(std::string_view ingress_path_type) {
  if (ingress_path_type == "Exact") return PathType::kExact;
  if (ingress_path_type == "Prefix") return PathType::kPrefix;
  EXPECT_EQ(ingress_path_type, "ImplementationSpecific");
  return PathType::kImplementationSpecific;
}

// The shared case table: the router built from each case's paths (rule
// without host: the catch-all "*") sends each request where it says.
TEST(RouterTest, SharedRoutingCases) {
  for (const routing_cases::Case& c : routing_cases::Cases()) {
    std::vector<HostSpec> hosts;
    std::vector<std::vector<std::string_view>> backends;  // [host][route]
    std::map<std::string, size_t, std::less<>> host_index;
    for (const routing_cases::Path& p : c.paths) {
      std::string name = p.host.empty() ? "*" : std::string(p.host);
      auto [it, added] = host_index.try_emplace(name, hosts.size());
      if (added) {
        hosts.push_back({name, {}});
        backends.emplace_back();
      }
      hosts[it->second].routes.push_back({TypeOf(p.type), std::string(p.path)});
      backends[it->second].push_back(p.backend);
    }
    Router router(hosts);
    for (const routing_cases::Request& r : c.requests) {
      std::optional<RouteRef> ref = router.Match(r.host, r.target);
      std::string_view got = ref ? backends[ref->host][ref->route] : "";
      EXPECT_EQ(got, r.backend) << c.name << ": Host \"" << r.host << "\" " << r.target;
    }
  }
}

TEST(RouterTest, NormalisesHosts) {
  EXPECT_EQ(NormalizeHost("Demo.Local:8080"), "demo.local");
  EXPECT_EQ(NormalizeHost("[::1]:8080"), "[::1]");
  EXPECT_EQ(NormalizeHost("[::1"), "");
  EXPECT_EQ(NormalizeHost("example.com."), "example.com");
  EXPECT_EQ(NormalizeHost("EXAMPLE.com.:443"), "example.com");
  EXPECT_EQ(NormalizeHost(""), "");
  std::string long_host(300, 'A');
  long_host += ".Example.com:80";
  EXPECT_EQ(NormalizeHost(long_host), std::string(300, 'a') + ".example.com");
  RequestHost host(long_host);
  EXPECT_EQ(host.wildcard_parent(), "example.com");
}

// The word-at-a-time lowering agrees with a byte loop for every byte value
// (only 'A'..'Z' change; '@', '[', bytes >= 0x80 do not) and every length
// around the 8-byte words.
TEST(RouterTest, LowersEveryByteLikeAByteLoop) {
  for (size_t length = 1; length <= 40; ++length) {
    for (int first = 0; first < 256; first += 3) {
      std::string raw(length, 'x');
      for (size_t i = 0; i < length; ++i) raw[i] = static_cast<char>((first + 37 * i) % 256);
      for (char& c : raw) {
        if (c == ':' || c == '[' || c == '.') c = 'Q';  // no port, no IPv6 literal, no trailing dot
      }
      std::string expected = raw;
      for (char& c : expected) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      }
      EXPECT_EQ(RequestHost(raw).name(), expected) << "length " << length << " first " << first;
    }
  }
}

TEST(RouterTest, LongHostStillFindsItsWildcard) {
  Router router({{"*.example.com", {{PathType::kPrefix, "/"}}}});
  EXPECT_TRUE(router.Match(std::string(300, 'a') + ".example.com", "/").has_value());
}

TEST(RouterTest, CompilesPrefixPaths) {
  EXPECT_EQ(CompilePath(PathType::kPrefix, "/foo//"), "/foo");
  EXPECT_EQ(CompilePath(PathType::kPrefix, "/"), "/");
  EXPECT_EQ(CompilePath(PathType::kImplementationSpecific, "/a/"), "/a");
  EXPECT_EQ(CompilePath(PathType::kExact, "/foo/"), "/foo/");
}

TEST(RouterTest, TiesKeepTheGivenOrderAndTheFirstHostOfANameCounts) {
  Router router({{"a.example", {{PathType::kPrefix, "/x"}, {PathType::kImplementationSpecific, "/x"}}},
                 {"a.example", {{PathType::kPrefix, "/"}}}});
  std::optional<RouteRef> ref = router.Match("a.example", "/x/y");
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->host, 0u);
  EXPECT_EQ(ref->route, 0u);
  EXPECT_FALSE(router.Match("a.example", "/y").has_value());
}

// Regex routes (issue 18): case-insensitive, anchored at the start only,
// ranked with the others by the length of their text (ingress-nginx's
// location order), a bad expression left out.
TEST(RouterTest, RegexRoutesKeepTheirPlaceInPrecedence) {
  std::vector<HostSpec> hosts = {{"a.example",
                                  {
                                      {PathType::kRegex, "/api/v[0-9]+/(.*)"},  // 0: 18 chars
                                      {PathType::kPrefix, "/api/users/me"},     // 1: 13 chars
                                      {PathType::kRegex, "/api"},               // 2: 4 chars
                                      {PathType::kExact, "/api"},               // 3: Exact wins the tie
                                      {PathType::kPrefix, "/"},                 // 4
                                      {PathType::kRegex, "/bad(?=x)"},          // 5: lookahead: left out
                                  }}};
  Router router(hosts);
  auto route = [&](std::string_view target) -> int {
    std::optional<RouteRef> ref = router.Match("a.example", target);
    return ref ? static_cast<int>(ref->route) : -1;
  };
  EXPECT_EQ(route("/api/v2/users/me"), 0);  // the longer regex before the shorter prefix
  EXPECT_EQ(route("/API/V2/x"), 0);          // ~*: case-insensitive
  EXPECT_EQ(route("/api/users/me"), 1);
  EXPECT_EQ(route("/api"), 3);
  EXPECT_EQ(route("/apiary"), 2);            // a "^/api" regex is not element-wise
  EXPECT_EQ(route("/Api/users?q=1"), 2);     // the query is not matched
  EXPECT_EQ(route("/x/api"), 4);             // anchored at the start
  EXPECT_EQ(route("/badx"), 4);
  EXPECT_EQ(route("/API/users/me"), 2);      // Prefix routes stay case-sensitive
}

TEST(RouterTest, RegexMatchingIsLinearAndRefusesWhatRe2CannotDo) {
  std::string error;
  EXPECT_EQ(CompileRegex("/(a)\\1", &error), nullptr);
  EXPECT_NE(error, "");
  EXPECT_EQ(CompileRegex("/(?<=a)b", &error), nullptr);
  auto regex = CompileRegex("/(a|aa)+$", &error);
  ASSERT_NE(regex, nullptr) << error;
  std::string hostile = "/" + std::string(200000, 'a') + "b";
  EXPECT_FALSE(RegexMatches(*regex, hostile));
  std::string_view captures[3];
  auto groups = CompileRegex("/foo(/|$)(.*)", &error);
  ASSERT_TRUE(RegexMatches(*groups, "/foo/bar/baz", captures, 3));
  EXPECT_EQ(captures[0], "/foo/bar/baz");
  EXPECT_EQ(captures[1], "/");
  EXPECT_EQ(captures[2], "bar/baz");
  EXPECT_EQ(RegexGroups(*groups), 2);
}

TEST(RouterTest, EmptyRouterMatchesNothing) {
  Router router({});
  EXPECT_FALSE(router.Match("example.com", "/").has_value());
}

}  // namespace
}  // namespace sluice::router
