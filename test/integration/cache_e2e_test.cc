// The response cache end to end: sluice-controller reading manifests,
// sluice-proxy (two workers sharing one cache), and an in-process origin
// (FakeUpstream) that counts the requests it gets. What the cache answers
// is checked by what the origin did not see.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "test/support/cache_cluster.h"
#include "test/support/fake_upstream.h"
#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"

namespace sluice {
namespace {

using testing::FakeUpstream;
using testing::Fetch;
using testing::HttpConnection;

// The value of request header `name` in a raw head ("" when absent).
std::string HeaderOf(const std::string& head, const std::string& name) {
  const std::string needle = "\r\n" + name + ": ";
  size_t at = head.find(needle);
  if (at == std::string::npos) return "";
  at += needle.size();
  return head.substr(at, head.find("\r\n", at) - at);
}

// What the origin answers, by path.
FakeUpstream::Reply Origin(const FakeUpstream::Request& request) {
  const std::string& head = request.head;
  const std::string target = request.target();
  if (head.rfind("POST ", 0) == 0) return {"HTTP/1.1 204 No Content\r\n\r\n"};
  if (target == "/fresh" || target == "/nocache-path") {
    return {FakeUpstream::OkResponse("fresh body", "Cache-Control: max-age=60\r\nContent-Type: text/plain\r\n")};
  }
  if (target == "/private") return {FakeUpstream::OkResponse("mine", "Cache-Control: private, max-age=60\r\n")};
  if (target == "/cookie") return {FakeUpstream::OkResponse("c", "Cache-Control: max-age=60\r\nSet-Cookie: a=b\r\n")};
  if (target == "/vary") {
    return {FakeUpstream::OkResponse("lang=" + HeaderOf(head, "x-lang"), "Cache-Control: max-age=60\r\nVary: X-Lang\r\n")};
  }
  if (target == "/big") return {FakeUpstream::OkResponse(std::string(1536 * 1024, 'b'), "Cache-Control: max-age=60\r\n")};
  if (target == "/chunked") {
    return {"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"};
  }
  if (target == "/etag") {
    return {FakeUpstream::OkResponse("0123456789", "Cache-Control: max-age=60\r\nETag: \"e1\"\r\n"
                                                   "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                                                   "Content-Type: text/plain\r\n")};
  }
  if (target == "/reval") {
    // Stale at once (max-age=0); asked about its ETag, it says "not
    // modified", with a new Cache-Control and X-Version.
    if (HeaderOf(head, "if-none-match") == "\"r1\"") {
      return {"HTTP/1.1 304 Not Modified\r\nETag: \"r1\"\r\nCache-Control: max-age=60\r\nX-Version: 2\r\n\r\n"};
    }
    return {FakeUpstream::OkResponse("reval body", "Cache-Control: max-age=0\r\nETag: \"r1\"\r\n"
                                                   "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nX-Version: 1\r\n")};
  }
  if (target == "/swr") {
    // Stale at once (Age over max-age), within stale-while-revalidate;
    // asked about its ETag, "not modified" and fresh for a minute.
    if (HeaderOf(head, "if-none-match") == "\"s1\"") {
      return {"HTTP/1.1 304 Not Modified\r\nETag: \"s1\"\r\nCache-Control: max-age=60\r\n\r\n"};
    }
    return {FakeUpstream::OkResponse("swr body", "Cache-Control: max-age=1, stale-while-revalidate=60\r\n"
                                                 "Age: 5\r\nETag: \"s1\"\r\n")};
  }
  if (target == "/must-revalidate") {
    return {FakeUpstream::OkResponse("mr", "Cache-Control: max-age=0, must-revalidate\r\nETag: \"m1\"\r\n")};
  }
  return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
}

class CacheEndToEndTest : public testing::CacheClusterTest {
 protected:
  void SetUp() override {
    origin_ = std::make_unique<FakeUpstream>(Origin);
    MakeCluster({.name = "cache",
                 .workers = 2,
                 .access_log = "off",
                 .extra_proxy_flags = {"--cache-memory", "64M", "--cache-max-object-size", "1M"}});
    // cache.local: cached. nocache.local: the same origin, no annotation.
    ASSERT_NO_FATAL_FAILURE(
        StartCluster({.origin_port = origin_->port(),
                      .more_manifests = {testing::PrefixIngress("plain", "cache", "nocache.local", "origin")}}));
  }

  // Requests the origin got for "METHOD TARGET".
  size_t OriginSaw(const std::string& method_and_target) const { return origin_->requests_for(method_and_target); }

  testing::Response Get(const std::string& host, const std::string& path, const std::string& extra = "") {
    return Fetch(cluster_->http_port(), host, path, extra);
  }

  std::unique_ptr<FakeUpstream> origin_;
};

TEST_F(CacheEndToEndTest, FreshResponseIsServedFromTheCache) {
  testing::Response first = Get("cache.local", "/fresh");
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "fresh body");
  EXPECT_EQ(first.Header("cache-status"), "sluice; fwd=uri-miss; fwd-status=200; stored");
  // Both workers answer from the one store: several fresh connections.
  for (int i = 0; i < 6; ++i) {
    testing::Response hit = Get("cache.local", "/fresh");
    ASSERT_EQ(hit.status, 200);
    EXPECT_EQ(hit.body, "fresh body");
    EXPECT_EQ(hit.Header("content-type"), "text/plain");
    EXPECT_EQ(hit.Header("content-length"), "10");
    EXPECT_NE(hit.Header("cache-status").find("sluice; hit; ttl="), std::string::npos) << hit.Header("cache-status");
    EXPECT_FALSE(hit.Header("age").empty());
  }
  EXPECT_EQ(OriginSaw("GET /fresh"), 1u);
  // HEAD from the stored GET.
  HttpConnection connection(cluster_->http_port());
  ASSERT_TRUE(connection.SendRaw("HEAD /fresh HTTP/1.1\r\nHost: cache.local\r\n\r\n"));
  testing::Response head = connection.ReadResponse(/*head_request=*/true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-length"), "10");
  EXPECT_EQ(OriginSaw("HEAD /fresh"), 0u);
  // The route without the annotation is not cached.
  Get("nocache.local", "/nocache-path");
  Get("nocache.local", "/nocache-path");
  EXPECT_EQ(OriginSaw("GET /nocache-path"), 2u);
  // A chunked response is stored whole and served with a length.
  EXPECT_EQ(Get("cache.local", "/chunked").body, "hello world");
  testing::Response chunked = Get("cache.local", "/chunked");
  EXPECT_EQ(chunked.body, "hello world");
  EXPECT_EQ(chunked.Header("content-length"), "11");
  EXPECT_EQ(OriginSaw("GET /chunked"), 1u);
}

TEST_F(CacheEndToEndTest, WhatMustNotBeStoredIsNot) {
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Get("cache.local", "/private").body, "mine");
    EXPECT_EQ(Get("cache.local", "/cookie").body, "c");
    EXPECT_EQ(Get("cache.local", "/big").body.size(), 1536u * 1024);  // over --cache-max-object-size
  }
  EXPECT_EQ(OriginSaw("GET /private"), 2u);
  EXPECT_EQ(OriginSaw("GET /cookie"), 2u);
  EXPECT_EQ(OriginSaw("GET /big"), 2u);
  // Request directives: no-cache revalidates (here: fetches again),
  // no-store neither uses nor stores, only-if-cached on a miss is 504.
  Get("cache.local", "/fresh");
  Get("cache.local", "/fresh", "Cache-Control: no-cache\r\n");
  Get("cache.local", "/fresh", "Pragma: no-cache\r\n");
  EXPECT_EQ(OriginSaw("GET /fresh"), 3u);
  EXPECT_EQ(Get("cache.local", "/nothing-here", "Cache-Control: only-if-cached\r\n").status, 504);
}

TEST_F(CacheEndToEndTest, VaryKeepsOneVariantPerValue) {
  EXPECT_EQ(Get("cache.local", "/vary", "X-Lang: en\r\n").body, "lang=en");
  EXPECT_EQ(Get("cache.local", "/vary", "X-Lang: en\r\n").body, "lang=en");
  EXPECT_EQ(Get("cache.local", "/vary", "X-Lang: fr\r\n").body, "lang=fr");
  EXPECT_EQ(Get("cache.local", "/vary", "X-Lang: fr\r\n").body, "lang=fr");
  EXPECT_EQ(Get("cache.local", "/vary", "x-lang: en\r\n").body, "lang=en");
  EXPECT_EQ(Get("cache.local", "/vary").body, "lang=");
  EXPECT_EQ(OriginSaw("GET /vary"), 3u);
}

TEST_F(CacheEndToEndTest, UnsafeMethodInvalidates) {
  Get("cache.local", "/fresh");
  Get("cache.local", "/fresh");
  EXPECT_EQ(OriginSaw("GET /fresh"), 1u);
  HttpConnection connection(cluster_->http_port());
  ASSERT_TRUE(connection.SendRaw("POST /fresh HTTP/1.1\r\nHost: cache.local\r\nContent-Length: 1\r\n\r\nx"));
  EXPECT_EQ(connection.ReadResponse().status, 204);
  Get("cache.local", "/fresh");
  Get("cache.local", "/fresh");
  EXPECT_EQ(OriginSaw("GET /fresh"), 2u);
}

TEST_F(CacheEndToEndTest, RevalidationWith304UpdatesTheStoredHeaders) {
  testing::Response first = Get("cache.local", "/reval");
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.Header("x-version"), "1");
  // Stale: the origin is asked with the stored validators, answers 304,
  // and the client gets the stored body with the 304's fields.
  testing::Response revalidated = Get("cache.local", "/reval");
  EXPECT_EQ(revalidated.status, 200);
  EXPECT_EQ(revalidated.body, "reval body");
  EXPECT_EQ(revalidated.Header("x-version"), "2");
  EXPECT_EQ(revalidated.Header("cache-status").rfind("sluice; fwd=stale; fwd-status=304", 0), 0u)
      << revalidated.Header("cache-status");
  std::vector<std::string> heads = origin_->request_heads_for("GET /reval");
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_EQ(HeaderOf(heads[0], "if-none-match"), "");
  EXPECT_EQ(HeaderOf(heads[1], "if-none-match"), "\"r1\"");
  EXPECT_EQ(HeaderOf(heads[1], "if-modified-since"), "Sun, 06 Nov 1994 08:49:37 GMT");
  // Fresh now (the 304's max-age=60): hits, on both workers, with the
  // updated fields and the same body.
  for (int i = 0; i < 4; ++i) {
    testing::Response hit = Get("cache.local", "/reval");
    EXPECT_EQ(hit.status, 200);
    EXPECT_EQ(hit.body, "reval body");
    EXPECT_EQ(hit.Header("x-version"), "2");
    EXPECT_EQ(hit.Header("cache-control"), "max-age=60");
    EXPECT_EQ(hit.Header("content-length"), "10");
    EXPECT_NE(hit.Header("cache-status").find("sluice; hit"), std::string::npos) << hit.Header("cache-status");
  }
  EXPECT_EQ(OriginSaw("GET /reval"), 2u);
}

TEST_F(CacheEndToEndTest, ConditionalRequestsAreAnswered304FromTheCache) {
  ASSERT_EQ(Get("cache.local", "/etag").status, 200);
  for (const char* conditional : {"If-None-Match: \"e1\"\r\n", "If-None-Match: W/\"e1\", \"x\"\r\n",
                                  "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"}) {
    SCOPED_TRACE(conditional);
    testing::Response not_modified = Get("cache.local", "/etag", conditional);
    EXPECT_EQ(not_modified.status, 304);
    EXPECT_EQ(not_modified.body, "");
    EXPECT_EQ(not_modified.Header("etag"), "\"e1\"");
    EXPECT_EQ(not_modified.Header("cache-control"), "max-age=60");
    EXPECT_EQ(not_modified.Header("content-type"), "");
    EXPECT_FALSE(not_modified.Header("age").empty());
  }
  // Another tag: the whole response, still from the cache.
  testing::Response other = Get("cache.local", "/etag", "If-None-Match: \"e2\"\r\n");
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, "0123456789");
  // HEAD from the stored GET, and its conditional form.
  HttpConnection connection(cluster_->http_port());
  ASSERT_TRUE(connection.SendRaw("HEAD /etag HTTP/1.1\r\nHost: cache.local\r\n\r\n"));
  testing::Response head = connection.ReadResponse(/*head_request=*/true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-length"), "10");
  EXPECT_EQ(head.Header("etag"), "\"e1\"");
  ASSERT_TRUE(connection.SendRaw("HEAD /etag HTTP/1.1\r\nHost: cache.local\r\nIf-None-Match: \"e1\"\r\n\r\n"));
  EXPECT_EQ(connection.ReadResponse(/*head_request=*/true).status, 304);
  EXPECT_EQ(OriginSaw("GET /etag"), 1u);
  EXPECT_EQ(OriginSaw("HEAD /etag"), 0u);
}

TEST_F(CacheEndToEndTest, RangesAreServedFromTheStoredResponse) {
  ASSERT_EQ(Get("cache.local", "/etag").status, 200);
  testing::Response single = Get("cache.local", "/etag", "Range: bytes=2-5\r\n");
  EXPECT_EQ(single.status, 206);
  EXPECT_EQ(single.body, "2345");
  EXPECT_EQ(single.Header("content-range"), "bytes 2-5/10");
  EXPECT_EQ(single.Header("content-length"), "4");
  testing::Response multi = Get("cache.local", "/etag", "Range: bytes=0-1,-2\r\n");
  EXPECT_EQ(multi.status, 206);
  EXPECT_EQ(multi.Header("content-type").rfind("multipart/byteranges; boundary=", 0), 0u) << multi.Header("content-type");
  EXPECT_NE(multi.body.find("content-range: bytes 0-1/10\r\n\r\n01\r\n"), std::string::npos) << multi.body;
  EXPECT_NE(multi.body.find("content-range: bytes 8-9/10\r\n\r\n89\r\n"), std::string::npos) << multi.body;
  EXPECT_NE(multi.body.find("content-type: text/plain\r\n"), std::string::npos) << multi.body;
  testing::Response unsatisfiable = Get("cache.local", "/etag", "Range: bytes=50-\r\n");
  EXPECT_EQ(unsatisfiable.status, 416);
  EXPECT_EQ(unsatisfiable.Header("content-range"), "bytes */10");
  // If-Range: the range only while the stored response is the one named.
  EXPECT_EQ(Get("cache.local", "/etag", "Range: bytes=2-5\r\nIf-Range: \"e1\"\r\n").status, 206);
  testing::Response changed = Get("cache.local", "/etag", "Range: bytes=2-5\r\nIf-Range: \"e0\"\r\n");
  EXPECT_EQ(changed.status, 200);
  EXPECT_EQ(changed.body, "0123456789");
  EXPECT_EQ(OriginSaw("GET /etag"), 1u);
}

TEST_F(CacheEndToEndTest, RangeMissGoesToTheOriginUntouchedAndDoesNotFill) {
  // The documented choice: a Range (or conditional) miss is forwarded as
  // the client sent it; the next plain GET fills the cache.
  Get("cache.local", "/etag", "Range: bytes=0-1\r\n");
  std::vector<std::string> heads = origin_->request_heads_for("GET /etag");
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(HeaderOf(heads[0], "range"), "bytes=0-1");
  Get("cache.local", "/etag");
  EXPECT_EQ(Get("cache.local", "/etag", "Range: bytes=0-1\r\n").status, 206);
  EXPECT_EQ(OriginSaw("GET /etag"), 2u);
}

TEST_F(CacheEndToEndTest, MustRevalidateGives504WhenTheOriginIsGone) {
  testing::Response first = Get("cache.local", "/must-revalidate");
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "mr");
  origin_.reset();  // the origin is gone: connections are refused
  testing::Response refused = Get("cache.local", "/must-revalidate");
  EXPECT_EQ(refused.status, 504);
  EXPECT_NE(refused.body, "mr");
}

TEST_F(CacheEndToEndTest, StaleWhileRevalidateAnswersAtOnceAndRefreshesInTheBackground) {
  EXPECT_EQ(Get("cache.local", "/swr").body, "swr body");  // the fill
  testing::Response stale = Get("cache.local", "/swr");
  EXPECT_EQ(stale.body, "swr body");
  EXPECT_NE(stale.Header("cache-status").find("detail=stale-while-revalidate"), std::string::npos)
      << stale.Header("cache-status");
  // One conditional request went to the origin behind the client's back...
  ASSERT_TRUE(testing::WaitUntil([&] { return OriginSaw("GET /swr") == 2; }, std::chrono::seconds(10),
                                 std::chrono::milliseconds(20)));
  size_t conditional = 0;
  for (const std::string& head : origin_->request_heads_for("GET /swr")) {
    conditional += HeaderOf(head, "if-none-match") == "\"s1\"";
  }
  EXPECT_EQ(conditional, 1u);
  // ... and its 304 made the stored response fresh: plain hits from then on.
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        testing::Response r = Get("cache.local", "/swr");
        const std::string status = r.Header("cache-status");
        return r.body == "swr body" && status.find("detail=stale") == std::string::npos &&
               status.find("; hit") != std::string::npos;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(20)));
  EXPECT_EQ(OriginSaw("GET /swr"), 2u);
}

}  // namespace
}  // namespace sluice
