#include "controlplane/status/status_writer.h"

#include <algorithm>
#include <set>

#include "controlplane/server/json_log.h"

namespace sluice::status {

using nlohmann::json;
using sluice::server::LogJson;

namespace {

constexpr const char* kClassAnnotation = "kubernetes.io/ingress.class";
constexpr const char* kDefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class";

const json* Get(const json* object, const char* key) {
  if (object == nullptr || !object->is_object()) return nullptr;
  auto it = object->find(key);
  return it == object->end() ? nullptr : &*it;
}

std::string String(const json* object, const char* key) {
  const json* value = Get(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

json Normalized(const json& list) {
  if (!list.is_array()) return json::array();
  std::vector<std::string> entries;
  for (const json& entry : list) entries.push_back(entry.dump());
  std::sort(entries.begin(), entries.end());
  json out = json::array();
  for (const std::string& entry : entries) out.push_back(json::parse(entry));
  return out;
}

bool LooksLikeIp(const std::string& address) {
  if (address.find(':') != std::string::npos) return true;  // IPv6
  return !address.empty() && address.find_first_not_of("0123456789.") == std::string::npos;
}

}  // namespace

std::vector<IngressState> CollectIngresses(const store::Store& store, const std::string& ingress_class_controller,
                                           const std::string& watch_namespace) {
  std::set<std::string> our_classes;
  bool have_default = false;
  for (const auto& [key, stored] : store.Objects("IngressClass")) {
    if (String(Get(&stored.object, "spec"), "controller") != ingress_class_controller) continue;
    our_classes.insert(key.second);
    if (String(Get(Get(&stored.object, "metadata"), "annotations"), kDefaultClassAnnotation) == "true") {
      have_default = true;
    }
  }
  std::vector<IngressState> out;
  for (const auto& [key, stored] : store.Objects("Ingress")) {
    if (!watch_namespace.empty() && key.first != watch_namespace) continue;
    const json* metadata = Get(&stored.object, "metadata");
    const json* class_name = Get(Get(&stored.object, "spec"), "ingressClassName");
    const json* annotation = Get(Get(metadata, "annotations"), kClassAnnotation);
    IngressState state;
    state.ns = key.first;
    state.name = key.second;
    state.uid = String(metadata, "uid");
    state.resource_version = String(metadata, "resourceVersion");
    if (class_name != nullptr && !class_name->is_null()) {
      state.ours = class_name->is_string() && our_classes.count(class_name->get<std::string>());
    } else if (annotation != nullptr) {
      state.ours = annotation->is_string() && our_classes.count(annotation->get<std::string>());
    } else {
      state.ours = have_default;
    }
    const json* current = Get(Get(Get(&stored.object, "status"), "loadBalancer"), "ingress");
    state.load_balancer = current != nullptr && current->is_array() ? *current : json::array();
    out.push_back(std::move(state));
  }
  return out;
}

std::vector<std::string> AddressesFromService(const json& service) {
  std::vector<std::string> addresses;
  const json* ingress = Get(Get(Get(&service, "status"), "loadBalancer"), "ingress");
  if (ingress != nullptr && ingress->is_array()) {
    for (const json& entry : *ingress) {
      std::string address = String(&entry, "ip");
      if (address.empty()) address = String(&entry, "hostname");
      if (!address.empty()) addresses.push_back(address);
    }
  }
  if (!addresses.empty()) return addresses;
  const json* spec = Get(&service, "spec");
  const json* external = Get(spec, "externalIPs");
  if (external != nullptr && external->is_array()) {
    for (const json& address : *external) {
      if (address.is_string() && !address.get<std::string>().empty()) addresses.push_back(address.get<std::string>());
    }
  }
  if (!addresses.empty()) return addresses;
  std::string cluster_ip = String(spec, "clusterIP");
  if (!cluster_ip.empty() && cluster_ip != "None") addresses.push_back(cluster_ip);
  return addresses;
}

json LoadBalancerIngress(const std::vector<std::string>& addresses) {
  std::set<std::string> unique(addresses.begin(), addresses.end());
  json out = json::array();
  for (const std::string& address : unique) {
    if (address.empty()) continue;
    out.push_back(LooksLikeIp(address) ? json{{"ip", address}} : json{{"hostname", address}});
  }
  return Normalized(out);
}

bool SameLoadBalancer(const json& a, const json& b) { return Normalized(a) == Normalized(b); }

std::vector<StatusUpdate> PlanStatusUpdates(const std::vector<IngressState>& ingresses, const json& desired) {
  std::vector<StatusUpdate> updates;
  const bool have_addresses = desired.is_array() && !desired.empty();
  for (const IngressState& ingress : ingresses) {
    if (ingress.ours) {
      if (have_addresses && !SameLoadBalancer(ingress.load_balancer, desired)) {
        updates.push_back({ingress.ns, ingress.name, ingress.resource_version, Normalized(desired)});
      }
    } else if (have_addresses && !ingress.load_balancer.empty() && SameLoadBalancer(ingress.load_balancer, desired)) {
      updates.push_back({ingress.ns, ingress.name, ingress.resource_version, json::array()});
    }
  }
  return updates;
}

size_t StatusWriter::Apply(const std::vector<StatusUpdate>& updates) {
  size_t written = 0;
  for (const StatusUpdate& update : updates) {
    const auto key = std::make_pair(update.ns, update.name);
    const std::string value = update.load_balancer.dump();
    auto memo = written_.find(key);
    // Already written against this very version: the watch has not told us
    // yet, writing again would only add a resourceVersion bump.
    if (memo != written_.end() && memo->second.first == value && memo->second.second == update.resource_version) {
      continue;
    }
    json patch = {{"status", {{"loadBalancer", {{"ingress", update.load_balancer.empty() ? json(nullptr)
                                                                                       : update.load_balancer}}}}}};
    kube::ApiRequest request;
    request.method = "PATCH";
    request.path = "/apis/networking.k8s.io/v1/namespaces/" + kube::UrlEncode(update.ns) + "/ingresses/" +
                   kube::UrlEncode(update.name) + "/status";
    request.content_type = "application/merge-patch+json";
    request.body = patch.dump();
    kube::ApiResponse response = client_->SendSync(request);
    if (response.ok()) {
      ++written;
      written_[key] = {value, update.resource_version};
      LogJson("info", "status written",
              {{"namespace", update.ns}, {"name", update.name}, {"loadBalancer", update.load_balancer}});
    } else if (response.status != 404) {  // 404: deleted meanwhile, nothing to do
      LogJson("error", "api error",
              {{"kind", "Ingress"},
               {"verb", "patch"},
               {"subresource", "status"},
               {"namespace", update.ns},
               {"name", update.name},
               {"code", response.status},
               {"message", response.Describe()}});
    }
  }
  return written;
}

}  // namespace sluice::status
