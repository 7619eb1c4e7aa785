#include "dataplane/cache/key/key.h"

#include <gtest/gtest.h>

namespace sluice::cache {
namespace {

http::HeaderMap Headers(std::initializer_list<std::pair<const char*, const char*>> fields) {
  http::HeaderMap headers;
  for (const auto& [name, value] : fields) headers.Add(name, value);
  return headers;
}

TEST(BuildKey, DefaultRecipeIsThePrimaryKey) {
  KeyRecipe recipe;
  EXPECT_EQ(BuildKey(recipe, "https", "Example.COM:443", "/a?b=1", {}), "https://example.com/a?b=1");
  EXPECT_EQ(BuildKey(recipe, "http", "example.com:8080", "/", {}), "http://example.com:8080/");
}

TEST(BuildKey, QuerySortedOrIgnored) {
  KeyRecipe sorted;
  sorted.query = QueryInKey::kSorted;
  EXPECT_EQ(BuildKey(sorted, "http", "h", "/p?b=2&a=1&&c", {}), "http://h/p?a=1&b=2&c");
  EXPECT_EQ(BuildKey(sorted, "http", "h", "/p?b=2&a=1", {}), BuildKey(sorted, "http", "h", "/p?a=1&b=2", {}));
  EXPECT_EQ(BuildKey(sorted, "http", "h", "/p?", {}), "http://h/p");
  // Values are not decoded: a different spelling is a different entry.
  EXPECT_NE(BuildKey(sorted, "http", "h", "/p?a=%41", {}), BuildKey(sorted, "http", "h", "/p?a=A", {}));
  KeyRecipe ignored;
  ignored.query = QueryInKey::kIgnored;
  EXPECT_EQ(BuildKey(ignored, "http", "h", "/p?utm=1", {}), "http://h/p");
  EXPECT_EQ(BuildKey(ignored, "http", "h", "/p?utm=1", {}), BuildKey(ignored, "http", "h", "/p", {}));
}

TEST(BuildKey, SchemeAndHostLeftOutShowAsStars) {
  KeyRecipe recipe;
  recipe.scheme = false;
  EXPECT_EQ(BuildKey(recipe, "https", "h:443", "/a", {}), "*://h/a");
  EXPECT_EQ(BuildKey(recipe, "http", "h", "/a", {}), BuildKey(recipe, "https", "h", "/a", {}));
  recipe.host = false;
  EXPECT_EQ(BuildKey(recipe, "https", "one.example", "/a", {}), "*://*/a");
}

TEST(BuildKey, HeadersAndCookiesAbsentEmptyAndPresentDiffer) {
  KeyRecipe recipe;
  recipe.headers = {"x-tenant"};
  recipe.cookies = {"lang"};
  const std::string absent = BuildKey(recipe, "http", "h", "/", {});
  const std::string empty = BuildKey(recipe, "http", "h", "/", Headers({{"x-tenant", ""}}));
  const std::string a = BuildKey(recipe, "http", "h", "/", Headers({{"x-tenant", "a"}, {"cookie", "x=1; lang=fr"}}));
  const std::string b = BuildKey(recipe, "http", "h", "/", Headers({{"x-tenant", "b"}, {"cookie", "lang=fr"}}));
  const std::string a_de = BuildKey(recipe, "http", "h", "/", Headers({{"x-tenant", "a"}, {"cookie", "lang=de"}}));
  EXPECT_NE(absent, empty);
  EXPECT_NE(a, b);
  EXPECT_NE(a, a_de);
  EXPECT_EQ(a, "http://h/\x1eh:x-tenant=a\x1e" "c:lang=fr");
  // Other cookies do not split the entry.
  EXPECT_EQ(a, BuildKey(recipe, "http", "h", "/", Headers({{"x-tenant", "a"}, {"cookie", "lang=fr; session=42"}})));
  EXPECT_EQ(UrlPartOf(a), "http://h/");
  // A header split over several fields keys like the joined list.
  EXPECT_EQ(BuildKey(recipe, "http", "h", "/", Headers({{"x-tenant", "a"}, {"x-tenant", "b"}})),
            BuildKey(recipe, "http", "h", "/", Headers({{"x-tenant", "a,b"}})));
}

TEST(ShouldBypass, AnyNamedCookieOrHeaderPresent) {
  BypassConditions conditions;
  EXPECT_TRUE(conditions.empty());
  conditions.cookies = {"session"};
  conditions.headers = {"authorization"};
  EXPECT_FALSE(ShouldBypass(conditions, Headers({{"cookie", "lang=fr"}})));
  EXPECT_TRUE(ShouldBypass(conditions, Headers({{"cookie", "lang=fr; session=1"}})));
  EXPECT_TRUE(ShouldBypass(conditions, Headers({{"cookie", "session="}})));
  EXPECT_TRUE(ShouldBypass(conditions, Headers({{"authorization", "Bearer x"}})));
  EXPECT_FALSE(ShouldBypass(conditions, Headers({{"x-session", "1"}})));
}

}  // namespace
}  // namespace sluice::cache
