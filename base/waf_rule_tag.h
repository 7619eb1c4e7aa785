#pragma once
// A ModSecurity rule tag an Ingress may exclude (sluice.io/waf-exclude-rules):
// letters, digits and _ . / - (every OWASP CRS tag fits: "attack-sqli",
// "paranoia-level/2", "OWASP_CRS"), so it can never end the quoted
// SecRuleRemoveByTag directive the proxy writes it into. Checked by the
// translator (the annotation) and again by the proxy (the snapshot).
#include <string_view>

namespace sluice {

inline bool IsValidWafRuleTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  bool has_letter = false;
  for (char c : tag) {
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    has_letter = has_letter || letter;
    if (!letter && !(c >= '0' && c <= '9') && c != '_' && c != '.' && c != '/' && c != '-') return false;
  }
  return has_letter;  // all digits is a rule ID
}

}  // namespace sluice
