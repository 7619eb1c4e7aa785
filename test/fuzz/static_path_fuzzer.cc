// libFuzzer target: the static content path normaliser
// (dataplane/pipeline/static_path.h), which turns a client's request path
// into a name opened beneath a site's root. Properties beyond "no crash, no
// sanitizer report": an accepted path names something beneath the root,
// i.e. its relative form has no "..", "." or empty segment, no leading or
// trailing "/", no backslash, NUL or control byte; and normalising
// "/" + that relative form again gives it back unchanged when it has no "%"
// or "?"
// (decoding is done once: "%252e" stays the name "%2e", never "..").
#include <string>
#include <string_view>

#include "dataplane/pipeline/static_path.h"
#include "test/fuzz/fuzz_util.h"

using sluice::pipeline::NormalizeStaticPath;
using sluice::pipeline::StaticPath;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  StaticPath path = NormalizeStaticPath(data);
  if (path.status != 0) {
    FUZZ_CHECK(path.status == 400);
    return 0;
  }
  const std::string& relative = path.relative;
  FUZZ_CHECK(relative.size() <= sluice::pipeline::kMaxStaticPathBytes);
  FUZZ_CHECK(relative.empty() || (relative.front() != '/' && relative.back() != '/'));
  FUZZ_CHECK(relative.find("//") == std::string::npos);
  bool hidden = false;
  size_t start = 0;
  while (!relative.empty()) {
    size_t slash = relative.find('/', start);
    std::string_view segment = std::string_view(relative).substr(start, slash == std::string::npos ? slash : slash - start);
    FUZZ_CHECK(segment != "." && segment != "..");
    FUZZ_CHECK(segment.size() <= sluice::pipeline::kMaxStaticSegmentBytes);
    hidden |= !segment.empty() && segment.front() == '.';
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  FUZZ_CHECK(hidden == path.hidden);
  for (char c : relative) {
    unsigned char u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u >= 0x20 && u != 0x7f && c != '\\');
  }
  if (relative.find_first_of("%?") == std::string::npos) {
    StaticPath again = NormalizeStaticPath("/" + relative);
    FUZZ_CHECK(again.status == 0 && again.relative == relative);
  }
  return 0;
}
