#include "dataplane/pipeline/grpc_error.h"

#include <gtest/gtest.h>

namespace sluice::pipeline {
namespace {

TEST(GrpcErrorTest, RecognisesEveryGrpcContentType) {
  for (const char* type : {"application/grpc", "application/grpc+proto", "Application/GRPC+json",
                           "application/grpc-web"}) {
    http::HeaderMap headers;
    headers.Add("content-type", type);
    EXPECT_TRUE(IsGrpcRequest(headers)) << type;
  }
  for (const char* type : {"application/json", "application/grp", "text/plain"}) {
    http::HeaderMap headers;
    headers.Add("content-type", type);
    EXPECT_FALSE(IsGrpcRequest(headers)) << type;
  }
  EXPECT_FALSE(IsGrpcRequest(http::HeaderMap()));
}

TEST(GrpcErrorTest, MapsHttpStatusesAsEnvoyDoes) {
  EXPECT_EQ(GrpcStatusForHttp(400, false), kGrpcInternal);
  EXPECT_EQ(GrpcStatusForHttp(401, false), kGrpcUnauthenticated);
  EXPECT_EQ(GrpcStatusForHttp(403, false), kGrpcPermissionDenied);
  EXPECT_EQ(GrpcStatusForHttp(404, false), kGrpcUnimplemented);
  for (int status : {429, 502, 503, 504}) EXPECT_EQ(GrpcStatusForHttp(status, false), kGrpcUnavailable) << status;
  for (int status : {408, 413, 500}) EXPECT_EQ(GrpcStatusForHttp(status, false), kGrpcUnknown) << status;
}

TEST(GrpcErrorTest, ProxyTimeoutOfACallWithADeadlineIsDeadlineExceeded) {
  EXPECT_EQ(GrpcStatusForHttp(504, true), kGrpcDeadlineExceeded);
  EXPECT_EQ(GrpcStatusForHttp(503, true), kGrpcUnavailable);  // only the timeout
}

TEST(GrpcErrorTest, MessageIsPercentEncoded) {
  EXPECT_EQ(PercentEncodeGrpcMessage("no healthy upstream"), "no healthy upstream");
  EXPECT_EQ(PercentEncodeGrpcMessage("100% caf\xc3\xa9\n"), "100%25 caf%C3%A9%0A");
}

TEST(GrpcErrorTest, TrailersOnlyHeadCarriesTheStatus) {
  http::ResponseHead head = GrpcErrorHead(kGrpcUnavailable, "upstream unavailable\n");
  EXPECT_EQ(head.status, 200);
  ASSERT_NE(head.headers.Get("content-type"), nullptr);
  EXPECT_EQ(*head.headers.Get("content-type"), "application/grpc");
  ASSERT_NE(head.headers.Get("grpc-status"), nullptr);
  EXPECT_EQ(*head.headers.Get("grpc-status"), "14");
  ASSERT_NE(head.headers.Get("grpc-message"), nullptr);
  EXPECT_EQ(*head.headers.Get("grpc-message"), "upstream unavailable");
}

}  // namespace
}  // namespace sluice::pipeline
