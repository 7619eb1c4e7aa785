#include "dataplane/pipeline/local_reply.h"

#include "dataplane/pipeline/proxy_error.h"

#include <gtest/gtest.h>

namespace sluice::pipeline {
namespace {

TEST(LocalReplyTest, PlainRepliesAreTextWithLengthAndNeverCached) {
  LocalReply reply;
  reply.status = 503;
  reply.body = "no healthy upstream\n";
  ReplyShape shape;
  http::ResponseHead head = BuildLocalReplyHead(reply, shape);
  EXPECT_EQ(head.status, 503);
  EXPECT_EQ(*head.headers.Get("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(*head.headers.Get("content-length"), "20");
  EXPECT_EQ(*head.headers.Get("cache-control"), "no-store");
  EXPECT_TRUE(BodyFollows(reply, shape));
}

TEST(LocalReplyTest, RedirectsCarryTheirLocation) {
  LocalReply reply;
  reply.status = 308;
  reply.location = "https://a.example/";
  http::ResponseHead head = BuildLocalReplyHead(reply, ReplyShape());
  EXPECT_EQ(*head.headers.Get("location"), "https://a.example/");
  EXPECT_EQ(*head.headers.Get("content-length"), "0");
  EXPECT_FALSE(BodyFollows(reply, ReplyShape()));
}

TEST(LocalReplyTest, GrpcCallsGetTrailersOnlyWithTheMappedStatus) {
  http::RequestHead request;
  request.version_major = 2;
  request.headers.Add("content-type", "application/grpc+proto");
  request.headers.Add("grpc-timeout", "1S");
  ReplyShape shape = ReplyShape::Of(request);
  ASSERT_TRUE(shape.grpc);
  LocalReply reply;
  reply.status = 504;
  reply.body = "upstream timed out\n";
  http::ResponseHead head = BuildLocalReplyHead(reply, shape);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(*head.headers.Get("grpc-status"), "4");  // DEADLINE_EXCEEDED: the call had a deadline
  EXPECT_EQ(head.headers.Get("content-length"), nullptr);  // HTTP/2: the HEADERS frame ends the stream
  EXPECT_FALSE(BodyFollows(reply, shape));

  request.version_major = 1;
  request.headers.Remove("grpc-timeout");
  shape = ReplyShape::Of(request);
  head = BuildLocalReplyHead(reply, shape);
  EXPECT_EQ(*head.headers.Get("grpc-status"), "14");  // UNAVAILABLE
  EXPECT_EQ(*head.headers.Get("content-length"), "0");
}

TEST(ProxyErrorTest, OwnsItsMessageAndKnowsWhatWasSent) {
  ProxyError error;
  {
    std::string temporary = "connect: connection refused";
    error = ProxyError::Upstream(ErrorCode::kConnectFailed, temporary);
  }
  EXPECT_EQ(error.message, "connect: connection refused");
  EXPECT_TRUE(error.NothingSent());
  EXPECT_FALSE(ProxyError::Upstream(ErrorCode::kReset, "x").NothingSent());
  EXPECT_EQ(StatusForUpstreamError(ErrorCode::kResponseTimeout), 504);
  EXPECT_EQ(StatusForUpstreamError(ErrorCode::kBadResponse), 502);
}

}  // namespace
}  // namespace sluice::pipeline
