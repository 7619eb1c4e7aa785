// The cache stages with a route's key recipe, bypass conditions and
// methods (sluice.io/cache-key, cache-bypass, cache-methods): a real store,
// the lookup and store hooks, no sockets.
#include <gtest/gtest.h>

#include "dataplane/pipeline/cache_stage.h"

namespace sluice::pipeline {
namespace {

class CacheKeyStageTest : public ::testing::Test {
 protected:
  CacheKeyStageTest() : store_(cache::StoreOptions{}) {}

  ExchangeState Request(std::string method, std::string path,
                        std::initializer_list<std::pair<const char*, const char*>> fields = {}) {
    ExchangeState state;
    state.request.method = std::move(method);
    state.request.scheme = "http";
    state.request.authority = "shop.example";
    state.request.path = std::move(path);
    for (const auto& [name, value] : fields) state.request.headers.Add(name, value);
    return state;
  }

  // One exchange through both stages: true when the lookup answered it
  // from the cache; else the origin's 200 (max-age=60, `body`) goes
  // through the store stage.
  bool Exchange(ExchangeState& state, const std::string& body = "payload") {
    CacheLookupStage lookup(options_, &store_);
    CacheStoreStage store(options_, &store_);
    if (lookup.OnRequestHead(state) == Verdict::kReply) return true;
    http::ResponseHead head;
    head.status = 200;
    head.headers.Add("cache-control", "max-age=60");
    head.headers.Add("content-length", std::to_string(body.size()));
    store.OnResponseHead(state, head, false);
    std::string_view chunk = body;
    store.OnResponseBody(state, chunk);
    std::string_view tail;
    store.OnResponseEnd(state, tail);
    last_status_ = head.headers.Get("cache-status") ? *head.headers.Get("cache-status") : "";
    return false;
  }

  bool Hit(std::string method, std::string path, std::initializer_list<std::pair<const char*, const char*>> fields = {}) {
    ExchangeState state = Request(std::move(method), std::move(path), fields);
    return Exchange(state);
  }

  CacheStageOptions options_;
  cache::Store store_;
  std::string last_status_;
};

TEST_F(CacheKeyStageTest, DefaultKeyKeepsQueryOrder) {
  EXPECT_FALSE(Hit("GET", "/p?b=2&a=1"));
  EXPECT_TRUE(Hit("GET", "/p?b=2&a=1"));
  EXPECT_FALSE(Hit("GET", "/p?a=1&b=2"));
}

TEST_F(CacheKeyStageTest, SortedAndIgnoredQueries) {
  options_.key.query = cache::QueryInKey::kSorted;
  EXPECT_FALSE(Hit("GET", "/p?b=2&a=1"));
  EXPECT_TRUE(Hit("GET", "/p?a=1&b=2"));
  options_.key.query = cache::QueryInKey::kIgnored;
  EXPECT_FALSE(Hit("GET", "/q?utm=1"));
  EXPECT_TRUE(Hit("GET", "/q?utm=2"));
  EXPECT_TRUE(Hit("GET", "/q"));
}

TEST_F(CacheKeyStageTest, HeaderAndCookieInTheKey) {
  options_.key.headers = {"x-tenant"};
  options_.key.cookies = {"lang"};
  EXPECT_FALSE(Hit("GET", "/", {{"x-tenant", "a"}, {"cookie", "lang=fr"}}));
  EXPECT_TRUE(Hit("GET", "/", {{"x-tenant", "a"}, {"cookie", "lang=fr; other=1"}}));
  EXPECT_FALSE(Hit("GET", "/", {{"x-tenant", "b"}, {"cookie", "lang=fr"}}));
  EXPECT_FALSE(Hit("GET", "/", {{"x-tenant", "a"}, {"cookie", "lang=de"}}));
}

TEST_F(CacheKeyStageTest, BypassNeitherReadsNorFills) {
  options_.bypass.cookies = {"session"};
  options_.bypass.headers = {"authorization"};
  EXPECT_FALSE(Hit("GET", "/b", {{"cookie", "session=1"}}));
  EXPECT_EQ(last_status_, "sluice; fwd=bypass; fwd-status=200");
  EXPECT_FALSE(Hit("GET", "/b"));  // the bypassed response was not stored
  EXPECT_TRUE(Hit("GET", "/b"));
  EXPECT_FALSE(Hit("GET", "/b", {{"cookie", "session=1"}}));  // nor read
  EXPECT_FALSE(Hit("GET", "/b", {{"authorization", "Bearer x"}}));
}

TEST_F(CacheKeyStageTest, MethodsNotListedGoToTheOrigin) {
  options_.cache_head = false;
  EXPECT_FALSE(Hit("GET", "/m"));
  EXPECT_TRUE(Hit("GET", "/m"));
  EXPECT_FALSE(Hit("HEAD", "/m"));
  EXPECT_EQ(last_status_, "sluice; fwd=method; fwd-status=200");
}

TEST_F(CacheKeyStageTest, UnsafeMethodInvalidatesUnderTheRecipe) {
  options_.key.query = cache::QueryInKey::kSorted;
  EXPECT_FALSE(Hit("GET", "/u?b=1&a=2"));
  EXPECT_TRUE(Hit("GET", "/u?a=2&b=1"));
  ExchangeState post = Request("POST", "/u?a=2&b=1");
  Exchange(post);
  EXPECT_FALSE(Hit("GET", "/u?b=1&a=2"));
}

TEST(CacheStageOptionsTest, FromTheSnapshot) {
  v1::CachePolicy policy;
  policy.mutable_key()->set_omit_scheme(true);
  policy.mutable_key()->set_query(v1::CacheKey::QUERY_SORTED);
  policy.mutable_key()->add_headers("x-tenant");
  policy.add_bypass_cookies("session");
  policy.add_methods("GET");
  CacheStageOptions options = CacheStageOptions::From(policy);
  EXPECT_FALSE(options.key.scheme);
  EXPECT_TRUE(options.key.host);
  EXPECT_EQ(options.key.query, cache::QueryInKey::kSorted);
  EXPECT_EQ(options.key.headers, std::vector<std::string>{"x-tenant"});
  EXPECT_EQ(options.bypass.cookies, std::vector<std::string>{"session"});
  EXPECT_TRUE(options.cache_get);
  EXPECT_FALSE(options.cache_head);
}

}  // namespace
}  // namespace sluice::pipeline
