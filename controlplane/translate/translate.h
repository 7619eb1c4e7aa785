#pragma once
// The pure function at the heart of the controller: Kubernetes objects in the
// store -> the Snapshot every proxy runs, plus diagnostics saying which object
// is invalid and why. Deterministic: the same store gives byte-identical
// snapshots (see SerializeDeterministic), whatever the insertion order.
//
// Semantics (networking.k8s.io/v1 Ingress):
//  - Ingresses handled: spec.ingressClassName names an IngressClass whose
//    spec.controller is Options::ingress_class_controller; else the legacy
//    annotation kubernetes.io/ingress.class names one; else, with neither
//    set, one of our IngressClasses carries
//    ingressclass.kubernetes.io/is-default-class: "true". Others are ignored
//    with a warning.
//  - "Oldest wins" (duplicate routes, default backend, a host's certificate):
//    by metadata.creationTimestamp, then namespace/name. Objects without a
//    timestamp (manifest files) count as newer than any with one.
//  - Hosts are lower-cased; "*.example.com" matches exactly one label. Rules
//    without a host go to the catch-all VirtualHost "*".
//  - Paths: Exact, Prefix; ImplementationSpecific is treated as Prefix.
//    Routes are ordered longest path first, Exact before Prefix.
//  - The default backend becomes a final Prefix "/" route of every
//    VirtualHost without a Prefix "/" of its own, and of "*".
//  - Endpoints: the ready addresses of the Service's EndpointSlices (no
//    conditions = ready). Terminating endpoints (terminating: true and not
//    ready: true) get no new requests; requests in flight on them finish.
//    ExternalName Services are one endpoint, the DNS name, resolved by the
//    proxy.
//  - spec.tls: Certificate "<ns>/<secret>" with the entry's hosts as SNI
//    names; an entry without hosts gives a Certificate without SNI names (the
//    proxy's fallback certificate) and serves "*".
//  - Per-route policies: every route from an Ingress (its default backend
//    route too) carries the RoutePolicy of that Ingress's annotations (see
//    annotations.h). An invalid annotation is a warning and is ignored; the
//    rest of the Ingress still applies.
//  - Load balancing (balancing_annotations.h) is per route: every route of
//    an Ingress carries its balancing annotations in
//    RoutePolicy.load_balancing, so Ingresses sharing a Service port each
//    balance their own paths as annotated (endpoints, health and outlier
//    state stay per Service port). A canary Ingress (sluice.io/canary or
//    ingress-nginx's) does not claim its host and paths: each path becomes
//    the canary (Route.canary, Route.weighted_clusters) of the route another
//    Ingress has for it; with no such route it is an error.
//  - ssl-passthrough "true" (with Options::enable_ssl_passthrough): each of
//    the Ingress's rules with a host makes that host a TLS passthrough host
//    (VirtualHost.tls_passthrough) with one route, Prefix "/", to the rule's
//    FIRST path's backend, as ingress-nginx passes the whole host through
//    and ignores the paths; the other paths are ignored with a warning. The
//    host is the passthrough Ingress's alone: an older Ingress's paths on it
//    refuse the passthrough, a newer Ingress's paths on it are refused
//    (Conflict).
//  - backend.resource to a labelled ConfigMap or a StaticSite: the route
//    serves that static site (RoutePolicy.static_site, no cluster); see
//    static_sites.h.
#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/store/store.h"
#include "controlplane/translate/static_sites.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::translate {

struct Diagnostic {
  enum class Severity { kWarning, kError } severity;
  std::string kind, ns, name;  // the object concerned
  std::string origin;          // file/document or "api"
  // e.g. "spec.rules[0].http.paths[1].backend.service.port.name \"web\": Service default/app has no such port"
  std::string message;
  // Short CamelCase cause, the reason of the Kubernetes Event the leader
  // emits: "InvalidIngress", "ServiceNotFound", "SecretNotFound",
  // "Conflict", ... Empty means "InvalidIngress".
  std::string reason;
};

struct Options {
  std::string ingress_class_controller = "sluice.io/ingress-controller";
  std::string watch_namespace;  // empty = all
  // --enable-ssl-passthrough: honour ssl-passthrough annotations (TLS
  // passthrough by SNI). Off, as in ingress-nginx: the annotation is then
  // ignored with a warning and the Ingress is served as usual.
  bool enable_ssl_passthrough = false;
  // Ingress backend.resource: ConfigMap size caps, StaticSite roots.
  StaticSiteLimits static_sites;
};

struct Result {
  sluice::v1::Snapshot snapshot;
  std::vector<Diagnostic> diagnostics;  // in a deterministic order
};

// Pure and deterministic.
Result Translate(const store::Store& store, const Options& options);

// (namespace, Service) -> the names of its EndpointSlices (label
// kubernetes.io/service-name), when a caller keeps that index: translation
// then reads only the slices of the Services it needs instead of all.
using SlicesByService = std::map<std::pair<std::string, std::string>, std::set<std::string>>;

// Recomputes the endpoint lists of `clusters` (Clusters of a Translate()
// result) from the store's Services and EndpointSlices, as Translate() would
// give them; nothing else of a Cluster depends on EndpointSlices. For
// incremental translation (incremental.h).
void RefreshEndpoints(const store::Store& store, const Options& options,
                      const std::vector<sluice::v1::Cluster*>& clusters,
                      const SlicesByService* slices_by_service = nullptr);

// ---- For incremental translation (incremental.h). ----

// What translating one Ingress touched. Ingresses only affect each other
// through shared things (a host, a Service port's cluster, a certificate,
// the default backend), named by keys: "h:<host>" (a host's routes, canary
// attachments and TLS claim), "w:<*.domain>" (a wildcard TLS claim, read by
// every host it covers), "c:<cluster>", "s:<ns>/<secret>" (a certificate),
// "ca:<ns>/<secret>" (a backend CA, read only), "auth:<ns>/<secret>" (a
// basic-auth Secret, read only), "d" (the default backend).
// Two Ingresses can only change each other's output if one writes a key the
// other reads or writes.
struct IngressTrace {
  std::string ns, name;
  std::string creation;  // metadata.creationTimestamp, for the "oldest wins" order
  bool handled = false;  // ours; only handled Ingresses have phases 1-4
  std::vector<std::string> writes, reads;  // sorted, unique
  // The diagnostics reported while this Ingress was processed, per phase:
  // 0 class and annotations (in (namespace, name) order), then, in oldest
  // first order, 1 rules, 2 canary paths, 3 default backend, 4 TLS.
  std::array<std::vector<Diagnostic>, 5> diagnostics;
};

// Translate() over some of the Ingresses: `only` (sorted by namespace, name;
// absent ones are skipped), with the default route fixed as it was in a full
// translation. The result then holds what those Ingresses produce.
struct TraceScope {
  const std::vector<std::pair<std::string, std::string>>* only = nullptr;  // null: all
  std::optional<sluice::v1::Route> default_route;  // only with `only`
  bool default_route_ssl_opt_out = false;  // its Ingress has ssl-redirect "false"
  const SlicesByService* slices_by_service = nullptr;  // must be up to date
};

struct Trace {
  std::vector<IngressTrace> ingresses;  // by (namespace, name)
  std::vector<Diagnostic> class_diagnostics;  // about IngressClasses, before all others
  std::optional<sluice::v1::Route> default_route;  // as Assemble appends it
  bool default_route_ssl_opt_out = false;
};

// Translate(store, options) (when scope.only is null) that also says what
// each Ingress touched; `trace` must not be null.
Result TranslateTraced(const store::Store& store, const Options& options, const TraceScope& scope, Trace* trace);

// The snapshot's bytes with deterministic serialization: equal snapshots give
// equal strings, so callers can compare versions cheaply.
std::string SerializeDeterministic(const sluice::v1::Snapshot& snapshot);

// "warning" / "error", for logs.
const char* SeverityName(Diagnostic::Severity severity);

}  // namespace sluice::translate
