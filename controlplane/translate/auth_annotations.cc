#include "controlplane/translate/auth_annotations.h"

#include <algorithm>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/htpasswd.h"
#include "controlplane/translate/annotation_lookup.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

constexpr std::string_view kAuthType = "nginx.ingress.kubernetes.io/auth-type";
constexpr std::string_view kAuthSecret = "nginx.ingress.kubernetes.io/auth-secret";
constexpr std::string_view kAuthSecretType = "nginx.ingress.kubernetes.io/auth-secret-type";
constexpr std::string_view kAuthRealm = "nginx.ingress.kubernetes.io/auth-realm";
constexpr std::string_view kSatisfy = "nginx.ingress.kubernetes.io/satisfy";

std::string Trim(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

std::string Quoted(std::string_view text) { return json(std::string(text)).dump(); }

// A string annotation; not a string is a problem (and counts as set).
struct Text {
  bool set = false;
  std::optional<std::string> value;
};

Text Read(const json* annotations, std::string_view name, std::vector<AnnotationProblem>& problems) {
  const json* value = LookUpAnnotation(annotations, name);
  if (value == nullptr) return {};
  if (!value->is_string()) {
    problems.push_back({std::string(name), std::string(name) + ": must be a string, write the value in quotes (got " +
                                               value->type_name() + " " + value->dump() + ")"});
    return {true, std::nullopt};
  }
  return {true, Trim(value->get<std::string>())};
}

// A Kubernetes object name (DNS subdomain): lower case letters, digits, '-' and '.'.
bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return true;
}

// data[key] base64-decoded, or stringData[key] (which wins).
std::optional<std::string> Value(const json& value, bool base64) {
  if (!value.is_string()) return std::nullopt;
  if (!base64) return value.get<std::string>();
  sluice::Result<std::string> decoded = DecodeBase64(value.get<std::string>());
  if (!decoded.ok()) return std::nullopt;
  return std::move(*decoded);
}

const json* Section(const json& secret, const char* name) {
  auto it = secret.find(name);
  return it != secret.end() && it->is_object() ? &*it : nullptr;
}

}  // namespace

AnnotatedBasicAuth BasicAuthFromAnnotations(const json* annotations, const std::string& ingress_namespace) {
  AnnotatedBasicAuth out;
  Text type = Read(annotations, kAuthType, out.problems);
  Text secret = Read(annotations, kAuthSecret, out.problems);
  Text secret_type = Read(annotations, kAuthSecretType, out.problems);
  Text realm = Read(annotations, kAuthRealm, out.problems);
  Text satisfy = Read(annotations, kSatisfy, out.problems);

  if (satisfy.value) {
    if (*satisfy.value == "any") {
      out.satisfy_any = true;
    } else if (*satisfy.value != "all") {
      out.problems.push_back({std::string(kSatisfy), std::string(kSatisfy) + " " + Quoted(*satisfy.value) +
                                                         ": expected all or any (all applies)"});
    }
  }
  // auth-url (external authentication) is another stage's; only auth-type
  // and auth-secret ask for this one.
  if (!type.set && !secret.set) return out;
  out.enabled = true;
  if (realm.value) out.policy.set_realm(*realm.value);
  auto deny = [&](std::string_view annotation, std::string message) {
    out.problems.push_back({std::string(annotation), std::move(message) + "; every request gets 503"});
    out.policy.set_deny_all(true);
    out.secret_namespace.clear();
    out.secret_name.clear();
    return out;
  };
  if (!type.set) {
    return deny(kAuthSecret, std::string(kAuthSecret) + " is set without " + std::string(kAuthType) +
                                 ": basic authentication needs auth-type: basic");
  }
  if (!type.value) return deny(kAuthType, std::string(kAuthType) + " is not usable");
  if (*type.value != "basic") {
    return deny(kAuthType, std::string(kAuthType) + " " + Quoted(*type.value) +
                               (*type.value == "digest" ? ": digest authentication is not supported (use basic)"
                                                        : ": expected basic"));
  }
  if (secret_type.set) {
    if (!secret_type.value) return deny(kAuthSecretType, std::string(kAuthSecretType) + " is not usable");
    if (*secret_type.value == "auth-map") {
      out.auth_map = true;
    } else if (*secret_type.value != "auth-file") {
      return deny(kAuthSecretType, std::string(kAuthSecretType) + " " + Quoted(*secret_type.value) +
                                       ": expected auth-file or auth-map");
    }
  }
  if (!secret.value || secret.value->empty()) {
    return deny(kAuthSecret, std::string(kAuthSecret) + " is missing: basic authentication needs the Secret of its users");
  }
  std::string_view ref = *secret.value;
  size_t slash = ref.find('/');
  std::string ns = slash == std::string_view::npos ? ingress_namespace : std::string(ref.substr(0, slash));
  std::string name = std::string(slash == std::string_view::npos ? ref : ref.substr(slash + 1));
  if (!ValidName(ns) || !ValidName(name)) {
    return deny(kAuthSecret, std::string(kAuthSecret) + " " + Quoted(ref) + ": expected NAME or NAMESPACE/NAME");
  }
  if (ns != ingress_namespace) {
    return deny(kAuthSecret, std::string(kAuthSecret) + " " + Quoted(ref) +
                                 ": a Secret of another namespace is not allowed (as ingress-nginx by default)");
  }
  out.secret_namespace = std::move(ns);
  out.secret_name = std::move(name);
  return out;
}

std::vector<std::string> ReadBasicAuthUsers(const json& secret, const std::string& label, bool auth_map,
                                            v1::BasicAuthPolicy& policy) {
  std::vector<std::string> problems;
  std::vector<htpasswd::Entry> entries;
  if (auth_map) {
    // Each key a user, its value the hash; stringData wins over data.
    std::map<std::string, htpasswd::Entry> by_user;
    for (auto [section, base64] : {std::pair{"data", true}, std::pair{"stringData", false}}) {
      const json* values = Section(secret, section);
      if (values == nullptr) continue;
      for (auto it = values->begin(); it != values->end(); ++it) {
        std::optional<std::string> hash = Value(it.value(), base64);
        if (!hash) {
          problems.push_back(label + ": user " + Quoted(it.key()) + ": " + section + " value is not valid");
          continue;
        }
        by_user[it.key()] = htpasswd::Entry{0, it.key(), Trim(*hash)};
      }
    }
    for (auto& [user, entry] : by_user) entries.push_back(std::move(entry));
  } else {
    std::optional<std::string> file;
    for (auto [section, base64] : {std::pair{"stringData", false}, std::pair{"data", true}}) {
      const json* values = Section(secret, section);
      if (values == nullptr || !values->contains("auth")) continue;
      file = Value((*values)["auth"], base64);
      if (!file) problems.push_back(label + ": " + section + "[\"auth\"] is not valid");
      break;
    }
    if (!file) {
      if (problems.empty()) problems.push_back(label + " has no key auth (an htpasswd file) with a supported hash");
      policy.set_deny_all(true);
      return problems;
    }
    htpasswd::Parsed parsed = htpasswd::ParseFile(*file);
    for (const htpasswd::ParseProblem& problem : parsed.problems) problems.push_back(label + ": " + problem.message);
    entries = std::move(parsed.entries);
  }
  std::vector<htpasswd::Entry> accepted;
  for (htpasswd::Entry& entry : entries) {
    htpasswd::HashKind kind = htpasswd::ClassifyHash(entry.hash);
    if (htpasswd::Accepted(kind)) {
      accepted.push_back(std::move(entry));
      continue;
    }
    std::string where = entry.line > 0 ? "line " + std::to_string(entry.line) + ": " : "";
    problems.push_back(label + ": " + where + "user " + Quoted(entry.user) + ": " +
                       (kind == htpasswd::HashKind::kDesCrypt
                            ? "DES crypt is refused (only 8 password bytes count); use htpasswd -B (bcrypt)"
                            : "not a supported hash (plaintext?); use htpasswd -B (bcrypt)") +
                       "; that user is left out");
  }
  std::sort(accepted.begin(), accepted.end(),
            [](const htpasswd::Entry& a, const htpasswd::Entry& b) { return a.user < b.user; });
  for (htpasswd::Entry& entry : accepted) {
    v1::BasicAuthPolicy::User* user = policy.add_users();
    user->set_name(std::move(entry.user));
    user->set_hash(std::move(entry.hash));
  }
  if (accepted.empty()) {
    problems.push_back(label + " has no usable user");
    policy.set_deny_all(true);
  }
  return problems;
}

}  // namespace sluice::translate
