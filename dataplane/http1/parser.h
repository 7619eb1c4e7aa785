#pragma once
// Strict, incremental HTTP/1.1 codec (RFC 9112 / RFC 9110) without sockets,
// used for both directions of the proxy: client requests and upstream
// responses. It faces the internet, so anything ambiguous is an error rather
// than a guess: ambiguity between us and a backend is how requests get
// smuggled.
//
// Zero-copy where it matters: heads are scanned with memchr over the caller's
// buffer and only the header strings themselves are allocated; bodies are
// returned as views into the caller's input.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "dataplane/http/message.h"

namespace sluice::http1 {

struct Limits {
  size_t max_head_bytes = 64 * 1024;  // request line/status line + headers, incl. CRLFs
  size_t max_header_count = 100;
};

enum class ParseState { kIncomplete, kDone, kError };

struct HeadParse {
  ParseState state = ParseState::kIncomplete;
  size_t consumed = 0;  // bytes of the head incl. the final CRLFCRLF, when kDone
  // When kError. Requests: 400, 431 (head too large / too many headers),
  // 501 (unknown transfer coding), 505 (unsupported version).
  // Responses: always 502 (what the proxy answers for a bad upstream).
  int error_status = 0;
  std::string error;  // short reason for logs (never sent to clients verbatim)
};

// Parses a complete request head at the start of `data` (which may hold
// pipelined bytes after it). Empty lines before the request line are skipped
// (RFC 9112 section 2.2) and counted in `consumed`.
// Fills method, target, path (origin-form path+query; for absolute-form
// "http://host:port/p?q" the path part and authority=host:port; authority-form
// for CONNECT -> authority, path empty; "*" for OPTIONS), version, headers
// (names lower case, values without surrounding OWS), and authority from Host
// otherwise. `scheme` is left untouched: the connection knows it.
// kIncomplete while no full head is present and the bytes so far are still
// valid and under the limit; errors are reported as early as the bytes allow.
// The contents of `out` are unspecified unless kDone.
HeadParse ParseRequestHead(std::string_view data, const Limits& limits, http::RequestHead* out);

// Same for an upstream response head ("HTTP/1.1 200 OK"). 1xx responses are
// returned like any other (the caller decides).
HeadParse ParseResponseHead(std::string_view data, const Limits& limits, http::ResponseHead* out);

// Internal progress of a stateful head parser.
struct HeadCursor {
  size_t pos = 0;  // start of the first line not yet validated
  size_t header_count = 0;
  bool start_line_seen = false;
};

// Stateful wrappers that never rescan a line already validated: call Parse()
// each time more bytes arrive, with `data` starting at the same head as
// before and only grown at the end. After kDone or kError the parser resets
// itself for the next head (the caller drops `consumed` bytes first).
class RequestHeadParser {
 public:
  explicit RequestHeadParser(const Limits& limits = Limits()) : limits_(limits) {}
  HeadParse Parse(std::string_view data, http::RequestHead* out);
  void Reset();

 private:
  Limits limits_;
  HeadCursor cursor_;
  std::unique_ptr<http::RequestHead> head_;  // while a head arrives
};

class ResponseHeadParser {
 public:
  explicit ResponseHeadParser(const Limits& limits = Limits()) : limits_(limits) {}
  HeadParse Parse(std::string_view data, http::ResponseHead* out);
  void Reset();
  // Server and X-Powered-By fields are checked like any other but left out
  // of the parsed head (for a proxy that hides them anyway: removing them
  // afterwards moved every field after them, and Server comes first).
  void set_skip_server_fields(bool skip) { skip_server_fields_ = skip; }
  // An HTTP/1.1 response's "Connection: keep-alive" line (exactly that, in
  // any case) is left out of the parsed head: it means nothing in HTTP/1.1
  // and a proxy drops it (hop-by-hop); nginx sends it on every response.
  // Any other Connection field, or an HTTP/1.0 response's, is kept.
  void set_skip_keep_alive(bool skip) { skip_keep_alive_ = skip; }

 private:
  Limits limits_;
  HeadCursor cursor_;
  bool skip_server_fields_ = false;
  bool skip_keep_alive_ = false;
  http::ResponseHead head_;
};

// Host rules for a parsed request: HTTP/1.1 needs exactly one Host, HTTP/1.0
// at most one; its value must be a valid uri-host[:port]; an absolute-form
// target's authority must match Host (ports 80/443 compared as defaults of
// http/https); CONNECT needs a host:port target. An error means 400.
Status ValidateRequestHead(const http::RequestHead& head);

struct BodyFraming {
  enum Kind { kNone, kContentLength, kChunked, kUntilClose } kind = kNone;
  uint64_t length = 0;  // for kContentLength
};

// RFC 9112 section 6.3 for requests (an error means 400): Content-Length
// together with Transfer-Encoding, differing Content-Length values
// (identical duplicates, also "5, 5", are folded), non-digit or overflowing
// Content-Length, a Transfer-Encoding that is not exactly one final
// "chunked" (we implement no other coding), Transfer-Encoding in HTTP/1.0.
// No Content-Length and no Transfer-Encoding -> kNone.
Status RequestBodyFraming(const http::RequestHead& head, BodyFraming* out);

// For responses (an error means 502): no body for HEAD requests, 1xx, 204,
// 304 and 2xx to CONNECT; otherwise the request rules above; no
// Content-Length and no Transfer-Encoding -> kUntilClose.
Status ResponseBodyFraming(const http::ResponseHead& head, std::string_view request_method,
                           BodyFraming* out);

// Incremental body decoder, zero-copy: call Next() repeatedly on the
// unconsumed input, dropping `consumed` bytes after each step.
class BodyDecoder {
 public:
  // Longest chunk-size line (size + extensions), to cap the work and memory
  // an attacker can make us spend on framing.
  static constexpr size_t kMaxChunkSizeLine = 4096;
  static constexpr size_t kMaxTrailerCount = 100;

  explicit BodyDecoder(BodyFraming framing, size_t max_trailer_bytes = 16 * 1024);

  struct Step {
    enum Kind { kNeedMore, kData, kDone, kError } kind = kNeedMore;
    // Bytes of input consumed by this step. Framing bytes count too, so it
    // may be > 0 with kNeedMore (a chunk header) and > data.size() with
    // kData or kDone.
    size_t consumed = 0;
    std::string_view data;  // for kData: payload bytes, a view into input
    std::string error;      // for kError
  };
  Step Next(std::string_view input);
  // For kUntilClose: the peer closed, so the body is complete once the input
  // already received has been passed to Next() -> then Next() returns kDone.
  // For other kinds a body not yet done becomes an error (truncated).
  void FinishAtEof();
  bool done() const { return phase_ == Phase::kDone; }
  uint64_t payload_bytes() const { return payload_bytes_; }
  const http::HeaderMap& trailers() const { return trailers_; }  // chunked trailers, validated like headers

 private:
  enum class Phase : uint8_t { kBody, kChunkSizeLine, kChunkData, kChunkDataEnd, kTrailers, kDone, kError };
  Step Fail(std::string error);
  Step NextChunked(std::string_view input);

  BodyFraming framing_;
  size_t max_trailer_bytes_;
  Phase phase_ = Phase::kBody;
  bool eof_ = false;
  uint64_t remaining_ = 0;  // of the Content-Length body or the current chunk
  uint64_t payload_bytes_ = 0;
  size_t trailer_bytes_ = 0;
  std::string error_;
  http::HeaderMap trailers_;
};

// Serializers (append to `out`). Header names are written as stored; a CR,
// LF or NUL in a value (which the parser never produces, but a stage might)
// is written as a space so it can never split a header.
// "METHOD path HTTP/1.1\r\n" + headers + "\r\n". CONNECT writes the authority
// as its target; an empty path is written as "/".
void AppendRequestHead(const http::RequestHead& head, std::string& out);
// "HTTP/1.1 200 OK\r\n" + headers + "\r\n"; the standard reason phrase when
// reason is empty.
void AppendResponseHead(const http::ResponseHead& head, std::string& out);
// "<hex>\r\n<data>\r\n"; nothing for empty data (it would end the body).
void AppendChunk(std::string_view data, std::string& out);
// "0\r\n" + trailers + "\r\n".
void AppendLastChunk(const http::HeaderMap* trailers, std::string& out);
// "OK" for 200, ...; empty for codes without a standard phrase.
std::string_view StandardReason(int status);

}  // namespace sluice::http1
