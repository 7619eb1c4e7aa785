#pragma once
// Character classes and field-line rules of RFC 9110/9112 shared by the head
// parser, the framing rules and the chunked decoder. Internal to http1/.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/http/message.h"

namespace sluice::http1::syntax {

enum CharClass : uint8_t {
  kToken = 1,       // tchar
  kFieldValue = 2,  // field-vchar / SP / HTAB (obs-text allowed)
  kTarget = 4,      // what a request-target may contain: VCHAR except '#'
  kHex = 8,
  kHostChar = 16,   // unreserved (reg-name / IPv4) plus '%' for pct-encoding
  kQdText = 32,     // qdtext of a quoted-string
};

struct Tables {
  uint8_t cls[256];
  char lower[256];
  char name_lower[256];  // a tchar lower-cased; 0 for anything else
};

constexpr Tables MakeTables() {
  Tables t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t m = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    const bool vchar = c >= 0x21 && c <= 0x7e;
    if (alpha || digit || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos) {
      m |= kToken;
    }
    if (vchar || c == ' ' || c == '\t' || c >= 0x80) m |= kFieldValue;
    if (vchar && c != '#') m |= kTarget;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) m |= kHex;
    if (alpha || digit || c == '-' || c == '.' || c == '_' || c == '~' || c == '%') m |= kHostChar;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80) {
      m |= kQdText;
    }
    t.cls[c] = m;
    t.lower[c] = static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
    t.name_lower[c] = (m & kToken) ? t.lower[c] : '\0';
  }
  return t;
}

inline constexpr Tables kTables = MakeTables();
inline constexpr const char* kNameLower = kTables.name_lower;

inline bool Is(char c, CharClass k) { return kTables.cls[static_cast<unsigned char>(c)] & k; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsOws(char c) { return c == ' ' || c == '\t'; }

// True when every byte of `s` is a field-value byte (VCHAR, obs-text, SP,
// HTAB). Checks 8 bytes at a time: values are most of a head's bytes.
bool IsFieldValue(std::string_view s);

inline bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!Is(c, kToken)) return false;
  }
  return true;
}

inline std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// Parses one complete field line "name: value" (without its CRLF). On
// success appends the lower-cased name and OWS-trimmed value to `out` when it
// is non-null. On failure returns false and sets `*error`.
bool ParseFieldLine(std::string_view line, http::HeaderMap* out, const char** error);

// Checks the start of a field line whose end has not arrived yet, for errors
// that more bytes cannot repair. A trailing CR is allowed (its LF may follow).
bool FieldLinePrefixValid(std::string_view partial, const char** error);

// uri-host [ ":" port ] with a strict host charset: reg-name made of
// unreserved characters and pct-encodings, or an IP literal in brackets.
// Ports are 1-5 digits up to 65535.
bool IsValidHostPort(std::string_view s, bool port_required);

// Summary of every Transfer-Encoding field of a message, read as one list.
struct TransferEncodingInfo {
  bool present = false;
  bool malformed = false;  // an element that is not a token (e.g. parameters)
  size_t codings = 0;
  size_t chunked_count = 0;
  bool last_is_chunked = false;
  bool has_unknown = false;  // a coding other than chunked
};
TransferEncodingInfo InspectTransferEncoding(const http::HeaderMap& headers);

// Every Content-Length field read as one list; all elements must be equal.
enum class ContentLengthResult { kAbsent, kValid, kInvalid, kConflict };
ContentLengthResult ParseContentLength(const http::HeaderMap& headers, uint64_t* value);

// Both of the above in one pass over the fields (what framing a message
// needs): the same results as the two functions.
struct FramingFields {
  TransferEncodingInfo transfer_encoding;
  ContentLengthResult content_length = ContentLengthResult::kAbsent;
  uint64_t length = 0;  // when content_length is kValid
};
FramingFields InspectFramingFields(const http::HeaderMap& headers);

}  // namespace sluice::http1::syntax
