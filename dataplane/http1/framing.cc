// Host validation and message body framing (RFC 9112 sections 3.2 and 6).
#include "dataplane/http1/parser.h"
#include "dataplane/http1/syntax.h"

namespace sluice::http1 {
namespace {

bool IsHttp10(int major, int minor) { return major == 1 && minor == 0; }

struct HostPort {
  std::string_view host;
  uint32_t port = 0;  // 0: none given
};

// `s` must already satisfy syntax::IsValidHostPort.
HostPort SplitHostPort(std::string_view s) {
  HostPort hp;
  const size_t host_end = (!s.empty() && s.front() == '[') ? s.find(']') + 1 : s.find(':');
  hp.host = s.substr(0, host_end);
  if (host_end < s.size()) {
    for (char c : s.substr(host_end + 1)) hp.port = hp.port * 10 + static_cast<uint32_t>(c - '0');
  }
  return hp;
}

bool SameAuthority(std::string_view a, std::string_view b, uint32_t default_port) {
  HostPort x = SplitHostPort(a);
  HostPort y = SplitHostPort(b);
  if (x.port == 0) x.port = default_port;
  if (y.port == 0) y.port = default_port;
  return x.port == y.port && http::EqualsIgnoreCase(x.host, y.host);
}

// The CL/TE rules both directions share. `what` names the message in errors.
Status FrameByHeaders(const http::HeaderMap& headers, int major, int minor, BodyFraming* out) {
  const syntax::FramingFields fields = syntax::InspectFramingFields(headers);
  const syntax::TransferEncodingInfo& te = fields.transfer_encoding;
  const uint64_t length = fields.length;
  const syntax::ContentLengthResult cl = fields.content_length;
  if (cl == syntax::ContentLengthResult::kInvalid) return Status::Error("invalid content-length");
  if (cl == syntax::ContentLengthResult::kConflict) return Status::Error("conflicting content-length values");
  if (te.present) {
    if (IsHttp10(major, minor)) return Status::Error("transfer-encoding in an HTTP/1.0 message");
    if (cl != syntax::ContentLengthResult::kAbsent) return Status::Error("both content-length and transfer-encoding");
    if (te.malformed) return Status::Error("malformed transfer-encoding");
    if (te.codings == 0) return Status::Error("empty transfer-encoding");
    if (te.chunked_count > 1) return Status::Error("chunked applied more than once");
    if (!te.last_is_chunked) return Status::Error("final transfer coding is not chunked");
    // Only chunked is implemented: passing e.g. "gzip, chunked" through
    // would hand the backend a coding we cannot check.
    if (te.has_unknown) return Status::Error("unsupported transfer coding");
    out->kind = BodyFraming::kChunked;
    out->length = 0;
    return Status::Ok();
  }
  if (cl == syntax::ContentLengthResult::kValid) {
    out->kind = BodyFraming::kContentLength;
    out->length = length;
  }
  return Status::Ok();
}

}  // namespace

Status ValidateRequestHead(const http::RequestHead& head) {
  const size_t hosts = head.headers.Count("host");
  if (hosts > 1) return Status::Error("more than one Host field");
  const bool needs_host = head.version_major > 1 || (head.version_major == 1 && head.version_minor >= 1);
  if (hosts == 0 && needs_host) return Status::Error("missing Host field");
  const std::string* host = head.headers.Get("host");
  if (host != nullptr && !syntax::IsValidHostPort(*host, /*port_required=*/false)) {
    return Status::Error("invalid Host field");
  }
  if (head.method == "CONNECT") {
    if (!syntax::IsValidHostPort(head.target, /*port_required=*/true)) return Status::Error("invalid CONNECT target");
    return Status::Ok();
  }
  if (head.target.empty() || head.target.front() == '/' || head.target == "*") return Status::Ok();
  // absolute-form: the target's authority is the one we route on, so a Host
  // naming anything else is a request meant to confuse someone.
  if (!syntax::IsValidHostPort(head.authority, /*port_required=*/false)) {
    return Status::Error("invalid authority in request target");
  }
  const bool https = head.target.size() > 5 && http::EqualsIgnoreCase(std::string_view(head.target).substr(0, 5), "https");
  if (host != nullptr && !SameAuthority(*host, head.authority, https ? 443 : 80)) {
    return Status::Error("Host does not match the request target");
  }
  return Status::Ok();
}

Status RequestBodyFraming(const http::RequestHead& head, BodyFraming* out) {
  *out = BodyFraming();
  return FrameByHeaders(head.headers, head.version_major, head.version_minor, out);
}

Status ResponseBodyFraming(const http::ResponseHead& head, std::string_view request_method, BodyFraming* out) {
  *out = BodyFraming();
  if (request_method == "HEAD" || (head.status >= 100 && head.status < 200) || head.status == 204 ||
      head.status == 304 || (request_method == "CONNECT" && head.status >= 200 && head.status < 300)) {
    return Status::Ok();
  }
  Status s = FrameByHeaders(head.headers, head.version_major, head.version_minor, out);
  if (s.ok() && out->kind == BodyFraming::kNone) out->kind = BodyFraming::kUntilClose;
  return s;
}

}  // namespace sluice::http1
