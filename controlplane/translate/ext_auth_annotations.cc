#include "controlplane/translate/ext_auth_annotations.h"

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controlplane/translate/annotation_lookup.h"

namespace sluice::translate {
namespace {

using json = nlohmann::json;

constexpr uint32_t kDefaultCacheMs = 5 * 60 * 1000;

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool IsDnsLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Printable ASCII without spaces: safe in a field value and a Location.
bool IsUrlText(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c <= ' ' || c >= 127) return false;
  }
  return true;
}

// The $variables of `text` are all among `allowed` ("http_" and "cookie_"
// stand for every name with that prefix).
bool VariablesAllowed(std::string_view text, std::initializer_list<std::string_view> allowed) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$') continue;
    size_t end = i + 1;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) ++end;
    std::string_view name = text.substr(i + 1, end - i - 1);
    bool ok = false;
    for (std::string_view a : allowed) {
      if (a.back() == '_' ? (name.size() > a.size() && name.substr(0, a.size()) == a) : name == a) ok = true;
    }
    if (!ok) return false;
    i = end - 1;
  }
  return true;
}

class Reader {
 public:
  Reader(const json* annotations, std::vector<AnnotationProblem>& problems)
      : annotations_(annotations), problems_(problems) {}

  // The sluice.io/ value, else the ingress-nginx one; both are looked up.
  // `name` is what follows the prefixes. Sets `*used` to the name read.
  std::optional<std::string> Text(std::string_view name, std::string* used) {
    std::string ours = "sluice.io/" + std::string(name);
    std::string nginx = "nginx.ingress.kubernetes.io/" + std::string(name);
    std::optional<std::string> a = One(ours);
    std::optional<std::string> b = One(nginx);
    if (a) {
      *used = ours;
      return a;
    }
    *used = nginx;
    return b;
  }
  std::optional<std::string> One(const std::string& name) {
    const json* it = LookUpAnnotation(annotations_, name);
    if (it == nullptr) return std::nullopt;
    if (!it->is_string()) {
      Problem(name, name + ": must be a string, write the value in quotes");
      return std::nullopt;
    }
    return std::string(Trim(it->get<std::string>()));
  }
  void Problem(const std::string& name, std::string message) {
    problems_.push_back(AnnotationProblem{name, std::move(message)});
  }

 private:
  const json* annotations_;
  std::vector<AnnotationProblem>& problems_;
};

// The Service an auth URL names; false when it names none.
bool ParseAuthUrl(std::string_view url, const std::string& ingress_namespace, AnnotatedAuth& out, std::string& why) {
  std::string_view rest = url;
  if (rest.rfind("https://", 0) == 0) {
    why = "https auth services are not supported yet (use the Service's plain HTTP port)";
    return false;
  }
  if (rest.rfind("http://", 0) == 0) rest.remove_prefix(7);
  if (!IsUrlText(rest)) {
    why = "expected http://SERVICE.NAMESPACE[.svc[.cluster.local]][:PORT][/PATH]";
    return false;
  }
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (path.front() == '?') path.insert(0, "/");
  uint32_t port = 80;
  if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
    std::string_view digits = authority.substr(colon + 1);
    uint32_t value = 0;
    bool ok = !digits.empty() && digits.size() <= 5;
    for (char c : digits) {
      if (c < '0' || c > '9') ok = false;
      if (ok) value = value * 10 + static_cast<uint32_t>(c - '0');
    }
    if (!ok || value < 1 || value > 65535) {
      why = "invalid port";
      return false;
    }
    port = value;
    authority = authority.substr(0, colon);
  }
  std::vector<std::string_view> labels;
  for (size_t start = 0;;) {
    size_t dot = authority.find('.', start);
    labels.push_back(authority.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  for (std::string_view label : labels) {
    if (!IsDnsLabel(label)) {
      why = "the host must be a Service name: SERVICE.NAMESPACE[.svc[.cluster.local]]";
      return false;
    }
  }
  // SERVICE, SERVICE.NAMESPACE, SERVICE.NAMESPACE.svc, SERVICE.NAMESPACE.svc.<cluster domain>
  bool service_host = labels.size() <= 2 || labels[2] == "svc";
  if (!service_host) {
    why = "the host is not a Service of the cluster (SERVICE.NAMESPACE[.svc[.cluster.local]]); auth services "
          "outside the cluster are not supported";
    return false;
  }
  out.service_name = std::string(labels[0]);
  out.service_namespace = labels.size() >= 2 ? std::string(labels[1]) : ingress_namespace;
  out.service_port = port;
  out.policy.set_host(std::string(authority));
  out.policy.set_path(path);
  return true;
}

}  // namespace

AnnotatedAuth ExternalAuthFromAnnotations(const json* annotations, const std::string& ingress_namespace) {
  AnnotatedAuth auth;
  Reader reader(annotations, auth.problems);
  std::string name;
  v1::ExternalAuthPolicy& policy = auth.policy;

  std::optional<std::string> url = reader.Text("auth-url", &name);
  if (url) {
    auth.set = true;
    std::string why;
    if (!ParseAuthUrl(*url, ingress_namespace, auth, why)) {
      reader.Problem(name, name + " \"" + *url + "\": " + why + "; every request of this Ingress is refused (500)");
      policy.set_deny_all(true);
    }
  }

  if (std::optional<std::string> method = reader.Text("auth-method", &name)) {
    static constexpr std::string_view kMethods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"};
    bool ok = false;
    for (std::string_view m : kMethods) ok |= *method == m;
    if (ok) {
      policy.set_method(*method);
    } else {
      reader.Problem(name, name + " \"" + *method + "\": expected GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or TRACE");
    }
  }

  if (std::optional<std::string> signin = reader.Text("auth-signin", &name)) {
    bool form = signin->rfind("http://", 0) == 0 || signin->rfind("https://", 0) == 0 || signin->rfind("/", 0) == 0;
    if (form && IsUrlText(*signin) &&
        VariablesAllowed(*signin, {"host", "http_host", "scheme", "request_uri", "escaped_request_uri"})) {
      policy.set_signin_url(*signin);
    } else {
      // Without it a 401 stays a 401: closed, not open.
      reader.Problem(name, name + " \"" + *signin +
                               "\": expected an http(s):// URL or /path, with only $host, $scheme, $request_uri "
                               "or $escaped_request_uri");
    }
  }

  if (std::optional<std::string> headers = reader.Text("auth-response-headers", &name)) {
    std::vector<std::string> names;
    bool ok = true;
    std::string_view rest = *headers;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view one = Trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (one.empty()) continue;
      if (!IsToken(one)) ok = false;
      std::string lower(one);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      names.push_back(std::move(lower));
    }
    if (ok) {
      for (std::string& n : names) policy.add_response_headers(std::move(n));
    } else {
      reader.Problem(name, name + " \"" + *headers + "\": expected field names separated by commas");
    }
  }

  if (std::optional<std::string> redirect = reader.Text("auth-request-redirect", &name)) {
    if (IsUrlText(*redirect)) {
      policy.set_request_redirect(*redirect);
    } else {
      reader.Problem(name, name + " \"" + *redirect + "\": expected a URL without spaces");
    }
  }

  if (std::optional<std::string> key = reader.Text("auth-cache-key", &name)) {
    if (!key->empty() && key->find_first_of("\r\n") == std::string::npos &&
        VariablesAllowed(*key, {"remote_user", "http_", "cookie_", "request_uri", "host", "http_host"})) {
      policy.set_cache_key(*key);
    } else {
      reader.Problem(name, name + " \"" + *key +
                               "\": only $remote_user, $http_NAME, $cookie_NAME, $request_uri and $host are "
                               "supported; decisions are not cached");
    }
  }

  std::optional<std::string> duration = reader.Text("auth-cache-duration", &name);
  if (duration) {
    // "200 202 401 5m, 403 1m": statuses (default 200 202 401), then a duration.
    std::vector<v1::ExternalAuthPolicy::CacheRule> rules;
    bool ok = true;
    std::string_view rest = *duration;
    while (ok && !rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view entry = Trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (entry.empty()) continue;
      std::vector<std::string_view> words;
      while (!entry.empty()) {
        size_t space = entry.find(' ');
        std::string_view word = entry.substr(0, space);
        if (!word.empty()) words.push_back(word);
        entry = space == std::string_view::npos ? std::string_view() : Trim(entry.substr(space + 1));
      }
      v1::ExternalAuthPolicy::CacheRule rule;
      auto ms = ParseTimeoutMs(words.back());
      if (!ms.ok()) {
        ok = false;
        break;
      }
      rule.set_duration_ms(*ms);
      for (size_t i = 0; i + 1 < words.size(); ++i) {
        std::string_view code = words[i];
        if (code.size() != 3 || code[0] < '1' || code[0] > '5' || code.find_first_not_of("0123456789") != std::string_view::npos) {
          ok = false;
          break;
        }
        rule.add_statuses(static_cast<uint32_t>(std::stoi(std::string(code))));
      }
      if (rule.statuses_size() == 0) {
        for (uint32_t code : {200u, 202u, 401u}) rule.add_statuses(code);
      }
      rules.push_back(std::move(rule));
    }
    if (ok && !rules.empty()) {
      for (auto& rule : rules) *policy.add_cache_rules() = std::move(rule);
    } else {
      reader.Problem(name, name + " \"" + *duration +
                               "\": expected statuses and a duration, e.g. \"200 202 401 5m\"; decisions are not cached");
      policy.clear_cache_key();
    }
  }
  if (!policy.cache_key().empty() && policy.cache_rules_size() == 0 && !duration) {
    v1::ExternalAuthPolicy::CacheRule* rule = policy.add_cache_rules();
    for (uint32_t code : {200u, 202u, 401u}) rule->add_statuses(code);
    rule->set_duration_ms(kDefaultCacheMs);
  }
  if (policy.cache_key().empty()) policy.clear_cache_rules();

  if (std::optional<std::string> timeout = reader.One("sluice.io/auth-timeout")) {
    auto ms = ParseTimeoutMs(*timeout);
    if (ms.ok()) {
      policy.set_timeout_ms(*ms);
    } else {
      reader.Problem("sluice.io/auth-timeout", "sluice.io/auth-timeout \"" + *timeout + "\": " + ms.status().message());
    }
  }
  if (!auth.set) {
    // The others mean nothing without a URL: not an error, no policy.
    auth.policy.Clear();
  }
  return auth;
}

AnnotatedErrors CustomErrorsFromAnnotations(const json* annotations) {
  AnnotatedErrors errors;
  Reader reader(annotations, errors.problems);
  std::string name;
  if (std::optional<std::string> codes = reader.Text("custom-http-errors", &name)) {
    std::vector<uint32_t> statuses;
    bool ok = true;
    std::string_view rest = *codes;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view code = Trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (code.empty()) continue;
      if (code.size() != 3 || code.find_first_not_of("0123456789") != std::string_view::npos || code[0] < '3' ||
          code[0] > '5') {
        ok = false;
        break;
      }
      statuses.push_back(static_cast<uint32_t>(std::stoi(std::string(code))));
    }
    if (ok && !statuses.empty()) {
      errors.statuses = std::move(statuses);
    } else {
      reader.Problem(name, name + " \"" + *codes + "\": expected statuses from 300 to 599 separated by commas");
    }
  }
  if (std::optional<std::string> service = reader.Text("default-backend", &name)) {
    if (IsDnsLabel(*service)) {
      errors.default_backend = *service;
    } else {
      reader.Problem(name, name + " \"" + *service + "\": expected a Service name of the Ingress's namespace");
    }
  }
  return errors;
}

}  // namespace sluice::translate
