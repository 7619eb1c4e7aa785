#pragma once
// Test-only: Kubernetes objects (as the store holds them: JSON) that the
// translation tests start every store with.
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

}  // namespace sluice::translate
