// The redirect and rewrite stages alone (issue 18): a request in an
// ExchangeState, the hook, what it answered or changed. No sockets.
#include <gtest/gtest.h>

#include <algorithm>

#include "dataplane/pipeline/chain.h"
#include "dataplane/pipeline/redirect_stage.h"
#include "dataplane/pipeline/rewrite_stage.h"
#include "dataplane/pipeline/stage_test_support.h"
#include "dataplane/router/router.h"

namespace sluice::pipeline {
namespace {

http::ClientInfo Client(std::string_view scheme) { return http::ClientInfo::At(*IpAddress::Parse("192.0.2.7"), scheme); }

v1::RoutePolicy Redirect(std::string url, uint32_t code, std::string host = "") {
  v1::RoutePolicy policy;
  policy.mutable_redirect()->set_url(std::move(url));
  policy.mutable_redirect()->set_host(std::move(host));
  policy.mutable_redirect()->set_code(code);
  return policy;
}

TEST(RedirectStageTest, FixedUrlWithItsCode) {
  http::ClientInfo client = Client("http");
  struct Case {
    uint32_t code;
    int want;
  } cases[] = {{0, 301}, {301, 301}, {302, 302}, {307, 307}, {308, 308}, {399, 301}};
  for (const Case& c : cases) {
    auto stage = RedirectStage::FromPolicy(Redirect("https://new.example/landing", c.code));
    ASSERT_NE(stage, nullptr);
    ExchangeState state = GetRequest(&client, "old.example", "/any/path?q=1");
    ASSERT_EQ(stage->OnRequestHead(state), Verdict::kReply) << c.code;
    EXPECT_EQ(state.reply.status, c.want) << c.code;
    EXPECT_EQ(state.reply.location, "https://new.example/landing");
    EXPECT_EQ(state.error.code, ErrorCode::kRedirect);
  }
}

TEST(RedirectStageTest, HostRedirectKeepsSchemePortPathAndQuery) {
  auto stage = RedirectStage::FromPolicy(Redirect("", 308, "example.com"));
  http::ClientInfo plain = Client("http");
  http::ClientInfo tls = Client("https");
  ExchangeState a = GetRequest(&plain, "www.example.com:8080", "/a/b?c=d");
  ASSERT_EQ(stage->OnRequestHead(a), Verdict::kReply);
  EXPECT_EQ(a.reply.status, 308);
  EXPECT_EQ(a.reply.location, "http://example.com:8080/a/b?c=d");
  ExchangeState b = GetRequest(&tls, "WWW.example.com", "");
  ASSERT_EQ(stage->OnRequestHead(b), Verdict::kReply);
  EXPECT_EQ(b.reply.location, "https://example.com/");
}

TEST(RedirectStageTest, AppRootOnlyForTheRoot) {
  v1::RoutePolicy policy;
  policy.set_app_root("/app1");
  auto stage = RedirectStage::FromPolicy(policy);
  ASSERT_NE(stage, nullptr);
  http::ClientInfo client = Client("http");
  ExchangeState root = GetRequest(&client, "shop.example:8080", "/?x=1");
  ASSERT_EQ(stage->OnRequestHead(root), Verdict::kReply);
  EXPECT_EQ(root.reply.status, 302);
  EXPECT_EQ(root.reply.location, "http://shop.example:8080/app1");
  for (std::string path : {"/app1", "/other", "/index.html"}) {
    ExchangeState other = GetRequest(&client, "shop.example", path);
    EXPECT_EQ(stage->OnRequestHead(other), Verdict::kContinue) << path;
    EXPECT_TRUE(other.reply.empty());
  }
  EXPECT_EQ(RedirectStage::FromPolicy(v1::RoutePolicy()), nullptr);
}

TEST(RedirectStageTest, ChainOrderPutsItBeforeTheHttpsRedirect) {
  v1::RoutePolicy policy = Redirect("https://elsewhere.example/", 301);
  policy.set_redirect_to_https(true);
  policy.set_x_forwarded_prefix("/p");
  auto chain = CompileChain(policy, ChainDefaults());
  std::vector<std::string_view> names = chain->StageNames();
  auto at = [&](std::string_view name) { return std::find(names.begin(), names.end(), name) - names.begin(); };
  EXPECT_LT(at("redirect"), at("https_redirect"));
  EXPECT_LT(at("rewrite"), at("request_headers"));
  EXPECT_LT(static_cast<int>(StageOrder::kHttpsRedirect) - static_cast<int>(StageOrder::kRedirect), 10);
  // Nothing asked: neither stage.
  auto plain = CompileChain(v1::RoutePolicy(), ChainDefaults())->StageNames();
  EXPECT_EQ(std::find(plain.begin(), plain.end(), "redirect"), plain.end());
  EXPECT_EQ(std::find(plain.begin(), plain.end(), "rewrite"), plain.end());
}

std::shared_ptr<const re2::RE2> Regex(std::string_view pattern) {
  std::string error;
  auto regex = router::CompileRegex(pattern, &error);
  EXPECT_NE(regex, nullptr) << error;
  return regex;
}

TEST(RewriteStageTest, CapturesBecomeThePathAndTheQueryStays) {
  struct Case {
    std::string pattern, target, request, want;
  } cases[] = {
      {"/something(/|$)(.*)", "/$2", "/something/new?x=1", "/new?x=1"},
      {"/something(/|$)(.*)", "/$2", "/something", "/"},
      {"/something(/|$)(.*)", "/$2", "/SOMETHING/Up", "/Up"},  // ~*: case-insensitive
      {"/api/v(\\d+)/(.*)", "/v$1/x/$2", "/api/v2/users/7", "/v2/x/users/7"},
      {"/api", "/", "/api/users?a=b", "/?a=b"},                 // nginx: the whole path is replaced
      {"/a(.*)", "/b?fixed=1", "/a/c?q=2", "/b?fixed=1&q=2"},    // the target's own query first
      {"/a(.*)", "/b/$9$0", "/a/c", "/b//a/c"},                 // no 9th group: empty
      {"/a(.*)", "$1", "/a/c", "/c"},
      {"/a(.*)", "$1", "/a", "/"},                              // never an empty path
  };
  http::ClientInfo client = Client("http");
  for (const Case& c : cases) {
    RewriteStage stage(c.target, c.pattern, Regex(c.pattern), "");
    ExchangeState state = GetRequest(&client, "h", c.request);
    ASSERT_EQ(stage.OnRequestHead(state), Verdict::kContinue);
    EXPECT_EQ(state.request.path, c.want) << c.pattern << " " << c.target << " " << c.request;
  }
}

TEST(RewriteStageTest, NoMatchLeavesThePathAndWithoutRegexZeroIsThePrefix) {
  http::ClientInfo client = Client("http");
  RewriteStage stage("/x$1", "/a(b)", Regex("/a(b)"), "");
  ExchangeState state = GetRequest(&client, "h", "/zzz");
  EXPECT_EQ(stage.OnRequestHead(state), Verdict::kContinue);
  EXPECT_EQ(state.request.path, "/zzz");
  RewriteStage prefix("/new$0$1", "/old", nullptr, "");
  ExchangeState other = GetRequest(&client, "h", "/old/page");
  prefix.OnRequestHead(other);
  EXPECT_EQ(other.request.path, "/new/old");
}

TEST(RewriteStageTest, XForwardedPrefixReplacesTheClientsOwn) {
  http::ClientInfo client = Client("http");
  RewriteStage stage("", "", nullptr, "/shop");
  ExchangeState state = GetRequest(&client, "h", "/cart");
  state.request.headers.Add("x-forwarded-prefix", "/spoofed");
  EXPECT_EQ(stage.OnRequestHead(state), Verdict::kContinue);
  EXPECT_EQ(state.request.path, "/cart");
  EXPECT_EQ(AddedField(state, "x-forwarded-prefix"), "/shop");
  EXPECT_EQ(state.request.headers.Get("x-forwarded-prefix"), nullptr);
}

// A hostile path cannot make matching slow: RE2 is linear in the input, so a
// pattern that backtracks exponentially in PCRE answers at once here.
TEST(RewriteStageTest, NoCatastrophicBacktracking) {
  auto regex = Regex("/(a+)+$");
  std::string path = "/" + std::string(100000, 'a') + "!";
  EXPECT_FALSE(router::RegexMatches(*regex, path));
  std::string error;
  EXPECT_EQ(router::CompileRegex("/(a)\\1", &error), nullptr);  // backreference
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(router::CompileRegex("/(?=a)", &error), nullptr);   // lookahead
}

}  // namespace
}  // namespace sluice::pipeline
