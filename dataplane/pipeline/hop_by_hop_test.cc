#include "dataplane/pipeline/hop_by_hop.h"

#include <gtest/gtest.h>

namespace sluice::pipeline {
namespace {

TEST(HopByHopTest, RemovesStandardAndConnectionNamedHeaders) {
  http::HeaderMap h;
  h.Add("connection", "keep-alive, X-Secret-Hop");
  h.Add("keep-alive", "timeout=5");
  h.Add("x-secret-hop", "1");
  h.Add("transfer-encoding", "chunked");
  h.Add("upgrade", "websocket");
  h.Add("te", "trailers");
  h.Add("accept", "*/*");
  h.Add("host", "demo.local");
  RemoveHopByHopHeaders(h);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_NE(h.Get("accept"), nullptr);
  EXPECT_NE(h.Get("host"), nullptr);
}

TEST(HopByHopTest, ConnectionCannotStripHostOrContentLength) {
  http::HeaderMap h;
  h.Add("connection", "host, content-length");
  h.Add("host", "a");
  h.Add("content-length", "3");
  RemoveHopByHopHeaders(h);
  EXPECT_NE(h.Get("host"), nullptr);
  EXPECT_NE(h.Get("content-length"), nullptr);
}

TEST(HopByHopTest, FindsConnectionTokensCaseInsensitively) {
  EXPECT_TRUE(HasConnectionToken("Keep-Alive, Close", "close"));
  EXPECT_FALSE(HasConnectionToken("closed", "close"));
  EXPECT_TRUE(HasConnectionToken(" upgrade ,close", "upgrade"));
}

TEST(HopByHopTest, FilterDropsWhatThePredicateAsksBesideHopByHop) {
  auto make = [] {
    http::HeaderMap h;
    h.Add("server", "Apache/2.4");
    h.Add("x-powered-by", "PHP/8");
    h.Add("content-length", "3");
    h.Add("connection", "keep-alive");
    h.Add("content-type", "text/plain");
    return h;
  };
  http::HeaderMap kept = make();
  FilterHopByHop(kept, [](const http::Header&) { return false; });
  EXPECT_EQ(kept.size(), 4u);
  http::HeaderMap hidden = make();
  FilterHopByHop(hidden, [](const http::Header& h) {
    return h.name == "server" || h.name == "x-powered-by" || h.name == "content-length";
  });
  ASSERT_EQ(hidden.size(), 1u);
  EXPECT_NE(hidden.Get("content-type"), nullptr);
}

TEST(HopByHopTest, FilterKeepsOrderAndDropsFieldsNamedBeforeConnection) {
  http::HeaderMap h;
  h.Add("server", "nginx");
  h.Add("x-hop", "1");
  h.Add("date", "today");
  h.Add("x-connection", "kept");
  h.Add("connection", "Keep-Alive, X-Hop");
  h.Add("etag", "\"e\"");
  h.Add("accept-ranges", "bytes");
  FilterHopByHop(h, [](const http::Header& f) { return f.name == "server"; });
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h.entries()[0].name, "date");
  EXPECT_EQ(h.entries()[1].name, "x-connection");
  EXPECT_EQ(h.entries()[2].name, "etag");
  EXPECT_EQ(h.entries()[2].value, "\"e\"");
  EXPECT_EQ(h.entries()[3].name, "accept-ranges");
}

}  // namespace
}  // namespace sluice::pipeline
