#pragma once
// Which Secrets the controller keeps, and how much of each. Translation
// reads three things from Secrets: a serving certificate (type
// kubernetes.io/tls: tls.crt, tls.key, and ca.crt when present), a CA
// bundle to verify TLS backends (`ca.crt` of a Secret of any type, e.g. an
// Opaque one, as ingress-nginx's proxy-ssl-secret allows), and the users
// of basic authentication (auth-secret: the htpasswd file in key `auth`,
// only its lines with a password hash; or an auth-map, a Secret where some
// value is a password hash: its keys, and only the values that are
// hashes). Hashes are recognised by shape (base/htpasswd.h), so a Secret
// is kept or dropped on its own, before any Ingress names it. Everything else
// in a cluster's Secrets (passwords, tokens, Helm releases, and the copy of
// the whole Secret that `kubectl apply` leaves in an annotation) is dropped
// as soon as it is read, so the controller never holds it.
#include <nlohmann/json.hpp>

namespace sluice::store {

// Reduces `secret` in place to apiVersion, kind, type, metadata (name,
// namespace, resourceVersion) and the data/stringData keys translation
// reads. Returns false when translation reads nothing of it (a non-TLS
// Secret without ca.crt); its identity is left, e.g. to delete it.
bool TrimSecret(nlohmann::json& secret);

// ConfigMaps: only two kinds are read, by label, and no other is kept:
// static sites (sluice.io/static-site: "true", translate/static_sites.h)
// and header sets (sluice.io/headers: "true", named by an Ingress's
// proxy-set-headers or custom-headers, translate/header_annotations.h).
// Returns false for any other ConfigMap; drops kubectl's
// last-applied-configuration copy from the ones kept.
inline constexpr const char* kStaticSiteLabel = "sluice.io/static-site";
inline constexpr const char* kHeadersLabel = "sluice.io/headers";
bool TrimConfigMap(nlohmann::json& config_map);

}  // namespace sluice::store
