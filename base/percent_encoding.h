#pragma once
// Percent-encoding (RFC 3986 §2.1) one way and form decoding
// (application/x-www-form-urlencoded) the other, for the few places that
// build or read URL parts: Kubernetes API paths, auth subrequest URLs, the
// cache purge parameters.
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// Every byte but the unreserved characters (ALPHA DIGIT - . _ ~) and those
// in `also_plain` as %XX (upper-case hex).
inline std::string PercentEncode(std::string_view text, std::string_view also_plain = {}) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '_' || c == '.' || c == '~' || also_plain.find(static_cast<char>(c)) != std::string_view::npos;
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Form decoding: '+' is a space, %XX a byte; nullopt on a '%' without two
// hex digits.
inline std::optional<std::string> FormDecode(std::string_view text) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex(text[i + 1]), low = hex(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace sluice
