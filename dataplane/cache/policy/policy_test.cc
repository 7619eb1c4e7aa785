#include "dataplane/cache/policy/policy.h"

#include <gtest/gtest.h>

namespace sluice::cache {
namespace {

constexpr int64_t kNow = 1764936000;

http::HeaderMap Headers(std::initializer_list<std::pair<const char*, const char*>> fields) {
  http::HeaderMap h;
  for (const auto& [n, v] : fields) h.Add(n, v);
  return h;
}

ResponseDirectives Response(std::initializer_list<std::pair<const char*, const char*>> fields) {
  return ParseResponseDirectives(Headers(fields), kNow);
}

RequestDirectives Request(std::initializer_list<std::pair<const char*, const char*>> fields) {
  return ParseRequestDirectives(Headers(fields));
}

// RFC 9111 §3 (storing), §3.5 (Authorization), §5.2.1.5, §5.2.2.3, §5.2.2.5,
// §5.2.2.7; RFC 9110 §15.1 (heuristically cacheable statuses).
TEST(MayStore, Table) {
  struct Case {
    const char* what;
    const char* method;
    std::initializer_list<std::pair<const char*, const char*>> request;
    int status;
    std::initializer_list<std::pair<const char*, const char*>> response;
    StoreVerdict expected;
    bool store_set_cookie = false;
    int64_t default_ttl = kAbsent;
  };
  const Case cases[] = {
      {"§3 200 with max-age", "GET", {}, 200, {{"cache-control", "max-age=60"}}, StoreVerdict::kStore},
      {"§4.2.2 200 is heuristically cacheable", "GET", {}, 200, {}, StoreVerdict::kStore},
      {"§3 HEAD is not stored", "HEAD", {}, 200, {{"cache-control", "max-age=60"}}, StoreVerdict::kMethod},
      {"§3 POST is not stored", "POST", {}, 200, {{"cache-control", "max-age=60"}}, StoreVerdict::kMethod},
      {"§5.2.1.5 request no-store", "GET", {{"cache-control", "no-store"}}, 200, {{"cache-control", "max-age=60"}},
       StoreVerdict::kRequestNoStore},
      {"§5.2.2.5 no-store", "GET", {}, 200, {{"cache-control", "max-age=60, no-store"}}, StoreVerdict::kNoStore},
      {"§5.2.2.3 must-understand overrides no-store", "GET", {}, 200,
       {{"cache-control", "max-age=60, no-store, must-understand"}}, StoreVerdict::kStore},
      {"§5.2.2.3 must-understand, status not understood", "GET", {}, 299,
       {{"cache-control", "max-age=60, must-understand"}}, StoreVerdict::kMustUnderstand},
      {"§5.2.2.7 private", "GET", {}, 200, {{"cache-control", "private, max-age=60"}}, StoreVerdict::kPrivate},
      {"§5.2.2.7 qualified private (stricter)", "GET", {}, 200, {{"cache-control", "private=\"x\", max-age=60"}},
       StoreVerdict::kPrivate},
      {"§3.5 Authorization", "GET", {{"authorization", "Basic x"}}, 200, {{"cache-control", "max-age=60"}},
       StoreVerdict::kAuthorization},
      {"§3.5 Authorization + public", "GET", {{"authorization", "Basic x"}}, 200,
       {{"cache-control", "public, max-age=60"}}, StoreVerdict::kStore},
      {"§3.5 Authorization + s-maxage", "GET", {{"authorization", "Basic x"}}, 200, {{"cache-control", "s-maxage=60"}},
       StoreVerdict::kStore},
      {"§3.5 Authorization + must-revalidate", "GET", {{"authorization", "Basic x"}}, 200,
       {{"cache-control", "must-revalidate, max-age=60"}}, StoreVerdict::kStore},
      {"Set-Cookie not stored by default", "GET", {}, 200, {{"cache-control", "max-age=60"}, {"set-cookie", "a=b"}},
       StoreVerdict::kSetCookie},
      {"Set-Cookie stored when the route says so", "GET", {}, 200,
       {{"cache-control", "max-age=60"}, {"set-cookie", "a=b"}}, StoreVerdict::kStore, true},
      {"§4.1 Vary: * never matches", "GET", {}, 200, {{"cache-control", "max-age=60"}, {"vary", "*"}},
       StoreVerdict::kVaryAny},
      {"§3 302 without explicit freshness", "GET", {}, 302, {}, StoreVerdict::kNoFreshness},
      {"§3 302 with Expires", "GET", {}, 302, {{"expires", "Sun, 06 Nov 2094 08:49:37 GMT"}}, StoreVerdict::kStore},
      {"§3 302 public (heuristics allowed)", "GET", {}, 302, {{"cache-control", "public"}}, StoreVerdict::kStore},
      {"302 with the route's default TTL", "GET", {}, 302, {}, StoreVerdict::kStore, false, 60},
      {"§3 206 is not stored", "GET", {}, 206, {{"cache-control", "max-age=60"}}, StoreVerdict::kStatus},
      {"§3 304 is not stored", "GET", {}, 304, {{"cache-control", "max-age=60"}}, StoreVerdict::kStatus},
      {"§3 1xx is not final", "GET", {}, 103, {{"cache-control", "max-age=60"}}, StoreVerdict::kStatus},
      {"§5.2.2.4 no-cache is stored (validated on use)", "GET", {}, 200, {{"cache-control", "no-cache"}},
       StoreVerdict::kStore},
      {"RFC 9213 CDN-Cache-Control first", "GET", {}, 200,
       {{"cache-control", "no-store"}, {"cdn-cache-control", "max-age=60"}}, StoreVerdict::kStore},
  };
  for (const Case& c : cases) {
    CachePolicy policy;
    policy.store_set_cookie = c.store_set_cookie;
    policy.default_ttl = c.default_ttl;
    const http::HeaderMap response = Headers(c.response);
    EXPECT_EQ(MayStore(c.method, Request(c.request), c.status, ParseResponseDirectives(response, kNow),
                       ParseVary(response), policy),
              c.expected)
        << c.what;
  }
}

// §4.2.1 and §4.2.2.
TEST(FreshnessLifetime, Table) {
  const CachePolicy policy;
  struct Case {
    const char* what;
    int status;
    std::initializer_list<std::pair<const char*, const char*>> response;
    int64_t lifetime;
    bool heuristic;
  } cases[] = {
      {"s-maxage first (shared cache)", 200, {{"cache-control", "max-age=10, s-maxage=20"}}, 20, false},
      {"max-age before Expires", 200,
       {{"cache-control", "max-age=10"}, {"expires", "Sun, 06 Nov 1994 09:49:37 GMT"}}, 10, false},
      {"Expires - Date", 200,
       {{"date", "Sun, 06 Nov 1994 08:49:37 GMT"}, {"expires", "Sun, 06 Nov 1994 09:49:37 GMT"}}, 3600, false},
      {"Expires before Date: 0", 200,
       {{"date", "Sun, 06 Nov 1994 08:49:37 GMT"}, {"expires", "Sun, 06 Nov 1994 07:49:37 GMT"}}, 0, false},
      {"§5.3 invalid Expires: already expired", 200, {{"date", "Sun, 06 Nov 1994 08:49:37 GMT"}, {"expires", "0"}}, 0,
       false},
      {"§4.2.1 invalid max-age: stale", 200, {{"cache-control", "max-age=soon"}}, 0, false},
      {"§4.2.1 duplicate max-age: the smaller", 200, {{"cache-control", "max-age=100, max-age=50"}}, 50, false},
      {"§4.2.2 10% of the time since Last-Modified", 200,
       {{"date", "Sun, 06 Nov 1994 08:49:37 GMT"}, {"last-modified", "Sun, 06 Nov 1994 06:49:37 GMT"}}, 720, true},
      {"§4.2.2 heuristic capped", 200,
       {{"date", "Sun, 06 Nov 1994 08:49:37 GMT"}, {"last-modified", "Sun, 06 Nov 1984 08:49:37 GMT"}}, 86400, true},
      {"§4.2.2 no heuristic for 302", 302,
       {{"date", "Sun, 06 Nov 1994 08:49:37 GMT"}, {"last-modified", "Sun, 06 Nov 1994 06:49:37 GMT"}}, 0, false},
      {"§4.2.2 302 + public: heuristic", 302,
       {{"cache-control", "public"}, {"date", "Sun, 06 Nov 1994 08:49:37 GMT"}, {"last-modified", "Sun, 06 Nov 1994 06:49:37 GMT"}},
       720, true},
      {"no information at all", 200, {}, 0, false},
  };
  for (const Case& c : cases) {
    Freshness f = FreshnessLifetime(c.status, Response(c.response), kNow, policy);
    EXPECT_EQ(f.lifetime, c.lifetime) << c.what;
    EXPECT_EQ(f.heuristic, c.heuristic) << c.what;
  }
  CachePolicy with_default;
  with_default.default_ttl = 30;
  EXPECT_EQ(FreshnessLifetime(200, Response({}), kNow, with_default).lifetime, 30);
  // Expires without Date: the time the response was received (§4.2.1).
  EXPECT_EQ(FreshnessLifetime(200, Response({{"expires", "Sun, 06 Nov 1994 09:49:37 GMT"}}), 784111777, policy).lifetime,
            3600);
}

// §4.2.3.
TEST(CurrentAge, Rfc9111Formula) {
  // Received 2 s after it was requested, with Age: 10 and a Date 5 s before it arrived.
  AgeInputs in = AgeInputsOf(Response({{"age", "10"}, {"date", "Sun, 06 Nov 1994 08:49:32 GMT"}}), 784111775, 784111777);
  // apparent_age 5, corrected_age_value 10 + 2 = 12: initial 12; resident 100.
  EXPECT_EQ(CurrentAge(in, 784111877), 112);
  // A Date in the future (clock skew) does not make it younger than 0 + delay.
  in = AgeInputsOf(Response({{"date", "Sun, 06 Nov 1994 09:49:37 GMT"}}), 784111777, 784111777);
  EXPECT_EQ(CurrentAge(in, 784111777), 0);
  // §5.1: Age never above 2^31.
  in = AgeInputsOf(Response({{"age", "2147483648"}}), 0, 10);
  EXPECT_EQ(AgeValue(CurrentAge(in, 4000000000)), "2147483648");
  EXPECT_EQ(AgeValue(-5), "0");
}

// §4, §4.2.4, §5.2.1, §5.2.2, RFC 5861.
TEST(Evaluate, Table) {
  struct Case {
    const char* what;
    const char* stored_cc;
    int64_t lifetime;
    int64_t age;
    std::initializer_list<std::pair<const char*, const char*>> request;
    Usability expected;
  } cases[] = {
      {"§4.2 fresh", "max-age=100", 100, 50, {}, Usability::kFresh},
      {"§4.2 lifetime == age is stale", "max-age=100", 100, 100, {}, Usability::kRevalidate},
      {"§5.2.1.4 request no-cache", "max-age=100", 100, 0, {{"cache-control", "no-cache"}}, Usability::kRevalidate},
      {"§5.4 Pragma: no-cache", "max-age=100", 100, 0, {{"pragma", "no-cache"}}, Usability::kRevalidate},
      {"§5.2.2.4 response no-cache", "no-cache, max-age=100", 100, 0, {}, Usability::kRevalidate},
      {"§5.2.1.1 request max-age exceeded", "max-age=100", 100, 50, {{"cache-control", "max-age=10"}},
       Usability::kRevalidate},
      {"§5.2.1.1 request max-age met", "max-age=100", 100, 5, {{"cache-control", "max-age=10"}}, Usability::kFresh},
      {"§5.2.1.3 min-fresh not met", "max-age=100", 100, 50, {{"cache-control", "min-fresh=60"}},
       Usability::kRevalidate},
      {"§5.2.1.3 min-fresh met", "max-age=100", 100, 30, {{"cache-control", "min-fresh=60"}}, Usability::kFresh},
      {"§5.2.1.2 max-stale accepts", "max-age=100", 100, 150, {{"cache-control", "max-stale=60"}},
       Usability::kStaleAllowed},
      {"§5.2.1.2 max-stale too small", "max-age=100", 100, 200, {{"cache-control", "max-stale=60"}},
       Usability::kRevalidate},
      {"§5.2.1.2 max-stale without value", "max-age=100", 100, 100000, {{"cache-control", "max-stale"}},
       Usability::kStaleAllowed},
      {"§5.2.2.2 must-revalidate beats max-stale", "max-age=100, must-revalidate", 100, 150,
       {{"cache-control", "max-stale"}}, Usability::kRevalidate},
      {"§5.2.2.8 proxy-revalidate beats max-stale", "max-age=100, proxy-revalidate", 100, 150,
       {{"cache-control", "max-stale"}}, Usability::kRevalidate},
      {"§5.2.2.10 s-maxage implies proxy-revalidate", "s-maxage=100", 100, 150, {{"cache-control", "max-stale"}},
       Usability::kRevalidate},
      {"RFC 5861 §3 stale-while-revalidate", "max-age=100, stale-while-revalidate=60", 100, 130, {},
       Usability::kStaleWhileRevalidate},
      {"RFC 5861 §3 beyond the window", "max-age=100, stale-while-revalidate=60", 100, 161, {},
       Usability::kRevalidate},
      {"§4.2.4 must-revalidate forbids swr", "max-age=100, stale-while-revalidate=60, must-revalidate", 100, 130, {},
       Usability::kRevalidate},
  };
  for (const Case& c : cases) {
    StoredFreshness stored;
    stored.lifetime = c.lifetime;
    ParseCacheControl(c.stored_cc, stored.cc);
    EXPECT_EQ(Evaluate(stored, c.age, Request(c.request)), c.expected) << c.what;
  }
}

// RFC 5861 §4, RFC 9111 §4.2.4.
TEST(StaleIfError, Table) {
  struct Case {
    const char* what;
    const char* stored_cc;
    int64_t age;
    std::initializer_list<std::pair<const char*, const char*>> request;
    bool expected;
  } cases[] = {
      {"within the response's window", "max-age=100, stale-if-error=60", 150, {}, true},
      {"beyond it", "max-age=100, stale-if-error=60", 161, {}, false},
      {"no window", "max-age=100", 101, {}, false},
      {"the request's window", "max-age=100", 150, {{"cache-control", "stale-if-error=60"}}, true},
      {"must-revalidate forbids it", "max-age=100, stale-if-error=60, must-revalidate", 150, {}, false},
      {"s-maxage forbids it", "s-maxage=100, stale-if-error=60", 150, {}, false},
      {"fresh anyway", "max-age=100", 50, {}, true},
  };
  for (const Case& c : cases) {
    StoredFreshness stored;
    stored.lifetime = 100;
    ParseCacheControl(c.stored_cc, stored.cc);
    EXPECT_EQ(MayServeStaleOnError(stored, c.age, Request(c.request)), c.expected) << c.what;
  }
}

// §4.1: normalised secondary keys; Vary: * never matches.
TEST(SecondaryKey, NormalisedValues) {
  VaryFields vary = ParseVary(Headers({{"vary", "Accept-Encoding, Accept-Language, X-Tenant"}}));
  auto key = [&](std::initializer_list<std::pair<const char*, const char*>> request) {
    return *SecondaryKey(vary, Headers(request));
  };
  const std::string base = key({{"accept-encoding", "gzip, br"}, {"accept-language", "en-US"}, {"x-tenant", "A"}});
  // Whitespace, order of encodings, line splitting, case of case-insensitive values.
  EXPECT_EQ(base, key({{"accept-encoding", "br,gzip"}, {"accept-language", "EN-us"}, {"x-tenant", "A"}}));
  EXPECT_EQ(base, key({{"accept-encoding", "gzip"}, {"accept-encoding", " br "}, {"accept-language", "en-US"}, {"x-tenant", "A"}}));
  // A case-sensitive value, a different value, an absent vs empty field.
  EXPECT_NE(base, key({{"accept-encoding", "gzip, br"}, {"accept-language", "en-US"}, {"x-tenant", "a"}}));
  EXPECT_NE(base, key({{"accept-encoding", "gzip"}, {"accept-language", "en-US"}, {"x-tenant", "A"}}));
  EXPECT_NE(key({{"accept-encoding", "gzip"}}), key({{"accept-encoding", "gzip"}, {"x-tenant", ""}}));
  EXPECT_FALSE(SecondaryKey(ParseVary(Headers({{"vary", "*"}})), Headers({})).has_value());
  EXPECT_EQ(SecondaryKey(VaryFields{}, Headers({{"accept", "x"}})), "");
}

TEST(PrimaryKey, DefaultPortAndCase) {
  EXPECT_EQ(PrimaryKey("http", "Example.COM:80", "/A?b"), "http://example.com/A?b");
  EXPECT_EQ(PrimaryKey("https", "example.com:443", "/"), "https://example.com/");
  EXPECT_EQ(PrimaryKey("https", "example.com:8443", ""), "https://example.com:8443/");
}

// §3.1, §3.2: what a 304 updates.
TEST(UpdateFrom304, ReplacesAllButExceptedFields) {
  http::HeaderMap stored = StoredFields(Headers({{"content-type", "text/plain"},
                                                 {"content-length", "5"},
                                                 {"content-encoding", "gzip"},
                                                 {"etag", "\"1\""},
                                                 {"cache-control", "max-age=1"},
                                                 {"x-a", "1"},
                                                 {"x-a", "2"},
                                                 {"connection", "x-hop"},
                                                 {"x-hop", "h"},
                                                 {"keep-alive", "timeout=5"},
                                                 {"age", "3"}}));
  EXPECT_EQ(stored.Get("connection"), nullptr);
  EXPECT_EQ(stored.Get("x-hop"), nullptr);  // named by Connection
  EXPECT_EQ(stored.Get("keep-alive"), nullptr);
  EXPECT_EQ(stored.Get("age"), nullptr);  // recomputed on every hit
  http::HeaderMap updated = UpdateFrom304(stored, Headers({{"cache-control", "max-age=100"},
                                                           {"content-length", "0"},
                                                           {"content-encoding", "br"},
                                                           {"x-a", "3"},
                                                           {"etag", "\"1\""},
                                                           {"transfer-encoding", "chunked"},
                                                           {"x-new", "n"}}));
  EXPECT_EQ(*updated.Get("cache-control"), "max-age=100");
  EXPECT_EQ(*updated.Get("content-length"), "5");
  EXPECT_EQ(*updated.Get("content-encoding"), "gzip");
  EXPECT_EQ(updated.Count("x-a"), 1u);
  EXPECT_EQ(*updated.Get("x-a"), "3");
  EXPECT_EQ(*updated.Get("x-new"), "n");
  EXPECT_EQ(*updated.Get("content-type"), "text/plain");
  EXPECT_EQ(updated.Get("transfer-encoding"), nullptr);
}

// §4.4.
TEST(InvalidationTargets, UnsafeMethodsSameOrigin) {
  EXPECT_TRUE(InvalidationTargets("GET", 200, "http", "a.com", "/x", Headers({})).empty());
  EXPECT_TRUE(InvalidationTargets("POST", 500, "http", "a.com", "/x", Headers({})).empty());
  EXPECT_TRUE(InvalidationTargets("POST", 404, "http", "a.com", "/x", Headers({})).empty());
  EXPECT_EQ(InvalidationTargets("DELETE", 204, "http", "A.com:80", "/x", Headers({})),
            (std::vector<std::string>{"http://a.com/x"}));
  EXPECT_EQ(InvalidationTargets("POST", 303, "http", "a.com", "/dir/x?q",
                                Headers({{"location", "y"}, {"content-location", "http://a.com/z"}})),
            (std::vector<std::string>{"http://a.com/dir/x?q", "http://a.com/dir/y", "http://a.com/z"}));
  // Other origins are not invalidated (§4.4: a denial-of-service vector).
  EXPECT_EQ(InvalidationTargets("PUT", 201, "http", "a.com", "/x",
                                Headers({{"location", "http://a.com.evil/x"}, {"content-location", "https://a.com/x"}})),
            (std::vector<std::string>{"http://a.com/x"}));
  EXPECT_EQ(InvalidationTargets("PUT", 201, "http", "a.com", "/x", Headers({{"location", "//a.com/y"}})),
            (std::vector<std::string>{"http://a.com/x", "http://a.com/y"}));
}

// RFC 9211 §2.
TEST(CacheStatus, Values) {
  CacheStatus hit;
  hit.hit = true;
  hit.ttl = 376;
  EXPECT_EQ(CacheStatusValue("sluice", hit), "sluice; hit; ttl=376");
  CacheStatus miss;
  miss.fwd = "uri-miss";
  miss.fwd_status = 200;
  miss.stored = true;
  EXPECT_EQ(CacheStatusValue("sluice", miss), "sluice; fwd=uri-miss; fwd-status=200; stored");
  CacheStatus stale;
  stale.hit = true;
  stale.ttl = -12;
  stale.detail = "stale-if-error";
  EXPECT_EQ(CacheStatusValue("proxy 1", stale), "\"proxy 1\"; hit; ttl=-12; detail=stale-if-error");
  CacheStatus collapsed;
  collapsed.hit = true;
  collapsed.collapsed = true;
  EXPECT_EQ(CacheStatusValue("node-a.example", collapsed), "node-a.example; hit; collapsed");
}

}  // namespace
}  // namespace sluice::cache
