#include "dataplane/pipeline/static_http.h"

namespace sluice::pipeline {
namespace {

bool AllDigitsOrLetters(std::string_view part, bool& has_digit) {
  has_digit = false;
  for (char c : part) {
    bool digit = c >= '0' && c <= '9';
    has_digit |= digit;
    if (!digit && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')) return false;
  }
  return true;
}

}  // namespace

bool LooksHashed(std::string_view file_name) {
  std::string_view base = file_name.substr(file_name.rfind('/') + 1);
  size_t extension = base.rfind('.');
  if (extension == std::string_view::npos || extension == 0) return false;
  std::string_view stem = base.substr(0, extension);
  while (!stem.empty()) {
    size_t separator = stem.find_last_of(".-");
    std::string_view part = separator == std::string_view::npos ? stem : stem.substr(separator + 1);
    bool has_digit = false;
    if (separator != std::string_view::npos && part.size() >= 8 && part.size() <= 64 &&
        AllDigitsOrLetters(part, has_digit) && has_digit) {
      return true;
    }
    if (separator == std::string_view::npos) break;
    stem = stem.substr(0, separator);
  }
  return false;
}

}  // namespace sluice::pipeline
