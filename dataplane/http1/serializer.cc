// HTTP/1.1 serialization. Output is always HTTP/1.1 with CRLF line ends.
#include <cstring>

#include "dataplane/http1/parser.h"

namespace sluice::http1 {
namespace {

size_t HeadersSize(const http::HeaderMap& headers) {
  size_t n = 2;  // final CRLF
  for (const http::Header& h : headers.entries()) n += h.name.size() + h.value.size() + 4;
  return n;
}

// True when `s` holds a CR, LF or NUL. 8 bytes at a time ("has zero byte"
// on the word XORed with each byte); false positives are rechecked.
bool HasLineBreakOrNul(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHighs = 0x8080808080808080ull;
  auto has_zero = [](uint64_t x) { return (x - kOnes) & ~x & kHighs; };
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    if ((has_zero(v) | has_zero(v ^ (kOnes * '\r')) | has_zero(v ^ (kOnes * '\n'))) != 0) {
      for (size_t i = 0; i < 8; ++i) {
        if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0') return true;
      }
    }
    p += 8;
    n -= 8;
  }
  for (size_t i = 0; i < n; ++i) {
    if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0') return true;
  }
  return false;
}

void AppendValue(std::string_view value, std::string& out) {
  // A CR, LF or NUL would let a value start a new header or end the head.
  const size_t start = out.size();
  out.append(value);
  if (!HasLineBreakOrNul(value)) return;
  for (size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n' || out[i] == '\0') out[i] = ' ';
  }
}

void AppendHeaders(const http::HeaderMap& headers, std::string& out) {
  for (const http::Header& h : headers.entries()) {
    out.append(h.name);
    out.append(": ", 2);
    AppendValue(h.value, out);
    out.append("\r\n", 2);
  }
  out.append("\r\n", 2);
}

void AppendHex(uint64_t v, std::string& out) {
  char buf[16];
  size_t i = sizeof(buf);
  do {
    buf[--i] = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  } while (v != 0);
  out.append(buf + i, sizeof(buf) - i);
}

}  // namespace

void AppendRequestHead(const http::RequestHead& head, std::string& out) {
  std::string_view target = head.path;
  if (head.method == "CONNECT") {
    target = head.authority;
  } else if (target.empty()) {
    target = "/";
  }
  out.reserve(out.size() + head.method.size() + target.size() + 11 + HeadersSize(head.headers));
  out.append(head.method);
  out.push_back(' ');
  out.append(target);
  out.append(" HTTP/1.1\r\n", 11);
  AppendHeaders(head.headers, out);
}

void AppendResponseHead(const http::ResponseHead& head, std::string& out) {
  const std::string_view reason = head.reason.empty() ? StandardReason(head.status) : std::string_view(head.reason);
  out.reserve(out.size() + 15 + reason.size() + HeadersSize(head.headers));
  out.append("HTTP/1.1 ", 9);
  const int status = (head.status >= 100 && head.status <= 999) ? head.status : 500;
  const char code[3] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                        static_cast<char>('0' + status % 10)};
  out.append(code, 3);
  out.push_back(' ');
  AppendValue(reason, out);
  out.append("\r\n", 2);
  AppendHeaders(head.headers, out);
}

void AppendChunk(std::string_view data, std::string& out) {
  if (data.empty()) return;
  out.reserve(out.size() + data.size() + 20);
  AppendHex(data.size(), out);
  out.append("\r\n", 2);
  out.append(data);
  out.append("\r\n", 2);
}

void AppendLastChunk(const http::HeaderMap* trailers, std::string& out) {
  out.append("0\r\n", 3);
  if (trailers != nullptr) {
    AppendHeaders(*trailers, out);
  } else {
    out.append("\r\n", 2);
  }
}

std::string_view StandardReason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    case 511: return "Network Authentication Required";
    default: return "";
  }
}

}  // namespace sluice::http1
