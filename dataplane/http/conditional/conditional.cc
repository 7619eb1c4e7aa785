#include "dataplane/http/conditional/conditional.h"

#include <charconv>

namespace sluice::http {
namespace {

std::string_view TrimOws(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool ParseNumber(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Calls `each(tag, weak)` for every entity-tag of a list; false when the
// list is "*".
template <typename Each>
bool ForEachEtag(std::string_view list, Each each) {
  if (TrimOws(list) == "*") return false;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view element = TrimOws(list.substr(0, comma));
    bool weak = element.substr(0, 2) == "W/";
    if (weak) element.remove_prefix(2);
    if (element.size() >= 2 && element.front() == '"' && element.back() == '"') each(element, weak);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return true;
}

std::string_view Opaque(std::string_view etag, bool* weak = nullptr) {
  bool is_weak = etag.substr(0, 2) == "W/";
  if (weak != nullptr) *weak = is_weak;
  return is_weak ? etag.substr(2) : etag;
}

}  // namespace

RangeRequest ParseRange(std::string_view value, uint64_t size) {
  RangeRequest none;
  value = TrimOws(value);
  if (value.size() < 6 || value.substr(0, 6) != "bytes=") return none;  // other units: ignored
  value.remove_prefix(6);
  RangeRequest out;
  bool any_syntax = false;
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view spec = TrimOws(value.substr(0, comma));
    if (comma == std::string_view::npos) {
      value = {};
    } else {
      value.remove_prefix(comma + 1);
    }
    if (spec.empty()) continue;
    size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return none;
    std::string_view first_text = TrimOws(spec.substr(0, dash)), last_text = TrimOws(spec.substr(dash + 1));
    uint64_t first = 0, last = 0;
    if (first_text.empty()) {  // suffix: the last N bytes
      if (!ParseNumber(last_text, last)) return none;
      any_syntax = true;
      if (last == 0 || size == 0) continue;
      out.ranges.push_back({last >= size ? 0 : size - last, size - 1});
    } else {
      if (!ParseNumber(first_text, first)) return none;
      if (!last_text.empty()) {
        if (!ParseNumber(last_text, last) || last < first) return none;
      } else {
        last = UINT64_MAX;
      }
      any_syntax = true;
      if (first >= size) continue;
      out.ranges.push_back({first, last >= size ? size - 1 : last});
    }
    if (out.ranges.size() > kMaxByteRanges) return none;
  }
  if (!any_syntax) return none;
  out.kind = out.ranges.empty() ? RangeRequest::Kind::kUnsatisfiable : RangeRequest::Kind::kSatisfiable;
  return out;
}

bool EtagListMatchesWeak(std::string_view list, std::string_view etag) {
  std::string_view mine = Opaque(etag);
  bool matched = false;
  if (!ForEachEtag(list, [&](std::string_view tag, bool) { matched |= tag == mine; })) return true;
  return matched;
}

bool EtagListMatchesStrong(std::string_view list, std::string_view etag) {
  bool mine_weak = false;
  std::string_view mine = Opaque(etag, &mine_weak);
  bool matched = false;
  if (!ForEachEtag(list, [&](std::string_view tag, bool weak) { matched |= !weak && !mine_weak && tag == mine; })) {
    return true;
  }
  return matched;
}

std::string FormatHttpDate(time_t seconds) {
  struct tm utc;
  gmtime_r(&seconds, &utc);
  char text[32];
  size_t n = strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return std::string(text, n);
}

time_t ParseHttpDate(std::string_view text) {
  text = TrimOws(text);
  if (text.size() != 29) return -1;
  std::string copy(text);
  struct tm utc = {};
  const char* end = strptime(copy.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &utc);
  if (end == nullptr || *end != '\0') return -1;
  return timegm(&utc);
}

Precondition EvaluatePreconditions(const HeaderMap& request, std::string_view etag, time_t last_modified) {
  if (const std::string* if_match = request.Get("if-match");
      if_match != nullptr && !EtagListMatchesStrong(*if_match, etag)) {
    return Precondition::kFailed;
  }
  if (const std::string* if_none_match = request.Get("if-none-match")) {
    // When present, If-Modified-Since is not evaluated (13.2.2 step 3).
    return EtagListMatchesWeak(*if_none_match, etag) ? Precondition::kNotModified : Precondition::kServe;
  }
  if (const std::string* since = request.Get("if-modified-since"); since != nullptr && last_modified >= 0) {
    time_t date = ParseHttpDate(*since);
    if (date >= 0 && last_modified <= date) return Precondition::kNotModified;
  }
  return Precondition::kServe;
}

bool IfRangeAllows(const HeaderMap& request, std::string_view etag, time_t last_modified) {
  const std::string* if_range = request.Get("if-range");
  if (if_range == nullptr) return true;
  std::string_view value = TrimOws(*if_range);
  if (!value.empty() && (value.front() == '"' || value.substr(0, 2) == "W/")) {
    bool weak = false;
    std::string_view tag = Opaque(value, &weak);
    return !weak && !etag.empty() && tag == Opaque(etag) && etag.substr(0, 2) != "W/";
  }
  time_t date = ParseHttpDate(value);
  return date >= 0 && last_modified >= 0 && date == last_modified;
}

std::string ContentRange(const ByteRange& range, uint64_t size) {
  return "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" + std::to_string(size);
}

std::string UnsatisfiedContentRange(uint64_t size) { return "bytes */" + std::to_string(size); }

std::string MultipartByterangesType() { return "multipart/byteranges; boundary=" + std::string(kByterangesBoundary); }

MultipartFraming FrameByteranges(std::string_view part_content_type, const std::vector<ByteRange>& ranges,
                                 uint64_t size) {
  MultipartFraming framing;
  framing.part_heads.reserve(ranges.size());
  for (const ByteRange& part : ranges) {
    std::string head = "\r\n--";
    head.append(kByterangesBoundary);
    if (!part_content_type.empty()) {
      head.append("\r\ncontent-type: ");
      head.append(part_content_type);
    }
    head.append("\r\ncontent-range: ");
    head.append(ContentRange(part, size));
    head.append("\r\n\r\n");
    framing.part_heads.push_back(std::move(head));
  }
  framing.closing = "\r\n--" + std::string(kByterangesBoundary) + "--\r\n";
  return framing;
}

HeaderMap NotModifiedFields(const HeaderMap& fields) {
  static constexpr std::string_view kKept[] = {"cache-control", "content-location", "date", "etag",
                                               "expires",       "last-modified",    "vary"};
  HeaderMap out;
  for (const Header& field : fields.entries()) {
    for (std::string_view kept : kKept) {
      if (field.name == kept) {
        out.Add(field.name, field.value);
        break;
      }
    }
  }
  return out;
}

}  // namespace sluice::http
