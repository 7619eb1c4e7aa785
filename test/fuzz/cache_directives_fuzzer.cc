// libFuzzer target: the cache's header field parsers
// (dataplane/cache/directives): Cache-Control, CDN-Cache-Control (an RFC
// 8941 Dictionary), HTTP-dates (Expires, Date, Last-Modified), Age and
// Vary. Properties beyond "no crash, no sanitizer report": every
// delta-seconds result is absent or within [0, 2^31]; an HTTP-date that
// parses formats as an IMF-fixdate that parses back to the same second;
// Vary's names are lower-case tokens, sorted, without duplicates; parsing
// the same lines again gives the same directives.
#include <cstring>
#include <tuple>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/cache/directives/directives.h"
#include "test/fuzz/fuzz_util.h"

namespace cache = sluice::cache;

namespace {

constexpr int64_t kNow = 1764936000;

void CheckDeltas(const cache::CacheControl& cc) {
  for (int64_t v : {cc.max_age, cc.s_maxage, cc.max_stale, cc.min_fresh, cc.stale_while_revalidate, cc.stale_if_error}) {
    FUZZ_CHECK(v == cache::kAbsent || (v >= 0 && v <= cache::kMaxDeltaSeconds));
  }
}

bool Same(const cache::CacheControl& a, const cache::CacheControl& b) {
  // Field by field: padding bytes are not part of the value.
  auto tie = [](const cache::CacheControl& c) {
    return std::make_tuple(c.max_age, c.s_maxage, c.max_stale, c.min_fresh, c.stale_while_revalidate, c.stale_if_error,
                           c.no_store, c.no_cache, c.no_cache_qualified, c.is_private, c.private_qualified, c.is_public,
                           c.must_revalidate, c.proxy_revalidate, c.must_understand, c.no_transform, c.only_if_cached,
                           c.immutable, c.malformed, c.present);
  };
  return tie(a) == tie(b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  std::vector<std::string_view> lines;
  for (size_t start = 0; start <= data.size();) {
    size_t nl = data.find('\n', start);
    if (nl == std::string_view::npos) nl = data.size();
    lines.push_back(data.substr(start, nl - start));
    start = nl + 1;
  }

  cache::CacheControl cc{}, again{};
  for (std::string_view line : lines) cache::ParseCacheControl(line, cc);
  for (std::string_view line : lines) cache::ParseCacheControl(line, again);
  CheckDeltas(cc);
  FUZZ_CHECK(Same(cc, again));

  cache::CacheControl cdn{}, cdn_again{};
  const bool cdn_ok = cache::ParseCdnCacheControl(lines, cdn);
  FUZZ_CHECK(cdn_ok == cache::ParseCdnCacheControl(lines, cdn_again));
  if (cdn_ok) {
    CheckDeltas(cdn);
    FUZZ_CHECK(Same(cdn, cdn_again));
  }

  for (std::string_view line : lines) {
    if (std::optional<int64_t> t = cache::ParseHttpDate(line, kNow)) {
      const std::string formatted = cache::FormatHttpDate(*t);
      FUZZ_CHECK(formatted.size() == 29);
      FUZZ_CHECK(cache::ParseHttpDate(formatted, kNow) == t);
    }
    if (std::optional<int64_t> d = cache::ParseDeltaSeconds(line)) FUZZ_CHECK(*d >= 0 && *d <= cache::kMaxDeltaSeconds);
  }

  cache::VaryFields vary;
  for (std::string_view line : lines) cache::ParseVaryLine(line, vary);
  for (size_t i = 0; i < vary.names.size(); ++i) {
    const std::string& name = vary.names[i];
    FUZZ_CHECK(!name.empty() && name != "*");
    for (char c : name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z') && static_cast<unsigned char>(c) > 0x20 && c != ',');
    if (i > 0) FUZZ_CHECK(vary.names[i - 1] < name);
  }

  // The lines as a response head: "name: value" each.
  sluice::http::HeaderMap headers;
  for (std::string_view line : lines) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    for (char& c : name) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    headers.Add(std::move(name), std::string(value));
  }
  const cache::ResponseDirectives response = cache::ParseResponseDirectives(headers, kNow);
  CheckDeltas(response.cc);
  FUZZ_CHECK(response.age == cache::kAbsent || (response.age >= 0 && response.age <= cache::kMaxDeltaSeconds));
  const cache::RequestDirectives request = cache::ParseRequestDirectives(headers);
  CheckDeltas(request.cc);
  FUZZ_CHECK(!request.pragma_no_cache || request.cc.no_cache);
  return 0;
}
