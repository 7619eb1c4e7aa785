#pragma once
// The request path of a static file, made safe to look up under a site's
// root. Untrusted bytes: this is fuzzed (test/fuzz/static_path_fuzzer.cc).
//
// Refused with 400 (never resolved): a path not starting with "/", bad or
// truncated percent-encoding, an encoded "/" (%2f), a backslash (raw or
// %5c), NUL or any other control byte (raw or encoded), a ".." segment
// (raw, %2e%2e or mixed), and paths or segments longer than the limits.
// "." segments and repeated slashes are dropped. The query is ignored.
//
// The result never contains "..", "\\", NUL, an empty segment, a leading
// or trailing "/": it can only name something beneath the root, and the
// open (openat2 RESOLVE_BENEATH, static_site.cc) still refuses symlinks
// out of it.
#include <string>
#include <string_view>

namespace sluice::pipeline {

struct StaticPath {
  int status = 0;             // 0: usable; else 400
  std::string relative;       // "css/site.css"; "" for the root
  bool trailing_slash = false;  // the request named a directory ("/docs/")
  bool hidden = false;        // a segment starts with "." (dotfiles)
};

constexpr size_t kMaxStaticPathBytes = 4096;
constexpr size_t kMaxStaticSegmentBytes = 255;

// `path`: the origin-form path with its query ("/a/b.css?v=1").
StaticPath NormalizeStaticPath(std::string_view path);

}  // namespace sluice::pipeline
