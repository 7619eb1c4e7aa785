#include "controlplane/store/secret_filter.h"

#include <string_view>

namespace sluice::store {
namespace {

using nlohmann::json;

constexpr std::string_view kTlsSecretType = "kubernetes.io/tls";

bool HasKey(const json& object, std::string_view section, std::string_view key) {
  auto it = object.find(section);
  return it != object.end() && it->is_object() && it->contains(key);
}

// The kept keys of data or stringData; nothing when none is left.
void KeepKeys(const json& from, std::string_view section, bool tls, json& into) {
  auto it = from.find(section);
  if (it == from.end() || !it->is_object()) return;
  json kept = json::object();
  for (const char* key : {"tls.crt", "tls.key", "ca.crt"}) {
    if (!tls && std::string_view(key) != "ca.crt") continue;
    auto value = it->find(key);
    if (value != it->end()) kept[key] = *value;
  }
  if (!kept.empty()) into[std::string(section)] = std::move(kept);
}

}  // namespace

bool TrimSecret(json& secret) {
  if (!secret.is_object()) return false;
  auto type = secret.find("type");
  bool tls = type != secret.end() && type->is_string() && type->get_ref<const std::string&>() == kTlsSecretType;
  bool keep = tls || HasKey(secret, "data", "ca.crt") || HasKey(secret, "stringData", "ca.crt");
  json trimmed = json::object();
  for (const char* key : {"apiVersion", "kind", "type"}) {
    auto it = secret.find(key);
    if (it != secret.end()) trimmed[key] = std::move(*it);
  }
  json metadata = json::object();
  auto from = secret.find("metadata");
  if (from != secret.end() && from->is_object()) {
    for (const char* key : {"name", "namespace", "resourceVersion"}) {
      auto it = from->find(key);
      if (it != from->end()) metadata[key] = std::move(*it);
    }
  }
  trimmed["metadata"] = std::move(metadata);
  if (keep) {
    KeepKeys(secret, "data", tls, trimmed);
    KeepKeys(secret, "stringData", tls, trimmed);
  }
  secret = std::move(trimmed);
  return keep;
}

}  // namespace sluice::store

namespace sluice::store {

bool TrimConfigMap(json& config_map) {
  if (!config_map.is_object()) return false;
  auto metadata = config_map.find("metadata");
  if (metadata == config_map.end() || !metadata->is_object()) return false;
  auto labels = metadata->find("labels");
  auto labelled = [&](const char* key) {
    if (labels == metadata->end() || !labels->is_object()) return false;
    auto it = labels->find(key);
    return it != labels->end() && it->is_string() && it->get_ref<const std::string&>() == "true";
  };
  if (!labelled(kStaticSiteLabel) && !labelled(kHeadersLabel)) return false;
  auto annotations = metadata->find("annotations");
  if (annotations != metadata->end() && annotations->is_object()) {
    annotations->erase("kubectl.kubernetes.io/last-applied-configuration");
  }
  return true;
}

}  // namespace sluice::store
