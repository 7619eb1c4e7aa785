#include "dataplane/cache/directives/directives.h"

#include <gtest/gtest.h>

namespace sluice::cache {
namespace {

constexpr int64_t kNow = 1764936000;  // 2025-12-05 12:00:00 UTC

CacheControl Cc(std::string_view line) {
  CacheControl cc;
  ParseCacheControl(line, cc);
  return cc;
}

http::HeaderMap Headers(std::initializer_list<std::pair<const char*, const char*>> fields) {
  http::HeaderMap h;
  for (const auto& [n, v] : fields) h.Add(n, v);
  return h;
}

// RFC 9110 §5.6.7: the three forms of the same instant (the RFC's example).
TEST(HttpDate, ThreeFormsOfTheRfcExample) {
  const int64_t expected = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", kNow), expected);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", kNow), expected);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994", kNow), expected);
  EXPECT_EQ(FormatHttpDate(expected), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(HttpDate, RejectsWhatIsNotAnHttpDate) {
  for (std::string_view bad : {
           "", "0", "-1", "Sun, 6 Nov 1994 08:49:37 GMT",        // one-digit day
           "Sun, 06 Nov 1994 08:49:37 UTC",                      // not GMT
           "sun, 06 Nov 1994 08:49:37 GMT",                      // names are case-sensitive
           "Sun, 31 Feb 1994 08:49:37 GMT",                      // no such day
           "Sun, 29 Feb 1995 08:49:37 GMT",                      // not a leap year
           "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT",
           "Sun, 06 Nov 1994 08:49:37 GMT ", "Sun, 06 Xyz 1994 08:49:37 GMT",
           "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994", "Thu, 01 Jan 1970 00:00:00 +0000",
       }) {
    EXPECT_FALSE(ParseHttpDate(bad, kNow).has_value()) << bad;
  }
  // A leap second is read as :59; 29 Feb of a leap year is a day.
  EXPECT_EQ(ParseHttpDate("Sat, 31 Dec 2016 23:59:60 GMT", kNow), ParseHttpDate("Sat, 31 Dec 2016 23:59:59 GMT", kNow));
  EXPECT_TRUE(ParseHttpDate("Thu, 29 Feb 2024 00:00:00 GMT", kNow).has_value());
}

// RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past.
TEST(HttpDate, Rfc850TwoDigitYears) {
  EXPECT_EQ(ParseHttpDate("Tuesday, 01-Jan-80 00:00:00 GMT", kNow), 315532800);  // 2080 > 2025+50: 1980
  EXPECT_EQ(ParseHttpDate("Tuesday, 01-Jan-75 00:00:00 GMT", kNow), ParseHttpDate("Tue, 01 Jan 2075 00:00:00 GMT", kNow));
  EXPECT_EQ(ParseHttpDate("Saturday, 01-Jan-50 00:00:00 GMT", kNow), ParseHttpDate("Sat, 01 Jan 2050 00:00:00 GMT", kNow));
  EXPECT_EQ(ParseHttpDate("Friday, 01-Jan-99 00:00:00 GMT", kNow), ParseHttpDate("Fri, 01 Jan 1999 00:00:00 GMT", kNow));
}

TEST(DeltaSeconds, DigitsOnlyClampedTo2Pow31) {
  EXPECT_EQ(ParseDeltaSeconds("0"), 0);
  EXPECT_EQ(ParseDeltaSeconds("3600"), 3600);
  EXPECT_EQ(ParseDeltaSeconds("99999999999999999999999"), kMaxDeltaSeconds);  // RFC 9111 §1.2.2
  EXPECT_FALSE(ParseDeltaSeconds("").has_value());
  EXPECT_FALSE(ParseDeltaSeconds("-1").has_value());
  EXPECT_FALSE(ParseDeltaSeconds("1.5").has_value());
  EXPECT_FALSE(ParseDeltaSeconds(" 5").has_value());
}

TEST(CacheControl, Directives) {
  CacheControl cc = Cc("public, max-age=60, s-maxage=\"120\", must-revalidate, proxy-revalidate, no-transform");
  EXPECT_TRUE(cc.is_public);
  EXPECT_EQ(cc.max_age, 60);
  EXPECT_EQ(cc.s_maxage, 120);  // §5.2: recipients accept the quoted form
  EXPECT_TRUE(cc.must_revalidate && cc.proxy_revalidate && cc.no_transform);
  EXPECT_FALSE(cc.malformed);

  cc = Cc("NO-STORE,,  ,Private=\"set-cookie, x\" , no-cache");
  EXPECT_TRUE(cc.no_store);
  EXPECT_TRUE(cc.is_private && cc.private_qualified);  // §5.2.2.7: stricter unqualified form
  EXPECT_TRUE(cc.no_cache && !cc.no_cache_qualified);
  EXPECT_FALSE(cc.malformed);

  cc = Cc("max-stale, min-fresh=10, only-if-cached, stale-if-error=300, stale-while-revalidate=30");
  EXPECT_EQ(cc.max_stale, kAnyStale);  // §5.2.1.2: no value: any staleness
  EXPECT_EQ(cc.min_fresh, 10);
  EXPECT_TRUE(cc.only_if_cached);
  EXPECT_EQ(cc.stale_if_error, 300);
  EXPECT_EQ(cc.stale_while_revalidate, 30);

  cc = Cc("community=\"UCI\", foo=bar");  // §5.2.3: extensions ignored
  EXPECT_TRUE(cc.present);
  EXPECT_FALSE(cc.malformed);
  EXPECT_EQ(cc.max_age, kAbsent);
}

// RFC 9111 §4.2.1: invalid freshness information is stale; conflicting
// duplicates: the most restrictive.
TEST(CacheControl, MalformedAndDuplicates) {
  struct Case {
    const char* line;
    int64_t max_age;
    bool malformed;
  } cases[] = {
      {"max-age=abc", 0, true},
      {"max-age=", 0, true},
      {"max-age", 0, true},
      {"max-age=-5", 0, true},
      {"max-age = 5", 0, true},  // no whitespace around "="
      {"max-age=5x", 0, true},
      {"max-age=\"5", 0, true},  // unterminated quote
      {"max-age=60, max-age=10", 10, false},
      {"max-age=10, max-age=60", 10, false},
      {"max-age=60, max-age=x", 0, true},
      {"max-age=99999999999", kMaxDeltaSeconds, false},
      {"max-age=60;foo", 0, true},
  };
  for (const Case& c : cases) {
    CacheControl cc = Cc(c.line);
    EXPECT_EQ(cc.max_age, c.max_age) << c.line;
    EXPECT_EQ(cc.malformed, c.malformed) << c.line;
  }
  // The rest of a line after a malformed element still counts.
  CacheControl cc = Cc("max-age=60 junk, no-store");
  EXPECT_TRUE(cc.no_store);
  EXPECT_EQ(cc.max_age, 0);
  // Requests: duplicates keep the most restrictive.
  cc = Cc("max-stale=100, max-stale=10, min-fresh=5, min-fresh=20");
  EXPECT_EQ(cc.max_stale, 10);
  EXPECT_EQ(cc.min_fresh, 20);
  // max-stale with a bad value accepts no staleness; public with a value
  // is not public.
  cc = Cc("max-stale=x, public=yes");
  EXPECT_EQ(cc.max_stale, kAbsent);
  EXPECT_FALSE(cc.is_public);
  EXPECT_TRUE(cc.malformed);
  // A quoted comma does not end an element.
  cc = Cc("no-cache=\"a, max-age=5\", max-age=7");
  EXPECT_EQ(cc.max_age, 7);
  EXPECT_TRUE(cc.no_cache_qualified);
}

TEST(CacheControl, SeveralLinesCombine) {
  http::HeaderMap h = Headers({{"cache-control", "max-age=60"}, {"cache-control", "private"}});
  ResponseDirectives d = ParseResponseDirectives(h, kNow);
  EXPECT_EQ(d.cc.max_age, 60);
  EXPECT_TRUE(d.cc.is_private);
}

// RFC 9213 §2.1: a valid CDN-Cache-Control replaces Cache-Control; an
// invalid one is ignored.
TEST(CdnCacheControl, HonouredBeforeCacheControl) {
  ResponseDirectives d = ParseResponseDirectives(
      Headers({{"cache-control", "no-store"}, {"cdn-cache-control", "max-age=600, stale-if-error=60"}}), kNow);
  EXPECT_TRUE(d.from_cdn_cache_control);
  EXPECT_FALSE(d.cc.no_store);
  EXPECT_EQ(d.cc.max_age, 600);
  EXPECT_EQ(d.cc.stale_if_error, 60);

  for (const char* bad : {"Max-Age=600", "max-age=600,", "max-age=1.5.1", "max-age=\"60", "no-store, ?"}) {
    d = ParseResponseDirectives(Headers({{"cache-control", "max-age=5"}, {"cdn-cache-control", bad}}), kNow);
    EXPECT_FALSE(d.from_cdn_cache_control) << bad;
    EXPECT_EQ(d.cc.max_age, 5) << bad;
  }
  // Structured values: booleans, parameters, a string where an integer is
  // due (invalid freshness: stale), last key wins (RFC 8941 §4.2.2).
  CacheControl cc;
  ASSERT_TRUE(ParseCdnCacheControl({"no-store=?0, private;x=1, max-age=10, max-age=20"}, cc));
  EXPECT_FALSE(cc.no_store);
  EXPECT_TRUE(cc.is_private);
  EXPECT_EQ(cc.max_age, 20);
  ASSERT_TRUE(ParseCdnCacheControl({"max-age=\"60\""}, cc));
  EXPECT_EQ(cc.max_age, 0);
  ASSERT_TRUE(ParseCdnCacheControl({"max-age=-1"}, cc));
  EXPECT_EQ(cc.max_age, 0);
  ASSERT_TRUE(ParseCdnCacheControl({"max-age=60", "must-revalidate"}, cc));
  EXPECT_EQ(cc.max_age, 60);
  EXPECT_TRUE(cc.must_revalidate);
  EXPECT_FALSE(ParseCdnCacheControl({"max-age=60", "", "public"}, cc));
}

TEST(ResponseDirectives, ExpiresDateAgeLastModified) {
  ResponseDirectives d = ParseResponseDirectives(Headers({{"date", "Sun, 06 Nov 1994 08:49:37 GMT"},
                                                          {"expires", "Sun, 06 Nov 1994 09:49:37 GMT"},
                                                          {"age", "30, 40"},
                                                          {"last-modified", "Sat, 05 Nov 1994 08:49:37 GMT"},
                                                          {"set-cookie", "a=b"},
                                                          {"vary", "accept-encoding"}}),
                                                 kNow);
  EXPECT_EQ(d.date, 784111777);
  EXPECT_TRUE(d.has_expires);
  EXPECT_EQ(d.expires, 784111777 + 3600);
  EXPECT_EQ(d.age, 30);  // §5.1: the first member of a list
  EXPECT_EQ(d.last_modified, 784111777 - 86400);
  EXPECT_TRUE(d.has_set_cookie && d.has_vary);
  EXPECT_FALSE(d.cc.present);

  // §5.3: an invalid Expires ("0") is already expired; §4.2.1 two
  // different values too; §5.1 an invalid Age is ignored.
  for (auto fields : {Headers({{"expires", "0"}}),
                      Headers({{"expires", "Sun, 06 Nov 1994 09:49:37 GMT"}, {"expires", "Sun, 06 Nov 1994 10:49:37 GMT"}})}) {
    d = ParseResponseDirectives(fields, kNow);
    EXPECT_TRUE(d.has_expires);
    EXPECT_LT(d.expires, 0);
  }
  d = ParseResponseDirectives(Headers({{"age", "-3"}}), kNow);
  EXPECT_EQ(d.age, kAbsent);
}

// Pragma: no-cache counts only without Cache-Control (RFC 7234 §5.4; RFC
// 9111 §5.4 deprecates it).
TEST(RequestDirectives, PragmaNoCache) {
  RequestDirectives r = ParseRequestDirectives(Headers({{"pragma", "x, No-Cache"}}));
  EXPECT_TRUE(r.pragma_no_cache && r.cc.no_cache);
  r = ParseRequestDirectives(Headers({{"pragma", "no-cache"}, {"cache-control", "max-age=5"}}));
  EXPECT_FALSE(r.pragma_no_cache || r.cc.no_cache);
  EXPECT_EQ(r.cc.max_age, 5);
  r = ParseRequestDirectives(Headers({{"authorization", "Bearer x"}}));
  EXPECT_TRUE(r.has_authorization);
}

TEST(Vary, NamesLowerSortedUnique) {
  VaryFields v = ParseVary(Headers({{"vary", "Accept-Encoding, accept-language"}, {"vary", "ACCEPT-ENCODING,,"}}));
  EXPECT_FALSE(v.any);
  EXPECT_EQ(v.names, (std::vector<std::string>{"accept-encoding", "accept-language"}));
  v = ParseVary(Headers({{"vary", "accept, *"}}));
  EXPECT_TRUE(v.any);  // RFC 9111 §4.1: never matches
  v = ParseVary(Headers({{"vary", "a b, c"}}));
  EXPECT_TRUE(v.malformed);
  EXPECT_EQ(v.names, (std::vector<std::string>{"c"}));
}

}  // namespace
}  // namespace sluice::cache
