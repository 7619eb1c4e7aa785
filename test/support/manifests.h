#pragma once
// Test-only: pieces of Kubernetes manifests (YAML text) that the integration
// tests write into the controller's --manifests folder.
#include <string>

namespace sluice::testing {

// `text` with every occurrence of the placeholder `from` replaced by `to`.
std::string ReplaceAll(std::string text, const std::string& from, const std::string& to);

// Every line of `text` prefixed with `spaces` spaces (PEM in a YAML block scalar).
std::string Indented(const std::string& text, int spaces);

// A Service `name` (port 80) and one EndpointSlice with a ready endpoint at
// 127.0.0.1:`port`, as two YAML documents without a trailing "---".
std::string ServiceAndSlice(const std::string& name, const std::string& name_space, int port);

// A kubernetes.io/tls Secret with the PEM certificate chain and key (and a
// ca.crt when `ca` is not empty).
std::string TlsSecret(const std::string& name, const std::string& name_space, const std::string& cert,
                      const std::string& key, const std::string& ca = "");

// The IngressClass "sluice", default class, as one YAML document without a
// trailing "---".
std::string DefaultIngressClass();

// An Ingress `name` in `name_space` sending every path (Prefix /) of `host`
// to Service `service` port 80, with `annotations` (YAML lines "key: value",
// each ending in a newline; empty for none), without a trailing "---".
std::string PrefixIngress(const std::string& name, const std::string& name_space, const std::string& host,
                          const std::string& service, const std::string& annotations = "");

}  // namespace sluice::testing
