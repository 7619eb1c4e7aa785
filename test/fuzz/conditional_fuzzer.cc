// libFuzzer target: the conditional-request rules (dataplane/http/conditional),
// which read the client's Range, If-None-Match, If-Match, If-Modified-Since
// and If-Range as they come, for static files and cached responses. The
// input's first byte picks the representation's size (0..255), then lines:
// Range, If-None-Match, If-Match, If-Modified-Since, If-Range, the
// representation's ETag. Properties beyond "no crash, no sanitizer report":
// satisfiable ranges lie inside the representation, at most kMaxByteRanges
// of them; an unsatisfiable one has none; a strong match is also a weak
// one; "*" matches; a parsed date formats and parses back to itself; the
// multipart framing names every range.
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/http/conditional/conditional.h"
#include "test/fuzz/fuzz_util.h"

using namespace sluice::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const uint64_t representation = bytes[0];
  std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  std::vector<std::string_view> lines;
  while (lines.size() < 6) {
    size_t end = data.find('\n');
    lines.push_back(data.substr(0, end));
    if (end == std::string_view::npos) {
      data = {};
    } else {
      data.remove_prefix(end + 1);
    }
  }
  const std::string_view range_value = lines[0], if_none_match = lines[1], if_match = lines[2], since = lines[3],
                         if_range = lines[4], etag = lines[5];

  RangeRequest range = ParseRange(range_value, representation);
  switch (range.kind) {
    case RangeRequest::Kind::kNone:
      FUZZ_CHECK(range.ranges.empty());
      break;
    case RangeRequest::Kind::kUnsatisfiable:
      FUZZ_CHECK(range.ranges.empty());
      break;
    case RangeRequest::Kind::kSatisfiable: {
      FUZZ_CHECK(!range.ranges.empty() && range.ranges.size() <= kMaxByteRanges);
      for (const ByteRange& r : range.ranges) FUZZ_CHECK(r.first <= r.last && r.last < representation);
      MultipartFraming framing = FrameByteranges("text/plain", range.ranges, representation);
      FUZZ_CHECK(framing.part_heads.size() == range.ranges.size());
      for (size_t i = 0; i < range.ranges.size(); ++i) {
        FUZZ_CHECK(framing.part_heads[i].find(ContentRange(range.ranges[i], representation)) != std::string::npos);
      }
      break;
    }
  }

  if (EtagListMatchesStrong(if_none_match, etag)) FUZZ_CHECK(EtagListMatchesWeak(if_none_match, etag));
  FUZZ_CHECK(EtagListMatchesWeak("*", etag));
  FUZZ_CHECK(EtagListMatchesStrong(" * ", etag));

  const time_t date = ParseHttpDate(since);
  if (date >= 0) FUZZ_CHECK(ParseHttpDate(FormatHttpDate(date)) == date);

  HeaderMap request;
  if (!if_none_match.empty()) request.Add("if-none-match", std::string(if_none_match));
  if (!if_match.empty()) request.Add("if-match", std::string(if_match));
  if (!since.empty()) request.Add("if-modified-since", std::string(since));
  if (!if_range.empty()) request.Add("if-range", std::string(if_range));
  const Precondition decided = EvaluatePreconditions(request, etag, date);
  if (!if_match.empty() && !EtagListMatchesStrong(if_match, etag)) FUZZ_CHECK(decided == Precondition::kFailed);
  if (if_range.empty()) FUZZ_CHECK(IfRangeAllows(request, etag, date));
  IfRangeAllows(request, etag, -1);
  return 0;
}
