#include "dataplane/pipeline/static_path.h"

namespace sluice::pipeline {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

StaticPath Refused() {
  StaticPath refused;
  refused.status = 400;
  return refused;
}

}  // namespace

StaticPath NormalizeStaticPath(std::string_view path) {
  path = path.substr(0, path.find('?'));
  if (path.empty() || path.front() != '/' || path.size() > kMaxStaticPathBytes) return Refused();
  StaticPath out;
  out.relative.reserve(path.size());
  std::string segment;
  // Each segment is decoded on its own: a decoded "/" never splits one (it
  // is refused), so what the client wrote as one name stays one name.
  auto finish_segment = [&]() -> bool {
    if (segment.empty() || segment == ".") return true;
    if (segment == "..") return false;
    if (segment.size() > kMaxStaticSegmentBytes) return false;
    if (segment.front() == '.') out.hidden = true;
    if (!out.relative.empty()) out.relative.push_back('/');
    out.relative += segment;
    return true;
  };
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!finish_segment()) return Refused();
      segment.clear();
      continue;
    }
    unsigned char c = static_cast<unsigned char>(path[i]);
    if (c == '%') {
      if (i + 2 >= path.size()) return Refused();  // truncated: "%" or "%4"
      int high = HexValue(path[i + 1]);
      int low = HexValue(path[i + 2]);
      if (high < 0 || low < 0) return Refused();
      c = static_cast<unsigned char>(high * 16 + low);
      i += 2;
      if (c == '/') return Refused();
    }
    if (c < 0x20 || c == 0x7f || c == '\\') return Refused();
    segment.push_back(static_cast<char>(c));
  }
  out.trailing_slash = path.size() > 1 && path.back() == '/';
  return out;
}

}  // namespace sluice::pipeline
