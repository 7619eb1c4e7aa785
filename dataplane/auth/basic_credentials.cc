#include "dataplane/auth/basic_credentials.h"

#include <cstdint>

namespace sluice::auth {
namespace {

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64, length a multiple of 4, '=' only as the last one or two
// characters, and the unused bits of the last group zero (one encoding per
// value: no two spellings of the same credentials).
std::optional<std::string> DecodeStrict(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  if (text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    uint32_t group = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      int value;
      if (last && j >= 4 - padding) {
        value = 0;  // the padding, checked to be '=' by how `padding` was found
        if (c != '=') return std::nullopt;
      } else {
        value = Base64Value(c);
        if (value < 0) return std::nullopt;
      }
      group = (group << 6) | static_cast<uint32_t>(value);
    }
    out.push_back(static_cast<char>(group >> 16));
    if (last && padding == 2) {
      if ((group & 0xffff) != 0) return std::nullopt;
      break;
    }
    out.push_back(static_cast<char>((group >> 8) & 0xff));
    if (last && padding == 1) {
      if ((group & 0xff) != 0) return std::nullopt;
      break;
    }
    out.push_back(static_cast<char>(group & 0xff));
  }
  return out;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

}  // namespace

std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view value) {
  constexpr std::string_view kScheme = "basic";
  if (value.size() <= kScheme.size() + 1) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (Lower(value[i]) != kScheme[i]) return std::nullopt;
  }
  value.remove_prefix(kScheme.size());
  if (value[0] != ' ') return std::nullopt;
  while (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  std::optional<std::string> decoded = DecodeStrict(value);
  if (!decoded) return std::nullopt;
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  BasicCredentials credentials;
  credentials.user = decoded->substr(0, colon);
  credentials.password = decoded->substr(colon + 1);
  return credentials;
}

std::string BasicChallenge(std::string_view realm) {
  std::string out = "Basic realm=\"";
  for (char c : realm) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace sluice::auth
