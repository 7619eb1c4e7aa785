#pragma once
// The HTTP rules of answering from a representation whose length and
// validators are known (RFC 9110 sections 13, 14 and 15.4.5): Range parsing,
// entity-tag comparison, HTTP dates, what the conditional fields decide,
// Content-Range values, the multipart/byteranges framing and the fields a
// 304 carries. Pure functions over strings, shared by the static stage
// (files) and the cache (stored responses), so both answer the same way.
// The request fields are untrusted: test/fuzz/conditional_fuzzer.cc.
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/http/message.h"

namespace sluice::http {

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
// If-Range is for the range decision). `etag` empty: none;
// `last_modified` -1: none.
enum class Precondition : uint8_t { kServe, kNotModified, kFailed };
Precondition EvaluatePreconditions(const HeaderMap& request, std::string_view etag, time_t last_modified);
// Whether a Range is honoured given If-Range (true when there is none):
// the entity-tag compared strongly, or the date equal to Last-Modified.
bool IfRangeAllows(const HeaderMap& request, std::string_view etag, time_t last_modified);

// Content-Range values (RFC 9110 14.4): "bytes 0-9/100", and "bytes */100"
// for a 416.
std::string ContentRange(const ByteRange& range, uint64_t size);
std::string UnsatisfiedContentRange(uint64_t size);

// multipart/byteranges (RFC 9110 14.6): the response's Content-Type, and
// the bytes around the parts. The body is
//   part_heads[0] range[0] part_heads[1] range[1] ... closing
// so a caller interleaves its own sources of the ranges' bytes (a file, a
// cached object's shared bytes) with these strings: nothing is copied.
// The boundary is fixed, since the parts are bytes that a client reads by
// Content-Range, and a per-response random one would cost entropy for
// nothing (14.6 only asks that it not occur in the parts' heads, which we
// write).
constexpr std::string_view kByterangesBoundary = "sluice-byteranges-8d1f07c2e6b94a53";
std::string MultipartByterangesType();
struct MultipartFraming {
  std::vector<std::string> part_heads;  // one per range
  std::string closing;
};
MultipartFraming FrameByteranges(std::string_view part_content_type, const std::vector<ByteRange>& ranges,
                                 uint64_t size);

// The fields of a 304 answering for a stored 200 with `fields` (RFC 9110
// 15.4.5: those a 200 would carry of Content-Location, Date, ETag, Vary,
// Cache-Control, Expires; and Last-Modified, the other validator, which
// guides caches further down the line). No content fields, no length.
HeaderMap NotModifiedFields(const HeaderMap& fields);

}  // namespace sluice::http
