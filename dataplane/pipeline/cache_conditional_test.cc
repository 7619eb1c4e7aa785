// The cache stages and conditional requests, ranges and revalidation,
// without sockets: a request goes through cache_lookup; when it continues,
// the test plays the origin through cache_store's response hooks. What the
// origin was asked (the validators the lookup added) and what the client
// got are checked per case.
#include <gtest/gtest.h>

#include "dataplane/http/conditional/conditional.h"
#include "dataplane/pipeline/body_source.h"
#include "dataplane/pipeline/cache_stage.h"
#include "dataplane/pipeline/exchange_state.h"
#include "dataplane/pipeline/local_reply.h"
#include "dataplane/pipeline/stage_test_support.h"

namespace sluice::pipeline {
namespace {

constexpr const char* kLastModified = "Sun, 06 Nov 1994 08:49:37 GMT";

struct OriginReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;
};

// What the client got.
struct Answer {
  bool from_cache = false;   // the lookup answered: the origin was not asked
  bool origin_asked = false;
  int status = 0;
  http::HeaderMap headers;   // as sent (with the Content-Length of a source)
  std::string body;
  bool head_only = false;
  std::string sent_if_none_match;      // what went to the origin
  std::string sent_if_modified_since;
};

std::string Drain(BodySource& source) {
  std::string out;
  for (int i = 0; i < 1000; ++i) {
    BodySource::Chunk chunk = source.Next(1 << 16);
    out.append(chunk.data);
    if (chunk.end || chunk.failed) break;
  }
  return out;
}

// "" when no stage added `name`.
std::string Added(const ExchangeState& state, std::string_view name) { return AddedField(state, name, ""); }

class CacheConditionalTest : public ::testing::Test {
 protected:
  CacheConditionalTest()
      : store_(cache::StoreOptions{.capacity_bytes = 16u << 20, .max_object_bytes = 1u << 20}),
        lookup_(CacheStageOptions{}, &store_),
        store_stage_(CacheStageOptions{}, &store_) {}

  // One exchange: `fields` are the client's; `origin` answers when asked.
  Answer Run(std::string method, std::vector<std::pair<std::string, std::string>> fields, const OriginReply& origin,
             std::string path = "/doc") {
    ExchangeState state;
    state.request.method = std::move(method);
    state.request.scheme = "http";
    state.request.authority = "cache.test";
    state.request.path = std::move(path);
    for (auto& [name, value] : fields) state.request.headers.Add(name, value);
    Answer answer;
    if (lookup_.OnRequestHead(state) == Verdict::kReply) {
      answer.from_cache = true;
      return Finish(state, answer);
    }
    answer.origin_asked = true;
    answer.sent_if_none_match = Added(state, "if-none-match");
    answer.sent_if_modified_since = Added(state, "if-modified-since");
    http::ResponseHead head;
    head.status = origin.status;
    for (const auto& [name, value] : origin.fields) head.headers.Add(name, value);
    const bool no_body = state.request.method == "HEAD" || origin.status == 304;
    if (!no_body) head.headers.Add("content-length", std::to_string(origin.body.size()));
    state.response_head_ends_stream = no_body;
    if (store_stage_.OnResponseHead(state, head, /*local=*/false) == Verdict::kReply) return Finish(state, answer);
    answer.status = head.status;
    answer.headers = head.headers;
    if (!no_body) {
      std::string_view chunk = origin.body;
      store_stage_.OnResponseBody(state, chunk);
      answer.body = origin.body;
    }
    std::string_view tail;
    store_stage_.OnResponseEnd(state, tail);
    return answer;
  }

  // The origin's representation: ETag "v1", a Last-Modified, ten bytes.
  static OriginReply Representation(std::string cache_control, std::string version = "1") {
    return OriginReply{200,
                       {{"cache-control", std::move(cache_control)},
                        {"etag", "\"v1\""},
                        {"last-modified", kLastModified},
                        {"content-type", "text/plain"},
                        {"x-version", std::move(version)}},
                       "0123456789"};
  }

  static Answer Finish(ExchangeState& state, Answer& answer) {
    const LocalReply& reply = state.reply;
    http::ResponseHead head = BuildLocalReplyHead(reply, ReplyShape::Of(state.request));
    answer.status = reply.status;
    answer.headers = head.headers;
    answer.head_only = reply.head_only;
    if (!reply.head_only && reply.source != nullptr) answer.body = Drain(*reply.source);
    return answer;
  }

  static std::string Field(const Answer& answer, std::string_view name) {
    const std::string* value = answer.headers.Get(name);
    return value != nullptr ? *value : "<none>";
  }

  cache::Store store_;
  CacheLookupStage lookup_;
  CacheStoreStage store_stage_;
};

TEST_F(CacheConditionalTest, FreshHitAnswersConditionalsAndRanges) {
  const OriginReply origin = Representation("max-age=600");
  ASSERT_TRUE(Run("GET", {}, origin).origin_asked);
  const std::string multipart = http::MultipartByterangesType();
  const http::MultipartFraming two = http::FrameByteranges("text/plain", {{0, 1}, {8, 9}}, 10);
  struct Case {
    const char* name;
    std::string method;
    std::vector<std::pair<std::string, std::string>> fields;
    bool from_cache;
    int status;
    std::string body;
    std::string content_range;
    std::string content_type;
    std::string content_length;
  };
  const std::string earlier = "Sat, 05 Nov 1994 08:49:37 GMT";
  const Case cases[] = {
      {"plain", "GET", {}, true, 200, "0123456789", "<none>", "text/plain", "10"},
      {"inm strong", "GET", {{"if-none-match", "\"v1\""}}, true, 304, "", "<none>", "<none>", "<none>"},
      {"inm weak", "GET", {{"if-none-match", "W/\"v1\""}}, true, 304, "", "<none>", "<none>", "<none>"},
      {"inm list", "GET", {{"if-none-match", "\"v0\", \"v1\""}}, true, 304, "", "<none>", "<none>", "<none>"},
      {"inm other", "GET", {{"if-none-match", "\"v2\""}}, true, 200, "0123456789", "<none>", "text/plain", "10"},
      {"inm wins over ims",
       "GET",
       {{"if-none-match", "\"v2\""}, {"if-modified-since", kLastModified}},
       true, 200, "0123456789", "<none>", "text/plain", "10"},
      {"ims same", "GET", {{"if-modified-since", kLastModified}}, true, 304, "", "<none>", "<none>", "<none>"},
      {"ims earlier", "GET", {{"if-modified-since", earlier}}, true, 200, "0123456789", "<none>", "text/plain", "10"},
      {"head", "HEAD", {}, true, 200, "", "<none>", "text/plain", "10"},
      {"head inm", "HEAD", {{"if-none-match", "\"v1\""}}, true, 304, "", "<none>", "<none>", "<none>"},
      {"range", "GET", {{"range", "bytes=0-3"}}, true, 206, "0123", "bytes 0-3/10", "text/plain", "4"},
      {"suffix range", "GET", {{"range", "bytes=-2"}}, true, 206, "89", "bytes 8-9/10", "text/plain", "2"},
      {"multi range",
       "GET",
       {{"range", "bytes=0-1,8-9"}},
       true, 206, two.part_heads[0] + "01" + two.part_heads[1] + "89" + two.closing, "<none>", multipart,
       std::to_string((two.part_heads[0] + "01" + two.part_heads[1] + "89" + two.closing).size())},
      {"unsatisfiable", "GET", {{"range", "bytes=20-"}}, true, 416, "", "bytes */10", "text/plain", "0"},
      {"if-range match", "GET", {{"range", "bytes=2-3"}, {"if-range", "\"v1\""}}, true, 206, "23", "bytes 2-3/10",
       "text/plain", "2"},
      {"if-range other", "GET", {{"range", "bytes=2-3"}, {"if-range", "\"v0\""}}, true, 200, "0123456789", "<none>",
       "text/plain", "10"},
      {"if-range date", "GET", {{"range", "bytes=2-3"}, {"if-range", kLastModified}}, true, 206, "23",
       "bytes 2-3/10", "text/plain", "2"},
      {"head range", "HEAD", {{"range", "bytes=0-3"}}, true, 200, "", "<none>", "text/plain", "10"},
      {"not bytes", "GET", {{"range", "items=0-3"}}, true, 200, "0123456789", "<none>", "text/plain", "10"},
      // A lost-update check is the origin's to answer.
      {"if-match", "GET", {{"if-match", "\"v1\""}}, false, 200, "0123456789", "<none>", "text/plain", "10"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Answer got = Run(c.method, c.fields, origin);
    EXPECT_EQ(got.from_cache, c.from_cache);
    EXPECT_EQ(got.status, c.status);
    EXPECT_EQ(got.body, c.body);
    EXPECT_EQ(Field(got, "content-range"), c.content_range);
    EXPECT_EQ(Field(got, "content-type"), c.content_type);
    EXPECT_EQ(Field(got, "content-length"), c.content_length);
    if (c.from_cache) {
      EXPECT_NE(Field(got, "age"), "<none>");
    }
    if (c.status == 304) {
      // RFC 9110 15.4.5: the validators and Cache-Control a 200 would carry.
      EXPECT_EQ(Field(got, "etag"), "\"v1\"");
      EXPECT_EQ(Field(got, "last-modified"), kLastModified);
      EXPECT_EQ(Field(got, "cache-control"), "max-age=600");
      EXPECT_EQ(Field(got, "x-version"), "<none>");
      EXPECT_TRUE(got.head_only);
    }
  }
}

TEST_F(CacheConditionalTest, RangeOfAStoredObjectSharesItsBytes) {
  Run("GET", {}, Representation("max-age=600"));
  ExchangeState state;
  state.request.method = "GET";
  state.request.scheme = "http";
  state.request.authority = "cache.test";
  state.request.path = "/doc";
  state.request.headers.Add("range", "bytes=3-5");
  ASSERT_EQ(lookup_.OnRequestHead(state), Verdict::kReply);
  std::shared_ptr<const cache::CachedObject> object = store_.Find(cache::PrimaryKey("http", "cache.test", "/doc"));
  ASSERT_NE(object, nullptr);
  BodySource::Chunk chunk = state.reply.source->Next(100);
  EXPECT_EQ(chunk.data, "345");
  // The very bytes of the stored object, not a copy.
  EXPECT_EQ(chunk.data.data(), object->body->data() + 3);
}

TEST_F(CacheConditionalTest, StaleObjectIsRevalidatedAndUpdatedBy304) {
  // Stored already 1000 s old (Age from a cache further up).
  OriginReply old = Representation("max-age=0");
  old.fields.emplace_back("age", "1000");
  Answer first = Run("GET", {}, old);
  ASSERT_TRUE(first.origin_asked);
  // Stale at once: the origin is asked with the stored validators.
  OriginReply not_modified{
      304, {{"etag", "\"v1\""}, {"cache-control", "max-age=600"}, {"x-version", "2"}, {"cache-tag", "release-2"}}, ""};
  Answer revalidated = Run("GET", {}, not_modified);
  EXPECT_TRUE(revalidated.origin_asked);
  EXPECT_EQ(revalidated.sent_if_none_match, "\"v1\"");
  EXPECT_EQ(revalidated.sent_if_modified_since, kLastModified);
  EXPECT_EQ(revalidated.status, 200);  // the stored response, not the origin's 304
  EXPECT_EQ(revalidated.body, "0123456789");
  EXPECT_EQ(Field(revalidated, "x-version"), "2");
  EXPECT_EQ(Field(revalidated, "content-type"), "text/plain");
  EXPECT_EQ(Field(revalidated, "content-length"), "10");
  EXPECT_EQ(Field(revalidated, "cache-status").rfind("sluice; fwd=stale; fwd-status=304", 0), 0u)
      << Field(revalidated, "cache-status");
  // The 304's purge tag is the object's now.
  std::shared_ptr<const cache::CachedObject> stored = store_.Find(cache::PrimaryKey("http", "cache.test", "/doc"));
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->tags, std::vector<std::string>{"release-2"});
  // Fresh again (the 304's max-age), with its fields: a hit.
  Answer hit = Run("GET", {}, OriginReply{500, {}, "must not be asked"});
  EXPECT_TRUE(hit.from_cache);
  EXPECT_EQ(hit.status, 200);
  EXPECT_EQ(hit.body, "0123456789");
  EXPECT_EQ(Field(hit, "x-version"), "2");
  EXPECT_EQ(Field(hit, "cache-control"), "max-age=600");
  // The age starts again from the 304 (which had no Age of its own).
  EXPECT_LT(std::stoi(Field(hit, "age")), 1000);
}

TEST_F(CacheConditionalTest, RevalidationOutcomesTable) {
  struct Case {
    const char* name;
    std::string stored_cache_control;
    std::vector<std::pair<std::string, std::string>> client;
    OriginReply origin;
    // Expected: what went to the origin, what the client got, what a plain
    // GET afterwards gets from the cache.
    std::string sent_inm;
    int status;
    std::string body;
    std::string next_version;  // "" when the next GET is not a hit
  };
  const Case cases[] = {
      {"304 to our validators", "max-age=0", {}, {304, {{"etag", "\"v1\""}, {"cache-control", "max-age=60"}, {"x-version", "2"}}, ""},
       "\"v1\"", 200, "0123456789", "2"},
      {"304 without validators", "max-age=0", {}, {304, {{"cache-control", "max-age=60"}, {"x-version", "3"}}, ""},
       "\"v1\"", 200, "0123456789", "3"},
      // A 304 to our own validators answers them, whatever it says: a
      // client that asked nothing conditional never gets a 304.
      {"304 of another tag to ours", "max-age=0", {}, {304, {{"etag", "\"v9\""}}, ""}, "\"v1\"", 200, "0123456789",
       ""},
      {"200 replaces", "max-age=0", {}, {200, {{"etag", "\"v2\""}, {"cache-control", "max-age=60"}, {"x-version", "4"}}, "new"},
       "\"v1\"", 200, "new", "4"},
      // The client's own conditional goes as it is; a 304 that speaks of
      // the stored response updates it and the client gets a 304.
      {"client inm matching", "max-age=0", {{"if-none-match", "\"v1\""}},
       {304, {{"etag", "\"v1\""}, {"cache-control", "max-age=60"}, {"x-version", "5"}}, ""}, "", 304, "", "5"},
      {"client inm weak", "max-age=0", {{"if-none-match", "W/\"v1\""}},
       {304, {{"etag", "W/\"v1\""}, {"cache-control", "max-age=60"}, {"x-version", "7"}}, ""}, "", 304, "", "7"},
      // A 304 for the client's other copy goes to the client untouched.
      {"client inm other", "max-age=0", {{"if-none-match", "\"v7\""}}, {304, {{"etag", "\"v7\""}}, ""}, "", 304, "", ""},
      // A 304 to a client conditional without ETag matches on the date.
      {"client ims", "no-cache", {{"if-modified-since", kLastModified}},
       {304, {{"last-modified", kLastModified}, {"x-version", "6"}}, ""}, "", 304, "", ""},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = "/r" + std::to_string(n++);
    ASSERT_TRUE(Run("GET", {}, Representation(c.stored_cache_control), path).origin_asked);
    Answer got = Run("GET", c.client, c.origin, path);
    EXPECT_TRUE(got.origin_asked);
    EXPECT_EQ(got.sent_if_none_match, c.sent_inm);
    EXPECT_EQ(got.status, c.status);
    EXPECT_EQ(got.body, c.body);
    Answer next = Run("GET", {}, OriginReply{404, {}, "asked"}, path);
    if (c.next_version.empty()) {
      EXPECT_FALSE(next.from_cache && next.status == 200 && Field(next, "x-version") != "1");
    } else {
      EXPECT_TRUE(next.from_cache);
      EXPECT_EQ(Field(next, "x-version"), c.next_version);
    }
  }
}

TEST_F(CacheConditionalTest, MustRevalidateNeverServesStaleWithoutTheOrigin) {
  for (const char* directive : {"max-age=0, must-revalidate", "max-age=0, proxy-revalidate", "max-age=0"}) {
    SCOPED_TRACE(directive);
    const std::string path = std::string("/mr-") + directive;
    ASSERT_TRUE(Run("GET", {}, Representation(directive), path).origin_asked);
    ExchangeState state;
    state.request.method = "GET";
    state.request.scheme = "http";
    state.request.authority = "cache.test";
    state.request.path = path;
    ASSERT_EQ(lookup_.OnRequestHead(state), Verdict::kContinue);
    // The origin cannot be reached: the exchange's own 502.
    state.reply.status = 502;
    state.reply.body = "upstream connect error\n";
    http::ResponseHead head = BuildLocalReplyHead(state.reply, ReplyShape::Of(state.request));
    EXPECT_EQ(store_stage_.OnResponseHead(state, head, /*local=*/true), Verdict::kContinue);
    const int want = std::string_view(directive).find("revalidate") != std::string_view::npos ? 504 : 502;
    EXPECT_EQ(head.status, want);
    EXPECT_EQ(state.reply.status, want);
  }
}

}  // namespace
}  // namespace sluice::pipeline
