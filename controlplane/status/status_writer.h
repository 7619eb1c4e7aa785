#pragma once
// status.loadBalancer.ingress on the Ingresses we handle: the address users
// (and external-dns, cert-manager) read to reach the proxies. Written by the
// leader only, only when it differs from what is there, and cleared from
// Ingresses that stop being ours.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "controlplane/kube/api_client.h"
#include "controlplane/store/store.h"

namespace sluice::status {

// What the status side needs to know of one Ingress (a copy, so the status
// thread does not touch the store).
struct IngressState {
  std::string ns, name, uid, resource_version;
  bool ours = false;
  nlohmann::json load_balancer = nlohmann::json::array();  // current status.loadBalancer.ingress
};

// Every stored Ingress, with `ours` by the rule translate.h documents
// (ingressClassName, else the legacy kubernetes.io/ingress.class annotation,
// else our default IngressClass), limited to watch_namespace when set.
std::vector<IngressState> CollectIngresses(const store::Store& store, const std::string& ingress_class_controller,
                                           const std::string& watch_namespace);

// The published Service's addresses: status.loadBalancer.ingress (ip or
// hostname), else spec.externalIPs, else spec.clusterIP ("None" skipped).
std::vector<std::string> AddressesFromService(const nlohmann::json& service);

// ["1.2.3.4", "lb.example.com"] -> [{"ip": "1.2.3.4"}, {"hostname": "lb.example.com"}],
// sorted, duplicates dropped.
nlohmann::json LoadBalancerIngress(const std::vector<std::string>& addresses);

// Order-insensitive comparison of two status.loadBalancer.ingress lists.
bool SameLoadBalancer(const nlohmann::json& a, const nlohmann::json& b);

struct StatusUpdate {
  std::string ns, name, resource_version;
  nlohmann::json load_balancer;  // the list to write; an empty array clears
};

// Ours and different from `desired` -> write desired (unless desired is
// empty: no address known yet is not a reason to erase one). Not ours but
// showing exactly our addresses -> clear.
std::vector<StatusUpdate> PlanStatusUpdates(const std::vector<IngressState>& ingresses,
                                            const nlohmann::json& desired);

// Applies plans with a JSON merge patch on .../ingresses/NAME/status, and
// remembers what it wrote so that a plan repeated before the watch reports
// the change is not written twice. Blocking; status thread only.
class StatusWriter {
 public:
  explicit StatusWriter(std::shared_ptr<kube::ApiClient> client) : client_(std::move(client)) {}
  // Returns how many writes succeeded.
  size_t Apply(const std::vector<StatusUpdate>& updates);
  void Forget() { written_.clear(); }

 private:
  std::shared_ptr<kube::ApiClient> client_;
  // ns/name -> (what we wrote, the resourceVersion it was planned against)
  std::map<std::pair<std::string, std::string>, std::pair<std::string, std::string>> written_;
};

}  // namespace sluice::status
