// Request and response head parsing (RFC 9112 sections 2-5).
//
// One pass, line by line: memchr finds each LF, the line is validated with
// table lookups and, when an output is given, copied into it. Lines already
// validated are never looked at again by the stateful parsers; the free
// functions only fill their output once the head terminator is present, so
// an incomplete head costs no allocation.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "dataplane/http/spare_fields.h"
#include "dataplane/http1/parser.h"
#include "dataplane/http1/syntax.h"

namespace sluice::http1 {
namespace {

using syntax::Is;
using syntax::IsDigit;

struct Failure {
  int status = 0;  // 0: no failure
  const char* reason = "";
  explicit operator bool() const { return status != 0; }
};

constexpr Failure kNoFailure{};

HeadParse Error(int status, std::string_view reason) {
  HeadParse r;
  r.state = ParseState::kError;
  r.error_status = status;
  r.error = std::string(reason);
  return r;
}

constexpr std::string_view kVersionPattern = "HTTP/D.D";

// A (possibly partial) HTTP-version: "HTTP/" DIGIT "." DIGIT, case-sensitive.
bool VersionShapeValid(std::string_view v) {
  if (v == "HTTP/1.1") return true;  // nearly every message: one compare
  if (v.size() > kVersionPattern.size()) return false;
  for (size_t i = 0; i < v.size(); ++i) {
    if (kVersionPattern[i] == 'D' ? !IsDigit(v[i]) : v[i] != kVersionPattern[i]) return false;
  }
  return true;
}

Failure ParseVersion(std::string_view v, int* major, int* minor) {
  if (v.size() != kVersionPattern.size() || !VersionShapeValid(v)) return {400, "malformed HTTP version"};
  *major = v[5] - '0';
  *minor = v[7] - '0';
  if (*major != 1 || *minor > 1) return {505, "unsupported HTTP version"};
  return kNoFailure;
}

// Where a request target puts its path and authority (views into target).
struct TargetParts {
  std::string_view path;
  std::string_view authority;
};

Failure ClassifyTarget(std::string_view method, std::string_view target, TargetParts* parts) {
  const bool is_connect = method == "CONNECT";
  if (target.front() == '/') {
    if (is_connect) return {400, "CONNECT needs an authority-form target"};
    parts->path = target;
    return kNoFailure;
  }
  if (is_connect) {
    if (!syntax::IsValidHostPort(target, /*port_required=*/true)) return {400, "invalid CONNECT target"};
    parts->authority = target;
    return kNoFailure;
  }
  if (target == "*") {
    if (method != "OPTIONS") return {400, "asterisk target outside OPTIONS"};
    parts->path = target;
    return kNoFailure;
  }
  // absolute-form: only the http and https schemes make sense to a proxy.
  const size_t sep = target.find("://");
  if (sep == std::string_view::npos) return {400, "invalid request target"};
  const std::string_view scheme = target.substr(0, sep);
  if (!http::EqualsIgnoreCase(scheme, "http") && !http::EqualsIgnoreCase(scheme, "https")) {
    return {400, "unsupported scheme in request target"};
  }
  std::string_view rest = target.substr(sep + 3);
  const size_t path_start = std::min(rest.find('/'), rest.find('?'));
  const std::string_view authority = rest.substr(0, path_start);
  // Userinfo is deprecated for http(s) and only confuses host matching.
  if (!syntax::IsValidHostPort(authority, /*port_required=*/false)) return {400, "invalid authority in request target"};
  parts->authority = authority;
  parts->path = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  return kNoFailure;
}

// request-line = method SP request-target SP HTTP-version. When `complete`
// is false `line` is only the start of the line: report only errors that
// more bytes cannot repair. Fills `out` when non-null and complete.
Failure ParseRequestLine(std::string_view line, bool complete, http::RequestHead* out) {
  if (!complete && !line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t i = 0;
  while (i < line.size() && Is(line[i], syntax::kToken)) ++i;
  if (i == line.size()) {
    return complete ? Failure{400, "malformed request line"} : kNoFailure;
  }
  if (line[i] != ' ') return {400, "invalid character in method"};
  if (i == 0) return {400, "empty method"};
  const std::string_view method = line.substr(0, i);
  const size_t target_start = i + 1;
  size_t j = target_start;
  while (j < line.size() && Is(line[j], syntax::kTarget)) ++j;
  if (j == line.size()) {
    return complete ? Failure{400, "malformed request line"} : kNoFailure;
  }
  if (line[j] != ' ') return {400, "invalid character in request target"};
  if (j == target_start) return {400, "empty request target"};
  const std::string_view target = line.substr(target_start, j - target_start);
  const std::string_view version = line.substr(j + 1);
  if (!complete) {
    return VersionShapeValid(version) ? kNoFailure : Failure{400, "malformed HTTP version"};
  }
  int major = 0;
  int minor = 0;
  if (Failure f = ParseVersion(version, &major, &minor)) return f;
  TargetParts parts;
  if (Failure f = ClassifyTarget(method, target, &parts)) return f;
  if (out != nullptr) {
    out->method.assign(method);
    out->target.assign(target);
    if (method == "CONNECT") {
      out->path.clear();
    } else if (parts.path.empty() || parts.path.front() == '?') {
      out->path = "/";  // "http://h" and "http://h?q" address the root
      out->path.append(parts.path);
    } else {
      out->path.assign(parts.path);
    }
    out->authority.assign(parts.authority);
    out->version_major = major;
    out->version_minor = minor;
  }
  return kNoFailure;
}

// status-line = HTTP-version SP status-code SP [ reason-phrase ]. The SP
// after the code is optional here: many servers omit it with no reason.
Failure ParseStatusLine(std::string_view line, bool complete, http::ResponseHead* out) {
  if (!complete && !line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::string_view version = line.substr(0, std::min(line.size(), kVersionPattern.size()));
  if (!VersionShapeValid(version)) return {502, "malformed HTTP version"};
  if (line.size() > 8 && line[8] != ' ') return {502, "malformed status line"};
  for (size_t i = 9; i < std::min<size_t>(line.size(), 12); ++i) {
    if (!IsDigit(line[i])) return {502, "malformed status code"};
  }
  if (line.size() > 12 && line[12] != ' ') return {502, "malformed status line"};
  for (size_t i = 13; i < line.size(); ++i) {
    if (!Is(line[i], syntax::kFieldValue)) return {502, "invalid character in reason phrase"};
  }
  if (!complete) return kNoFailure;
  if (line.size() < 12) return {502, "malformed status line"};
  int major = 0;
  int minor = 0;
  if (Failure f = ParseVersion(version, &major, &minor)) return {502, f.reason};
  const int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status < 100 || status > 599) return {502, "status code out of range"};
  if (out != nullptr) {
    out->status = status;
    out->reason.assign(line.size() > 13 ? line.substr(13) : std::string_view());
    out->version_major = major;
    out->version_minor = minor;
  }
  return kNoFailure;
}

// What the parsed request still needs once the whole head is there.
Failure FinishRequest(http::RequestHead* out) {
  if (out->authority.empty()) {
    if (const std::string* host = out->headers.Get("host")) out->authority = *host;
  }
  const syntax::TransferEncodingInfo te = syntax::InspectTransferEncoding(out->headers);
  if (te.malformed) return {400, "malformed transfer-encoding"};
  // RFC 9112 section 6.3: when chunked is not the final coding the body
  // length cannot be known -> 400; a known frame with a coding before the
  // final chunked that we do not implement (gzip, chunked) -> 501.
  if (te.present && (!te.last_is_chunked || te.chunked_count > 1)) {
    return {400, "chunked is not the final transfer coding"};
  }
  if (te.has_unknown) return {501, "unsupported transfer coding"};
  return kNoFailure;
}

void ClearRequest(http::RequestHead* out) {
  out->method.clear();
  out->target.clear();
  out->path.clear();
  out->authority.clear();
  out->version_major = 1;
  out->version_minor = 1;
  out->headers.clear();
  // Typical requests carry 5-20 fields: one allocation instead of five.
  if (out->headers.mutable_entries().capacity() < 16) out->headers.mutable_entries().reserve(16);
}

void ClearResponse(http::ResponseHead* out) {
  out->status = 0;
  out->reason.clear();
  out->version_major = 1;
  out->version_minor = 1;
  out->headers.clear();
}

// `word` (8 bytes, little-endian) starts with `prefix` (up to 8 bytes, lower
// case), letters compared in any case: letters are folded by OR-ing 0x20
// into the letter positions of `prefix` only, so ':' and '-' must match
// exactly. Folded into constants at compile time.
constexpr uint64_t PrefixWord(std::string_view prefix, bool letters_only) {
  uint64_t word = 0;
  for (size_t i = 0; i < prefix.size(); ++i) {
    const char c = prefix[i];
    const bool letter = c >= 'a' && c <= 'z';
    word |= uint64_t{letters_only ? (letter ? 0x20u : 0u) : static_cast<uint8_t>(c)} << (8 * i);
  }
  return word;
}
constexpr uint64_t PrefixMask(size_t n) { return n >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * n)) - 1; }
inline uint64_t LoadWord(const char* p) {
  uint64_t word;
  std::memcpy(&word, p, 8);
  return word;
}

// "Server:" or "X-Powered-By:" at the start of a non-empty field line, in
// any case. The first byte rules out most lines; the rest is a word
// compare or two (EqualsIgnoreCase, a byte loop, was ~110 instructions).
constexpr std::string_view kServerPrefix = "server:";
constexpr std::string_view kPoweredPrefix = "x-powered-by:";  // 8 + 5 bytes
constexpr uint64_t kServerFold = PrefixWord(kServerPrefix, true);
constexpr uint64_t kServerWord = PrefixWord(kServerPrefix, false);
// Two overlapping words: bytes 0-7 and 5-12.
constexpr uint64_t kPoweredFold[2] = {PrefixWord(kPoweredPrefix.substr(0, 8), true),
                                      PrefixWord(kPoweredPrefix.substr(5, 8), true)};
constexpr uint64_t kPoweredWord[2] = {PrefixWord(kPoweredPrefix.substr(0, 8), false),
                                      PrefixWord(kPoweredPrefix.substr(5, 8), false)};

bool IsServerFieldSlow(std::string_view line) {
  static_assert(std::endian::native == std::endian::little, "words are loaded little-endian");
  if (line.size() >= 8) {  // "server:" and at least one more byte (the word load)
    if (((LoadWord(line.data()) | kServerFold) & PrefixMask(7)) == kServerWord) return true;
  } else if (line.size() == 7) {
    return http::EqualsIgnoreCase(line, kServerPrefix);
  }
  if (line.size() < 16) return line.size() >= 13 && http::EqualsIgnoreCase(line.substr(0, 13), kPoweredPrefix);
  return ((LoadWord(line.data()) | kPoweredFold[0]) == kPoweredWord[0]) &
         ((LoadWord(line.data() + 5) | kPoweredFold[1]) == kPoweredWord[1]);
}
inline bool IsServerField(std::string_view line) {
  const char first = static_cast<char>(line[0] | 0x20);
  return (first == 's' || first == 'x') && IsServerFieldSlow(line);
}

// "Connection: keep-alive", in any case, and nothing else on the line (a
// valid field line by construction). Three overlapping 8-byte words (at 0,
// 8 and 14), letters folded to lower case by OR-ing 0x20 into letter bytes
// only: ':', ' ' and '-' must match exactly (0x1a, NUL and CR would fold
// onto them). A byte loop with a case fold per byte was ~150 instructions.
constexpr std::string_view kKeepAliveLine = "connection: keep-alive";
constexpr uint64_t LineWord(size_t at, bool letters_only) {
  uint64_t word = 0;
  for (size_t i = 0; i < 8; ++i) {
    const char c = kKeepAliveLine[at + i];
    const bool letter = c >= 'a' && c <= 'z';
    word |= uint64_t{letters_only ? (letter ? 0x20u : 0u) : static_cast<uint8_t>(c)} << (8 * i);
  }
  return word;
}
// Folded at compile time (a runtime LineWord was a loop per word).
constexpr uint64_t kKeepAliveFold[3] = {LineWord(0, true), LineWord(8, true), LineWord(14, true)};
constexpr uint64_t kKeepAliveWord[3] = {LineWord(0, false), LineWord(8, false), LineWord(14, false)};
inline bool IsKeepAliveLine(std::string_view line) {
  static_assert(std::endian::native == std::endian::little, "words are loaded little-endian");
  static_assert(kKeepAliveLine.size() == 22);
  if (line.size() != kKeepAliveLine.size()) return false;
  uint64_t word[3];
  std::memcpy(&word[0], line.data(), 8);
  std::memcpy(&word[1], line.data() + 8, 8);
  std::memcpy(&word[2], line.data() + 14, 8);
  return ((word[0] | kKeepAliveFold[0]) == kKeepAliveWord[0]) & ((word[1] | kKeepAliveFold[1]) == kKeepAliveWord[1]) &
         ((word[2] | kKeepAliveFold[2]) == kKeepAliveWord[2]);
}

// Validates (and fills, when `out` is non-null) the lines of `data` from
// cursor->pos on. Head is RequestHead or ResponseHead. With
// `skip_server_fields`, Server and X-Powered-By lines are validated only;
// with `skip_keep_alive`, an HTTP/1.1 head's "Connection: keep-alive" line
// is passed over (see set_skip_keep_alive).
template <typename Head>
HeadParse Advance(std::string_view data, const Limits& limits, HeadCursor* cursor, Head* out,
                  bool skip_server_fields = false, bool skip_keep_alive = false) {
  constexpr bool kRequest = std::is_same_v<Head, http::RequestHead>;
  const int fail_status = kRequest ? 0 : 502;  // responses: every error is 502
  auto fail = [&](int status, const char* reason) { return Error(fail_status ? fail_status : status, reason); };

  const size_t window = std::min(data.size(), limits.max_head_bytes);
  const char* base = data.data();
  while (true) {
    const size_t pos = cursor->pos;
    const void* lf = pos < window ? std::memchr(base + pos, '\n', window - pos) : nullptr;
    if (lf == nullptr) {
      const std::string_view partial(base + pos, window - pos);
      Failure f;
      const char* reason = "";
      if (!cursor->start_line_seen) {
        if constexpr (kRequest) {
          f = ParseRequestLine(partial, /*complete=*/false, nullptr);
        } else {
          f = ParseStatusLine(partial, /*complete=*/false, nullptr);
        }
      } else if (cursor->header_count >= limits.max_header_count && !partial.empty() && partial != "\r") {
        // Checked before the line's syntax, as for a complete line, so the
        // verdict does not depend on where the bytes were split.
        f = {431, "too many header fields"};
      } else if (!syntax::FieldLinePrefixValid(partial, &reason)) {
        f = {400, reason};
      }
      if (f) return fail(f.status, f.reason);
      if (data.size() >= limits.max_head_bytes) return fail(431, "head too large");
      return HeadParse{};
    }
    const size_t lf_pos = static_cast<const char*>(lf) - base;
    const std::string_view raw_line(base + pos, lf_pos - pos);
    if (cursor->start_line_seen && cursor->header_count >= limits.max_header_count && !raw_line.empty() &&
        raw_line != "\r") {
      return fail(431, "too many header fields");  // same order as for a partial line
    }
    if (raw_line.empty() || raw_line.back() != '\r') return fail(400, "bare LF in head");
    const std::string_view line(base + pos, lf_pos - 1 - pos);
    cursor->pos = lf_pos + 1;

    if (!cursor->start_line_seen) {
      if (line.empty()) {
        // RFC 9112 section 2.2: ignore empty lines before a request line
        // (left over by clients that end a body with an extra CRLF).
        if constexpr (kRequest) continue;
        return fail(502, "empty line before status line");
      }
      Failure f;
      if constexpr (kRequest) {
        f = ParseRequestLine(line, /*complete=*/true, out);
      } else {
        f = ParseStatusLine(line, /*complete=*/true, out);
      }
      if (f) return fail(f.status, f.reason);
      cursor->start_line_seen = true;
      continue;
    }

    if (line.empty()) {
      HeadParse done;
      done.state = ParseState::kDone;
      done.consumed = cursor->pos;
      if constexpr (kRequest) {
        if (out != nullptr) {
          if (Failure f = FinishRequest(out)) return fail(f.status, f.reason);
        }
      }
      return done;
    }
    if (++cursor->header_count > limits.max_header_count) return fail(431, "too many header fields");
    const char* reason = "";
    http::HeaderMap* fields = out != nullptr ? &out->headers : nullptr;
    if (skip_server_fields && fields != nullptr && IsServerField(line)) fields = nullptr;  // (line is not empty here)
    if (skip_keep_alive && fields != nullptr && out->version_major == 1 && out->version_minor == 1 &&
        IsKeepAliveLine(line)) {
      continue;
    }
    if (!syntax::ParseFieldLine(line, fields, &reason)) return fail(400, reason);
  }
}

bool HasHeadTerminator(std::string_view data, const Limits& limits) {
  const size_t window = std::min(data.size(), limits.max_head_bytes);
  if (window < 4) return false;
  // Most reads hold exactly one head (a GET): skip the search then.
  if (window == data.size() && data.ends_with("\r\n\r\n")) return true;
  return memmem(data.data(), window, "\r\n\r\n", 4) != nullptr;
}

template <typename Head>
HeadParse ParseWhole(std::string_view data, const Limits& limits, Head* out, void (*clear)(Head*)) {
  HeadCursor cursor;
  if (!HasHeadTerminator(data, limits)) {
    // Validate only: errors early, no allocation while incomplete.
    HeadParse r = Advance<Head>(data, limits, &cursor, nullptr);
    if (r.state != ParseState::kDone) return r;
    cursor = HeadCursor();  // cannot happen without a terminator; stay correct anyway
  }
  clear(out);
  return Advance<Head>(data, limits, &cursor, out);
}

}  // namespace

HeadParse ParseRequestHead(std::string_view data, const Limits& limits, http::RequestHead* out) {
  return ParseWhole<http::RequestHead>(data, limits, out, &ClearRequest);
}

HeadParse ParseResponseHead(std::string_view data, const Limits& limits, http::ResponseHead* out) {
  return ParseWhole<http::ResponseHead>(data, limits, out, &ClearResponse);
}

HeadParse RequestHeadParser::Parse(std::string_view data, http::RequestHead* out) {
  // The head under construction lives on the heap only while one arrives, so
  // an idle keep-alive connection holds none of it; room for a typical
  // head's fields when a head starts, in a spare list when there is one.
  if (head_ == nullptr) {
    head_ = std::make_unique<http::RequestHead>();
    http::SpareFieldLists::Take(head_->headers, 12);
  }
  HeadParse r = Advance<http::RequestHead>(data, limits_, &cursor_, head_.get());
  if (r.state == ParseState::kDone) {
    std::string scheme = std::move(out->scheme);  // the connection's, not the parser's
    *out = std::move(*head_);
    out->scheme = std::move(scheme);
  }
  if (r.state != ParseState::kIncomplete) Reset();
  return r;
}

void RequestHeadParser::Reset() {
  cursor_ = HeadCursor();
  head_.reset();
}

HeadParse ResponseHeadParser::Parse(std::string_view data, http::ResponseHead* out) {
  // Room for a typical response's fields at once; 12 and not 16 keeps the
  // block under 1 KiB, where glibc serves it from its small bins (1 KiB
  // and up makes it consolidate its fastbins first).
  // A spare list (given back where an earlier head ended) when there is one.
  if (cursor_.pos == 0) http::SpareFieldLists::Take(head_.headers, 12);
  HeadParse r = Advance<http::ResponseHead>(data, limits_, &cursor_, &head_, skip_server_fields_, skip_keep_alive_);
  if (r.state == ParseState::kDone) *out = std::move(head_);
  if (r.state != ParseState::kIncomplete) Reset();
  return r;
}

void ResponseHeadParser::Reset() {
  cursor_ = HeadCursor();
  head_ = http::ResponseHead();
}

}  // namespace sluice::http1
