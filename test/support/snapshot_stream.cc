#include "test/support/snapshot_stream.h"

#include <utility>

namespace sluice::testing {

std::string OneEndpointManifests(const std::string& endpoint_address) {
  return R"(apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: sluice
spec:
  controller: sluice.io/ingress-controller
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
- name: http
  port: 8080
endpoints:
- addresses: [")" + endpoint_address + R"("]
  conditions:
    ready: true
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: default
spec:
  ingressClassName: sluice
  rules:
  - host: demo.local
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
)";
}

discovery::ApplyFn ServingState::Apply() {
  return [this](std::shared_ptr<const v1::Snapshot> state, const std::string& version) {
    std::lock_guard lock(mu_);
    state_ = std::move(state);
    ++applies_;
    return Status::Ok();
  };
}

std::string ServingState::EndpointAddress() {
  std::lock_guard lock(mu_);
  if (!state_ || state_->clusters_size() != 1 || state_->clusters(0).endpoints_size() != 1) return "";
  return state_->clusters(0).endpoints(0).address();
}

int ServingState::applies() {
  std::lock_guard lock(mu_);
  return applies_;
}

}  // namespace sluice::testing
