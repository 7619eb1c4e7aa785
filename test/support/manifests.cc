#include "test/support/manifests.h"

namespace sluice::testing {

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string Indented(const std::string& text, int spaces) {
  std::string out, pad(spaces, ' ');
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += pad + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

std::string ServiceAndSlice(const std::string& name, const std::string& name_space, int port) {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: " + name_space +
         "}\nspec:\n  ports: [{port: 80, protocol: TCP}]\n---\n"
         "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " +
         name + "-1\n  namespace: " + name_space + "\n  labels: {kubernetes.io/service-name: " + name +
         "}\naddressType: IPv4\nports: [{port: " + std::to_string(port) +
         ", protocol: TCP}]\nendpoints: [{addresses: [\"127.0.0.1\"], conditions: {ready: true}}]\n";
}

std::string TlsSecret(const std::string& name, const std::string& name_space, const std::string& cert,
                      const std::string& key, const std::string& ca) {
  std::string yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: " + name + ", namespace: " + name_space +
                     "}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n" + Indented(cert, 4) +
                     "  tls.key: |\n" + Indented(key, 4);
  if (!ca.empty()) yaml += "  ca.crt: |\n" + Indented(ca, 4);
  return yaml;
}

std::string DefaultIngressClass() {
  return "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: sluice\n"
         "  annotations: {ingressclass.kubernetes.io/is-default-class: \"true\"}\n"
         "spec:\n  controller: sluice.io/ingress-controller\n";
}

std::string PrefixIngress(const std::string& name, const std::string& name_space, const std::string& host,
                          const std::string& service, const std::string& annotations) {
  std::string yaml = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
                     "\n  namespace: " + name_space + "\n";
  if (!annotations.empty()) yaml += "  annotations:\n" + Indented(annotations, 4);
  return yaml + "spec:\n  rules:\n    - host: " + host +
         "\n      http:\n        paths: [{path: /, pathType: Prefix, backend: {service: {name: " + service +
         ", port: {number: 80}}}}]\n";
}

}  // namespace sluice::testing
