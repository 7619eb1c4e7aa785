#pragma once
// The one builder of the answers the proxy gives itself (404, 413, 502, 503,
// 504, redirects, a stage's refusal), for HTTP/1.1 and HTTP/2 alike. Every
// local reply has the same shape: text/plain with its length and
// `cache-control: no-store` (a proxy's own error must never be cached as
// the resource), a Location for redirects, and for gRPC calls the
// Trailers-Only answer a gRPC client can read (grpc_error.h).
#include <memory>
#include <string>
#include <string_view>

#include "dataplane/http/message.h"
#include "dataplane/pipeline/body_source.h"

namespace sluice::pipeline {

struct LocalReply {
  int status = 0;               // 0: none
  std::string_view body;        // a literal (every built-in reply); see owned_body
  std::string owned_body;       // used instead of `body` when not empty
  std::string location;         // redirects: the Location field
  // A body streamed from a source instead of the text (a cached object, a
  // static file): then the head carries `headers` (the stage's own
  // content-type, validators, ...) and the source's length when known, and
  // none of the error defaults (text/plain, no-store).
  std::shared_ptr<BodySource> source;
  http::HeaderMap headers;
  // Only the head goes out, with `headers` as they are (and the source's
  // length as Content-Length when there is one): the answer to HEAD, a 304.
  bool head_only = false;
  // The body is a resource's whole representation (a static file's 200),
  // not the proxy's own message: response transforms treat it as an
  // origin's response (the compression stage may compress it).
  bool representation = false;
  bool empty() const { return status == 0; }
  std::string_view text() const { return owned_body.empty() ? body : std::string_view(owned_body); }
};

// What of the request shapes its local replies.
struct ReplyShape {
  bool grpc = false;           // content-type application/grpc*: answer as a gRPC server would
  bool grpc_deadline = false;  // the call carries grpc-timeout (504 -> DEADLINE_EXCEEDED)
  bool http1 = true;           // HTTP/1.x needs a Content-Length even on Trailers-Only
  static ReplyShape Of(const http::RequestHead& request);
};

// The head to send; the body to follow is `reply.text()` unless
// `BodyFollows` says none (gRPC carries it in grpc-message).
http::ResponseHead BuildLocalReplyHead(const LocalReply& reply, const ReplyShape& shape);
// The same head, with a streamed reply's `headers` moved into it rather
// than copied (the exchange builds its one head per reply this way; a
// static file's or cached object's fields are not copied string by
// string). `reply.headers` is left empty; everything else is untouched.
http::ResponseHead TakeLocalReplyHead(LocalReply& reply, const ReplyShape& shape);
bool BodyFollows(const LocalReply& reply, const ReplyShape& shape);

}  // namespace sluice::pipeline
