#pragma once
// Answers the proxy gives gRPC clients itself (no route, no endpoints,
// upstream down or too slow, body too large, ...). A gRPC client reads only
// grpc-status and grpc-message: an HTTP 503 with a text body would reach it
// as a bare "UNAVAILABLE: HTTP status 503" at best, or as a protocol error.
// So for gRPC requests the proxy answers as a gRPC server would, with a
// Trailers-Only response: HTTP 200, content-type application/grpc and the
// status in the one HEADERS frame that ends the stream.
#include <string>
#include <string_view>

#include "dataplane/http/message.h"

namespace sluice::pipeline {

// gRPC status codes the proxy produces (grpc/include/grpcpp/support/status_code_enum.h).
enum GrpcCode : int {
  kGrpcUnknown = 2,
  kGrpcDeadlineExceeded = 4,
  kGrpcPermissionDenied = 7,
  kGrpcUnimplemented = 12,
  kGrpcInternal = 13,
  kGrpcUnavailable = 14,
  kGrpcUnauthenticated = 16,
};

// The request's content-type is application/grpc, or application/grpc+proto,
// application/grpc-web... (any subtype a gRPC client sends).
bool IsGrpcRequest(const http::HeaderMap& headers);
// The same rule on one content-type value (for a caller already walking the
// fields).
bool IsGrpcContentType(std::string_view content_type);

// The gRPC status for a proxy answer with HTTP status `http_status`, as
// Envoy maps them (grpc/doc/http-grpc-status-mapping.md): 400 INTERNAL,
// 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED,
// 429/502/503/504 UNAVAILABLE, anything else UNKNOWN. One exception: a
// proxy timeout (504) on a call that carries a grpc-timeout deadline is
// DEADLINE_EXCEEDED, the status the client expects for a call that ran out
// of time.
int GrpcStatusForHttp(int http_status, bool call_has_deadline);

// grpc-message is percent-encoded (gRPC over HTTP/2 spec): bytes outside
// printable ASCII, and '%' itself, become %XX.
std::string PercentEncodeGrpcMessage(std::string_view message);

// The Trailers-Only response head: status 200, content-type
// application/grpc, grpc-status and grpc-message (`message` as plain text,
// encoded here; a trailing newline is dropped).
http::ResponseHead GrpcErrorHead(int grpc_status, std::string_view message);

}  // namespace sluice::pipeline
