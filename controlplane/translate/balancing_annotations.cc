#include "controlplane/translate/balancing_annotations.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string_view>
#include <utility>

#include "base/status.h"
#include "controlplane/translate/annotation_lookup.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

constexpr std::string_view kSluice = "sluice.io/";
constexpr std::string_view kNginx = "nginx.ingress.kubernetes.io/";
constexpr uint32_t kMaxCookieMaxAge = 10u * 366 * 24 * 60 * 60;  // ten years
constexpr uint32_t kMaxCanaryWeightTotal = 1'000'000;

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  return out;
}

// RFC 9110 token: header names and cookie names.
bool IsToken(std::string_view text) {
  if (text.empty() || text.size() > 256) return false;
  for (unsigned char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

sluice::Result<uint32_t> ParseWhole(std::string_view text, uint32_t max, const char* what) {
  text = Trim(text);
  if (text.empty() || text.size() > 10) return Status::Error(std::string("expected ") + what);
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Status::Error(std::string("expected ") + what);
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > max) return Status::Error("must be at most " + std::to_string(max));
  return static_cast<uint32_t>(value);
}

std::string Shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 56) + "...\"";
  return text;
}

// Reads string annotations, parsing and reporting each one set.
class Reader {
 public:
  explicit Reader(const json* annotations) : annotations_(annotations) {}

  // The parsed value of sluice.io/<name>, else of the ingress-nginx
  // annotation `nginx_name` (parsed by `nginx_parse`); every set but invalid
  // one is a problem.
  template <typename T>
  std::optional<T> First(std::string_view name, const std::function<sluice::Result<T>(std::string_view)>& parse,
                         std::string_view nginx_name = {},
                         const std::function<sluice::Result<T>(std::string_view)>* nginx_parse = nullptr) {
    std::optional<T> ours = Read<T>(std::string(kSluice) + std::string(name), parse);
    std::optional<T> theirs;
    if (!nginx_name.empty()) {
      theirs = Read<T>(std::string(kNginx) + std::string(nginx_name), nginx_parse != nullptr ? *nginx_parse : parse);
    }
    from_nginx_ = !ours.has_value() && theirs.has_value();
    return ours ? ours : theirs;
  }
  // Whether the last First() took the ingress-nginx annotation.
  bool from_nginx() const { return from_nginx_; }

  void Problem(std::string name, std::string message) {
    problems_.push_back(AnnotationProblem{std::move(name), std::move(message)});
  }
  std::vector<AnnotationProblem> TakeProblems() { return std::move(problems_); }

 private:
  template <typename T>
  std::optional<T> Read(const std::string& name, const std::function<sluice::Result<T>(std::string_view)>& parse) {
    const json* it = LookUpAnnotation(annotations_, name);
    if (it == nullptr) return std::nullopt;
    if (!it->is_string()) {
      Problem(name, name + ": must be a string, write the value in quotes (got " + it->type_name() + " " + Shown(*it) +
                        ")");
      return std::nullopt;
    }
    sluice::Result<T> value = parse(Trim(it->get_ref<const std::string&>()));
    if (!value.ok()) {
      Problem(name, name + " " + Shown(*it) + ": " + value.status().message());
      return std::nullopt;
    }
    return std::move(value).value();
  }

  const json* annotations_;
  std::vector<AnnotationProblem> problems_;
  bool from_nginx_ = false;
};

using Policy = v1::LoadBalancingPolicy::Algorithm;

sluice::Result<Policy> ParsePolicy(std::string_view text) {
  if (text == "round-robin") return v1::LoadBalancingPolicy::ROUND_ROBIN;
  if (text == "least-request") return v1::LoadBalancingPolicy::LEAST_REQUEST;
  if (text == "ring-hash") return v1::LoadBalancingPolicy::RING_HASH;
  if (text == "maglev") return v1::LoadBalancingPolicy::MAGLEV;
  if (text == "random") return v1::LoadBalancingPolicy::RANDOM;
  if (text == "ewma") return v1::LoadBalancingPolicy::EWMA;
  return Status::Error("expected round-robin, least-request, ring-hash, maglev, random or ewma");
}

sluice::Result<Policy> ParseNginxPolicy(std::string_view text) {
  if (text == "round_robin") return v1::LoadBalancingPolicy::ROUND_ROBIN;
  if (text == "ewma") return v1::LoadBalancingPolicy::EWMA;
  return Status::Error("expected round_robin or ewma (use sluice.io/load-balance for other policies)");
}

v1::HashKey Key(v1::HashKey::Source source, std::string name = {}) {
  v1::HashKey key;
  key.set_source(source);
  key.set_name(std::move(name));
  return key;
}

sluice::Result<v1::HashKey> ParseHashKey(std::string_view text) {
  if (text == "client-ip") return Key(v1::HashKey::CLIENT_IP);
  if (text == "path") return Key(v1::HashKey::PATH);
  if (text == "uri") return Key(v1::HashKey::URI);
  if (text.starts_with("header:") && IsToken(text.substr(7))) return Key(v1::HashKey::HEADER, Lower(text.substr(7)));
  if (text.starts_with("cookie:") && IsToken(text.substr(7))) return Key(v1::HashKey::COOKIE, std::string(text.substr(7)));
  return Status::Error("expected header:NAME, cookie:NAME, client-ip, path or uri");
}

// ingress-nginx's upstream-hash-by is an nginx variable expression; the
// single variables with a Sluice equivalent are accepted.
sluice::Result<v1::HashKey> ParseNginxHashBy(std::string_view text) {
  if (text == "$remote_addr" || text == "$binary_remote_addr") return Key(v1::HashKey::CLIENT_IP);
  if (text == "$request_uri") return Key(v1::HashKey::URI);
  if (text == "$uri") return Key(v1::HashKey::PATH);
  if (text.starts_with("$http_") && IsToken(text.substr(6))) {
    std::string header = Lower(text.substr(6));
    for (char& c : header) c = c == '_' ? '-' : c;  // nginx's $http_x_user is X-User
    return Key(v1::HashKey::HEADER, header);
  }
  if (text.starts_with("$cookie_") && IsToken(text.substr(8))) return Key(v1::HashKey::COOKIE, std::string(text.substr(8)));
  return Status::Error(
      "sluice supports a single variable here: $remote_addr, $request_uri, $uri, $http_NAME or $cookie_NAME");
}

sluice::Result<bool> ParseCookieMode(std::string_view text) {
  if (text == "cookie") return true;
  return Status::Error("expected \"cookie\" (the only affinity mode)");
}

sluice::Result<std::string> ParseCookieName(std::string_view text) {
  if (!IsToken(text)) return Status::Error("expected a cookie name (letters, digits and !#$%&'*+-.^_`|~)");
  return std::string(text);
}

sluice::Result<std::string> ParseHeaderName(std::string_view text) {
  if (!IsToken(text)) return Status::Error("expected a header name (letters, digits and !#$%&'*+-.^_`|~)");
  return Lower(text);
}

sluice::Result<std::string> ParseCookiePath(std::string_view text) {
  if (text.empty() || text.front() != '/') return Status::Error("expected a path starting with /");
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f || c == ';') return Status::Error("must not contain spaces, ';' or control characters");
  }
  return std::string(text);
}

sluice::Result<std::string> ParseSameSite(std::string_view text) {
  std::string lower = Lower(text);
  if (lower == "lax") return std::string("Lax");
  if (lower == "strict") return std::string("Strict");
  if (lower == "none") return std::string("None");
  return Status::Error("expected Lax, Strict or None");
}

sluice::Result<uint32_t> ParseMaxAge(std::string_view text) {
  return ParseWhole(text, kMaxCookieMaxAge, "whole seconds like 3600");
}

sluice::Result<std::string> ParseAnyValue(std::string_view text) {
  if (text.empty()) return Status::Error("must not be empty");
  return std::string(text);
}

const char* PolicyName(Policy policy) {
  switch (policy) {
    case v1::LoadBalancingPolicy::LEAST_REQUEST: return "least-request";
    case v1::LoadBalancingPolicy::RING_HASH: return "ring-hash";
    case v1::LoadBalancingPolicy::MAGLEV: return "maglev";
    case v1::LoadBalancingPolicy::RANDOM: return "random";
    case v1::LoadBalancingPolicy::EWMA: return "ewma";
    default: return "round-robin";
  }
}

}  // namespace

AnnotatedBalancing BalancingFromAnnotations(const json* annotations) {
  AnnotatedBalancing out;
  if (annotations == nullptr || !annotations->is_object()) return out;  // annotations.cc reports the shape
  Reader reader(annotations);
  std::function<sluice::Result<Policy>(std::string_view)> policy_parse = ParsePolicy, nginx_policy = ParseNginxPolicy;
  std::optional<Policy> policy = reader.First<Policy>("load-balance", policy_parse, "load-balance", &nginx_policy);
  bool policy_from_nginx = reader.from_nginx();
  std::function<sluice::Result<v1::HashKey>(std::string_view)> key_parse = ParseHashKey, nginx_key = ParseNginxHashBy;
  std::optional<v1::HashKey> key = reader.First<v1::HashKey>("hash-key", key_parse, "upstream-hash-by", &nginx_key);
  std::string key_annotation = reader.from_nginx() ? std::string(kNginx) + "upstream-hash-by"
                                                   : std::string(kSluice) + "hash-key";

  bool hashed = policy && (*policy == v1::LoadBalancingPolicy::RING_HASH || *policy == v1::LoadBalancingPolicy::MAGLEV);
  if (key && policy && !hashed && !policy_from_nginx) {
    reader.Problem(key_annotation, key_annotation + ": used only with sluice.io/load-balance ring-hash or maglev (not " +
                                       PolicyName(*policy) + ")");
    key.reset();
  } else if (key && (!policy || !hashed)) {
    policy = v1::LoadBalancingPolicy::RING_HASH;  // as ingress-nginx: upstream-hash-by means consistent hashing
  }
  if (policy) {
    out.set = true;
    out.load_balancing = *policy;
    if (*policy == v1::LoadBalancingPolicy::RING_HASH || *policy == v1::LoadBalancingPolicy::MAGLEV) {
      out.hash_key = key ? *key : Key(v1::HashKey::CLIENT_IP);
    }
  }

  std::function<sluice::Result<bool>(std::string_view)> mode = ParseCookieMode;
  if (reader.First<bool>("affinity", mode, "affinity")) {
    out.set = true;
    v1::SessionAffinity& affinity = out.affinity;
    affinity.set_enabled(true);
    std::function<sluice::Result<std::string>(std::string_view)> name = ParseCookieName, path = ParseCookiePath,
                                                                      same_site = ParseSameSite;
    std::function<sluice::Result<uint32_t>(std::string_view)> max_age = ParseMaxAge;
    std::function<sluice::Result<bool>(std::string_view)> boolean = [](std::string_view text) {
      return ParseBoolean(text);
    };
    if (auto v = reader.First<std::string>("session-cookie-name", name, "session-cookie-name")) {
      affinity.set_cookie_name(*v);
    }
    if (auto v = reader.First<uint32_t>("session-cookie-max-age", max_age, "session-cookie-max-age")) {
      affinity.set_max_age_seconds(*v);
    }
    if (auto v = reader.First<std::string>("session-cookie-path", path, "session-cookie-path")) affinity.set_path(*v);
    if (auto v = reader.First<std::string>("session-cookie-samesite", same_site, "session-cookie-samesite")) {
      affinity.set_same_site(*v);
    }
    if (auto v = reader.First<bool>("session-cookie-secure", boolean, "session-cookie-secure")) affinity.set_secure(*v);
  }
  out.problems = reader.TakeProblems();
  return out;
}

v1::LoadBalancingPolicy AnnotatedBalancing::Policy() const {
  v1::LoadBalancingPolicy policy;
  policy.set_algorithm(load_balancing);
  if (hash_key.source() != v1::HashKey::NONE) *policy.mutable_hash_key() = hash_key;
  if (affinity.enabled()) *policy.mutable_affinity() = affinity;
  return policy;
}

bool AnnotatedBalancing::SamePolicyAs(const AnnotatedBalancing& other) const {
  return load_balancing == other.load_balancing && hash_key.SerializeAsString() == other.hash_key.SerializeAsString() &&
         affinity.SerializeAsString() == other.affinity.SerializeAsString();
}

std::string AnnotatedBalancing::Describe() const {
  std::string out = PolicyName(load_balancing);
  switch (hash_key.source()) {
    case v1::HashKey::HEADER: out += " by header:" + hash_key.name(); break;
    case v1::HashKey::COOKIE: out += " by cookie:" + hash_key.name(); break;
    case v1::HashKey::CLIENT_IP: out += " by client-ip"; break;
    case v1::HashKey::PATH: out += " by path"; break;
    case v1::HashKey::URI: out += " by uri"; break;
    default: break;
  }
  if (affinity.enabled()) out += ", cookie affinity";
  return out;
}

AnnotatedCanary CanaryFromAnnotations(const json* annotations) {
  AnnotatedCanary out;
  if (annotations == nullptr || !annotations->is_object()) return out;
  Reader reader(annotations);
  std::function<sluice::Result<bool>(std::string_view)> boolean = [](std::string_view text) {
    return ParseBoolean(text);
  };
  out.canary = reader.First<bool>("canary", boolean, "canary").value_or(false);
  if (!out.canary) {  // canary-* annotations mean nothing on a primary Ingress
    out.problems = reader.TakeProblems();
    return out;
  }
  std::function<sluice::Result<uint32_t>(std::string_view)> total = [](std::string_view text) -> sluice::Result<uint32_t> {
    sluice::Result<uint32_t> value = ParseWhole(text, kMaxCanaryWeightTotal, "a whole number like 100");
    if (value.ok() && *value == 0) return Status::Error("must be at least 1");
    return value;
  };
  out.weight_total = reader.First<uint32_t>("canary-weight-total", total, "canary-weight-total").value_or(100);
  uint32_t limit = out.weight_total;
  std::function<sluice::Result<uint32_t>(std::string_view)> weight = [limit](std::string_view text) {
    sluice::Result<uint32_t> value = ParseWhole(text, kMaxCanaryWeightTotal, "a whole number like 20");
    if (value.ok() && *value > limit) {
      return sluice::Result<uint32_t>(
          Status::Error("must be at most canary-weight-total (" + std::to_string(limit) + ")"));
    }
    return value;
  };
  out.weight = reader.First<uint32_t>("canary-weight", weight, "canary-weight").value_or(0);
  std::function<sluice::Result<std::string>(std::string_view)> header = ParseHeaderName, cookie = ParseCookieName,
                                                                    any = ParseAnyValue;
  out.header = reader.First<std::string>("canary-by-header", header, "canary-by-header").value_or("");
  out.header_value = reader.First<std::string>("canary-by-header-value", any, "canary-by-header-value").value_or("");
  out.cookie = reader.First<std::string>("canary-by-cookie", cookie, "canary-by-cookie").value_or("");
  out.problems = reader.TakeProblems();
  return out;
}

}  // namespace sluice::translate
