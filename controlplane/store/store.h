#pragma once
// The controller's object cache: the Kubernetes objects translation reads,
// whether they come from the API server (controlplane/kube) or from a folder
// of manifests (controlplane/source). It answers one question for the
// debouncer: "did anything that matters for translation just change?"
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::store {

// Kinds we keep: "Ingress", "IngressClass", "Service", "EndpointSlice" and
// "Secret" (type kubernetes.io/tls, or any type carrying ca.crt; trimmed to
// what translation reads, see secret_filter.h), "ConfigMap" (only those
// labelled sluice.io/static-site: "true" or sluice.io/headers: "true") and
// "StaticSite" (sluice.io/v1alpha1): static sites an Ingress
// backend.resource names, and header sets its annotations name.
// Anything else is not stored.
struct StoredObject {
  nlohmann::json object;
  std::string origin;  // "deploy/examples/demo.yaml (document 2)" or "api"
  // Changes whenever the object's content (as Upsert compares it) changes;
  // unique across all stores of the process, so incremental translation
  // (translate/incremental.h) can tell what changed since it last looked.
  uint64_t revision = 0;
};

class Store {
 public:
  using ObjectMap = std::map<std::pair<std::string, std::string>, StoredObject>;

  // Inserts or replaces by (kind, namespace, name). A namespaced object
  // without metadata.namespace is stored in "default" (what kubectl does).
  // Returns true when something that matters for translation changed:
  //  - the same content again (ignoring metadata.resourceVersion,
  //    managedFields, generation, uid, status and kubectl's
  //    last-applied-configuration annotation) -> false;
  //  - a Secret translation reads nothing of (not kubernetes.io/tls, no
  //    ca.crt, no password hash) -> false and not stored (if a Secret of that name was
  //    stored, it is removed and that may count as a change);
  //  - a Secret, Service or EndpointSlice no stored Ingress refers to (in
  //    spec.tls, a backend, or a backend-TLS CA or auth-secret annotation) -> false
  //    (it is still stored: an Ingress referring to it may come later, and
  //    that Ingress's own Upsert returns true).
  bool Upsert(nlohmann::json object, std::string origin);

  // Removes by (kind, namespace, name). Same return rule as Upsert: true
  // when the object existed and translation may differ without it.
  bool Remove(std::string_view kind, std::string_view ns, std::string_view name);

  // Replaces the whole content with `objects` (e.g. a fresh load of a
  // manifest folder): objects not in the list are removed. Returns true when
  // any of the implied upserts or removals mattered.
  bool ReplaceAll(std::vector<StoredObject> objects);

  // Deterministic order: sorted by (namespace, name). Cluster-scoped kinds
  // (IngressClass) use namespace "". Unknown kinds give an empty map.
  const ObjectMap& Objects(std::string_view kind) const;
  const StoredObject* Find(std::string_view kind, std::string_view ns, std::string_view name) const;
  size_t size() const;

  // The newest revision of any insertion, content change or removal of
  // `kind` (0: never touched). Equal between two calls means no object of
  // that kind changed in between.
  uint64_t KindRevision(std::string_view kind) const;

  // Whether `kind` is one of the kinds this store keeps.
  static bool IsStoredKind(std::string_view kind);

 private:
  bool Matters(std::string_view kind, const std::string& ns, const nlohmann::json* before,
               const nlohmann::json* after, const std::string& name) const;
  bool ServiceReferenced(const std::string& ns, const std::string& service) const;
  bool SecretReferenced(const std::string& ns, const std::string& secret) const;

  uint64_t Touch(std::string_view kind);  // a fresh revision, recorded for `kind`

  std::map<std::string, ObjectMap, std::less<>> kinds_;
  std::map<std::string, uint64_t, std::less<>> kind_revisions_;
};

}  // namespace sluice::store
