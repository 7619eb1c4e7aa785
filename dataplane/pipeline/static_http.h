#pragma once
// The HTTP rules of serving a representation of known length and
// validators (RFC 9110 sections 13 and 14): Range parsing, entity-tag
// comparison, HTTP dates, and what the conditional fields decide. Pure
// functions over strings: static_stage.cc uses them, static_test.cc
// checks them without sockets.
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/http/message.h"

namespace sluice::pipeline {

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
  uint64_t length() const { return last - first + 1; }
};

struct RangeRequest {
  enum class Kind : uint8_t {
    kNone,           // no Range, not "bytes", malformed, or too many: the full representation (200)
    kSatisfiable,    // `ranges`, in the order asked (206)
    kUnsatisfiable,  // none overlaps the representation (416)
  };
  Kind kind = Kind::kNone;
  std::vector<ByteRange> ranges;
};

// More ranges than this are ignored (the full representation is sent, as
// RFC 9110 14.2 allows): a request for thousands of tiny ranges costs the
// server far more than it costs the client.
constexpr size_t kMaxByteRanges = 16;

// A Range field value for a representation of `size` bytes.
RangeRequest ParseRange(std::string_view value, uint64_t size);

// Weak comparison (RFC 9110 8.8.3.2) of `etag` with each member of an
// If-None-Match list; "*" matches anything.
bool EtagListMatchesWeak(std::string_view list, std::string_view etag);
// Strong comparison with each member of an If-Match list (or "*").
bool EtagListMatchesStrong(std::string_view list, std::string_view etag);

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string FormatHttpDate(time_t seconds);
// IMF-fixdate only (the obsolete forms are not sent by today's clients);
// -1 when it is not one.
time_t ParseHttpDate(std::string_view text);

// What the request's preconditions decide for a representation with these
// validators (RFC 9110 13.2.2: If-Match, If-None-Match, If-Modified-Since;
// If-Range is for the range decision).
enum class Precondition : uint8_t { kServe, kNotModified, kFailed };
Precondition EvaluatePreconditions(const http::HeaderMap& request, std::string_view etag, time_t last_modified);
// Whether a Range is honoured given If-Range (true when there is none):
// the entity-tag compared strongly, or the date equal to Last-Modified.
bool IfRangeAllows(const http::HeaderMap& request, std::string_view etag, time_t last_modified);

// A file name with a content hash ("app.3f2a9c1e.js", "main-BdXw12Kq.css"):
// a dot- or dash-separated part of 8 to 64 letters and digits with at least
// one digit, before the extension. Such names change when their content does,
// so they may be cached for good (Cache-Control: immutable).
bool LooksHashed(std::string_view file_name);

}  // namespace sluice::pipeline
