#include "controlplane/translate/translate.h"

#include "controlplane/translate/annotation_catalog.h"
#include "controlplane/translate/annotation_lookup.h"
#include "controlplane/translate/auth_annotations.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include "controlplane/translate/annotations.h"
#include "controlplane/translate/ext_auth_annotations.h"
#include "controlplane/translate/balancing_annotations.h"
#include "controlplane/translate/json_access.h"
#include "controlplane/translate/routing_annotations.h"
#include "controlplane/translate/header_annotations.h"
#include "controlplane/translate/static_sites.h"
#include "base/base64.h"
#include "base/status.h"

namespace sluice::translate {
namespace {

using nlohmann::json;
using Severity = Diagnostic::Severity;
using store::StoredObject;

constexpr std::string_view kClassAnnotation = "kubernetes.io/ingress.class";
constexpr std::string_view kDefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class";
constexpr std::string_view kServiceNameLabel = "kubernetes.io/service-name";
constexpr std::string_view kCatchAll = "*";

// Diagnostic reasons (Kubernetes Event reasons, CamelCase).
constexpr std::string_view kInvalidIngress = "InvalidIngress";
constexpr std::string_view kInvalidIngressClass = "InvalidIngressClass";
constexpr std::string_view kIgnoredIngress = "IngressClassNotHandled";
constexpr std::string_view kInvalidAnnotation = "InvalidAnnotation";
constexpr std::string_view kConflict = "Conflict";
constexpr std::string_view kInvalidRegex = "InvalidRegex";
constexpr std::string_view kUnsupportedBackend = "UnsupportedBackend";
constexpr std::string_view kServiceNotFound = "ServiceNotFound";
constexpr std::string_view kServicePortNotFound = "ServicePortNotFound";
constexpr std::string_view kInvalidService = "InvalidService";
constexpr std::string_view kSecretNotFound = "SecretNotFound";
constexpr std::string_view kInvalidSecret = "InvalidSecret";

// ---- JSON access that never throws (json_access.h has Get and String). ----

std::optional<int64_t> Integer(const json* value) {
  if (value == nullptr || !value->is_number_integer()) return std::nullopt;
  return value->is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(value->get<uint64_t>(), INT64_MAX))
                                     : value->get<int64_t>();
}

// How a value that has the wrong type is shown in a message.
std::string Describe(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return std::string(value.type_name()) + " " + text;
}

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string Index(std::string_view field, size_t i) { return std::string(field) + "[" + std::to_string(i) + "]"; }

// ---- Names. ----

// RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool IsDnsLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// Lower-cased host name, or an explanation of what is wrong with it.
sluice::Result<std::string> NormalizeHost(std::string_view host) {
  std::string lower(host);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  std::string_view rest = lower;
  if (rest.substr(0, 2) == "*.") rest.remove_prefix(2);
  if (rest.find('*') != std::string_view::npos) {
    return Status::Error("\"*\" is only allowed as the whole first label (\"*.example.com\")");
  }
  if (rest.find(':') != std::string_view::npos) return Status::Error("must not include a port");
  if (rest.empty() || rest.size() > 253) return Status::Error("must be a DNS name of 1 to 253 characters");
  size_t labels = 0;
  bool all_numeric = true;
  for (size_t start = 0; start <= rest.size();) {
    size_t dot = std::min(rest.find('.', start), rest.size());
    std::string_view label = rest.substr(start, dot - start);
    if (!IsDnsLabel(label)) {
      return Status::Error("label " + Quote(label) +
                           " is not a valid DNS label (a-z, 0-9 and '-', not at either end, 1 to 63 characters)");
    }
    all_numeric = all_numeric && label.find_first_not_of("0123456789") == std::string_view::npos;
    ++labels;
    start = dot + 1;
  }
  if (all_numeric && labels == 4) return Status::Error("must be a DNS name, not an IP address");
  return lower;
}

// ---- Paths. ----

enum class PathType { kExact, kPrefix, kImplementationSpecific };

// The path as the route carries it, or what is wrong with it. Kubernetes'
// own validation for Exact and Prefix paths, applied to all three types.
sluice::Result<std::string> NormalizePath(std::string path, PathType type) {
  if (path.empty() && type == PathType::kImplementationSpecific) path = "/";
  if (path.empty() || path.front() != '/') return Status::Error("must be an absolute path starting with \"/\"");
  for (unsigned char c : path) {
    if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#') {
      return Status::Error("must not contain spaces, control or non-ASCII characters, '?' or '#'");
    }
  }
  for (std::string_view bad : {"//", "/./", "/../", "%2f", "%2F"}) {
    if (path.find(bad) != std::string::npos) return Status::Error("must not contain " + Quote(bad));
  }
  for (std::string_view bad : {"/..", "/."}) {
    if (path.size() >= bad.size() && path.compare(path.size() - bad.size(), bad.size(), bad) == 0) {
      return Status::Error("must not end with " + Quote(bad));
    }
  }
  // Prefix matching is element-wise, so "/foo/" and "/foo" are the same rule.
  if (type != PathType::kExact) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
  }
  return path;
}

// ---- Secrets. ----

// data[key] base64-decoded, or stringData[key] as is (stringData wins, as
// when the API server merges them).
sluice::Result<std::string> SecretValue(const json& secret, std::string_view key) {
  std::string field = "[" + Quote(key) + "]";
  if (const json* value = Get(Get(&secret, "stringData"), key)) {
    if (!value->is_string()) return Status::Error("stringData" + field + " must be a string");
    return value->get<std::string>();
  }
  const json* value = Get(Get(&secret, "data"), key);
  if (value == nullptr) return Status::Error("has no data" + field);
  if (!value->is_string()) return Status::Error("data" + field + " must be a base64 string");
  sluice::Result<std::string> decoded = DecodeBase64(value->get<std::string>());
  if (!decoded.ok()) return Status::Error("data" + field + " " + decoded.status().message());
  if (decoded->find("-----BEGIN ") == std::string::npos) return Status::Error("data" + field + " is not PEM");
  return decoded;
}

// ---- The translation itself. ----

struct Ingress {
  const StoredObject* stored;
  std::string ns, name;
  std::string creation;  // RFC 3339, "" when absent
  std::string origin;    // "ns/name", as routes carry it
  v1::RoutePolicy policy;  // from its annotations (balancing too); every route of it carries this
  AnnotatedBalancing balancing;  // its own routes' policy.load_balancing (a canary's: its rules')
  AnnotatedCanary canary;        // a canary Ingress attaches to primaries' routes
  AnnotatedRouting routing;      // regex paths, rewrite, www redirect, aliases (routing_annotations.h)
  // A regex path does not compile: nothing of the Ingress applies (a
  // rewrite or redirect half applied could send traffic where nobody meant).
  bool refused = false;
  size_t trace = SIZE_MAX;       // index in Trace::ingresses when tracing
};

bool OlderFirst(const Ingress& a, const Ingress& b) {
  // RFC 3339 timestamps as the API server writes them sort as strings.
  return std::make_tuple(a.creation.empty(), a.creation, a.ns, a.name) <
         std::make_tuple(b.creation.empty(), b.creation, b.ns, b.name);
}

struct PortRef {
  std::optional<int64_t> number;
  std::string name;
  std::string field;  // "...backend.service.port.number" or ".name", for messages
  std::string AsWritten() const { return number ? std::to_string(*number) : name; }
};

struct VirtualHostBuild {
  std::vector<v1::Route> routes;
  // TLS passthrough (ssl-passthrough): set by the Ingress that owns the host.
  bool tls_passthrough = false;
  uint32_t passthrough_connect_timeout_ms = 0;
  uint32_t passthrough_idle_timeout_ms = 0;
};

class Translator {
 public:
  Translator(const store::Store& store, const Options& options, const TraceScope* scope = nullptr,
             Trace* trace = nullptr)
      : store_(store), options_(options), scope_(scope), trace_(trace) {}

  Result Run() {
    if (scope_ != nullptr && scope_->slices_by_service != nullptr) {
      slice_index_ = scope_->slices_by_service;
    } else {
      IndexEndpointSlices();
    }
    if (scope_ != nullptr && scope_->only != nullptr && scope_->default_route) {
      // Fixed by the Ingresses outside the scope (see TraceScope).
      default_route_ = scope_->default_route;
      if (scope_->default_route_ssl_opt_out) ssl_redirect_opt_out_.insert(default_route_->origin());
    }
    std::vector<Ingress> ingresses = HandledIngresses();
    std::sort(ingresses.begin(), ingresses.end(), OlderFirst);
    std::erase_if(ingresses, [](const Ingress& ingress) { return ingress.refused; });
    for (const Ingress& ingress : ingresses) {
      if (!ingress.canary.canary) Processing(ingress, 1), AddRules(ingress);
    }
    for (const Ingress& ingress : ingresses) {
      // Attaches to the primaries' routes above.
      if (ingress.canary.canary) Processing(ingress, 2), AddRules(ingress);
    }
    for (const Ingress& ingress : ingresses) {
      if (!ingress.canary.canary) Processing(ingress, 3), AddDefaultBackend(ingress);
    }
    // Server aliases and www redirects need every rule host known (phase 1).
    for (const Ingress& ingress : ingresses) {
      Processing(ingress, 4);
      if (!ingress.canary.canary) AddAliasesAndWww(ingress);
      AddTls(ingress);
    }
    current_ = nullptr;
    Assemble();
    if (trace_ != nullptr) {
      trace_->default_route = default_route_;
      trace_->default_route_ssl_opt_out = default_route_ && ssl_redirect_opt_out_.count(default_route_->origin()) > 0;
      for (IngressTrace& traced : trace_->ingresses) {
        for (auto* keys : {&traced.writes, &traced.reads}) {
          std::sort(keys->begin(), keys->end());
          keys->erase(std::unique(keys->begin(), keys->end()), keys->end());
        }
      }
    }
    return std::move(result_);
  }

  // See RefreshEndpoints() in translate.h. Cluster names are
  // "<namespace>/<service>:<port number or name>" (ResolveBackend).
  void RefreshEndpoints(const std::vector<v1::Cluster*>& clusters, const SlicesByService* slices_by_service) {
    slice_index_ = slices_by_service;
    if (slice_index_ == nullptr) IndexEndpointSlices();
    for (v1::Cluster* cluster : clusters) {
      const std::string& name = cluster->name();
      size_t slash = name.find('/'), colon = name.rfind(':');
      if (slash == std::string::npos || colon == std::string::npos || colon < slash) continue;
      PortRef ref;
      std::string port = name.substr(colon + 1);
      if (!port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos) {
        ref.number = std::stoll(port);
      } else {
        ref.name = port;
      }
      cluster->clear_endpoints();
      (void)FillEndpoints(name.substr(0, slash), name.substr(slash + 1, colon - slash - 1), ref, cluster);
    }
  }

 private:
  // `reason` is the Kubernetes Event reason the leader uses (see
  // translate.h); most problems are a malformed Ingress.
  void Report(Severity severity, const StoredObject& object, std::string kind, std::string message,
              std::string_view reason = kInvalidIngress) {
    const json* metadata = Get(&object.object, "metadata");
    result_.diagnostics.push_back(Diagnostic{severity, std::move(kind), String(metadata, "namespace"),
                                             String(metadata, "name"), object.origin, std::move(message),
                                             std::string(reason)});
    if (trace_ == nullptr) return;
    if (current_ != nullptr) {
      current_->diagnostics[current_phase_].push_back(result_.diagnostics.back());
    } else {
      trace_->class_diagnostics.push_back(result_.diagnostics.back());
    }
  }

  // ---- Tracing (TranslateTraced): what the Ingress being processed touches. ----

  void Processing(const Ingress& ingress, size_t phase) {
    current_ = trace_ != nullptr && ingress.trace != SIZE_MAX ? &trace_->ingresses[ingress.trace] : nullptr;
    current_phase_ = phase;
  }
  void Writes(std::string key) {
    if (current_ != nullptr) current_->writes.push_back(std::move(key));
  }
  void Reads(std::string key) {
    if (current_ != nullptr) current_->reads.push_back(std::move(key));
  }
  void Report(Severity severity, const Ingress& ingress, std::string message,
              std::string_view reason = kInvalidIngress) {
    Report(severity, *ingress.stored, "Ingress", std::move(message), reason);
  }

  // ---- Which Ingresses are ours. ----

  std::vector<Ingress> HandledIngresses() {
    std::set<std::string> our_classes;
    std::string default_class;
    for (const auto& [key, stored] : store_.Objects("IngressClass")) {
      if (String(Get(&stored.object, "spec"), "controller") != options_.ingress_class_controller) continue;
      our_classes.insert(key.second);
      const json* annotations = Get(Get(&stored.object, "metadata"), "annotations");
      const json* is_default = Get(annotations, kDefaultClassAnnotation);
      if (is_default != nullptr && !is_default->is_string()) {
        Report(Severity::kWarning, stored, "IngressClass",
               "metadata.annotations[\"" + std::string(kDefaultClassAnnotation) +
                   "\"] must be a string; write \"true\" in quotes (got " + Describe(*is_default) + ")",
               kInvalidIngressClass);
      } else if (is_default != nullptr && is_default->get<std::string>() == "true" && default_class.empty()) {
        default_class = key.second;  // the first by name, should there be several
      }
    }

    std::vector<Ingress> handled;
    std::vector<std::pair<const std::pair<std::string, std::string>*, const StoredObject*>> candidates;
    if (scope_ != nullptr && scope_->only != nullptr) {
      for (const auto& key : *scope_->only) {
        if (const StoredObject* stored = store_.Find("Ingress", key.first, key.second)) {
          candidates.emplace_back(&key, stored);
        }
      }
    } else {
      for (const auto& [key, stored] : store_.Objects("Ingress")) candidates.emplace_back(&key, &stored);
    }
    if (trace_ != nullptr) trace_->ingresses.reserve(candidates.size());
    for (const auto& [key_pointer, stored_pointer] : candidates) {
      const auto& [ns, name] = *key_pointer;
      const StoredObject& stored = *stored_pointer;
      if (!options_.watch_namespace.empty() && ns != options_.watch_namespace) continue;
      const json* metadata = Get(&stored.object, "metadata");
      size_t trace_index = SIZE_MAX;
      if (trace_ != nullptr) {
        trace_index = trace_->ingresses.size();
        IngressTrace& traced = trace_->ingresses.emplace_back();
        traced.ns = ns;
        traced.name = name;
        traced.creation = String(metadata, "creationTimestamp");
        current_ = &traced;
        current_phase_ = 0;
      }
      const json* class_name = Get(Get(&stored.object, "spec"), "ingressClassName");
      const json* annotation = Get(Get(metadata, "annotations"), kClassAnnotation);
      // Why the Ingress is not ours, or "" when it is.
      std::string not_ours;
      std::string not_our_class = " is not an IngressClass of controller " + options_.ingress_class_controller;
      if (class_name != nullptr && !class_name->is_null()) {
        if (!class_name->is_string()) {
          Report(Severity::kError, stored, "Ingress", "spec.ingressClassName must be a string, got " +
                                                          Describe(*class_name) + "; Ingress ignored");
          continue;
        }
        if (!our_classes.count(class_name->get<std::string>())) {
          not_ours = "spec.ingressClassName " + Quote(class_name->get<std::string>()) + not_our_class;
        }
      } else if (annotation != nullptr) {
        std::string value = annotation->is_string() ? annotation->get<std::string>() : Describe(*annotation);
        if (!our_classes.count(value)) {
          not_ours = "annotation " + std::string(kClassAnnotation) + " " + Quote(value) + not_our_class;
        }
      } else if (default_class.empty()) {
        not_ours = "no spec.ingressClassName, and no IngressClass of controller " +
                   options_.ingress_class_controller + " is the default";
      }
      if (!not_ours.empty()) {
        Report(Severity::kWarning, stored, "Ingress", not_ours + "; Ingress ignored", kIgnoredIngress);
        continue;
      }
      handled.push_back(
          Ingress{&stored, ns, name, String(metadata, "creationTimestamp"), ns + "/" + name,
                  PolicyOf(stored, ns + "/" + name)});
      handled.back().trace = trace_index;
      if (current_ != nullptr) current_->handled = true;
      ReadBalancing(handled.back());
      ReadMirror(handled.back());
      ReadRouting(handled.back());
    }
    current_ = nullptr;
    return handled;
  }

  // ---- Per-route policies. ----

  // The policy from the Ingress's annotations; an invalid annotation is a
  // warning and is ignored, the others still apply.
  v1::RoutePolicy PolicyOf(const StoredObject& stored, const std::string& origin) {
    const json* annotations = Get(Get(&stored.object, "metadata"), "annotations");
    AnnotatedPolicy parsed = RoutePolicyFromAnnotations(annotations);
    // upstream-vhost, header-set ConfigMaps and CORS (header_annotations.h).
    ReadHeaderAnnotations(
        annotations, String(Get(&stored.object, "metadata"), "namespace"),
        [this](const std::string& ns, const std::string& name) -> const json* {
          const StoredObject* config_map = store_.Find("ConfigMap", ns, name);
          return config_map != nullptr ? &config_map->object : nullptr;
        },
        parsed.policy, parsed.problems);
    if (!parsed.ssl_redirect) ssl_redirect_opt_out_.insert(origin);
    if (parsed.ssl_passthrough) {
      if (options_.enable_ssl_passthrough) {
        ssl_passthrough_.insert(origin);
      } else {
        Report(Severity::kWarning, stored, "Ingress",
               "ssl-passthrough \"true\" needs the controller's --enable-ssl-passthrough (as ingress-nginx); "
               "annotation ignored, the Ingress's TLS is terminated as usual",
               kInvalidAnnotation);
      }
    }
    // Rate-limit buckets are per Ingress (as ingress-nginx's zones), in
    // every proxy and across snapshots.
    if (parsed.policy.has_rate_limit()) parsed.policy.mutable_rate_limit()->set_name(origin);
    for (const AnnotationProblem& problem : parsed.problems) {
      Report(Severity::kWarning, stored, "Ingress",
             problem.message + (problem.annotation.empty() ? "; annotations ignored" : "; annotation ignored"),
             kInvalidAnnotation);
    }
    // External authentication: the auth URL's Service becomes a cluster
    // (created when the snapshot is assembled, after every backend, so a
    // Service that is also a backend keeps its backend's settings).
    AnnotatedAuth auth = ExternalAuthFromAnnotations(annotations, origin.substr(0, origin.find('/')));
    for (const AnnotationProblem& problem : auth.problems) {
      bool refused = auth.policy.deny_all() && problem.annotation.find("auth-url") != std::string::npos;
      Report(Severity::kWarning, stored, "Ingress", problem.message + (refused ? "" : "; annotation ignored"),
             kInvalidAnnotation);
    }
    if (auth.set) {
      if (!auth.policy.deny_all()) {
        std::string cluster_name = auth.service_namespace + "/" + auth.service_name + ":" +
                                   std::to_string(auth.service_port);
        auth.policy.set_cluster(cluster_name);
        Writes("c:" + cluster_name);
        auth_services_.try_emplace(cluster_name, AuthService{auth.service_namespace, auth.service_name,
                                                             auth.service_port, &stored, "auth service"});
      }
      *parsed.policy.mutable_external_auth() = std::move(auth.policy);
    }
    // Custom error pages and the Ingress's own default backend.
    AnnotatedErrors errors = CustomErrorsFromAnnotations(annotations);
    for (const AnnotationProblem& problem : errors.problems) {
      Report(Severity::kWarning, stored, "Ingress", problem.message + "; annotation ignored", kInvalidAnnotation);
    }
    std::string ns = origin.substr(0, origin.find('/'));
    std::string default_backend;
    if (!errors.default_backend.empty()) {
      // Its first port, as ingress-nginx; 80 while the Service is missing.
      uint32_t port = 80;
      const StoredObject* service = store_.Find("Service", ns, errors.default_backend);
      const json* ports = service != nullptr ? Get(Get(&service->object, "spec"), "ports") : nullptr;
      if (ports != nullptr && ports->is_array() && !ports->empty()) {
        std::optional<int64_t> number = Integer(Get(&(*ports)[0], "port"));
        if (number && *number >= 1 && *number <= 65535) port = static_cast<uint32_t>(*number);
      }
      default_backend = ns + "/" + errors.default_backend + ":" + std::to_string(port);
      Writes("c:" + default_backend);
      auth_services_.try_emplace(default_backend, AuthService{ns, errors.default_backend, port, &stored, "default backend"});
      parsed.policy.set_default_backend_cluster(default_backend);
    }
    if (!errors.statuses.empty()) {
      v1::CustomErrorsPolicy* custom = parsed.policy.mutable_custom_errors();
      for (uint32_t status : errors.statuses) custom->add_statuses(status);
      custom->set_cluster(default_backend);  // empty: the default route's, when the snapshot is assembled
      custom->set_ingress_namespace(ns);
      custom->set_ingress_name(origin.substr(origin.find('/') + 1));
      if (default_backend.empty()) {
        Reads("d");
        custom_errors_without_backend_.emplace(origin, &stored);
      }
    }
    // Snippets and other raw configuration: never applied, said loudly (an
    // Event with its own reason, so `kubectl get events` finds them all).
    for (const AnnotationProblem& problem : RefusedAnnotationProblems(annotations)) {
      Report(Severity::kWarning, stored, "Ingress", problem.message, "RefusedAnnotation");
    }
    ReadBasicAuth(stored, annotations, parsed.policy);
    return std::move(parsed.policy);
  }

  // Basic authentication: the annotations, then the users of their Secret.
  // Anything unusable fails closed (basic_auth.deny_all: 503), never open.
  void ReadBasicAuth(const StoredObject& stored, const json* annotations, v1::RoutePolicy& policy) {
    AnnotatedBasicAuth auth = BasicAuthFromAnnotations(annotations, String(Get(&stored.object, "metadata"), "namespace"));
    for (const AnnotationProblem& problem : auth.problems) {
      Report(Severity::kWarning, stored, "Ingress", problem.message, kInvalidAnnotation);
    }
    if (auth.satisfy_any) policy.set_satisfy_any(true);
    if (!auth.enabled) return;
    v1::BasicAuthPolicy* basic = policy.mutable_basic_auth();
    *basic = std::move(auth.policy);
    if (basic->deny_all()) return;
    std::string label = "basic auth: Secret " + auth.secret_namespace + "/" + auth.secret_name;
    Reads("auth:" + auth.secret_namespace + "/" + auth.secret_name);
    const StoredObject* secret = store_.Find("Secret", auth.secret_namespace, auth.secret_name);
    if (secret == nullptr) {
      basic->set_deny_all(true);
      Report(Severity::kWarning, stored, "Ingress",
             label + " not found (or holds no password hash); every request gets 503", kSecretNotFound);
      return;
    }
    for (const std::string& problem : ReadBasicAuthUsers(secret->object, label, auth.auth_map, *basic)) {
      Report(Severity::kWarning, stored, "Ingress",
             problem + (basic->deny_all() ? "; every request gets 503" : ""), kInvalidSecret);
    }
    if (basic->deny_all()) basic->clear_users();
  }

  // Left unset when all defaults, so Ingresses without annotations give the
  // same bytes as before policies existed.
  static void SetPolicy(const Ingress& ingress, v1::Route* route) {
    if (ingress.policy.ByteSizeLong() != 0) *route->mutable_policy() = ingress.policy;
  }

  // ---- Rules. ----

  VirtualHostBuild& Host(const std::string& name) {
    if (current_ != nullptr) {
      Writes("h:" + name);
      // Its certificate may be the wildcard one covering it (CertificateFor).
      size_t dot = name.find('.');
      if (name != kCatchAll && name.rfind("*.", 0) != 0 && dot != std::string::npos) {
        Reads("w:*" + name.substr(dot));
      }
    }
    return hosts_[name];
  }

  void AddRules(const Ingress& ingress) {
    const json* spec = Get(&ingress.stored->object, "spec");
    const json* rules = Get(spec, "rules");
    if (rules == nullptr || rules->is_null()) {
      if (Get(spec, "defaultBackend") == nullptr) {
        Report(Severity::kWarning, ingress, "has neither spec.rules nor spec.defaultBackend; nothing to route");
      }
      return;
    }
    if (!rules->is_array()) {
      Report(Severity::kError, ingress, "spec.rules must be a list, got " + Describe(*rules));
      return;
    }
    for (size_t i = 0; i < rules->size(); ++i) {
      const json& rule = (*rules)[i];
      std::string field = Index("spec.rules", i);
      std::string host(kCatchAll);
      const json* raw_host = Get(&rule, "host");
      bool has_host = raw_host != nullptr && !raw_host->is_null() &&
                      !(raw_host->is_string() && raw_host->get<std::string>().empty());  // "" = no host
      if (has_host) {
        sluice::Result<std::string> normalized = raw_host->is_string()
                                                     ? NormalizeHost(raw_host->get<std::string>())
                                                     : sluice::Result<std::string>(Status::Error(
                                                           "must be a string, got " + Describe(*raw_host)));
        if (!normalized.ok()) {
          Report(Severity::kError, ingress,
                 field + ".host " + Quote(raw_host->is_string() ? raw_host->get<std::string>() : "") + ": " +
                     normalized.status().message() + "; rule skipped");
          continue;
        }
        host = normalized.value();
      }
      if (!ingress.canary.canary && ssl_passthrough_.count(ingress.origin)) {
        if (has_host) {
          AddPassthroughRule(ingress, host, rule, field);
          continue;
        }
        Report(Severity::kWarning, ingress,
               field + ": ssl-passthrough needs a host (the connection is routed by its SNI); this rule is served "
                       "as usual");
      }
      // A host-only rule still creates the host: its requests then get the
      // default backend, not the catch-all's rules (as in Kubernetes).
      if (!ingress.canary.canary) {  // a canary adds no host of its own
        Host(host);
        rule_hosts_[host].insert(ingress.origin);
        rule_hosts_by_origin_[ingress.origin].insert(host);
      }
      const json* paths = Get(Get(&rule, "http"), "paths");
      if (paths == nullptr) continue;
      if (!paths->is_array()) {
        Report(Severity::kError, ingress, field + ".http.paths must be a list, got " + Describe(*paths));
        continue;
      }
      for (size_t j = 0; j < paths->size(); ++j) AddPath(ingress, host, (*paths)[j], Index(field + ".http.paths", j));
    }
  }

  // ssl-passthrough: the whole host goes to the rule's first path's backend
  // (ingress-nginx ignores the paths of a passthrough host).
  void AddPassthroughRule(const Ingress& ingress, const std::string& host, const json& rule, const std::string& field) {
    Writes("h:" + host);
    if (auto owner = passthrough_owner_.find(host); owner != passthrough_owner_.end()) {
      Report(Severity::kWarning, ingress,
             field + ": host " + Quote(host) + " is already passed through by Ingress " + owner->second +
                 " (older); rule ignored",
             kConflict);
      return;
    }
    if (auto found = hosts_.find(host); found != hosts_.end() && !found->second.routes.empty()) {
      Report(Severity::kWarning, ingress,
             field + ": ssl-passthrough takes the whole host " + Quote(host) + ", which already has paths of Ingress " +
                 found->second.routes.front().origin() + " (older); rule ignored",
             kConflict);
      return;
    }
    const json* paths = Get(Get(&rule, "http"), "paths");
    if (paths == nullptr || !paths->is_array() || paths->empty()) {
      Report(Severity::kError, ingress,
             field + ": ssl-passthrough needs a backend (the rule's first path's); rule ignored");
      return;
    }
    std::string path_field = Index(field + ".http.paths", 0);
    const json& entry = (*paths)[0];
    if (Get(Get(&entry, "backend"), "resource") != nullptr) {
      Report(Severity::kError, ingress,
             path_field + ".backend: ssl-passthrough needs a Service backend, not a resource; rule ignored");
      return;
    }
    std::optional<std::string> cluster = ResolveBackend(ingress, Get(&entry, "backend"), path_field + ".backend");
    if (!cluster) return;
    if (paths->size() > 1) {
      Report(Severity::kWarning, ingress,
             field + ": ssl-passthrough passes the whole host " + Quote(host) +
                 " to the first path's backend; the other paths are ignored (as ingress-nginx)");
    }
    v1::Route route;
    route.set_cluster(*cluster);
    SetPolicy(ingress, &route);
    route.set_match(v1::Route::PREFIX);
    route.set_path("/");
    route.set_origin(ingress.origin);
    claims_.emplace(std::make_tuple(host, v1::Route::PREFIX, std::string("/")), ingress.origin);
    passthrough_owner_.emplace(host, ingress.origin);
    VirtualHostBuild& build = Host(host);
    build.routes.push_back(std::move(route));
    build.tls_passthrough = true;
    build.passthrough_connect_timeout_ms = ingress.policy.connect_timeout_ms();
    build.passthrough_idle_timeout_ms = ingress.policy.idle_timeout_ms();
  }

  void AddPath(const Ingress& ingress, const std::string& host, const json& entry, const std::string& field) {
    std::string type_name = String(&entry, "pathType");
    PathType type;
    if (type_name == "Exact") {
      type = PathType::kExact;
    } else if (type_name == "Prefix") {
      type = PathType::kPrefix;
    } else if (type_name == "ImplementationSpecific") {
      // Sluice has no matching of its own beyond these two; treating it as
      // Prefix is what most controllers do for plain paths.
      type = PathType::kImplementationSpecific;
    } else {
      Report(Severity::kError, ingress,
             field + ".pathType" + (type_name.empty() ? std::string() : " " + Quote(type_name)) +
                 ": must be Exact, Prefix or ImplementationSpecific; path skipped");
      return;
    }
    const json* raw_path = Get(&entry, "path");
    if (raw_path != nullptr && !raw_path->is_null() && !raw_path->is_string()) {
      Report(Severity::kError, ingress, field + ".path must be a string, got " + Describe(*raw_path) + "; path skipped");
      return;
    }
    std::string written = String(&entry, "path");
    // A regex Ingress's paths (all path types, as ingress-nginx's `~*`
    // locations) are expressions: validated in ReadRouting already.
    sluice::Result<std::string> path =
        ingress.routing.regex ? ValidateRegexPath(written) : NormalizePath(written, type);
    if (!path.ok()) {
      Report(Severity::kError, ingress,
             field + ".path " + Quote(written) + ": " + path.status().message() + "; path skipped");
      return;
    }
    v1::Route::PathMatch match = ingress.routing.regex     ? v1::Route::REGEX
                                 : type == PathType::kExact ? v1::Route::EXACT
                                                            : v1::Route::PREFIX;
    if (auto owner = passthrough_owner_.find(host); owner != passthrough_owner_.end()) {
      Report(Severity::kWarning, ingress,
             field + ": host " + Quote(host) + " is passed through (ssl-passthrough) by Ingress " + owner->second +
                 ", which takes the whole host; path ignored",
             kConflict);
      return;
    }
    if (ingress.canary.canary) return AddCanaryPath(ingress, host, match, path.value(), entry, field);
    auto claim_key = std::make_tuple(host, match, path.value());
    if (auto claim = claims_.find(claim_key); claim != claims_.end()) {
      // Checked before resolving the backend: the loser's Service is not
      // looked up, so it causes no further diagnostics and no cluster.
      Report(Severity::kWarning, ingress,
             field + ": host " + Quote(host) + " " +
                 (match == v1::Route::EXACT ? "Exact " : match == v1::Route::REGEX ? "regex " : "Prefix ") +
                 Quote(path.value()) + " is already routed by " +
                 (claim->second == ingress.origin ? "an earlier path of this Ingress"
                                                  : "Ingress " + claim->second + " (older)") +
                 "; path ignored",
             kConflict);
      return;
    }
    v1::Route route;
    if (const json* resource = Get(Get(&entry, "backend"), "resource")) {
      // A static site answers the path itself: no cluster.
      SetPolicy(ingress, &route);
      if (!SetStaticSite(ingress, *resource, field + ".backend", match == v1::Route::PREFIX ? path.value() : "", &route)) {
        return;
      }
    } else {
      std::optional<std::string> cluster = ResolveBackend(ingress, Get(&entry, "backend"), field + ".backend");
      if (!cluster) return;
      route.set_cluster(*cluster);
      SetPolicy(ingress, &route);
    }
    claims_.emplace(std::move(claim_key), ingress.origin);
    route.set_match(match);
    route.set_path(path.value());
    route.set_origin(ingress.origin);
    if (!ingress.routing.rewrite_target.empty()) route.set_rewrite_target(ingress.routing.rewrite_target);
    Host(host).routes.push_back(std::move(route));
  }

  // ---- Request mirroring (mirror-target, mirror-host, mirror-request-body). ----

  // The annotation's string value, the sluice.io/ one first; `name` gets
  // the one used. Null when neither is set.
  static const json* MirrorAnnotation(const json* annotations, std::string_view suffix, std::string* name) {
    for (std::string prefix : {"sluice.io/", "nginx.ingress.kubernetes.io/"}) {
      if (const json* value = LookUpAnnotation(annotations, prefix + std::string(suffix))) {
        *name = prefix + std::string(suffix);
        return value;
      }
    }
    return nullptr;
  }

  // ingress-nginx's mirror-target is any URL; Sluice's proxies never resolve
  // names, so the target must be a Service of the cluster, written as its
  // cluster DNS name (svc.ns.svc.cluster.local, svc.ns.svc, svc.ns, or svc
  // in the Ingress's namespace), over http. It becomes a Cluster of the
  // snapshot (its ready endpoints), resolved here, once.
  void ReadMirror(Ingress& ingress) {
    const json* annotations = Get(Get(&ingress.stored->object, "metadata"), "annotations");
    std::string target_name, host_name, body_name;
    const json* target = MirrorAnnotation(annotations, "mirror-target", &target_name);
    const json* host = MirrorAnnotation(annotations, "mirror-host", &host_name);
    const json* body = MirrorAnnotation(annotations, "mirror-request-body", &body_name);
    if (target == nullptr) {
      if (host != nullptr || body != nullptr) {
        Report(Severity::kWarning, ingress,
               (host != nullptr ? host_name : body_name) + " has no effect without mirror-target; annotation ignored",
               kInvalidAnnotation);
      }
      return;
    }
    auto problem = [&](const std::string& name, const std::string& message) {
      Report(Severity::kWarning, ingress, name + " " + message + "; no requests are mirrored", kInvalidAnnotation);
    };
    if (!target->is_string()) return problem(target_name, "must be a string, got " + Describe(*target));
    std::string url = target->get<std::string>();
    std::string rest;
    if (url.rfind("http://", 0) == 0) {
      rest = url.substr(7);
    } else {
      return problem(target_name, Quote(url) + ": must be an http:// URL of a cluster Service (https:// and other "
                                               "schemes are not supported)");
    }
    size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "$request_uri" : rest.substr(slash);
    std::string hostname = authority;
    int64_t port = 80;
    if (size_t colon = authority.find(':'); colon != std::string::npos) {
      hostname = authority.substr(0, colon);
      std::string digits = authority.substr(colon + 1);
      if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos ||
          std::stoll(digits) < 1 || std::stoll(digits) > 65535) {
        return problem(target_name, Quote(url) + ": invalid port");
      }
      port = std::stoll(digits);
    }
    std::vector<std::string> labels;
    for (size_t start = 0;;) {
      size_t dot = hostname.find('.', start);
      labels.push_back(hostname.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    std::string service = labels[0], ns = ingress.ns;
    bool cluster_name = labels.size() == 1 || labels.size() == 2 ||
                        (labels.size() == 3 && labels[2] == "svc") ||
                        (labels.size() == 5 && labels[2] == "svc" && labels[3] == "cluster" && labels[4] == "local");
    if (labels.size() >= 2) ns = labels[1];
    // "svc.ns" is also how an outside name looks ("example.com"): only an
    // existing Service makes it one of ours.
    if (labels.size() == 2 && cluster_name) {
      // Keyed as the cluster would be, so that the Service appearing later
      // translates this Ingress again (incremental.cc).
      Writes("c:" + ns + "/" + service + ":" + std::to_string(port));
      cluster_name = store_.Find("Service", ns, service) != nullptr;
    }
    if (!cluster_name || !IsDnsLabel(service) || !IsDnsLabel(ns)) {
      return problem(target_name, Quote(url) + ": the host must name a Service of the cluster "
                                               "(SERVICE.NAMESPACE.svc.cluster.local): the proxies do not resolve "
                                               "other names");
    }
    for (size_t i = 0; i < path.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(path[i]);
      if (c <= 0x20 || c >= 0x7f || c == '#') return problem(target_name, Quote(url) + ": invalid character in the path");
      if (c != '$') continue;
      std::string_view tail = std::string_view(path).substr(i);
      if (!tail.starts_with("$request_uri") && !tail.starts_with("$uri") && !tail.starts_with("$args")) {
        return problem(target_name, Quote(url) + ": only the variables $request_uri, $uri and $args are supported");
      }
    }
    v1::MirrorPolicy mirror;
    mirror.set_path(path);
    mirror.set_host(authority);
    if (host != nullptr) {
      std::string value = host->is_string() ? host->get<std::string>() : "";
      bool valid = !value.empty() && value.size() <= 255 &&
                   value.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:[]") ==
                       std::string::npos;
      if (!valid) {
        Report(Severity::kWarning, ingress,
               host_name + " " + (host->is_string() ? Quote(value) : Describe(*host)) +
                   ": must be a host name (with an optional port); annotation ignored",
               kInvalidAnnotation);
      } else {
        mirror.set_host(value);
      }
    }
    if (body != nullptr) {
      std::string value = body->is_string() ? body->get<std::string>() : "";
      if (value == "off" || value == "false") {
        mirror.set_drop_request_body(true);
      } else if (value != "on" && value != "true") {
        Report(Severity::kWarning, ingress,
               body_name + " " + (body->is_string() ? Quote(value) : Describe(*body)) +
                   ": must be \"on\" or \"off\" (or true/false); annotation ignored (the body is mirrored)",
               kInvalidAnnotation);
      }
    }
    PortRef ref;
    ref.number = port;
    ref.field = target_name;
    std::string cluster = ns + "/" + service + ":" + std::to_string(port);
    Writes("c:" + cluster);
    auto [it, fresh] = clusters_.try_emplace(cluster);
    if (fresh) {
      it->second.cluster.set_name(cluster);
      it->second.problem = FillEndpoints(ns, service, ref, &it->second.cluster);
    }
    if (!it->second.problem.message.empty()) {
      std::string message = it->second.problem.reason == kServiceNotFound
                                ? "Service " + ns + "/" + service + " not found; copies fail until it exists"
                                : it->second.problem.message;
      Report(Severity::kWarning, ingress, target_name + " " + Quote(url) + ": " + message, it->second.problem.reason);
    }
    mirror.set_cluster(cluster);
    *ingress.policy.mutable_mirror() = std::move(mirror);
  }

  // ---- Regex paths, rewrites, redirects, aliases (routing_annotations.h). ----

  void ReadRouting(Ingress& ingress) {
    const json* annotations = Get(Get(&ingress.stored->object, "metadata"), "annotations");
    std::vector<AnnotationProblem> problems;
    ingress.routing = ReadRoutingAnnotations(annotations, ingress.policy, problems);
    for (const AnnotationProblem& problem : problems) {
      Report(Severity::kWarning, ingress, problem.message + "; annotation ignored", kInvalidAnnotation);
    }
    // force-ssl-redirect: on every route of the Ingress, TLS or not (and
    // over ssl-redirect "false", as in ingress-nginx).
    if (ingress.routing.force_ssl_redirect) ingress.policy.set_redirect_to_https(true);
    if (!ingress.routing.regex) return;
    // Every path must compile before any applies.
    const json* rules = Get(Get(&ingress.stored->object, "spec"), "rules");
    if (rules == nullptr || !rules->is_array()) return;
    for (size_t i = 0; i < rules->size(); ++i) {
      const json* paths = Get(Get(&(*rules)[i], "http"), "paths");
      if (paths == nullptr || !paths->is_array()) continue;
      for (size_t j = 0; j < paths->size(); ++j) {
        const json* raw = Get(&(*paths)[j], "path");
        if (raw == nullptr || !raw->is_string()) continue;  // AddPath reports it
        sluice::Result<std::string> valid = ValidateRegexPath(raw->get<std::string>());
        if (!valid.ok()) {
          Report(Severity::kError, ingress,
                 Index(Index("spec.rules", i) + ".http.paths", j) + ".path " + Quote(raw->get<std::string>()) +
                     " (a regex: use-regex or rewrite-target) " + valid.status().message() + "; Ingress not applied",
                 kInvalidRegex);
          ingress.refused = true;
        }
      }
    }
  }

  // Phase 4, before TLS: the Ingress's routes on its server aliases, and
  // the www.<host> <-> <host> redirect hosts. Every rule host is known by
  // now, so a name another Ingress routes as a host is never taken over.
  void AddAliasesAndWww(const Ingress& ingress) {
    auto own_hosts = rule_hosts_by_origin_.find(ingress.origin);
    if (own_hosts == rule_hosts_by_origin_.end()) return;
    auto owned_by_other_rules = [&](const std::string& host) {
      auto it = rule_hosts_.find(host);
      return it != rule_hosts_.end() && (it->second.size() > 1 || !it->second.count(ingress.origin));
    };
    for (const std::string& raw : ingress.routing.server_aliases) {
      sluice::Result<std::string> alias = NormalizeHost(raw);
      if (!alias.ok()) {
        Report(Severity::kWarning, ingress,
               "server-alias " + Quote(raw) + ": " + alias.status().message() + "; alias ignored", kInvalidAnnotation);
        continue;
      }
      Writes("h:" + *alias);  // whoever owns it later changes this outcome
      if (own_hosts->second.count(*alias)) continue;  // already one of its hosts
      std::string owner;
      if (owned_by_other_rules(*alias)) {
        const std::set<std::string>& owners = rule_hosts_[*alias];
        owner = "Ingress " + (*owners.begin() != ingress.origin ? *owners.begin() : *std::next(owners.begin())) +
                " routes it as a host";
      } else if (auto claimed = alias_owners_.emplace(*alias, ingress.origin);
                 !claimed.second && claimed.first->second != ingress.origin) {
        owner = "it is already a server alias or www redirect of Ingress " + claimed.first->second + " (older)";
      }
      if (!owner.empty()) {
        Report(Severity::kWarning, ingress, "server-alias " + Quote(*alias) + ": " + owner + "; alias ignored",
               kConflict);
        continue;
      }
      // The Ingress's own routes (canaries attached) on its rule hosts.
      std::vector<v1::Route> copies;
      for (const std::string& host : own_hosts->second) {
        for (const v1::Route& route : Host(host).routes) {
          if (route.origin() == ingress.origin) copies.push_back(route);
        }
      }
      VirtualHostBuild& target = Host(*alias);
      for (v1::Route& route : copies) target.routes.push_back(std::move(route));
    }
    if (!ingress.routing.from_to_www) return;
    for (const std::string& host : own_hosts->second) {
      if (host == kCatchAll || host.rfind("*.", 0) == 0) continue;
      std::string from = host.rfind("www.", 0) == 0 ? host.substr(4) : "www." + host;
      if (from.find('.') == std::string::npos) continue;  // "www.com" -> "com": not a host to serve
      Writes("h:" + from);
      if (own_hosts->second.count(from)) continue;  // the Ingress serves both names itself
      std::string owner;
      if (rule_hosts_.count(from)) {
        owner = "Ingress " + *rule_hosts_[from].begin() + " routes it as a host";
      } else if (auto claimed = alias_owners_.emplace(from, ingress.origin);
                 !claimed.second && claimed.first->second != ingress.origin) {
        owner = "it is already a server alias or www redirect of Ingress " + claimed.first->second + " (older)";
      }
      if (!owner.empty()) {
        Report(Severity::kWarning, ingress,
               "from-to-www-redirect: no redirect from " + Quote(from) + ": " + owner, kConflict);
        continue;
      }
      // ingress-nginx's redirect server: 308 (its default http-redirect-code)
      // to the same scheme, port, path and query on the Ingress's host.
      v1::Route route;
      route.set_match(v1::Route::PREFIX);
      route.set_path("/");
      route.set_origin(ingress.origin);
      route.mutable_policy()->mutable_redirect()->set_host(host);
      route.mutable_policy()->mutable_redirect()->set_code(308);
      Host(from).routes.push_back(std::move(route));
    }
  }

  // ---- Load balancing, affinity and canaries (balancing_annotations.h). ----

  void ReadBalancing(Ingress& ingress) {
    const json* annotations = Get(Get(&ingress.stored->object, "metadata"), "annotations");
    ingress.balancing = BalancingFromAnnotations(annotations);
    ingress.canary = CanaryFromAnnotations(annotations);
    // Per route: each Ingress's routes balance as it is annotated, whatever
    // other Ingresses routing to the same Service port ask for.
    if (ingress.balancing.set) *ingress.policy.mutable_load_balancing() = ingress.balancing.Policy();
    for (const auto* problems : {&ingress.balancing.problems, &ingress.canary.problems}) {
      for (const AnnotationProblem& problem : *problems) {
        Report(Severity::kWarning, ingress, problem.message + "; annotation ignored", kInvalidAnnotation);
      }
    }
    if (ingress.canary.canary && Get(Get(&ingress.stored->object, "spec"), "defaultBackend") != nullptr) {
      Report(Severity::kWarning, ingress,
             "spec.defaultBackend of a canary Ingress is ignored: only its rules' paths attach to a primary Ingress");
    }
  }

  // A canary Ingress's path: its Service becomes the canary of the route
  // that a primary Ingress has for the same host and path (ingress-nginx's
  // model), instead of conflicting with it.
  void AddCanaryPath(const Ingress& ingress, const std::string& host, v1::Route::PathMatch match,
                     const std::string& path, const json& entry, const std::string& field) {
    std::string where = field + ": host " + Quote(host) + (match == v1::Route::EXACT ? " Exact " : " Prefix ") + Quote(path);
    Writes("h:" + host);
    v1::Route* primary = nullptr;
    if (auto found = hosts_.find(host); found != hosts_.end()) {
      for (v1::Route& route : found->second.routes) {
        if (route.match() == match && route.path() == path) primary = &route;
      }
    }
    if (primary == nullptr) {
      Report(Severity::kError, ingress,
             where + ": canary Ingress without a primary: no other Ingress routes this host and path; path ignored");
      return;
    }
    auto [canary_owner, fresh] = canary_owners_.emplace(std::make_tuple(host, match, path), ingress.origin);
    if (!fresh) {
      Report(Severity::kWarning, ingress,
             where + ": the route of Ingress " + primary->origin() + " already has a canary from " +
                 (canary_owner->second == ingress.origin ? "an earlier path of this Ingress"
                                                         : "Ingress " + canary_owner->second + " (older)") +
                 "; path ignored",
             kConflict);
      return;
    }
    std::optional<std::string> cluster = ResolveBackend(ingress, Get(&entry, "backend"), field + ".backend");
    if (!cluster) {
      canary_owners_.erase(canary_owner);
      return;
    }
    v1::CanaryRule* rule = primary->mutable_canary();
    rule->set_cluster(*cluster);
    rule->set_header(ingress.canary.header);
    rule->set_header_value(ingress.canary.header_value);
    rule->set_cookie(ingress.canary.cookie);
    // The canary Ingress's own balancing annotations, for its Service.
    if (ingress.balancing.set) *rule->mutable_load_balancing() = ingress.balancing.Policy();
    primary->clear_weighted_clusters();
    if (ingress.canary.weight > 0) {
      v1::WeightedCluster* stable = primary->add_weighted_clusters();
      stable->set_cluster(primary->cluster());
      stable->set_weight(ingress.canary.weight_total - ingress.canary.weight);
      v1::WeightedCluster* canary = primary->add_weighted_clusters();
      canary->set_cluster(*cluster);
      canary->set_weight(ingress.canary.weight);
    }
  }

  // ---- Static sites (static_sites.h). ----

  // backend.resource: `route` serves the site it names. False (and an
  // error) when it cannot: the path is not routed, the rest applies.
  bool SetStaticSite(const Ingress& ingress, const json& resource, const std::string& field,
                     const std::string& prefix, v1::Route* route) {
    StaticSiteResult site = ResolveStaticSite(store_, ingress.ns, resource, prefix, options_.static_sites,
                                              static_site_bytes_);
    for (const std::string& warning : site.warnings) {
      Report(Severity::kWarning, ingress, field + ".resource: " + warning, "InvalidStaticSite");
    }
    if (!site.ok) {
      Report(Severity::kError, ingress, field + ".resource: " + site.error + "; path skipped", site.reason);
      return false;
    }
    *route->mutable_policy()->mutable_static_site() = std::move(site.policy);
    return true;
  }

  // ---- Backends and clusters. ----

  // The cluster name for a backend, resolving its endpoints the first time;
  // nothing (and an error) when the backend cannot be routed to at all.
  std::optional<std::string> ResolveBackend(const Ingress& ingress, const json* backend, const std::string& field) {
    if (backend == nullptr || !backend->is_object()) {
      Report(Severity::kError, ingress, field + " is missing; path skipped");
      return std::nullopt;
    }
    if (Get(backend, "resource") != nullptr) {
      Report(Severity::kError, ingress,
             field + ".resource: a canary Ingress's paths must name a Service (static sites are served by "
                     "primary paths and default backends); skipped",
             kUnsupportedBackend);
      return std::nullopt;
    }
    const json* service = Get(backend, "service");
    if (service == nullptr) {
      Report(Severity::kError, ingress, field + ".service is missing; skipped");
      return std::nullopt;
    }
    std::string service_name = String(service, "name");
    if (!IsDnsLabel(service_name)) {
      Report(Severity::kError, ingress,
             field + ".service.name " + Quote(service_name) + ": must be a Service name (a DNS label); skipped");
      return std::nullopt;
    }
    const json* port = Get(service, "port");
    const json* number = Get(port, "number");
    const json* name = Get(port, "name");
    PortRef ref;
    if (number != nullptr && name != nullptr) {
      Report(Severity::kError, ingress, field + ".service.port: set either number or name, not both; skipped");
      return std::nullopt;
    }
    if (number != nullptr) {
      ref.field = field + ".service.port.number";
      std::optional<int64_t> value = Integer(number);
      if (!value || *value < 1 || *value > 65535) {
        Report(Severity::kError, ingress,
               ref.field + " must be an integer from 1 to 65535, got " + Describe(*number) +
                   (number->is_string() ? " (quoted in YAML?)" : "") + "; skipped");
        return std::nullopt;
      }
      ref.number = *value;
    } else if (name != nullptr && name->is_string() && !name->get<std::string>().empty()) {
      ref.field = field + ".service.port.name";
      ref.name = name->get<std::string>();
    } else {
      Report(Severity::kError, ingress, field + ".service.port needs a number or a name; skipped");
      return std::nullopt;
    }

    std::string cluster_name = ingress.ns + "/" + service_name + ":" + ref.AsWritten();
    Writes("c:" + cluster_name);
    auto [it, fresh] = clusters_.try_emplace(cluster_name);
    if (fresh) {
      it->second.cluster.set_name(cluster_name);
      it->second.problem = FillEndpoints(ingress.ns, service_name, ref, &it->second.cluster);
      SetBackendProtocol(ingress, &it->second.cluster);  // the first (oldest) Ingress using the Service port decides
    }
    SetHealthPolicy(ingress, it->second);
    if (!it->second.problem.message.empty()) {
      Report(Severity::kWarning, ingress,
             ref.field + " " + (ref.number ? ref.AsWritten() : Quote(ref.name)) + ": " + it->second.problem.message,
             it->second.problem.reason);
    }
    return cluster_name;
  }

  // The slices of a Service: from slices_, or, with a caller's index,
  // looked up the first time.
  std::map<std::pair<std::string, std::string>, std::vector<const json*>>::iterator SlicesOf(
      const std::string& ns, const std::string& service) {
    if (slice_index_ == nullptr) return slices_.find({ns, service});
    auto [slices, fresh] = slices_.try_emplace({ns, service});
    if (fresh) {
      if (auto names = slice_index_->find({ns, service}); names != slice_index_->end()) {
        for (const std::string& name : names->second) {
          if (const StoredObject* slice = store_.Find("EndpointSlice", ns, name)) slices->second.push_back(&slice->object);
        }
      }
    }
    return slices->second.empty() ? slices_.end() : slices;
  }

  // Groups EndpointSlices by (namespace, kubernetes.io/service-name).
  void IndexEndpointSlices() {
    for (const auto& [key, stored] : store_.Objects("EndpointSlice")) {
      std::string service = String(Get(Get(&stored.object, "metadata"), "labels"), kServiceNameLabel);
      if (!service.empty()) slices_[{key.first, service}].push_back(&stored.object);
    }
  }

  // What is wrong with a backend's Service, for a warning; empty if nothing.
  struct Problem {
    std::string_view reason;
    std::string message;
  };

  // Fills the cluster's endpoints; returns a problem to report (empty if none).
  // The cluster exists even when the Service does not (yet): the proxy then
  // answers 503, and the route starts working when the Service appears.
  Problem FillEndpoints(const std::string& ns, const std::string& service_name, const PortRef& ref,
                        v1::Cluster* cluster) {
    const StoredObject* service = store_.Find("Service", ns, service_name);
    std::string service_label = "Service " + ns + "/" + service_name;
    if (service == nullptr) {
      return {kServiceNotFound, service_label + " not found; the proxy answers 503 until it exists"};
    }
    const json* spec = Get(&service->object, "spec");

    // The ServicePort the Ingress means: by port number, or by name.
    const json* service_port = nullptr;
    if (const json* ports = Get(spec, "ports"); ports != nullptr && ports->is_array()) {
      for (const json& candidate : *ports) {
        bool same = ref.number ? Integer(Get(&candidate, "port")) == ref.number : String(&candidate, "name") == ref.name;
        if (same) {
          service_port = &candidate;
          break;
        }
      }
    }

    std::vector<v1::Endpoint> endpoints;
    if (String(spec, "type") == "ExternalName") {
      // The proxy resolves the name itself; the port is the Ingress's.
      std::string external = String(spec, "externalName");
      std::optional<int64_t> port = ref.number;
      if (!port && service_port != nullptr) port = Integer(Get(service_port, "port"));
      if (external.empty()) {
        return {kInvalidService, service_label + " is of type ExternalName but has no spec.externalName"};
      }
      if (!port) return {kServicePortNotFound, service_label + " (ExternalName) has no port named " + Quote(ref.name)};
      v1::Endpoint endpoint;
      endpoint.set_address(external);
      endpoint.set_port(static_cast<uint32_t>(*port));
      endpoint.set_weight(1);
      *cluster->add_endpoints() = std::move(endpoint);
      return {};
    }
    if (service_port == nullptr) return {kServicePortNotFound, service_label + " has no such port"};

    // Only EndpointSlices exist in discovery.k8s.io/v1 (manual endpoints are
    // slices too), so a Service without slices simply has no endpoints yet.
    std::string port_name = String(service_port, "name");
    auto slices = SlicesOf(ns, service_name);
    if (slices == slices_.end()) return {};
    for (const json* slice : slices->second) {
      std::optional<int64_t> port;
      if (const json* ports = Get(slice, "ports"); ports != nullptr && ports->is_array()) {
        for (const json& candidate : *ports) {
          std::string protocol = String(&candidate, "protocol");
          if (String(&candidate, "name") == port_name && (protocol.empty() || protocol == "TCP")) {
            port = Integer(Get(&candidate, "port"));
            break;
          }
        }
      }
      if (!port || *port < 1 || *port > 65535) continue;
      const json* slice_endpoints = Get(slice, "endpoints");
      if (slice_endpoints == nullptr || !slice_endpoints->is_array()) continue;
      for (const json& endpoint : *slice_endpoints) {
        // Ready unless it says otherwise: absent means ready. A terminating
        // endpoint gets no new requests unless it says it is still ready
        // (the EndpointSlice controller sets ready=false when terminating;
        // hand-written slices may only say terminating). Requests already
        // on it finish: the proxy drains, it does not cut.
        const json* conditions = Get(&endpoint, "conditions");
        const json* ready = Get(conditions, "ready");
        const json* terminating = Get(conditions, "terminating");
        bool said_ready = ready != nullptr && ready->is_boolean() && ready->get<bool>();
        if (ready != nullptr && ready->is_boolean() && !said_ready) continue;
        if (terminating != nullptr && terminating->is_boolean() && terminating->get<bool>() && !said_ready) continue;
        const json* addresses = Get(&endpoint, "addresses");
        if (addresses == nullptr || !addresses->is_array()) continue;
        for (const json& address : *addresses) {
          if (!address.is_string() || address.get<std::string>().empty()) continue;
          v1::Endpoint out;
          out.set_address(address.get<std::string>());
          out.set_port(static_cast<uint32_t>(*port));
          out.set_weight(1);
          out.set_zone(String(&endpoint, "zone"));
          endpoints.push_back(std::move(out));
        }
      }
    }
    // Sorted and unique by (address, port): the same pod may appear in two
    // slices for a moment while the EndpointSlice controller moves it.
    auto key = [](const v1::Endpoint& e) { return std::make_tuple(e.address(), e.port(), e.zone()); };
    std::sort(endpoints.begin(), endpoints.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
    endpoints.erase(std::unique(endpoints.begin(), endpoints.end(),
                                [](const auto& a, const auto& b) {
                                  return a.address() == b.address() && a.port() == b.port();
                                }),
                    endpoints.end());
    for (v1::Endpoint& endpoint : endpoints) *cluster->add_endpoints() = std::move(endpoint);
    return {};
  }

  // ---- Default backend. ----

  void AddDefaultBackend(const Ingress& ingress) {
    const json* backend = Get(Get(&ingress.stored->object, "spec"), "defaultBackend");
    if (backend == nullptr || backend->is_null()) return;
    Writes("d");
    if (default_route_) {
      Report(Severity::kWarning, ingress,
             "spec.defaultBackend ignored: Ingress " + default_route_->origin() +
                 " (older) already provides the default backend",
             kConflict);
      return;
    }
    v1::Route route;
    if (const json* resource = Get(backend, "resource")) {
      SetPolicy(ingress, &route);
      if (!SetStaticSite(ingress, *resource, "spec.defaultBackend", "/", &route)) return;
    } else {
      std::optional<std::string> cluster = ResolveBackend(ingress, backend, "spec.defaultBackend");
      if (!cluster) return;
      route.set_cluster(*cluster);
      SetPolicy(ingress, &route);
    }
    route.set_match(v1::Route::PREFIX);
    route.set_path("/");
    route.set_origin(ingress.origin);
    default_route_ = std::move(route);
  }

  // ---- TLS. ----

  struct CertificateBuild {
    std::set<std::string> sni_names;
    std::string chain, key;
    bool serves_catch_all = false;  // from a spec.tls entry without hosts
  };

  void AddTls(const Ingress& ingress) {
    const json* tls = Get(Get(&ingress.stored->object, "spec"), "tls");
    if (tls == nullptr || tls->is_null()) return;
    if (!tls->is_array()) {
      Report(Severity::kError, ingress, "spec.tls must be a list, got " + Describe(*tls));
      return;
    }
    for (size_t i = 0; i < tls->size(); ++i) {
      const json& entry = (*tls)[i];
      std::string field = Index("spec.tls", i);
      std::string secret_name = String(&entry, "secretName");
      if (secret_name.empty()) {
        Report(Severity::kWarning, ingress, field + ".secretName is missing; these hosts are served without TLS");
        continue;
      }
      std::string certificate_name = ingress.ns + "/" + secret_name;
      Writes("s:" + certificate_name);
      if (!certificates_.count(certificate_name) && !LoadCertificate(ingress, certificate_name, field)) continue;

      // Hosts, validated; no hosts means the fallback certificate for "*".
      std::vector<std::string> hosts;
      const json* raw_hosts = Get(&entry, "hosts");
      if (raw_hosts != nullptr && raw_hosts->is_array() && !raw_hosts->empty()) {
        for (size_t j = 0; j < raw_hosts->size(); ++j) {
          const json& raw = (*raw_hosts)[j];
          sluice::Result<std::string> host =
              raw.is_string() ? NormalizeHost(raw.get<std::string>())
                              : sluice::Result<std::string>(Status::Error("must be a string"));
          if (!host.ok()) {
            Report(Severity::kError, ingress,
                   Index(field + ".hosts", j) + " " + Quote(raw.is_string() ? raw.get<std::string>() : "") + ": " +
                       host.status().message() + "; host skipped");
            continue;
          }
          hosts.push_back(host.value());
        }
      } else {
        hosts.push_back(std::string(kCatchAll));
      }
      for (const std::string& host : hosts) {
        Writes("h:" + host);
        if (host.rfind("*.", 0) == 0) Writes("w:" + host);
        auto [claim, fresh] = host_certificate_.emplace(host, std::make_pair(certificate_name, ingress.origin));
        if (!fresh && claim->second.first != certificate_name) {
          Report(Severity::kWarning, ingress,
                 field + ": host " + Quote(host) + " already uses certificate " + claim->second.first +
                     " of Ingress " + claim->second.second + " (older); " + certificate_name +
                     " is not used for it",
                 kConflict);
          continue;
        }
        CertificateBuild& certificate = certificates_[certificate_name];
        if (host == kCatchAll) {
          certificate.serves_catch_all = true;
        } else {
          certificate.sni_names.insert(host);
        }
      }
    }
  }

  // Reads the Secret into certificates_; false (and a warning) if unusable.
  bool LoadCertificate(const Ingress& ingress, const std::string& certificate_name, const std::string& field) {
    std::string secret_name = certificate_name.substr(ingress.ns.size() + 1);
    const StoredObject* secret = store_.Find("Secret", ingress.ns, secret_name);
    if (secret == nullptr) {
      Report(Severity::kWarning, ingress,
             field + ".secretName " + Quote(secret_name) + ": Secret " + certificate_name +
                 " not found or not of type kubernetes.io/tls; these hosts are served without TLS",
             kSecretNotFound);
      return false;
    }
    sluice::Result<std::string> chain = SecretValue(secret->object, "tls.crt");
    sluice::Result<std::string> key = SecretValue(secret->object, "tls.key");
    for (const sluice::Result<std::string>* value : {&chain, &key}) {
      if (!value->ok()) {
        Report(Severity::kWarning, *secret, "Secret",
               value->status().message() + " (referenced by Ingress " + ingress.origin + " " + field +
                   "); its hosts are served without TLS",
               kInvalidSecret);
        return false;
      }
    }
    CertificateBuild& build = certificates_[certificate_name];
    build.chain = std::move(chain).value();
    build.key = std::move(key).value();
    return true;
  }

  // The certificate serving virtual host `host`: its own, else the wildcard
  // one covering it, else (for "*" only) the fallback one.
  std::string CertificateFor(const std::string& host) const {
    auto it = host_certificate_.find(host);
    if (it != host_certificate_.end()) return it->second.first;
    size_t dot = host.find('.');
    if (host != kCatchAll && host.rfind("*.", 0) != 0 && dot != std::string::npos) {
      it = host_certificate_.find("*" + host.substr(dot));
      if (it != host_certificate_.end()) return it->second.first;
    }
    return "";
  }

  // ---- Output. ----

  void Assemble() {
    if (default_route_) Host(std::string(kCatchAll));
    std::set<std::string> used_clusters;
    for (auto& [name, build] : hosts_) {
      std::vector<v1::Route>& routes = build.routes;
      // Longest path first, so the first match is the longest match; Exact
      // before Prefix on the same path. Paths are unique per match type.
      std::sort(routes.begin(), routes.end(), [](const v1::Route& a, const v1::Route& b) {
        return std::make_tuple(-static_cast<int64_t>(a.path().size()), a.path(), -static_cast<int>(a.match()),
                               a.origin()) < std::make_tuple(-static_cast<int64_t>(b.path().size()), b.path(),
                                                             -static_cast<int>(b.match()), b.origin());
      });
      bool has_root_prefix = std::any_of(routes.begin(), routes.end(), [](const v1::Route& r) {
        return r.match() == v1::Route::PREFIX && r.path() == "/";
      });
      if (default_route_ && !has_root_prefix) routes.push_back(*default_route_);

      v1::VirtualHost* vhost = result_.snapshot.add_virtual_hosts();
      vhost->set_name(name);
      vhost->set_certificate(CertificateFor(name));
      if (build.tls_passthrough) {
        vhost->set_tls_passthrough(true);
        vhost->set_passthrough_connect_timeout_ms(build.passthrough_connect_timeout_ms);
        vhost->set_passthrough_idle_timeout_ms(build.passthrough_idle_timeout_ms);
      }
      for (v1::Route& route : routes) {
        // Hosts served over TLS redirect plain HTTP (ssl-redirect, on by default).
        if (!vhost->certificate().empty() && !ssl_redirect_opt_out_.count(route.origin())) {
          route.mutable_policy()->set_redirect_to_https(true);
        }
        used_clusters.insert(route.cluster());
        if (!route.policy().external_auth().cluster().empty()) {
          used_clusters.insert(route.policy().external_auth().cluster());
        }
        if (!route.policy().default_backend_cluster().empty()) {
          used_clusters.insert(route.policy().default_backend_cluster());
        }
        if (route.policy().has_custom_errors()) {
          v1::CustomErrorsPolicy* custom = route.mutable_policy()->mutable_custom_errors();
          // X-Service-Name and X-Service-Port: the route's own ("ns/name:port").
          const std::string& own = route.cluster();
          size_t slash = own.find('/'), colon = own.rfind(':');
          if (slash != std::string::npos && colon != std::string::npos && colon > slash) {
            custom->set_service_name(own.substr(slash + 1, colon - slash - 1));
            custom->set_service_port(own.substr(colon + 1));
          }
          if (custom->cluster().empty() && default_route_ && !default_route_->cluster().empty()) {
            custom->set_cluster(default_route_->cluster());
          }
          if (!custom->cluster().empty()) used_clusters.insert(custom->cluster());
        }
        for (const v1::WeightedCluster& weighted : route.weighted_clusters()) used_clusters.insert(weighted.cluster());
        if (!route.canary().cluster().empty()) used_clusters.insert(route.canary().cluster());
        if (!route.policy().mirror().cluster().empty()) used_clusters.insert(route.policy().mirror().cluster());
        *vhost->add_routes() = std::move(route);
      }
    }
    for (const auto& [origin, stored] : custom_errors_without_backend_) {
      if (default_route_ && !default_route_->cluster().empty()) continue;
      Report(Severity::kWarning, *stored, "Ingress",
             "custom-http-errors without a default backend (the default-backend annotation, or a "
             "spec.defaultBackend) has no effect",
             kInvalidAnnotation);
    }
    // Auth services and default backends that no route uses as its backend:
    // clusters of their own.
    for (const auto& [name, service] : auth_services_) {
      if (!used_clusters.count(name)) continue;
      auto [it, fresh] = clusters_.try_emplace(name);
      if (!fresh) continue;
      it->second.cluster.set_name(name);
      PortRef ref;
      ref.number = service.port;
      it->second.problem = FillEndpoints(service.ns, service.name, ref, &it->second.cluster);
      if (!it->second.problem.message.empty()) {
        Report(Severity::kWarning, *service.stored, "Ingress",
               std::string(service.what) + " " + name + ": " + it->second.problem.message,
               it->second.problem.reason);
      }
    }
    for (const std::string& name : used_clusters) {
      // Only a scoped translation lacks one: the fixed default route's.
      if (auto cluster = clusters_.find(name); cluster != clusters_.end()) {
        *result_.snapshot.add_clusters() = cluster->second.cluster;
      }
    }
    for (auto& [name, build] : certificates_) {
      // A certificate that lost all its hosts to older Ingresses must not
      // become the fallback certificate by having no SNI names.
      if (build.sni_names.empty() && !build.serves_catch_all) continue;
      v1::Certificate* certificate = result_.snapshot.add_certificates();
      certificate->set_name(name);
      for (const std::string& sni : build.sni_names) certificate->add_sni_names(sni);
      certificate->set_certificate_chain_pem(std::move(build.chain));
      certificate->set_private_key_pem(std::move(build.key));
    }
  }

  // Cluster.protocol and upstream_tls from the backend annotations.
  void SetBackendProtocol(const Ingress& ingress, v1::Cluster* cluster) {
    AnnotatedBackend backend =
        BackendFromAnnotations(Get(Get(&ingress.stored->object, "metadata"), "annotations"), ingress.ns);
    for (const AnnotationProblem& problem : backend.problems) {
      Report(Severity::kWarning, ingress, problem.message + "; annotation ignored", kInvalidAnnotation);
    }
    cluster->set_protocol(backend.protocol);
    if (!backend.tls) return;
    v1::UpstreamTls* tls = cluster->mutable_upstream_tls();
    tls->set_enabled(true);
    tls->set_sni(backend.server_name);
    tls->set_verify(backend.verify);
    if (backend.ca_secret_name.empty()) return;
    // Without its CA the backend is still verified (against the system's
    // CAs): a missing Secret fails closed, never open.
    std::string secret_label = "Secret " + backend.ca_secret_namespace + "/" + backend.ca_secret_name;
    Reads("ca:" + backend.ca_secret_namespace + "/" + backend.ca_secret_name);
    const StoredObject* secret = store_.Find("Secret", backend.ca_secret_namespace, backend.ca_secret_name);
    if (secret == nullptr) {
      Report(Severity::kWarning, ingress,
             "backend TLS CA: " + secret_label + " not found (or has no ca.crt); the backend's certificate is verified "
                 "against the system CAs",
             kSecretNotFound);
      return;
    }
    sluice::Result<std::string> ca = SecretValue(secret->object, "ca.crt");
    if (!ca.ok()) {
      Report(Severity::kWarning, ingress,
             "backend TLS CA: " + secret_label + " ca.crt: " + ca.status().message() +
                 "; the backend's certificate is verified against the system CAs",
             kInvalidSecret);
      return;
    }
    tls->set_ca_pem(*ca);
  }

  struct ClusterBuild {
    v1::Cluster cluster;
    Problem problem;
    bool health_set = false;  // by the oldest Ingress with health annotations
  };

  // Active checks and outlier detection of a Service port: the oldest
  // Ingress that sets any health annotation decides. Each Ingress's
  // annotations are read (and their problems reported) once.
  void SetHealthPolicy(const Ingress& ingress, ClusterBuild& build) {
    auto [parsed, fresh] = health_by_ingress_.try_emplace(ingress.origin);
    if (fresh) {
      parsed->second = HealthFromAnnotations(Get(Get(&ingress.stored->object, "metadata"), "annotations"));
      for (const AnnotationProblem& problem : parsed->second.problems) {
        Report(Severity::kWarning, ingress, problem.message + "; annotation ignored", kInvalidAnnotation);
      }
    }
    if (build.health_set || !parsed->second.set) return;
    build.health_set = true;
    if (!parsed->second.health_check.path().empty()) {
      *build.cluster.mutable_health_check() = parsed->second.health_check;
    }
    if (parsed->second.outlier_detection.ByteSizeLong() != 0) {
      *build.cluster.mutable_outlier_detection() = parsed->second.outlier_detection;
    }
  }
  std::map<std::string, AnnotatedHealth> health_by_ingress_;

  const store::Store& store_;
  const Options& options_;
  const TraceScope* scope_;
  Trace* trace_;
  IngressTrace* current_ = nullptr;  // the Ingress being processed, when tracing
  size_t current_phase_ = 0;
  Result result_;
  std::map<std::pair<std::string, std::string>, std::vector<const json*>> slices_;
  const SlicesByService* slice_index_ = nullptr;  // the caller's, else slices_ holds all
  std::map<std::string, VirtualHostBuild> hosts_;  // by name: the output order
  std::set<std::string> ssl_redirect_opt_out_;      // origins of Ingresses with ssl-redirect "false"
  std::set<std::string> ssl_passthrough_;           // origins of Ingresses with ssl-passthrough (enabled)
  std::map<std::string, std::string> passthrough_owner_;  // passthrough host -> origin of its Ingress
  // Rule hosts (phase 1) -> the Ingresses routing them, and back; server
  // aliases and www redirect hosts -> the Ingress that took them (oldest).
  std::map<std::string, std::set<std::string>> rule_hosts_;
  std::map<std::string, std::set<std::string>> rule_hosts_by_origin_;
  std::map<std::string, std::string> alias_owners_;
  // (host, match, path) -> origin of the Ingress that routes it.
  std::map<std::tuple<std::string, v1::Route::PathMatch, std::string>, std::string> claims_;
  std::map<std::string, ClusterBuild> clusters_;
  // External auth services by cluster name (the first Ingress naming one
  // reports its problems).
  struct AuthService {
    std::string ns;
    std::string name;
    uint32_t port = 0;
    const StoredObject* stored = nullptr;
    const char* what = "";  // "auth service", "default backend"
  };
  std::map<std::string, AuthService> auth_services_;
  std::map<std::string, const StoredObject*> custom_errors_without_backend_;  // by origin
  // (host, match, path) -> origin of the canary Ingress attached to that route.
  std::map<std::tuple<std::string, v1::Route::PathMatch, std::string>, std::string> canary_owners_;
  std::optional<v1::Route> default_route_;
  std::map<std::string, CertificateBuild> certificates_;
  // host -> (certificate name, origin of the Ingress that claimed it).
  std::map<std::string, std::pair<std::string, std::string>> host_certificate_;
  uint64_t static_site_bytes_ = 0;  // in-memory static files of the routes so far (StaticSiteLimits)
};

}  // namespace

Result Translate(const store::Store& store, const Options& options) { return Translator(store, options).Run(); }

Result TranslateTraced(const store::Store& store, const Options& options, const TraceScope& scope, Trace* trace) {
  return Translator(store, options, &scope, trace).Run();
}

void RefreshEndpoints(const store::Store& store, const Options& options, const std::vector<v1::Cluster*>& clusters,
                      const SlicesByService* slices_by_service) {
  Translator(store, options).RefreshEndpoints(clusters, slices_by_service);
}

std::string SerializeDeterministic(const v1::Snapshot& snapshot) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    snapshot.SerializeToCodedStream(&coded);
  }
  return bytes;
}

const char* SeverityName(Diagnostic::Severity severity) {
  return severity == Diagnostic::Severity::kError ? "error" : "warning";
}

}  // namespace sluice::translate
