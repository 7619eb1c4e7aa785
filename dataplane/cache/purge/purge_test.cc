#include "dataplane/cache/purge/purge.h"

#include <gtest/gtest.h>

namespace sluice::cache {
namespace {

class PurgeTest : public ::testing::Test {
 protected:
  PurgeTest() : store_(StoreOptions{}) {}
  void Put(std::string key, std::vector<std::string> tags = {}) {
    auto object = std::make_shared<CachedObject>();
    object->key = std::move(key);
    object->tags = std::move(tags);
    ASSERT_TRUE(store_.Insert(std::move(object)));
  }
  size_t PurgeBy(std::string_view form) {
    Result<PurgeRequest> request = ParsePurgeRequest(form);
    EXPECT_TRUE(request.ok()) << request.status().message();
    return request.ok() ? Purge(store_, *request) : 0;
  }
  bool Has(std::string_view key) { return store_.Find(key) != nullptr; }
  Store store_;
};

TEST_F(PurgeTest, UrlRemovesTheEntryAndItsVariantsOnly) {
  Put("https://shop.example/a?x=1");
  Put("https://shop.example/a?x=1\x1f" "accept-encoding=gzip");
  Put("https://shop.example/a?x=2");
  Put("http://shop.example/a?x=1");
  EXPECT_EQ(PurgeBy("url=https%3A%2F%2FShop.Example%3A443%2Fa%3Fx%3D1"), 2u);
  EXPECT_FALSE(Has("https://shop.example/a?x=1"));
  EXPECT_TRUE(Has("https://shop.example/a?x=2"));
  EXPECT_TRUE(Has("http://shop.example/a?x=1"));
}

TEST_F(PurgeTest, UrlFindsKeysOfEveryRecipe) {
  Put("*://shop.example/p?a=1&b=2");              // no scheme, query sorted
  Put("https://*/q");                             // no host, query ignored
  Put("https://shop.example/r\x1eh:x-tenant=a");  // a header in the key
  Put("https://shop.example/r\x1eh:x-tenant=b");
  // An unencoded '&' ends the url parameter: "a=1" is an unknown one.
  EXPECT_FALSE(ParsePurgeRequest("url=https://shop.example/p?b=2&a=1").ok());
  EXPECT_EQ(PurgeBy("url=" "https%3A%2F%2Fshop.example%2Fp%3Fb%3D2%26a%3D1"), 1u);
  EXPECT_EQ(PurgeBy("url=https%3A%2F%2Fother.example%2Fq%3Futm%3D1"), 1u);
  EXPECT_EQ(PurgeBy("url=https%3A%2F%2Fshop.example%2Fr"), 2u);
}

TEST_F(PurgeTest, HostAndPrefix) {
  Put("https://shop.example/img/a.png");
  Put("http://shop.example/img/b.png");
  Put("https://shop.example/index.html");
  Put("https://blog.example/img/c.png");
  EXPECT_EQ(PurgeBy("host=SHOP.example&prefix=/img/"), 2u);
  EXPECT_TRUE(Has("https://shop.example/index.html"));
  EXPECT_TRUE(Has("https://blog.example/img/c.png"));
  EXPECT_EQ(PurgeBy("prefix=/img/"), 1u);  // any host
  EXPECT_EQ(PurgeBy("host=*"), 1u);        // everything left
}

TEST_F(PurgeTest, Tags) {
  Put("https://shop.example/p/42", {"product-42", "catalog"});
  Put("https://shop.example/p/43", {"product-43", "catalog"});
  EXPECT_EQ(PurgeBy("tag=product-42"), 1u);
  EXPECT_EQ(PurgeBy("tag=catalog"), 1u);
  EXPECT_EQ(PurgeBy("tag=catalog"), 0u);
}

TEST(ParsePurgeRequest, ClearErrors) {
  for (std::string_view bad : {"", "url=/relative", "url=ftp%3A%2F%2Fh%2F", "tag=", "tag=a%20b", "host=&prefix=",
                               "prefix=img/", "url=https%3A%2F%2Fh%2F&tag=x", "colour=red", "tag=%zz", "tag=%4"}) {
    EXPECT_FALSE(ParsePurgeRequest(bad).ok()) << bad;
  }
}

TEST(ParsePurgeRequest, FormRoundTrips) {
  for (std::string_view form : {"url=https://shop.example/a%3Fb%3D1", "tag=product-42", "host=shop.example&prefix=/img/",
                                "host=*&prefix=/x"}) {
    Result<PurgeRequest> request = ParsePurgeRequest(form);
    ASSERT_TRUE(request.ok()) << form;
    EXPECT_EQ(FormOf(*request), form);
  }
}

TEST(PurgeTagsOf, CacheTagCommasSurrogateKeySpaces) {
  http::HeaderMap headers;
  headers.Add("cache-tag", "product-42, catalog,catalog");
  headers.Add("surrogate-key", "a  b\tc");
  headers.Add("x-other", "z");
  EXPECT_EQ(PurgeTagsOf(headers), (std::vector<std::string>{"product-42", "catalog", "a", "b", "c"}));
  headers.Add("cache-tag", std::string(300, 'x'));
  EXPECT_EQ(PurgeTagsOf(headers).size(), 5u);
}

}  // namespace
}  // namespace sluice::cache
