#include "controlplane/store/store.h"

#include "controlplane/store/secret_filter.h"

#include <atomic>
#include <optional>
#include <set>
#include <tuple>

namespace sluice::store {
namespace {

using nlohmann::json;

// Annotations naming the CA Secret for verifying TLS backends: "name" (in
// the Ingress's namespace) or "namespace/name" (translate/annotations.cc).
// And the basic-auth Secret (translate/auth_annotations.h; only in the
// Ingress's namespace, but written the same way).
constexpr const char* kCaSecretAnnotations[] = {"sluice.io/backend-tls-ca-secret",
                                                "nginx.ingress.kubernetes.io/proxy-ssl-secret",
                                                "nginx.ingress.kubernetes.io/auth-secret"};
constexpr std::string_view kServiceNameLabel = "kubernetes.io/service-name";

// Never throws, whatever the shape of `object`.
const json* Field(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string StringField(const json* object, std::string_view key) {
  if (object == nullptr) return "";
  const json* value = Field(*object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

// The object minus what the API server changes without the user changing
// anything translation reads.
json RelevantPart(const json& object) {
  json copy = object;
  copy.erase("status");
  auto metadata = copy.find("metadata");
  if (metadata != copy.end() && metadata->is_object()) {
    for (const char* key : {"resourceVersion", "managedFields", "generation", "uid", "selfLink"}) {
      metadata->erase(key);
    }
    auto annotations = metadata->find("annotations");
    if (annotations != metadata->end() && annotations->is_object()) {
      annotations->erase("kubectl.kubernetes.io/last-applied-configuration");
    }
  }
  return copy;
}

struct Key {
  std::string kind, ns, name;
};

// Whether a stored kind's object is kept at all (see Upsert).
bool Kept(const std::string& kind, json& object) {
  if (kind == "Secret") return TrimSecret(object);
  // Static sites and header sets, by label (secret_filter.h).
  if (kind == "ConfigMap") return TrimConfigMap(object);
  return true;
}

// The key an object is stored under, or nothing when it is not stored.
// Fills in metadata.namespace = "default" for namespaced kinds without one.
std::optional<Key> KeyOf(json& object) {
  std::string kind = StringField(&object, "kind");
  if (!Store::IsStoredKind(kind)) return std::nullopt;
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return std::nullopt;
  std::string name = StringField(&*metadata, "name");
  if (name.empty()) return std::nullopt;
  std::string ns;
  if (kind != "IngressClass") {
    ns = StringField(&*metadata, "namespace");
    if (ns.empty()) {
      ns = "default";
      (*metadata)["namespace"] = ns;
    }
  }
  return Key{std::move(kind), std::move(ns), std::move(name)};
}

// Calls visit(backend) for spec.defaultBackend and every path's backend.
template <typename Visit>
void ForEachBackend(const json& ingress, Visit visit) {
  const json* spec = Field(ingress, "spec");
  if (spec == nullptr) return;
  if (const json* backend = Field(*spec, "defaultBackend")) visit(*backend);
  const json* rules = Field(*spec, "rules");
  if (rules == nullptr || !rules->is_array()) return;
  for (const json& rule : *rules) {
    const json* http = Field(rule, "http");
    const json* paths = http ? Field(*http, "paths") : nullptr;
    if (paths == nullptr || !paths->is_array()) continue;
    for (const json& path : *paths) {
      if (const json* backend = Field(path, "backend")) visit(*backend);
    }
  }
}

}  // namespace

bool Store::IsStoredKind(std::string_view kind) {
  return kind == "Ingress" || kind == "IngressClass" || kind == "Service" ||
         kind == "EndpointSlice" || kind == "Secret" || kind == "ConfigMap" || kind == "StaticSite";
}

bool Store::Upsert(json object, std::string origin) {
  std::optional<Key> key = KeyOf(object);
  if (!key) return false;
  if (!Kept(key->kind, object)) {
    // Nothing translation reads (secret_filter.h; a ConfigMap without the
    // static-site or headers label); one that no longer has anything (type changed,
    // ca.crt removed, label removed) is gone for us.
    return Remove(key->kind, key->ns, key->name);
  }
  ObjectMap& objects = kinds_[key->kind];
  auto map_key = std::make_pair(key->ns, key->name);
  auto it = objects.find(map_key);
  if (it == objects.end()) {
    auto inserted = objects.emplace(map_key, StoredObject{std::move(object), std::move(origin), Touch(key->kind)});
    return Matters(key->kind, key->ns, nullptr, &inserted.first->second.object, key->name);
  }
  bool changed = it->second.origin != origin || RelevantPart(it->second.object) != RelevantPart(object);
  json before = std::move(it->second.object);
  it->second = StoredObject{std::move(object), std::move(origin), changed ? Touch(key->kind) : it->second.revision};
  return changed && Matters(key->kind, key->ns, &before, &it->second.object, key->name);
}

bool Store::Remove(std::string_view kind, std::string_view ns, std::string_view name) {
  auto kind_it = kinds_.find(kind);
  if (kind_it == kinds_.end()) return false;
  auto it = kind_it->second.find(std::make_pair(std::string(ns), std::string(name)));
  if (it == kind_it->second.end()) return false;
  json before = std::move(it->second.object);
  kind_it->second.erase(it);
  Touch(kind);
  return Matters(kind, std::string(ns), &before, nullptr, std::string(name));
}

bool Store::ReplaceAll(std::vector<StoredObject> objects) {
  std::set<std::tuple<std::string, std::string, std::string>> kept;
  bool changed = false;
  for (StoredObject& stored : objects) {
    std::optional<Key> key = KeyOf(stored.object);
    if (!key) continue;
    bool is_kept = Kept(key->kind, stored.object);
    if (is_kept) kept.emplace(key->kind, key->ns, key->name);
    changed |= Upsert(std::move(stored.object), std::move(stored.origin));
  }
  std::vector<Key> gone;
  for (const auto& [kind, map] : kinds_) {
    for (const auto& [ns_name, stored] : map) {
      if (!kept.count({kind, ns_name.first, ns_name.second})) {
        gone.push_back(Key{kind, ns_name.first, ns_name.second});
      }
    }
  }
  for (const Key& key : gone) changed |= Remove(key.kind, key.ns, key.name);
  return changed;
}

const Store::ObjectMap& Store::Objects(std::string_view kind) const {
  static const ObjectMap* const kEmpty = new ObjectMap();
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? *kEmpty : it->second;
}

const StoredObject* Store::Find(std::string_view kind, std::string_view ns, std::string_view name) const {
  const ObjectMap& objects = Objects(kind);
  auto it = objects.find(std::make_pair(std::string(ns), std::string(name)));
  return it == objects.end() ? nullptr : &it->second;
}

uint64_t Store::Touch(std::string_view kind) {
  static std::atomic<uint64_t> next_revision{1};
  uint64_t revision = next_revision.fetch_add(1, std::memory_order_relaxed);
  auto it = kind_revisions_.find(kind);
  if (it == kind_revisions_.end()) it = kind_revisions_.emplace(std::string(kind), 0).first;
  it->second = revision;
  return revision;
}

uint64_t Store::KindRevision(std::string_view kind) const {
  auto it = kind_revisions_.find(kind);
  return it == kind_revisions_.end() ? 0 : it->second;
}

size_t Store::size() const {
  size_t total = 0;
  for (const auto& [kind, objects] : kinds_) total += objects.size();
  return total;
}

bool Store::Matters(std::string_view kind, const std::string& ns, const json* before, const json* after,
                    const std::string& name) const {
  if (kind == "Secret") return SecretReferenced(ns, name);
  if (kind == "Service") return ServiceReferenced(ns, name);
  if (kind == "EndpointSlice") {
    // The slice may have moved from one Service to another: either counts.
    for (const json* slice : {before, after}) {
      if (slice == nullptr) continue;
      const json* metadata = Field(*slice, "metadata");
      const json* labels = metadata ? Field(*metadata, "labels") : nullptr;
      std::string service = StringField(labels, kServiceNameLabel);
      if (!service.empty() && ServiceReferenced(ns, service)) return true;
    }
    return false;
  }
  return true;  // Ingress, IngressClass, ConfigMap, StaticSite: always read by translation.
}

// Linear in the namespace's Ingresses; fine for the sizes an ingress
// controller sees, and only run on Secret/Service/EndpointSlice events.
bool Store::ServiceReferenced(const std::string& ns, const std::string& service) const {
  const ObjectMap& ingresses = Objects("Ingress");
  for (auto it = ingresses.lower_bound({ns, ""}); it != ingresses.end() && it->first.first == ns; ++it) {
    bool found = false;
    ForEachBackend(it->second.object, [&](const json& backend) {
      const json* target = Field(backend, "service");
      if (StringField(target, "name") == service) found = true;
    });
    if (found) return true;
  }
  return false;
}

bool Store::SecretReferenced(const std::string& ns, const std::string& secret) const {
  const ObjectMap& ingresses = Objects("Ingress");
  for (auto it = ingresses.lower_bound({ns, ""}); it != ingresses.end() && it->first.first == ns; ++it) {
    const json* spec = Field(it->second.object, "spec");
    const json* tls = spec ? Field(*spec, "tls") : nullptr;
    if (tls == nullptr || !tls->is_array()) continue;
    for (const json& entry : *tls) {
      if (StringField(&entry, "secretName") == secret) return true;
    }
  }
  // A backend CA may live in another namespace ("namespace/name"): every
  // Ingress, but only three annotation lookups each.
  for (const auto& [ingress_key, stored] : ingresses) {
    const json* metadata = Field(stored.object, "metadata");
    const json* annotations = metadata ? Field(*metadata, "annotations") : nullptr;
    if (annotations == nullptr) continue;
    for (const char* annotation : kCaSecretAnnotations) {
      std::string value = StringField(annotations, annotation);
      if (value.empty()) continue;
      size_t slash = value.find('/');
      bool same = slash == std::string::npos
                      ? ingress_key.first == ns && value == secret
                      : std::string_view(value).substr(0, slash) == ns && std::string_view(value).substr(slash + 1) == secret;
      if (same) return true;
    }
  }
  return false;
}

}  // namespace sluice::store
