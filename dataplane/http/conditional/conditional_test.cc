// The HTTP rules of answering from a known representation, without
// sockets: Range parsing, validators and dates, preconditions, If-Range,
// Content-Range, the multipart/byteranges framing and the fields of a 304
// (RFC 9110 sections 13, 14, 15.4.5).
#include "dataplane/http/conditional/conditional.h"

#include <gtest/gtest.h>

namespace sluice::http {
namespace {

TEST(ConditionalTest, ParsesRanges) {
  RangeRequest single = ParseRange("bytes=0-9", 100);
  ASSERT_EQ(single.kind, RangeRequest::Kind::kSatisfiable);
  ASSERT_EQ(single.ranges.size(), 1u);
  EXPECT_EQ(single.ranges[0].first, 0u);
  EXPECT_EQ(single.ranges[0].last, 9u);
  RangeRequest suffix = ParseRange("bytes=-10", 100);
  EXPECT_EQ(suffix.ranges[0].first, 90u);
  EXPECT_EQ(suffix.ranges[0].last, 99u);
  RangeRequest open = ParseRange("bytes=95-", 100);
  EXPECT_EQ(open.ranges[0].last, 99u);
  RangeRequest clamped = ParseRange("bytes=90-1000", 100);
  EXPECT_EQ(clamped.ranges[0].last, 99u);
  RangeRequest multi = ParseRange("bytes=0-0, 5-9 ,200-300", 100);
  ASSERT_EQ(multi.kind, RangeRequest::Kind::kSatisfiable);
  EXPECT_EQ(multi.ranges.size(), 2u);
  EXPECT_EQ(ParseRange("bytes=100-", 100).kind, RangeRequest::Kind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-0", 100).kind, RangeRequest::Kind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-5", 0).kind, RangeRequest::Kind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=9-0", 100).kind, RangeRequest::Kind::kNone);
  EXPECT_EQ(ParseRange("items=0-9", 100).kind, RangeRequest::Kind::kNone);
  EXPECT_EQ(ParseRange("bytes=a-b", 100).kind, RangeRequest::Kind::kNone);
  EXPECT_EQ(ParseRange("bytes=", 100).kind, RangeRequest::Kind::kNone);
  std::string many = "bytes=";
  for (int i = 0; i < 17; ++i) many += std::to_string(i) + "-" + std::to_string(i) + ",";
  EXPECT_EQ(ParseRange(many, 100).kind, RangeRequest::Kind::kNone);
}

TEST(ConditionalTest, ComparesValidatorsAndDates) {
  EXPECT_TRUE(EtagListMatchesWeak("\"x\", W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(EtagListMatchesWeak("*", "\"abc\""));
  EXPECT_FALSE(EtagListMatchesWeak("\"abcd\"", "\"abc\""));
  EXPECT_FALSE(EtagListMatchesStrong("W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(EtagListMatchesStrong("\"abc\"", "\"abc\""));
  EXPECT_EQ(FormatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), -1);

  HeaderMap none_match;
  none_match.Add("if-none-match", "W/\"e1\"");
  none_match.Add("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(EvaluatePreconditions(none_match, "\"e1\"", 2000000000), Precondition::kNotModified);
  EXPECT_EQ(EvaluatePreconditions(none_match, "\"e2\"", 0), Precondition::kServe);  // IMS not evaluated
  HeaderMap since;
  since.Add("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(EvaluatePreconditions(since, "\"e\"", 784111777), Precondition::kNotModified);
  EXPECT_EQ(EvaluatePreconditions(since, "\"e\"", 784111778), Precondition::kServe);
  EXPECT_EQ(EvaluatePreconditions(since, "\"e\"", -1), Precondition::kServe);
  HeaderMap if_match;
  if_match.Add("if-match", "\"other\"");
  EXPECT_EQ(EvaluatePreconditions(if_match, "\"e\"", 0), Precondition::kFailed);

  HeaderMap if_range;
  if_range.Add("if-range", "\"e\"");
  EXPECT_TRUE(IfRangeAllows(if_range, "\"e\"", 0));
  EXPECT_FALSE(IfRangeAllows(if_range, "\"f\"", 0));
  HeaderMap if_range_date;
  if_range_date.Add("if-range", "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_TRUE(IfRangeAllows(if_range_date, "\"e\"", 784111777));
  EXPECT_FALSE(IfRangeAllows(if_range_date, "\"e\"", 784111778));
}

TEST(ConditionalTest, PreconditionsTable) {
  // RFC 9110 13.2.2 for a representation with ETag W/"v1" (weak: a cache's
  // stored response often is) and Last-Modified 784111777.
  struct Case {
    const char* if_none_match;
    const char* if_modified_since;
    const char* if_match;
    Precondition want;
  };
  const Case cases[] = {
      {"\"v1\"", nullptr, nullptr, Precondition::kNotModified},  // weak comparison
      {"W/\"v1\"", nullptr, nullptr, Precondition::kNotModified},
      {"\"v0\", W/\"v1\"", nullptr, nullptr, Precondition::kNotModified},
      {"\"v2\"", nullptr, nullptr, Precondition::kServe},
      {"*", nullptr, nullptr, Precondition::kNotModified},
      {"v1", nullptr, nullptr, Precondition::kServe},  // not an entity-tag
      // If-None-Match present: If-Modified-Since is not evaluated.
      {"\"v2\"", "Sun, 06 Nov 1994 08:49:37 GMT", nullptr, Precondition::kServe},
      {nullptr, "Sun, 06 Nov 1994 08:49:37 GMT", nullptr, Precondition::kNotModified},
      {nullptr, "Mon, 07 Nov 1994 08:49:37 GMT", nullptr, Precondition::kNotModified},
      {nullptr, "Sat, 05 Nov 1994 08:49:37 GMT", nullptr, Precondition::kServe},
      {nullptr, "yesterday", nullptr, Precondition::kServe},
      // If-Match compares strongly: a weak tag never matches.
      {nullptr, nullptr, "\"v1\"", Precondition::kFailed},
      {nullptr, nullptr, "*", Precondition::kServe},
      {nullptr, nullptr, nullptr, Precondition::kServe},
  };
  for (const Case& c : cases) {
    HeaderMap request;
    if (c.if_none_match != nullptr) request.Add("if-none-match", c.if_none_match);
    if (c.if_modified_since != nullptr) request.Add("if-modified-since", c.if_modified_since);
    if (c.if_match != nullptr) request.Add("if-match", c.if_match);
    EXPECT_EQ(EvaluatePreconditions(request, "W/\"v1\"", 784111777), c.want)
        << (c.if_none_match ? c.if_none_match : "-") << " " << (c.if_modified_since ? c.if_modified_since : "-");
  }
  // No validators at all: only "*" matches.
  HeaderMap star;
  star.Add("if-none-match", "*");
  EXPECT_EQ(EvaluatePreconditions(star, "", -1), Precondition::kNotModified);
  HeaderMap tag;
  tag.Add("if-none-match", "\"\"");
  EXPECT_EQ(EvaluatePreconditions(tag, "", -1), Precondition::kServe);
}

TEST(ConditionalTest, IfRangeNeedsAStrongMatch) {
  HeaderMap weak;
  weak.Add("if-range", "W/\"e\"");
  EXPECT_FALSE(IfRangeAllows(weak, "W/\"e\"", 0));
  HeaderMap strong;
  strong.Add("if-range", "\"e\"");
  EXPECT_FALSE(IfRangeAllows(strong, "W/\"e\"", 0));
  EXPECT_FALSE(IfRangeAllows(strong, "", 0));
  EXPECT_TRUE(IfRangeAllows(HeaderMap(), "", -1));
}

TEST(ConditionalTest, ContentRangeAndMultipartFraming) {
  EXPECT_EQ(ContentRange({0, 9}, 100), "bytes 0-9/100");
  EXPECT_EQ(UnsatisfiedContentRange(100), "bytes */100");
  EXPECT_EQ(MultipartByterangesType(), "multipart/byteranges; boundary=" + std::string(kByterangesBoundary));
  MultipartFraming framing = FrameByteranges("text/plain", {{0, 1}, {5, 9}}, 10);
  ASSERT_EQ(framing.part_heads.size(), 2u);
  const std::string boundary(kByterangesBoundary);
  EXPECT_EQ(framing.part_heads[0],
            "\r\n--" + boundary + "\r\ncontent-type: text/plain\r\ncontent-range: bytes 0-1/10\r\n\r\n");
  EXPECT_EQ(framing.part_heads[1],
            "\r\n--" + boundary + "\r\ncontent-type: text/plain\r\ncontent-range: bytes 5-9/10\r\n\r\n");
  EXPECT_EQ(framing.closing, "\r\n--" + boundary + "--\r\n");
  // A representation without a Content-Type: the parts have none either.
  EXPECT_EQ(FrameByteranges("", {{0, 0}}, 1).part_heads[0],
            "\r\n--" + boundary + "\r\ncontent-range: bytes 0-0/1\r\n\r\n");
}

TEST(ConditionalTest, NotModifiedKeepsWhatRfc9110Lists) {
  HeaderMap stored;
  stored.Add("content-type", "text/plain");
  stored.Add("etag", "\"v1\"");
  stored.Add("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT");
  stored.Add("cache-control", "max-age=60");
  stored.Add("vary", "Accept-Encoding");
  stored.Add("date", "Sun, 06 Nov 1994 08:49:40 GMT");
  stored.Add("expires", "Sun, 06 Nov 1994 08:50:40 GMT");
  stored.Add("content-location", "/a.txt");
  stored.Add("content-encoding", "gzip");
  stored.Add("x-custom", "1");
  HeaderMap got = NotModifiedFields(stored);
  for (const char* kept : {"etag", "last-modified", "cache-control", "vary", "date", "expires", "content-location"}) {
    EXPECT_NE(got.Get(kept), nullptr) << kept;
  }
  for (const char* dropped : {"content-type", "content-encoding", "x-custom", "content-length"}) {
    EXPECT_EQ(got.Get(dropped), nullptr) << dropped;
  }
  EXPECT_EQ(*got.Get("etag"), "\"v1\"");
}

}  // namespace
}  // namespace sluice::http
