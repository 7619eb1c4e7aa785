#pragma once
// Test-only: Kubernetes objects (as the store holds them: JSON) that the
// translation tests fill their stores with.
#include <string>

#include <nlohmann/json.hpp>

namespace sluice::translate {

// The IngressClass "sluice" this controller owns (controller
// sluice.io/ingress-controller); with `default_class`, also annotated as
// the cluster's default class.
inline nlohmann::json SluiceIngressClass(bool default_class = false) {
  nlohmann::json metadata = {{"name", "sluice"}};
  if (default_class) metadata["annotations"] = {{"ingressclass.kubernetes.io/is-default-class", "true"}};
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "IngressClass"},
          {"metadata", metadata},
          {"spec", {{"controller", "sluice.io/ingress-controller"}}}};
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
