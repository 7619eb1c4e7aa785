#include "controlplane/translate/routing_annotations.h"

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controlplane/translate/annotation_lookup.h"
#include "dataplane/router/router.h"

namespace sluice::translate {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxLength = 2048;

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Printable ASCII without spaces: what may go into a path or a Location
// (never a CR or LF that would split a header).
bool Printable(std::string_view text) {
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

class Reader {
 public:
  Reader(const json* annotations, std::vector<AnnotationProblem>& problems)
      : annotations_(annotations), problems_(problems) {}

  // The trimmed text of the first of the two names that is set and valid
  // by `check` (which returns an error text, empty when valid).
  template <typename Check>
  std::optional<std::string> First(std::string_view preferred, std::string_view fallback, Check&& check) {
    std::optional<std::string> a = One(preferred, check);
    std::optional<std::string> b = One(fallback, check);
    return a ? a : b;
  }

 private:
  template <typename Check>
  std::optional<std::string> One(std::string_view name, Check& check) {
    const json* it = LookUpAnnotation(annotations_, name);
    if (it == nullptr) return std::nullopt;
    if (!it->is_string()) {
      Problem(name, std::string(name) + ": must be a string, write the value in quotes");
      return std::nullopt;
    }
    std::string value(Trim(it->get<std::string>()));
    std::string error = check(value);
    if (!error.empty()) {
      std::string shown = json(value).dump(-1, ' ', false, json::error_handler_t::replace);
      if (shown.size() > 60) shown = shown.substr(0, 56) + "...\"";
      Problem(name, std::string(name) + " " + shown + ": " + error);
      return std::nullopt;
    }
    return value;
  }
  void Problem(std::string_view name, std::string message) {
    problems_.push_back(AnnotationProblem{std::string(name), std::move(message)});
  }

  const json* annotations_;
  std::vector<AnnotationProblem>& problems_;
};

std::string CheckBoolean(const std::string& value) {
  return value == "true" || value == "false" ? "" : "expected \"true\" or \"false\"";
}

std::string CheckCode(const std::string& value) {
  if (value.size() == 3 && value[0] == '3' && value[1] == '0' && value[2] >= '0' && value[2] <= '8') return "";
  return "expected a redirect status from 300 to 308";
}

// A Location: an http(s) URL with a host, or an absolute path.
std::string CheckUrl(const std::string& value) {
  if (value.empty() || value.size() > kMaxLength) return "expected an http(s) URL or a path starting with /";
  if (!Printable(value) || value.find_first_of("\"'<>\\{}^`|") != std::string::npos) {
    return "must be printable ASCII without spaces, quotes or any of <>\\{}^`|";
  }
  if (value.front() == '/' && !value.starts_with("//")) return "";
  for (std::string_view scheme : {"http://", "https://"}) {
    if (value.starts_with(scheme) && value.size() > scheme.size() && value[scheme.size()] != '/') return "";
  }
  return "expected an http(s) URL or a path starting with /";
}

std::string CheckPath(const std::string& value) {
  if (value.empty() || value.front() != '/' || value.starts_with("//") || value.size() > kMaxLength) {
    return "expected a path starting with /";
  }
  if (!Printable(value) || value.find_first_of("\"'<>\\{}^`|#") != std::string::npos) {
    return "must be printable ASCII without spaces, quotes, '#' or any of <>\\{}^`|";
  }
  return "";
}

// rewrite-target: a path with $0..$9; nginx's other variables are refused
// (Sluice substitutes captures only).
std::string CheckRewriteTarget(const std::string& value) {
  if (value.empty() || (value.front() != '/' && value.front() != '$') || value.size() > kMaxLength) {
    return "expected a path starting with / (or a capture like $1)";
  }
  if (!Printable(value) || value.find_first_of("\"'<>\\{}^`|#") != std::string::npos) {
    return "must be printable ASCII without spaces, quotes, '#' or any of <>\\{}^`|";
  }
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '$' && (i + 1 == value.size() || value[i + 1] < '0' || value[i + 1] > '9')) {
      return "only captures $0 to $9 are substituted; nginx variables like $args are not supported";
    }
  }
  return "";
}

// A header value: visible ASCII and spaces, no control characters.
std::string CheckHeaderValue(const std::string& value) {
  if (value.empty() || value.size() > 1024) return "expected a value of 1 to 1024 characters";
  for (unsigned char c : value) {
    if (c < 0x20 || c >= 0x7f) return "must be printable ASCII";
  }
  return "";
}

std::string CheckAliases(const std::string& value) {
  if (value.empty() || value.size() > 4096) return "expected host names, comma separated";
  return "";
}

constexpr std::string_view kNginx = "nginx.ingress.kubernetes.io/";

std::string Nginx(std::string_view name) { return std::string(kNginx) + std::string(name); }
std::string Sluice(std::string_view name) { return "sluice.io/" + std::string(name); }

}  // namespace

sluice::Result<std::string> ValidateRegexPath(const std::string& path) {
  if (path.empty() || path.front() != '/') return Status::Error("must start with \"/\"");
  if (path.size() > 1024) return Status::Error("must be at most 1024 characters");
  if (!Printable(path)) return Status::Error("must be printable ASCII without spaces");
  std::string error;
  if (router::CompileRegex(path, &error) == nullptr) {
    return Status::Error("is not a regular expression Sluice can use (RE2 syntax: no backreferences, no "
                         "lookahead or lookbehind): " + error);
  }
  return path;
}

AnnotatedRouting ReadRoutingAnnotations(const nlohmann::json* annotations, v1::RoutePolicy& policy,
                                        std::vector<AnnotationProblem>& problems) {
  AnnotatedRouting out;
  if (annotations == nullptr || !annotations->is_object()) return out;
  Reader reader(annotations, problems);
  auto pair = [&](std::string_view name, auto check) {
    return reader.First(Sluice(name), Nginx(name), check);
  };
  if (auto regex = pair("use-regex", CheckBoolean)) out.regex = *regex == "true";
  if (auto target = pair("rewrite-target", CheckRewriteTarget)) {
    out.rewrite_target = *target;
    out.regex = true;  // ingress-nginx: a rewrite makes the paths regexes
  }
  if (auto root = pair("app-root", CheckPath)) policy.set_app_root(*root);
  if (auto prefix = pair("x-forwarded-prefix", CheckHeaderValue)) policy.set_x_forwarded_prefix(*prefix);
  // temporal-redirect wins over permanent-redirect (ingress-nginx's order).
  std::optional<std::string> permanent = pair("permanent-redirect", CheckUrl);
  std::optional<std::string> permanent_code = pair("permanent-redirect-code", CheckCode);
  std::optional<std::string> temporal = pair("temporal-redirect", CheckUrl);
  std::optional<std::string> temporal_code = pair("temporal-redirect-code", CheckCode);
  if (temporal) {
    policy.mutable_redirect()->set_url(*temporal);
    policy.mutable_redirect()->set_code(temporal_code ? static_cast<uint32_t>(std::stoi(*temporal_code)) : 302);
  } else if (permanent) {
    policy.mutable_redirect()->set_url(*permanent);
    policy.mutable_redirect()->set_code(permanent_code ? static_cast<uint32_t>(std::stoi(*permanent_code)) : 301);
  }
  if (auto www = pair("from-to-www-redirect", CheckBoolean)) out.from_to_www = *www == "true";
  if (auto force = pair("force-ssl-redirect", CheckBoolean)) out.force_ssl_redirect = *force == "true";
  if (auto aliases = pair("server-alias", CheckAliases)) {
    std::string_view rest = *aliases;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = Trim(rest.substr(0, comma));
      if (!item.empty()) out.server_aliases.emplace_back(item);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return out;
}

}  // namespace sluice::translate
