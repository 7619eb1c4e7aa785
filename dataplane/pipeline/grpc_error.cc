#include "dataplane/pipeline/grpc_error.h"

namespace sluice::pipeline {

bool IsGrpcContentType(std::string_view content_type) {
  return content_type.size() >= 16 && http::EqualsIgnoreCase(content_type.substr(0, 16), "application/grpc");
}

bool IsGrpcRequest(const http::HeaderMap& headers) {
  const std::string* type = headers.Get("content-type");
  return type != nullptr && IsGrpcContentType(*type);
}

int GrpcStatusForHttp(int http_status, bool call_has_deadline) {
  switch (http_status) {
    case 400: return kGrpcInternal;
    case 401: return kGrpcUnauthenticated;
    case 403: return kGrpcPermissionDenied;
    case 404: return kGrpcUnimplemented;
    case 504: return call_has_deadline ? kGrpcDeadlineExceeded : kGrpcUnavailable;
    case 429:
    case 502:
    case 503: return kGrpcUnavailable;
    default: return kGrpcUnknown;
  }
}

std::string PercentEncodeGrpcMessage(std::string_view message) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(message.size());
  for (char c : message) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte <= 0x7e && byte != '%') {
      out += c;
      continue;
    }
    out += '%';
    out += kHex[byte >> 4];
    out += kHex[byte & 0xf];
  }
  return out;
}

http::ResponseHead GrpcErrorHead(int grpc_status, std::string_view message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.remove_suffix(1);
  http::ResponseHead head;
  head.status = 200;
  head.headers.Add("content-type", "application/grpc");
  head.headers.Add("grpc-status", std::to_string(grpc_status));
  if (!message.empty()) head.headers.Add("grpc-message", PercentEncodeGrpcMessage(message));
  return head;
}

}  // namespace sluice::pipeline
