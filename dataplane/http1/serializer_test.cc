#include <gtest/gtest.h>

#include <string>

#include "dataplane/http1/parser.h"

namespace sluice::http1 {
namespace {

TEST(AppendRequestHead, WritesOriginFormHttp11) {
  http::RequestHead head;
  head.method = "POST";
  head.target = "http://a.example/x?y";
  head.path = "/x?y";
  head.version_minor = 0;
  head.headers.Add("host", "a.example");
  head.headers.Add("X-Mixed", "v");
  std::string out = "prefix";
  AppendRequestHead(head, out);
  EXPECT_EQ(out, "prefixPOST /x?y HTTP/1.1\r\nhost: a.example\r\nX-Mixed: v\r\n\r\n");
}

TEST(AppendRequestHead, ConnectAndEmptyPath) {
  http::RequestHead head;
  head.method = "CONNECT";
  head.authority = "a.example:443";
  std::string out;
  AppendRequestHead(head, out);
  EXPECT_EQ(out, "CONNECT a.example:443 HTTP/1.1\r\n\r\n");
  head.method = "GET";
  out.clear();
  AppendRequestHead(head, out);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\n\r\n");
}

TEST(AppendRequestHead, NeverLetsAValueSplitTheHead) {
  http::RequestHead head;
  head.method = "GET";
  head.path = "/";
  head.headers.Add("x", std::string("a\r\nInjected: 1\0", 15));
  std::string out;
  AppendRequestHead(head, out);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nx: a  Injected: 1 \r\n\r\n");
}

TEST(AppendRequestHead, RoundTripsThroughTheParser) {
  const std::string data = "PUT /p?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX:  spaced value \r\n\r\n";
  http::RequestHead head;
  ASSERT_EQ(ParseRequestHead(data, Limits(), &head).state, ParseState::kDone);
  std::string out;
  AppendRequestHead(head, out);
  EXPECT_EQ(out, "PUT /p?q=1 HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\nx: spaced value\r\n\r\n");
}

TEST(AppendResponseHead, StandardAndCustomReasons) {
  http::ResponseHead head;
  head.status = 404;
  head.headers.Add("content-length", "0");
  std::string out;
  AppendResponseHead(head, out);
  EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
  head.reason = "Nope";
  head.headers.clear();
  out.clear();
  AppendResponseHead(head, out);
  EXPECT_EQ(out, "HTTP/1.1 404 Nope\r\n\r\n");
  head.status = 299;
  head.reason.clear();
  out.clear();
  AppendResponseHead(head, out);
  EXPECT_EQ(out, "HTTP/1.1 299 \r\n\r\n");
}

TEST(StandardReason, KnownCodes) {
  EXPECT_EQ(StandardReason(200), "OK");
  EXPECT_EQ(StandardReason(431), "Request Header Fields Too Large");
  EXPECT_EQ(StandardReason(502), "Bad Gateway");
  EXPECT_EQ(StandardReason(799), "");
}

TEST(AppendChunk, FramesAndDecodes) {
  std::string out;
  AppendChunk("", out);
  EXPECT_EQ(out, "");
  AppendChunk(std::string(26, 'z'), out);
  EXPECT_EQ(out.substr(0, 4), "1a\r\n");
  http::HeaderMap trailers;
  trailers.Add("x-checksum", "1");
  AppendLastChunk(&trailers, out);
  EXPECT_EQ(out.substr(out.size() - 20), "0\r\nx-checksum: 1\r\n\r\n");

  BodyDecoder decoder(BodyFraming{BodyFraming::kChunked, 0});
  std::string_view rest = out;
  std::string body;
  while (true) {
    BodyDecoder::Step step = decoder.Next(rest);
    rest.remove_prefix(step.consumed);
    if (step.kind == BodyDecoder::Step::kData) body.append(step.data);
    if (step.kind != BodyDecoder::Step::kData) {
      ASSERT_EQ(step.kind, BodyDecoder::Step::kDone) << step.error;
      break;
    }
  }
  EXPECT_EQ(body, std::string(26, 'z'));
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(*decoder.trailers().Get("x-checksum"), "1");

  out.clear();
  AppendLastChunk(nullptr, out);
  EXPECT_EQ(out, "0\r\n\r\n");
}

}  // namespace
}  // namespace sluice::http1
