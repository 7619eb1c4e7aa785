#pragma once
// Test-only: Kubernetes objects (as the store holds them: JSON) that the
// controller's tests (translation, Ingress status) fill their stores with.
#include <string>

#include <nlohmann/json.hpp>

namespace sluice::translate {

// IngressClass `name` for `controller`; with `is_default`, also annotated as
// the cluster's default class.
inline nlohmann::json IngressClass(const std::string& name, const std::string& controller, bool is_default = false) {
  nlohmann::json object = {{"apiVersion", "networking.k8s.io/v1"},
                           {"kind", "IngressClass"},
                           {"metadata", {{"name", name}}},
                           {"spec", {{"controller", controller}}}};
  if (is_default) object["metadata"]["annotations"] = {{"ingressclass.kubernetes.io/is-default-class", "true"}};
  return object;
}

// The IngressClass "sluice" this controller owns (controller
// sluice.io/ingress-controller); with `default_class`, also the default.
inline nlohmann::json SluiceIngressClass(bool default_class = false) {
  return IngressClass("sluice", "sluice.io/ingress-controller", default_class);
}

// Service `name` in namespace "shop", port 80/TCP.
inline nlohmann::json ShopService(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec", {{"ports", {{{"port", 80}, {"protocol", "TCP"}}}}}}};
}

// Ingress `name` in namespace "shop" (class sluice) with `annotations`,
// sending `path` (Prefix) of `host` to Service `service` port 80; created at
// `created` (RFC 3339) unless that is empty.
inline nlohmann::json ShopIngress(const std::string& name, const std::string& created, nlohmann::json annotations,
                                  const std::string& host, const std::string& path, const std::string& service) {
  nlohmann::json object = {
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "Ingress"},
      {"metadata", {{"name", name}, {"namespace", "shop"}, {"annotations", annotations}}},
      {"spec",
       {{"ingressClassName", "sluice"},
        {"rules",
         {{{"host", host},
           {"http",
            {{"paths",
              {{{"pathType", "Prefix"},
                {"path", path},
                {"backend", {{"service", {{"name", service}, {"port", {{"number", 80}}}}}}}}}}}}}}}}}};
  if (!created.empty()) object["metadata"]["creationTimestamp"] = created;
  return object;
}

}  // namespace sluice::translate
