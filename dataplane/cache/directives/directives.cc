#include "dataplane/cache/directives/directives.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <limits>

namespace sluice::cache {
namespace {

bool IsTchar(char c) {
  // RFC 9110 §5.6.2 tchar.
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}
bool IsOws(char c) { return c == ' ' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// A directive's argument as it was written.
struct Argument {
  bool present = false;
  bool quoted = false;
  bool valid = true;        // the quoted-string was well formed
  std::string_view text;    // without the quotes; escapes left in
};

// The directives that take delta-seconds, and what a bad value means.
enum class Name : uint8_t {
  kUnknown, kMaxAge, kSMaxAge, kMaxStale, kMinFresh, kStaleWhileRevalidate, kStaleIfError,
  kNoStore, kNoCache, kPrivate, kPublic, kMustRevalidate, kProxyRevalidate, kMustUnderstand,
  kNoTransform, kOnlyIfCached, kImmutable,
};

Name Classify(std::string_view name) {
  struct Entry { std::string_view text; Name name; };
  static constexpr std::array<Entry, 16> kNames = {{
      {"max-age", Name::kMaxAge}, {"s-maxage", Name::kSMaxAge}, {"max-stale", Name::kMaxStale},
      {"min-fresh", Name::kMinFresh}, {"stale-while-revalidate", Name::kStaleWhileRevalidate},
      {"stale-if-error", Name::kStaleIfError}, {"no-store", Name::kNoStore}, {"no-cache", Name::kNoCache},
      {"private", Name::kPrivate}, {"public", Name::kPublic}, {"must-revalidate", Name::kMustRevalidate},
      {"proxy-revalidate", Name::kProxyRevalidate}, {"must-understand", Name::kMustUnderstand},
      {"no-transform", Name::kNoTransform}, {"only-if-cached", Name::kOnlyIfCached},
      {"immutable", Name::kImmutable},
  }};
  for (const Entry& e : kNames) {
    if (http::EqualsIgnoreCase(e.text, name)) return e.name;
  }
  return Name::kUnknown;
}

// Keeps the smaller of two values (kAbsent is no value).
void KeepMin(int64_t& slot, int64_t value) {
  if (slot == kAbsent || value < slot) slot = value;
}
void KeepMax(int64_t& slot, int64_t value) {
  if (slot == kAbsent || value > slot) slot = value;
}

// The value of a delta-seconds argument: nullopt when absent or invalid.
std::optional<int64_t> DeltaOf(const Argument& arg) {
  if (!arg.present || !arg.valid) return std::nullopt;
  return ParseDeltaSeconds(arg.text);
}

// Applies one Cache-Control directive. `delta` is set for directives whose
// argument parsed as delta-seconds (or as an SF Integer >= 0).
void Apply(Name name, bool has_argument, std::optional<int64_t> delta, CacheControl& out) {
  out.present = true;
  switch (name) {
    case Name::kMaxAge:
    case Name::kSMaxAge: {
      // Invalid freshness information: stale (§4.2.1).
      int64_t value = delta.value_or(0);
      if (!delta) out.malformed = true;
      KeepMin(name == Name::kMaxAge ? out.max_age : out.s_maxage, value);
      break;
    }
    case Name::kMaxStale:
      // No value: any staleness; an invalid one: ignored (accept none).
      if (!has_argument) KeepMin(out.max_stale, kAnyStale);
      else if (delta) KeepMin(out.max_stale, *delta);
      else out.malformed = true;
      break;
    case Name::kMinFresh:
      if (delta) KeepMax(out.min_fresh, *delta);
      else out.malformed = true;
      break;
    case Name::kStaleWhileRevalidate:
      if (delta) KeepMin(out.stale_while_revalidate, *delta);
      else out.malformed = true;
      break;
    case Name::kStaleIfError:
      if (delta) KeepMin(out.stale_if_error, *delta);
      else out.malformed = true;
      break;
    // Restrictive flags hold whatever their argument.
    case Name::kNoStore: out.no_store = true; break;
    case Name::kNoCache:
      out.no_cache = true;
      out.no_cache_qualified |= has_argument;
      break;
    case Name::kPrivate:
      out.is_private = true;
      out.private_qualified |= has_argument;
      break;
    case Name::kMustRevalidate: out.must_revalidate = true; break;
    case Name::kProxyRevalidate: out.proxy_revalidate = true; break;
    // Permissive flags with an argument they do not take are ignored.
    case Name::kPublic:
      if (has_argument) out.malformed = true;
      else out.is_public = true;
      break;
    case Name::kMustUnderstand: if (!has_argument) out.must_understand = true; break;
    case Name::kNoTransform: out.no_transform = true; break;
    case Name::kOnlyIfCached: out.only_if_cached = true; break;
    case Name::kImmutable: if (!has_argument) out.immutable = true; break;
    case Name::kUnknown: break;  // extensions are ignored (§5.2.3)
  }
}

// A quoted-string (RFC 9110 §5.6.4) starting at line[i] == '"'; returns
// the index after the closing quote, or npos when it is not closed.
size_t SkipQuoted(std::string_view line, size_t i, bool* valid) {
  *valid = true;
  for (++i; i < line.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if (c == '"') return i + 1;
    if (c == '\\') {
      if (++i == line.size()) return std::string_view::npos;
      const unsigned char e = static_cast<unsigned char>(line[i]);
      if (e < 0x20 && e != '\t') *valid = false;
      if (e == 0x7f) *valid = false;
      continue;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7f) *valid = false;
  }
  return std::string_view::npos;
}

// Skips to the next top-level comma (quoted strings skipped whole).
size_t SkipElement(std::string_view line, size_t i) {
  while (i < line.size() && line[i] != ',') {
    if (line[i] == '"') {
      bool valid;
      size_t end = SkipQuoted(line, i, &valid);
      if (end == std::string_view::npos) return line.size();
      i = end;
    } else {
      ++i;
    }
  }
  return i;
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's days_from_civil.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                                       "Friday", "Saturday", "Sunday"};

int MonthOf(std::string_view text) {
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (kMonths[i] == text) return static_cast<int>(i) + 1;
  }
  return 0;
}

bool Digits(std::string_view text, size_t pos, size_t n, int& value) {
  if (pos + n > text.size()) return false;
  value = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!IsDigit(text[pos + i])) return false;
    value = value * 10 + (text[pos + i] - '0');
  }
  return true;
}

// "HH:MM:SS" at pos.
bool TimeOfDay(std::string_view text, size_t pos, int& h, int& m, int& s) {
  return Digits(text, pos, 2, h) && pos + 2 < text.size() && text[pos + 2] == ':' && Digits(text, pos + 3, 2, m) &&
         text[pos + 5] == ':' && Digits(text, pos + 6, 2, s);
}

std::optional<int64_t> Assemble(int64_t year, int month, int day, int h, int m, int s) {
  static constexpr int kMonthDays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > kMonthDays[month - 1]) return std::nullopt;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month == 2 && day == 29 && !leap) return std::nullopt;
  // RFC 9110's time-of-day allows a leap second (60): it is read as 59.
  if (h > 23 || m > 59 || s > 60) return std::nullopt;
  if (s == 60) s = 59;
  return DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 + h * 3600 + m * 60 + s;
}

}  // namespace

std::optional<int64_t> ParseDeltaSeconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (!IsDigit(c)) return std::nullopt;
    if (value < kMaxDeltaSeconds) value = value * 10 + (c - '0');
  }
  return std::min(value, kMaxDeltaSeconds);
}

void ParseCacheControl(std::string_view line, CacheControl& out) {
  size_t i = 0;
  while (i < line.size()) {
    // Empty list elements and the OWS around them (RFC 9110 §5.6.1).
    while (i < line.size() && (IsOws(line[i]) || line[i] == ',')) ++i;
    if (i == line.size()) break;
    const size_t name_start = i;
    while (i < line.size() && IsTchar(line[i])) ++i;
    const std::string_view name = line.substr(name_start, i - name_start);
    if (name.empty()) {
      out.malformed = true;
      i = SkipElement(line, i);
      continue;
    }
    Argument arg;
    bool element_ok = true;
    if (i < line.size() && line[i] == '=') {
      ++i;
      arg.present = true;
      if (i < line.size() && line[i] == '"') {
        arg.quoted = true;
        const size_t end = SkipQuoted(line, i, &arg.valid);
        if (end == std::string_view::npos) {
          arg.valid = false;
          element_ok = false;
          i = line.size();
        } else {
          arg.text = line.substr(i + 1, end - i - 2);
          // A backslash in a delta-seconds or field list: take the text
          // literally (escapes in such values are not digits or tokens).
          i = end;
        }
      } else {
        const size_t start = i;
        while (i < line.size() && IsTchar(line[i])) ++i;
        arg.text = line.substr(start, i - start);
        if (arg.text.empty()) arg.valid = false;
      }
    }
    // After the element: OWS, then a comma or the end.
    while (i < line.size() && IsOws(line[i])) ++i;
    if (i < line.size() && line[i] != ',') {
      element_ok = false;
      arg.valid = false;
      i = SkipElement(line, i);
    }
    if (!element_ok || !arg.valid) out.malformed = true;
    const Name known = Classify(name);
    Apply(known, arg.present, DeltaOf(arg), out);
  }
}

namespace {

// RFC 8941 parsing, only as far as a Dictionary of cache directives needs.
class SfParser {
 public:
  explicit SfParser(std::string_view text) : t_(text) {}

  struct Member {
    std::string_view key;
    enum Kind : uint8_t { kTrue, kFalse, kInteger, kOther } kind = kTrue;
    int64_t integer = 0;
  };

  // Appends the members; false on a syntax error.
  bool Dictionary(std::vector<Member>& members) {
    SkipSp();
    if (i_ == t_.size()) return true;  // an empty field is an empty dictionary
    while (true) {
      Member m;
      if (!Key(m.key)) return false;
      if (i_ < t_.size() && t_[i_] == '=') {
        ++i_;
        if (i_ < t_.size() && t_[i_] == '(') {
          if (!InnerList()) return false;
          m.kind = Member::kOther;
        } else if (!BareItem(m)) {
          return false;
        }
      }
      if (!Parameters()) return false;
      members.push_back(m);
      SkipOws();
      if (i_ == t_.size()) return true;
      if (t_[i_] != ',') return false;
      ++i_;
      SkipOws();
      if (i_ == t_.size()) return false;  // trailing comma
    }
  }

 private:
  void SkipSp() { while (i_ < t_.size() && t_[i_] == ' ') ++i_; }
  void SkipOws() { while (i_ < t_.size() && IsOws(t_[i_])) ++i_; }
  static bool IsLcalpha(char c) { return c >= 'a' && c <= 'z'; }

  bool Key(std::string_view& key) {
    const size_t start = i_;
    if (i_ == t_.size() || !(IsLcalpha(t_[i_]) || t_[i_] == '*')) return false;
    ++i_;
    while (i_ < t_.size() && (IsLcalpha(t_[i_]) || IsDigit(t_[i_]) || t_[i_] == '_' || t_[i_] == '-' ||
                              t_[i_] == '.' || t_[i_] == '*')) {
      ++i_;
    }
    key = t_.substr(start, i_ - start);
    return true;
  }

  bool BareItem(Member& m) {
    if (i_ == t_.size()) return false;
    const char c = t_[i_];
    if (c == '-' || IsDigit(c)) return Number(m);
    m.kind = Member::kOther;
    if (c == '"') return String();
    if (c == '?') {
      if (i_ + 1 >= t_.size() || (t_[i_ + 1] != '0' && t_[i_ + 1] != '1')) return false;
      m.kind = t_[i_ + 1] == '1' ? Member::kTrue : Member::kFalse;
      i_ += 2;
      return true;
    }
    if (c == ':') {  // byte sequence
      for (++i_; i_ < t_.size() && t_[i_] != ':'; ++i_) {
        const char b = t_[i_];
        if (!(IsLcalpha(b) || (b >= 'A' && b <= 'Z') || IsDigit(b) || b == '+' || b == '/' || b == '=')) return false;
      }
      if (i_ == t_.size()) return false;
      ++i_;
      return true;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*') {  // token
      for (++i_; i_ < t_.size() && (IsTchar(t_[i_]) || t_[i_] == ':' || t_[i_] == '/'); ++i_) {
      }
      return true;
    }
    return false;
  }

  bool Number(Member& m) {
    bool negative = false;
    if (t_[i_] == '-') {
      negative = true;
      ++i_;
    }
    const size_t start = i_;
    int64_t value = 0;
    while (i_ < t_.size() && IsDigit(t_[i_])) {
      if (i_ - start >= 15) return false;  // sf-integer: at most 15 digits
      value = value * 10 + (t_[i_] - '0');
      ++i_;
    }
    if (i_ == start) return false;
    if (i_ < t_.size() && t_[i_] == '.') {  // decimal: at most 12 + 3 digits
      if (i_ - start > 12) return false;
      const size_t frac = ++i_;
      while (i_ < t_.size() && IsDigit(t_[i_])) ++i_;
      if (i_ == frac || i_ - frac > 3) return false;
      m.kind = Member::kOther;
      return true;
    }
    m.kind = Member::kInteger;
    m.integer = negative ? -value : value;
    return true;
  }

  bool String() {
    for (++i_; i_ < t_.size(); ++i_) {
      const unsigned char c = static_cast<unsigned char>(t_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c == '\\') {
        if (++i_ == t_.size() || (t_[i_] != '"' && t_[i_] != '\\')) return false;
      } else if (c < 0x20 || c >= 0x7f) {
        return false;
      }
    }
    return false;
  }

  bool InnerList() {
    ++i_;  // '('
    while (true) {
      SkipSp();
      if (i_ == t_.size()) return false;
      if (t_[i_] == ')') {
        ++i_;
        return Parameters();
      }
      Member ignored;
      if (!BareItem(ignored) || !Parameters()) return false;
      if (i_ == t_.size() || (t_[i_] != ' ' && t_[i_] != ')')) return false;
    }
  }

  bool Parameters() {
    while (i_ < t_.size() && t_[i_] == ';') {
      ++i_;
      SkipSp();
      std::string_view key;
      if (!Key(key)) return false;
      if (i_ < t_.size() && t_[i_] == '=') {
        ++i_;
        Member ignored;
        if (!BareItem(ignored)) return false;
      }
    }
    return true;
  }

  std::string_view t_;
  size_t i_ = 0;
};

}  // namespace

bool ParseCdnCacheControl(const std::vector<std::string_view>& lines, CacheControl& out) {
  std::vector<SfParser::Member> members;
  members.reserve(8);
  for (std::string_view line : lines) {
    SfParser parser(line);
    if (!parser.Dictionary(members)) return false;
    // RFC 8941 §4.2: combined lines must still be one valid dictionary;
    // parsing line by line accepts the same inputs except an empty line
    // between others, which joined gives ", ," (invalid).
    if (lines.size() > 1) {
      size_t k = 0;
      while (k < line.size() && IsOws(line[k])) ++k;
      if (k == line.size()) return false;
    }
  }
  if (members.size() > 64) return false;  // not a cache's directives
  out = CacheControl{};
  out.present = true;
  for (size_t i = 0; i < members.size(); ++i) {
    const SfParser::Member& m = members[i];
    // A later member with the same key overrides this one (RFC 8941 §4.2.2).
    bool overridden = false;
    for (size_t j = i + 1; j < members.size() && !overridden; ++j) overridden = members[j].key == m.key;
    if (overridden || m.kind == SfParser::Member::kFalse) continue;
    const bool has_argument = m.kind != SfParser::Member::kTrue;
    std::optional<int64_t> delta;
    if (m.kind == SfParser::Member::kInteger && m.integer >= 0) delta = std::min(m.integer, kMaxDeltaSeconds);
    if (has_argument && !delta) out.malformed = true;
    Apply(Classify(m.key), has_argument, delta, out);
  }
  return true;
}

std::optional<int64_t> ParseHttpDate(std::string_view t, int64_t now) {
  int day = 0, year = 0, h = 0, m = 0, s = 0;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes).
  if (t.size() == 29 && t[3] == ',') {
    if (std::find(kDays.begin(), kDays.end(), t.substr(0, 3)) == kDays.end()) return std::nullopt;
    if (t[4] != ' ' || !Digits(t, 5, 2, day) || t[7] != ' ' || t[11] != ' ' || !Digits(t, 12, 4, year) ||
        t[16] != ' ' || !TimeOfDay(t, 17, h, m, s) || t.substr(25) != " GMT") {
      return std::nullopt;
    }
    return Assemble(year, MonthOf(t.substr(8, 3)), day, h, m, s);
  }
  // asctime: "Sun Nov  6 08:49:37 1994" (24 bytes).
  if (t.size() == 24 && t[3] == ' ') {
    if (std::find(kDays.begin(), kDays.end(), t.substr(0, 3)) == kDays.end()) return std::nullopt;
    if (t[7] != ' ') return std::nullopt;
    if (t[8] == ' ') {
      if (!Digits(t, 9, 1, day)) return std::nullopt;
    } else if (!Digits(t, 8, 2, day)) {
      return std::nullopt;
    }
    if (t[10] != ' ' || !TimeOfDay(t, 11, h, m, s) || t[19] != ' ' || !Digits(t, 20, 4, year)) return std::nullopt;
    return Assemble(year, MonthOf(t.substr(4, 3)), day, h, m, s);
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT".
  const size_t comma = t.find(',');
  if (comma == std::string_view::npos ||
      std::find(kLongDays.begin(), kLongDays.end(), t.substr(0, comma)) == kLongDays.end()) {
    return std::nullopt;
  }
  const std::string_view rest = t.substr(comma);
  // ", 06-Nov-94 08:49:37 GMT" (24 bytes)
  if (rest.size() != 24 || rest[1] != ' ' || !Digits(rest, 2, 2, day) || rest[4] != '-' || rest[8] != '-' ||
      !Digits(rest, 9, 2, year) || rest[11] != ' ' || !TimeOfDay(rest, 12, h, m, s) || rest.substr(20) != " GMT") {
    return std::nullopt;
  }
  // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is
  // the most recent year in the past with those digits.
  int64_t now_year;
  unsigned nm, nd;
  CivilFromDays(now >= 0 ? now / 86400 : (now - 86399) / 86400, now_year, nm, nd);
  int64_t full = now_year - now_year % 100 + year;
  if (full > now_year + 50) full -= 100;
  return Assemble(full, MonthOf(rest.substr(5, 3)), day, h, m, s);
}

std::string FormatHttpDate(int64_t seconds) {
  const int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
  const int64_t rem = seconds - days * 86400;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, y, m, d);
  // 1970-01-01 was a Thursday (index 3 with Monday first).
  const int64_t weekday = ((days % 7) + 7 + 3) % 7;
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%s, %02u %s %04lld %02d:%02d:%02d GMT", kDays[weekday].data(), d,
                kMonths[m - 1].data(), static_cast<long long>(y), static_cast<int>(rem / 3600),
                static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  return std::string(buffer);
}

namespace {

// The first member of a list-valued singleton field (Age, RFC 9111 §5.1).
std::string_view FirstMember(std::string_view value) {
  const size_t comma = value.find(',');
  std::string_view first = value.substr(0, comma);
  while (!first.empty() && IsOws(first.back())) first.remove_suffix(1);
  while (!first.empty() && IsOws(first.front())) first.remove_prefix(1);
  return first;
}

}  // namespace

ResponseDirectives ParseResponseDirectives(const http::HeaderMap& headers, int64_t now) {
  ResponseDirectives out;
  std::vector<std::string_view> cdn;
  bool has_cache_control = false;
  const std::string* first_expires = nullptr;
  const std::string* first_date = nullptr;
  const std::string* first_age = nullptr;
  const std::string* first_last_modified = nullptr;
  bool expires_conflict = false;
  for (const http::Header& field : headers.entries()) {
    const std::string& name = field.name;
    if (name == "cache-control") {
      has_cache_control = true;
    } else if (name == "cdn-cache-control") {
      cdn.push_back(field.value);
    } else if (name == "expires") {
      if (first_expires == nullptr) first_expires = &field.value;
      else if (*first_expires != field.value) expires_conflict = true;
    } else if (name == "date") {
      if (first_date == nullptr) first_date = &field.value;
    } else if (name == "age") {
      if (first_age == nullptr) first_age = &field.value;
    } else if (name == "last-modified") {
      if (first_last_modified == nullptr) first_last_modified = &field.value;
    } else if (name == "set-cookie") {
      out.has_set_cookie = true;
    } else if (name == "vary") {
      out.has_vary = true;
    }
  }
  if (!cdn.empty() && ParseCdnCacheControl(cdn, out.cc)) {
    out.from_cdn_cache_control = true;
  } else if (has_cache_control) {
    out.cc = CacheControl{};
    for (const http::Header& field : headers.entries()) {
      if (field.name == "cache-control") ParseCacheControl(field.value, out.cc);
    }
  }
  if (first_date != nullptr) out.date = ParseHttpDate(*first_date, now);
  if (first_expires != nullptr) {
    out.has_expires = true;
    std::optional<int64_t> expires = expires_conflict ? std::nullopt : ParseHttpDate(*first_expires, now);
    // Invalid: "already expired" (§5.3), i.e. no later than Date.
    out.expires = expires ? *expires : std::numeric_limits<int64_t>::min() / 4;
  }
  if (first_age != nullptr) {
    if (std::optional<int64_t> age = ParseDeltaSeconds(FirstMember(*first_age))) out.age = *age;
  }
  if (first_last_modified != nullptr) out.last_modified = ParseHttpDate(*first_last_modified, now);
  return out;
}

RequestDirectives ParseRequestDirectives(const http::HeaderMap& headers) {
  RequestDirectives out;
  bool has_cache_control = false;
  bool pragma = false;
  for (const http::Header& field : headers.entries()) {
    if (field.name == "cache-control") {
      has_cache_control = true;
      ParseCacheControl(field.value, out.cc);
    } else if (field.name == "pragma") {
      // Pragma = #pragma-directive; only "no-cache" means anything.
      std::string_view v = field.value;
      size_t i = 0;
      while (i < v.size()) {
        while (i < v.size() && (IsOws(v[i]) || v[i] == ',')) ++i;
        const size_t start = i;
        while (i < v.size() && v[i] != ',' && !IsOws(v[i])) ++i;
        if (http::EqualsIgnoreCase(v.substr(start, i - start), "no-cache")) pragma = true;
        while (i < v.size() && v[i] != ',') ++i;
      }
    } else if (field.name == "authorization") {
      out.has_authorization = true;
    }
  }
  if (pragma && !has_cache_control) {
    out.pragma_no_cache = true;
    out.cc.no_cache = true;
  }
  return out;
}

void ParseVaryLine(std::string_view line, VaryFields& out) {
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (IsOws(line[i]) || line[i] == ',')) ++i;
    if (i == line.size()) break;
    const size_t start = i;
    while (i < line.size() && IsTchar(line[i])) ++i;
    std::string_view name = line.substr(start, i - start);
    while (i < line.size() && IsOws(line[i])) ++i;
    if (name.empty() || (i < line.size() && line[i] != ',')) {
      out.malformed = true;
      while (i < line.size() && line[i] != ',') ++i;
      continue;
    }
    if (name == "*") {
      out.any = true;
      continue;
    }
    std::string lower(name.size(), '\0');
    for (size_t k = 0; k < name.size(); ++k) lower[k] = Lower(name[k]);
    auto at = std::lower_bound(out.names.begin(), out.names.end(), lower);
    if (at == out.names.end() || *at != lower) out.names.insert(at, std::move(lower));
  }
}

VaryFields ParseVary(const http::HeaderMap& headers) {
  VaryFields out;
  for (const http::Header& field : headers.entries()) {
    if (field.name == "vary") ParseVaryLine(field.value, out);
  }
  return out;
}

}  // namespace sluice::cache
