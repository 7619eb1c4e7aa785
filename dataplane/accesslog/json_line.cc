#include "dataplane/accesslog/json_line.h"

#include <array>
#include <charconv>
#include <cstring>

namespace sluice::accesslog {
namespace {

// Bytes that can be copied into a JSON string unchanged. Everything else is
// either an ASCII byte that must be escaped or the start of a (maybe invalid)
// UTF-8 sequence.
constexpr std::array<bool, 256> MakePlainTable() {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x7f; ++c) plain[c] = true;
  plain['"'] = false;
  plain['\\'] = false;
  return plain;
}
constexpr std::array<bool, 256> kPlain = MakePlainTable();

constexpr char kHexDigits[] = "0123456789abcdef";

// Formatting writes through a raw cursor into space reserved up front (see
// AppendJsonLine): std::string::append per piece costs a capacity check and a
// call each time, which was most of the cost of a line.
template <size_t N>
char* PutLiteral(char* at, const char (&text)[N]) {
  std::memcpy(at, text, N - 1);  // constant size: compiles to a few moves
  return at + N - 1;
}

char* PutByteEscape(char* at, unsigned char c) {
  at[0] = '\\';
  at[1] = 'u';
  at[2] = '0';
  at[3] = '0';
  at[4] = kHexDigits[c >> 4];
  at[5] = kHexDigits[c & 0xf];
  return at + 6;
}

char* PutAsciiEscape(char* at, unsigned char c) {
  char short_form = 0;
  switch (c) {
    case '"': short_form = '"'; break;
    case '\\': short_form = '\\'; break;
    case '\n': short_form = 'n'; break;
    case '\r': short_form = 'r'; break;
    case '\t': short_form = 't'; break;
    case '\b': short_form = 'b'; break;
    case '\f': short_form = 'f'; break;
    default: return PutByteEscape(at, c);  // other controls and DEL
  }
  at[0] = '\\';
  at[1] = short_form;
  return at + 2;
}

// An escaped byte takes at most 6 characters (\u00XX).
constexpr size_t kMaxEscapedBytesPerByte = 6;

bool IsContinuation(unsigned char c) { return (c & 0xc0) == 0x80; }

// Length of the well-formed UTF-8 sequence at `p` (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 if there is none.
size_t ValidUtf8Length(const unsigned char* p, const unsigned char* end) {
  const unsigned char lead = p[0];
  const size_t available = static_cast<size_t>(end - p);
  if (lead >= 0xc2 && lead <= 0xdf) {
    return available >= 2 && IsContinuation(p[1]) ? 2 : 0;
  }
  if (lead >= 0xe0 && lead <= 0xef) {
    if (available < 3 || !IsContinuation(p[2])) return 0;
    const unsigned char lo = lead == 0xe0 ? 0xa0 : 0x80;  // overlong
    const unsigned char hi = lead == 0xed ? 0x9f : 0xbf;  // surrogates
    return p[1] >= lo && p[1] <= hi ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    if (available < 4 || !IsContinuation(p[2]) || !IsContinuation(p[3])) return 0;
    const unsigned char lo = lead == 0xf0 ? 0x90 : 0x80;  // overlong
    const unsigned char hi = lead == 0xf4 ? 0x8f : 0xbf;  // > U+10FFFF
    return p[1] >= lo && p[1] <= hi ? 4 : 0;
  }
  return 0;
}

char* PutUnsigned(char* at, uint64_t value) { return std::to_chars(at, at + 20, value).ptr; }

// Seconds with millisecond resolution, like nginx's $request_time, formatted
// from an integer count of milliseconds (cheaper than floating-point
// to_chars). Clamped so that NaN, infinities or garbage can never produce
// invalid JSON.
char* PutSeconds(char* at, double seconds) {
  if (!(seconds >= 0)) seconds = 0;  // also catches NaN
  if (seconds > 1e9) seconds = 1e9;
  const auto millis = static_cast<uint64_t>(seconds * 1000 + 0.5);
  at = PutUnsigned(at, millis / 1000);
  const auto fraction = static_cast<unsigned>(millis % 1000);
  at[0] = '.';
  at[1] = static_cast<char>('0' + fraction / 100);
  at[2] = static_cast<char>('0' + fraction / 10 % 10);
  at[3] = static_cast<char>('0' + fraction % 10);
  return at + 4;
}

void Put2(char* at, unsigned value) {
  at[0] = static_cast<char>('0' + value / 10 % 10);
  at[1] = static_cast<char>('0' + value % 10);
}

// "YYYY-MM-DDTHH:MM:SS" for one second, cached per thread: a worker logs many
// requests per second, so the calendar arithmetic runs about once a second.
// (Pure arithmetic on purpose: gmtime_r takes glibc's timezone lock.)
struct SecondPrefix {
  int64_t second = INT64_MIN;
  char text[19];
};

const char* TimestampPrefix(int64_t unix_second) {
  thread_local SecondPrefix cache;
  if (cache.second == unix_second) return cache.text;
  using namespace std::chrono;
  const sys_seconds tp{seconds{unix_second}};
  const sys_days day = floor<days>(tp);
  const year_month_day date{day};
  const hh_mm_ss<seconds> time{tp - day};
  int year = static_cast<int>(date.year());
  year = year < 0 ? 0 : (year > 9999 ? 9999 : year);
  char* t = cache.text;
  Put2(t, static_cast<unsigned>(year / 100));
  Put2(t + 2, static_cast<unsigned>(year % 100));
  t[4] = '-';
  Put2(t + 5, static_cast<unsigned>(date.month()));
  t[7] = '-';
  Put2(t + 8, static_cast<unsigned>(date.day()));
  t[10] = 'T';
  Put2(t + 11, static_cast<unsigned>(time.hours().count()));
  t[13] = ':';
  Put2(t + 14, static_cast<unsigned>(time.minutes().count()));
  t[16] = ':';
  Put2(t + 17, static_cast<unsigned>(time.seconds().count()));
  cache.second = unix_second;
  return cache.text;
}

// "2026-11-26T13:55:25.835Z" (24 characters).
char* PutTimestamp(char* at, std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  const int64_t millis = floor<milliseconds>(when.time_since_epoch()).count();
  int64_t second = millis / 1000;
  int64_t milli = millis % 1000;
  if (milli < 0) {  // before 1970: floor, not truncate
    milli += 1000;
    --second;
  }
  std::memcpy(at, TimestampPrefix(second), 19);
  at[19] = '.';
  at[20] = static_cast<char>('0' + milli / 100);
  Put2(at + 21, static_cast<unsigned>(milli % 100));
  at[23] = 'Z';
  return at + 24;
}

// True if none of the 8 bytes at `p` needs a look: no control character,
// quote, backslash, DEL or non-ASCII byte. (Word-at-a-time tests from "Bit
// Twiddling Hacks"; a false "no" only sends bytes down the byte-wise path.)
bool EightPlainBytes(const unsigned char* p) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighBits = 0x8080808080808080ULL;
  uint64_t word;
  std::memcpy(&word, p, 8);
  const uint64_t quote = word ^ (kOnes * '"');
  const uint64_t backslash = word ^ (kOnes * '\\');
  const uint64_t below_space = (word - kOnes * 0x20) & ~word;
  const uint64_t is_quote = (quote - kOnes) & ~quote;
  const uint64_t is_backslash = (backslash - kOnes) & ~backslash;
  const uint64_t del_or_high = (word + kOnes) | word;  // 0x7f becomes 0x80
  return ((below_space | is_quote | is_backslash | del_or_high) & kHighBits) == 0;
}

// Writes `text` quoted and escaped; needs 2 + kMaxEscapedBytesPerByte *
// text.size() bytes of room.
char* PutJsonString(char* at, std::string_view text) {
  *at++ = '"';
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    if (end - p >= 8 && EightPlainBytes(p)) {
      std::memcpy(at, p, 8);
      at += 8;
      p += 8;
      continue;
    }
    const unsigned char c = *p;
    if (kPlain[c]) {
      *at++ = static_cast<char>(c);
      ++p;
    } else if (c < 0x80) {
      at = PutAsciiEscape(at, c);
      ++p;
    } else {
      const size_t length = ValidUtf8Length(p, end);
      // U+2028/U+2029 are valid JSON but line terminators to JavaScript and
      // some log tooling: escape them too.
      if (length == 3 && c == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
        at = PutLiteral(at, "\\u202");
        *at++ = p[2] == 0xa8 ? '8' : '9';
        p += 3;
      } else if (length != 0) {
        std::memcpy(at, p, length);
        at += length;
        p += length;
      } else {
        at = PutByteEscape(at, c);
        ++p;
      }
    }
  }
  *at++ = '"';
  return at;
}

constexpr size_t MaxJsonStringSize(std::string_view text) { return 2 + kMaxEscapedBytesPerByte * text.size(); }

}  // namespace

void AppendJsonString(std::string_view text, std::string& out) {
  const size_t old_size = out.size();
  out.resize(old_size + MaxJsonStringSize(text));
  char* end = PutJsonString(out.data() + old_size, text);
  out.resize(static_cast<size_t>(end - out.data()));
}

void AppendJsonLine(const Entry& entry, std::string& out) {
  // Grow once to the worst case (every string byte escaped as \u00XX), write
  // through a cursor, then trim to what was written.
  constexpr size_t kFixedMax = 296;  // keys, punctuation, timestamp, numbers: ~263 at most
  const size_t old_size = out.size();
  out.resize(old_size + kFixedMax + MaxJsonStringSize(entry.client_address) + MaxJsonStringSize(entry.peer_address) +
             MaxJsonStringSize(entry.method) +
             MaxJsonStringSize(entry.host) + MaxJsonStringSize(entry.path) +
             MaxJsonStringSize(entry.upstream_address) + MaxJsonStringSize(entry.snapshot_version) +
             MaxJsonStringSize(entry.route_origin) + MaxJsonStringSize(entry.error) +
             MaxJsonStringSize(entry.cache) + 10 /* ,"cache": */);
  char* at = out.data() + old_size;
  at = PutLiteral(at, "{\"time\":\"");
  at = PutTimestamp(at, entry.start);
  at = PutLiteral(at, "\",\"client\":");
  at = PutJsonString(at, entry.client_address);
  if (!entry.peer_address.empty()) {
    at = PutLiteral(at, ",\"peer\":");
    at = PutJsonString(at, entry.peer_address);
  }
  at = PutLiteral(at, ",\"method\":");
  at = PutJsonString(at, entry.method);
  at = PutLiteral(at, ",\"host\":");
  at = PutJsonString(at, entry.host);
  at = PutLiteral(at, ",\"path\":");
  at = PutJsonString(at, entry.path);
  at = PutLiteral(at, ",\"status\":");
  at = PutUnsigned(at, entry.status > 0 ? static_cast<uint64_t>(entry.status) : 0);
  at = PutLiteral(at, ",\"bytes_in\":");
  at = PutUnsigned(at, entry.bytes_in);
  at = PutLiteral(at, ",\"bytes_out\":");
  at = PutUnsigned(at, entry.bytes_out);
  if (!entry.upstream_address.empty()) {
    at = PutLiteral(at, ",\"upstream\":");
    at = PutJsonString(at, entry.upstream_address);
  }
  if (entry.upstream_attempts > 1) {
    at = PutLiteral(at, ",\"attempts\":");
    at = PutUnsigned(at, static_cast<uint64_t>(entry.upstream_attempts));
  }
  if (entry.upstream_seconds >= 0) {
    at = PutLiteral(at, ",\"upstream_time\":");
    at = PutSeconds(at, entry.upstream_seconds);
  }
  at = PutLiteral(at, ",\"total_time\":");
  at = PutSeconds(at, entry.total_seconds);
  if (!entry.snapshot_version.empty()) {
    at = PutLiteral(at, ",\"version\":");
    at = PutJsonString(at, entry.snapshot_version);
  }
  if (!entry.route_origin.empty()) {
    at = PutLiteral(at, ",\"route\":");
    at = PutJsonString(at, entry.route_origin);
  }
  if (!entry.error.empty()) {
    at = PutLiteral(at, ",\"error\":");
    at = PutJsonString(at, entry.error);
  }
  if (!entry.cache.empty()) {
    at = PutLiteral(at, ",\"cache\":");
    at = PutJsonString(at, entry.cache);
  }
  at = PutLiteral(at, "}\n");
  out.resize(static_cast<size_t>(at - out.data()));
}

}  // namespace sluice::accesslog
