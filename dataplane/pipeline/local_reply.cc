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

namespace {

bool Streamed(const LocalReply& reply) { return reply.source != nullptr || reply.head_only; }

// A streamed reply's head around `headers`: its status and the source's
// length when known.
http::ResponseHead StreamedHead(const LocalReply& reply, http::HeaderMap headers) {
  http::ResponseHead head;
  head.status = reply.status;
  head.headers = std::move(headers);
  if (reply.source != nullptr && reply.source->length() >= 0) {
    head.headers.AppendField("content-length", std::to_string(reply.source->length()));
  }
  return head;
}

}  // namespace

http::ResponseHead TakeLocalReplyHead(LocalReply& reply, const ReplyShape& shape) {
  if (!Streamed(reply)) return BuildLocalReplyHead(reply, shape);
  http::ResponseHead head = StreamedHead(reply, std::move(reply.headers));
  reply.headers.clear();
  return head;
}

http::ResponseHead BuildLocalReplyHead(const LocalReply& reply, const ReplyShape& shape) {
  if (Streamed(reply)) return StreamedHead(reply, reply.headers);
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
