#include "dataplane/pipeline/local_reply.h"

#include "dataplane/pipeline/grpc_error.h"

namespace sluice::pipeline {

ReplyShape ReplyShape::Of(const http::RequestHead& request) {
  ReplyShape shape;
  shape.grpc = IsGrpcRequest(request.headers);
  shape.grpc_deadline = shape.grpc && request.headers.Get("grpc-timeout") != nullptr;
  shape.http1 = request.version_major < 2;
  return shape;
}

bool BodyFollows(const LocalReply& reply, const ReplyShape& shape) {
  if (reply.head_only) return false;
  if (reply.source != nullptr) return reply.source->length() != 0;
  return !shape.grpc && !reply.text().empty();
}

http::ResponseHead BuildLocalReplyHead(const LocalReply& reply, const ReplyShape& shape) {
  if (reply.source != nullptr || reply.head_only) {
    http::ResponseHead head;
    head.status = reply.status;
    head.headers = reply.headers;
    if (reply.source != nullptr && reply.source->length() >= 0) head.headers.Add("content-length", std::to_string(reply.source->length()));
    return head;
  }
  if (shape.grpc) {
    // Trailers-Only: one HEADERS frame that ends the stream.
    http::ResponseHead grpc = GrpcErrorHead(GrpcStatusForHttp(reply.status, shape.grpc_deadline), reply.text());
    if (shape.http1) grpc.headers.Add("content-length", "0");  // HTTP/1.1 needs framing
    return grpc;
  }
  http::ResponseHead head;
  head.status = reply.status;
  if (!reply.location.empty()) head.headers.Add("location", reply.location);
  head.headers.Add("content-type", "text/plain; charset=utf-8");
  head.headers.Add("content-length", std::to_string(reply.text().size()));
  head.headers.Add("cache-control", "no-store");
  // A refusal's own fields (a 429's Retry-After and RateLimit fields).
  for (const http::Header& field : reply.headers.entries()) head.headers.Add(field.name, field.value);
  return head;
}

}  // namespace sluice::pipeline
