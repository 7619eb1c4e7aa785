#include "dataplane/http1/syntax.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "dataplane/http/spare_fields.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice::http1::syntax {

namespace {

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighs = 0x8080808080808080ull;

// Nonzero when some byte of `v` is below 0x20 or equals 0x7f (the classic
// "has less than" and "has zero byte" bit tricks). Bytes >= 0x80 never
// trigger it on their own, but may when next to a flagged byte; the caller
// rechecks flagged words byte by byte, so that is only a slow path.
inline uint64_t MaybeControl(uint64_t v) {
  const uint64_t below_space = (v - kOnes * 0x20) & ~v & kHighs;
  const uint64_t x = v ^ (kOnes * 0x7f);
  const uint64_t is_del = (x - kOnes) & ~x & kHighs;
  return below_space | is_del;
}

}  // namespace

bool IsFieldValue(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
#if defined(__SSE2__)
  // 16 bytes per step: a byte is bad when it is a control character (below
  // 0x20, unsigned) other than HTAB, or DEL. obs-text (>= 0x80) is fine.
  if (n >= 16) {
    const __m128i limit = _mm_set1_epi8(0x1f);
    const __m128i del = _mm_set1_epi8(0x7f);
    const __m128i tab = _mm_set1_epi8('\t');
    auto bad_bytes = [&](const char* at) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
      const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, limit), v);
      const __m128i bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), control), _mm_cmpeq_epi8(v, del));
      return _mm_movemask_epi8(bad);
    };
    const char* last = p + n - 16;  // the tail as one overlapping block: no byte loop
    for (; p < last; p += 16) {
      if (bad_bytes(p) != 0) return false;
    }
    return bad_bytes(last) == 0;
  }
#endif
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    if (MaybeControl(v) != 0) {
      for (size_t i = 0; i < 8; ++i) {
        if (!Is(p[i], kFieldValue)) return false;
      }
    }
    p += 8;
    n -= 8;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!Is(p[i], kFieldValue)) return false;
  }
  return true;
}

namespace {

// The strict checks one by one, to name what is wrong with a line the fast
// path refused (errors are rare; their reasons are for logs and tests).
const char* FieldLineError(std::string_view line) {
  if (line.empty()) return "empty field line";
  // obs-fold (RFC 9112 section 5.2): a server must reject it or unfold it;
  // unfolding differently from a backend is a smuggling vector.
  if (IsOws(line.front())) return "obsolete line folding";
  size_t i = 0;
  while (i < line.size() && Is(line[i], kToken)) ++i;
  if (i == line.size()) return "field line without colon";
  if (line[i] != ':') {
    return IsOws(line[i]) ? "whitespace before colon in field line" : "invalid character in field name";
  }
  if (i == 0) return "empty field name";
  return "invalid character in field value";
}

}  // namespace

namespace {

#if defined(__SSE2__)
// Bit i set when byte i of `v` is not a tchar (RFC 9110 section 5.6.2):
// outside 0x21..0x7e, or one of the delimiters "(),/:;<=>?@[\]{}.
// About 25 vector instructions for 16 name bytes, where the table loop
// spent ~9 per byte.
inline unsigned NonTokenMask(__m128i v) {
  auto eq = [&](char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); };
  auto between = [&](char lo, char hi) {  // lo..hi inclusive, both in 0x01..0x7e (signed compares)
    return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(static_cast<char>(lo - 1))),
                         _mm_cmplt_epi8(v, _mm_set1_epi8(static_cast<char>(hi + 1))));
  };
  __m128i bad = _mm_andnot_si128(between(0x21, 0x7e), _mm_set1_epi8(-1));  // bytes >= 0x80 are negative
  bad = _mm_or_si128(bad, between(':', '@'));
  bad = _mm_or_si128(bad, between('[', ']'));
  bad = _mm_or_si128(bad, _mm_or_si128(eq('"'), _mm_or_si128(eq('('), eq(')'))));
  bad = _mm_or_si128(bad, _mm_or_si128(_mm_or_si128(eq(','), eq('/')), _mm_or_si128(eq('{'), eq('}'))));
  return static_cast<unsigned>(_mm_movemask_epi8(bad));
}

// 'A'..'Z' to 'a'..'z'; other bytes unchanged.
inline __m128i LowerAscii(__m128i v) {
  const __m128i shifted = _mm_add_epi8(v, _mm_set1_epi8(static_cast<char>(0x80 - 'A')));  // 'A'..'Z' -> -128..-103
  const __m128i upper = _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(-128 + 26)));
  return _mm_or_si128(v, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
}
#endif

// Appends the field to `out`: `name` is already lower case.
inline void AppendField(http::HeaderMap* out, const char* name, size_t name_len, std::string_view raw_value) {
  // OWS is at most a byte or two on each side in practice.
  size_t begin = 0;
  size_t end = raw_value.size();
  // The usual shape, ": value" with nothing after it, in two compares.
  if (end >= 2 && raw_value[0] == ' ' && !IsOws(raw_value[1]) && !IsOws(raw_value[end - 1])) {
    begin = 1;
  } else {
    while (begin < end && IsOws(raw_value[begin])) ++begin;
    while (end > begin && IsOws(raw_value[end - 1])) --end;
  }
  // Both strings built in place in the vector's new element: no
  // temporaries to move and destroy (~60 instructions per line); a long
  // value in a spare string (no malloc).
  http::SpareFieldLists::AppendField(*out, std::string_view(name, name_len), raw_value.substr(begin, end - begin));
}

}  // namespace

bool ParseFieldLine(std::string_view line, http::HeaderMap* out, const char** error) {
  const size_t n = line.size();
#if defined(__SSE2__)
  // Fast path: a name of 1-15 bytes and a line of at least 16 bytes (nearly
  // every field): the first 16 bytes hold the name and its colon, checked
  // and lower-cased at once; the value is checked as one block ending at
  // the line's end, which for a short value starts inside the name and
  // colon (tchars and ':' are field-value bytes, so the verdict is the same).
  if (n >= 16) {
    const __m128i head = _mm_loadu_si128(reinterpret_cast<const __m128i*>(line.data()));
    const unsigned first_non_token = static_cast<unsigned>(__builtin_ctz(NonTokenMask(head) | 0x10000u));
    if (first_non_token != 0 && first_non_token < 16 && line[first_non_token] == ':') {
      const size_t colon = first_non_token;
      if (!IsFieldValue(line.substr(std::min(colon + 1, n - 16)))) {
        *error = "invalid character in field value";
        return false;
      }
      if (out != nullptr) {
        alignas(16) char lowered[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(lowered), LowerAscii(head));
        AppendField(out, lowered, colon, line.substr(colon + 1));
      }
      return true;
    }
    // A name of 16 bytes or more, or an error: the general path decides.
  }
#endif
  // One pass over the name: each byte checked (tchar) and lower-cased by one
  // table load; it must end at the colon.
  size_t colon = 0;
  while (colon < n && kNameLower[static_cast<unsigned char>(line[colon])] != '\0') ++colon;
  if (colon == 0 || colon == n || line[colon] != ':') {
    *error = FieldLineError(line);
    return false;
  }
  const std::string_view raw_value = line.substr(colon + 1);
  if (!IsFieldValue(raw_value)) {
    *error = "invalid character in field value";
    return false;
  }
  if (out == nullptr) return true;
  AppendField(out, line.data(), colon, raw_value);
  http::Header& field = out->mutable_entries().back();
  for (char& c : field.name) c = kTables.lower[static_cast<unsigned char>(c)];
  return true;
}

bool FieldLinePrefixValid(std::string_view partial, const char** error) {
  if (!partial.empty() && partial.back() == '\r') partial.remove_suffix(1);
  if (partial.empty()) return true;
  if (IsOws(partial.front())) {
    *error = "obsolete line folding";
    return false;
  }
  size_t i = 0;
  while (i < partial.size() && Is(partial[i], kToken)) ++i;
  if (i == partial.size()) return true;
  if (partial[i] != ':') {
    *error = IsOws(partial[i]) ? "whitespace before colon in field line" : "invalid character in field name";
    return false;
  }
  if (i == 0) {
    *error = "empty field name";
    return false;
  }
  if (!IsFieldValue(partial.substr(i + 1))) {
    *error = "invalid character in field value";
    return false;
  }
  return true;
}

namespace {

bool IsValidPort(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  uint32_t v = 0;
  for (char c : p) {
    if (!IsDigit(c)) return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v <= 65535;
}

bool IsValidRegName(std::string_view h) {
  if (h.empty()) return false;
  for (size_t i = 0; i < h.size(); ++i) {
    const char c = h[i];
    if (!Is(c, kHostChar)) return false;
    if (c == '%') {
      if (i + 2 >= h.size() || !Is(h[i + 1], kHex) || !Is(h[i + 2], kHex)) return false;
      i += 2;
    }
  }
  return true;
}

}  // namespace

bool IsValidHostPort(std::string_view s, bool port_required) {
  std::string_view host;
  std::string_view rest;
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : s.substr(1, close - 1)) {
      if (!(Is(c, kHex) || c == ':' || c == '.')) return false;
    }
    host = s.substr(0, close + 1);
    rest = s.substr(close + 1);
  } else {
    const size_t colon = s.find(':');
    host = s.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : s.substr(colon);
    if (!IsValidRegName(host)) return false;
  }
  if (rest.empty()) return !port_required;
  if (rest.front() != ':') return false;
  return IsValidPort(rest.substr(1));
}

namespace {

// One Transfer-Encoding field's list, added to `info`.
void AddTransferCodings(std::string_view list, TransferEncodingInfo* info) {
  info->present = true;
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view element = TrimOws(list.substr(0, comma));
    if (!element.empty()) {  // RFC 9110 section 5.6.1: empty list elements are ignored
      ++info->codings;
      if (!IsToken(element)) {
        info->malformed = true;
        info->last_is_chunked = false;
      } else if (http::EqualsIgnoreCase(element, "chunked")) {
        ++info->chunked_count;
        info->last_is_chunked = true;
      } else {
        info->has_unknown = true;
        info->last_is_chunked = false;
      }
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// One Content-Length field's list, checked against the values before it
// (`seen`, `first`). kValid while every element so far agrees.
ContentLengthResult AddContentLength(std::string_view list, bool* seen, uint64_t* first) {
  // Nearly every value: 1-19 digits and nothing else (the parser trimmed
  // the OWS), which cannot overflow: no search for a comma, no overflow
  // check per digit (~150 instructions for "1024" that way).
  if (!list.empty() && list.size() <= 19) {
    uint64_t v = 0;
    size_t i = 0;
    for (; i < list.size(); ++i) {
      const unsigned d = static_cast<unsigned char>(list[i]) - unsigned{'0'};
      if (d > 9) break;
      v = v * 10 + d;
    }
    if (i == list.size()) {
      if (*seen && v != *first) return ContentLengthResult::kConflict;
      *seen = true;
      *first = v;
      return ContentLengthResult::kValid;
    }
  }
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view element = TrimOws(list.substr(0, comma));
    if (element.empty()) return ContentLengthResult::kInvalid;
    uint64_t v = 0;
    for (char c : element) {
      if (!IsDigit(c)) return ContentLengthResult::kInvalid;
      const uint64_t d = static_cast<uint64_t>(c - '0');
      if (v > (UINT64_MAX - d) / 10) return ContentLengthResult::kInvalid;
      v = v * 10 + d;
    }
    if (*seen && v != *first) return ContentLengthResult::kConflict;
    *seen = true;
    *first = v;
    if (comma == std::string_view::npos) return ContentLengthResult::kValid;
    list.remove_prefix(comma + 1);
  }
}

constexpr std::string_view kTransferEncoding = "transfer-encoding";
constexpr std::string_view kContentLength = "content-length";

}  // namespace

TransferEncodingInfo InspectTransferEncoding(const http::HeaderMap& headers) {
  TransferEncodingInfo info;
  for (const http::Header& h : headers.entries()) {
    if (std::string_view(h.name) == kTransferEncoding) AddTransferCodings(h.value, &info);  // sizes first
  }
  return info;
}

ContentLengthResult ParseContentLength(const http::HeaderMap& headers, uint64_t* value) {
  bool seen = false;
  uint64_t first = 0;
  for (const http::Header& h : headers.entries()) {
    if (std::string_view(h.name) != kContentLength) continue;
    const ContentLengthResult r = AddContentLength(h.value, &seen, &first);
    if (r != ContentLengthResult::kValid) return r;
  }
  if (!seen) return ContentLengthResult::kAbsent;
  *value = first;
  return ContentLengthResult::kValid;
}

FramingFields InspectFramingFields(const http::HeaderMap& headers) {
  FramingFields out;
  bool seen = false;
  uint64_t first = 0;
  // One pass for both names, told apart by length (14 and 17) before any
  // byte compare: two passes with a compare per field each were ~400
  // instructions per proxied response (callgrind).
  for (const http::Header& h : headers.entries()) {
    const size_t n = h.name.size();
    if (n == kContentLength.size()) {
      if (out.content_length > ContentLengthResult::kValid || std::string_view(h.name) != kContentLength) continue;
      out.content_length = AddContentLength(h.value, &seen, &first);
    } else if (n == kTransferEncoding.size() && std::string_view(h.name) == kTransferEncoding) {
      AddTransferCodings(h.value, &out.transfer_encoding);
    }
  }
  if (out.content_length == ContentLengthResult::kValid) out.length = first;
  return out;
}

}  // namespace sluice::http1::syntax
