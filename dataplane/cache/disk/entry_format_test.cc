#include "dataplane/cache/disk/entry_format.h"

#include <gtest/gtest.h>

namespace sluice::cache::disk {
namespace {

CachedObject Sample() {
  CachedObject o;
  o.key = "https\x1fshop.example\x1f/a?b=1\x1fgzip";
  o.status = 203;
  o.headers.Add("content-type", "text/html");
  o.headers.Add("etag", "\"v1\"");
  o.headers.Add("set-cookie", "a=1");
  o.headers.Add("set-cookie", "b=2");
  o.body = std::make_shared<const std::string>("hello, disk\n");
  o.age = AgeInputs{100, 101, 99, 7};
  o.freshness.lifetime = 3600;
  o.freshness.cc.max_age = 3600;
  o.freshness.cc.s_maxage = 60;
  o.freshness.cc.stale_while_revalidate = 30;
  o.freshness.cc.must_revalidate = true;
  o.freshness.cc.is_public = true;
  o.freshness.cc.present = true;
  o.vary = {"accept-encoding", "accept-language"};
  o.tags = {"product-42", "cat"};
  return o;
}

TEST(EntryFormat, RoundTripsEveryField) {
  const CachedObject in = Sample();
  const std::string head = EncodeHead(in, 123456789);
  Result<EntryHead> out = ParseHead(head + *in.body);  // the body may follow
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->head_length, head.size());
  EXPECT_EQ(out->body_length, in.body->size());
  EXPECT_EQ(out->body_crc, Crc32(*in.body));
  EXPECT_EQ(out->written_ns, 123456789);
  const CachedObject& o = *out->object;
  EXPECT_EQ(o.key, in.key);
  EXPECT_EQ(o.status, 203);
  ASSERT_EQ(o.headers.entries().size(), 4u);
  EXPECT_EQ(o.headers.Count("set-cookie"), 2u);
  EXPECT_EQ(*o.headers.Get("etag"), "\"v1\"");
  EXPECT_EQ(o.age.request_time, 100);
  EXPECT_EQ(o.age.response_time, 101);
  EXPECT_EQ(o.age.date_value, 99);
  EXPECT_EQ(o.age.age_value, 7);
  EXPECT_EQ(o.freshness.lifetime, 3600);
  EXPECT_EQ(o.freshness.cc.max_age, 3600);
  EXPECT_EQ(o.freshness.cc.s_maxage, 60);
  EXPECT_EQ(o.freshness.cc.stale_while_revalidate, 30);
  EXPECT_EQ(o.freshness.cc.stale_if_error, kAbsent);
  EXPECT_TRUE(o.freshness.cc.must_revalidate);
  EXPECT_TRUE(o.freshness.cc.is_public);
  EXPECT_TRUE(o.freshness.cc.present);
  EXPECT_FALSE(o.freshness.cc.no_cache);
  EXPECT_EQ(o.vary, in.vary);
  EXPECT_EQ(o.tags, in.tags);
  EXPECT_FALSE(o.vary_marker);
  EXPECT_TRUE(o.body->empty());  // the bytes stay in the file
}

TEST(EntryFormat, VaryMarkerHasNoBody) {
  CachedObject marker;
  marker.key = "k";
  marker.vary_marker = true;
  marker.vary = {"accept-encoding"};
  Result<EntryHead> out = ParseHead(EncodeHead(marker, 1));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_TRUE(out->object->vary_marker);
  EXPECT_EQ(out->body_length, 0u);
}

TEST(EntryFormat, ShortInputAsksForTheWholeHead) {
  const std::string head = EncodeHead(Sample(), 1);
  Result<EntryHead> out = ParseHead(std::string_view(head).substr(0, head.size() - 1));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "short");
  EXPECT_EQ(PeekHeadLength(head.substr(0, kFixedHeadBytes)), head.size());
  EXPECT_EQ(PeekHeadLength("garbage garbage garbage"), 0u);
}

// Every single flipped byte of the head is caught (the CRC covers it all;
// the magic, version and length checks come first).
TEST(EntryFormat, EveryCorruptedByteIsRejected) {
  const std::string head = EncodeHead(Sample(), 1);
  for (size_t i = 0; i < head.size(); ++i) {
    std::string bad = head;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    EXPECT_FALSE(ParseHead(bad).ok()) << "byte " << i;
  }
}

TEST(EntryFormat, RejectsOtherVersionsAndForeignFiles) {
  std::string head = EncodeHead(Sample(), 1);
  head[8] = 2;  // version 2
  EXPECT_EQ(ParseHead(head).status().message(), "another format version");
  EXPECT_EQ(ParseHead(std::string(200, 'x')).status().message(), "not a cache entry (magic)");
  EXPECT_EQ(ParseHead("").status().message(), "short");
}

}  // namespace
}  // namespace sluice::cache::disk
