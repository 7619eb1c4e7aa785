#include "controlplane/store/secret_filter.h"

#include <optional>
#include <string>
#include <string_view>

#include "base/base64.h"
#include "base/htpasswd.h"

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

// ---- Basic authentication (translate/auth_annotations.h). ----

bool HashShaped(std::string_view value) {
  size_t begin = value.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return false;
  value = value.substr(begin, value.find_last_not_of(" \t\r\n") - begin + 1);
  return htpasswd::ClassifyHash(value) != htpasswd::HashKind::kUnknown;
}

std::optional<std::string> Decoded(const json& value, bool base64) {
  if (!value.is_string()) return std::nullopt;
  if (!base64) return value.get<std::string>();
  auto decoded = DecodeBase64(value.get<std::string>());
  if (!decoded.ok()) return std::nullopt;
  return std::move(*decoded);
}

json Encoded(const std::string& value, bool base64) { return base64 ? EncodeBase64(value) : value; }

// An htpasswd file's lines with a password hash, as they are; a line whose
// second field is anything else (a plaintext password) keeps only its user
// ("user:"), other lines become empty: line numbers stay, so the
// translator's Events name the right line, and no password is held.
// Nothing when no line has a hash.
std::optional<std::string> HashLinesOnly(std::string_view file) {
  std::string out;
  bool any = false;
  while (!file.empty()) {
    size_t end = file.find('\n');
    std::string_view line = file.substr(0, end);
    file = end == std::string_view::npos ? std::string_view() : file.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view hash = line.substr(colon + 1);
      hash = hash.substr(0, hash.find(':'));
      if (HashShaped(hash)) {
        any = true;
        out.append(line.substr(0, colon + 1)).append(hash);
      } else {
        out.append(line.substr(0, colon + 1));
      }
    }
    out.push_back('\n');
  }
  if (!any) return std::nullopt;
  return out;
}

// Basic-auth material of a Secret of any type, into `into`: the `auth` key
// (auth-secret-type auth-file) reduced by HashLinesOnly, and, when some
// other value is a password hash (an auth-map), every key with the values
// that are hashes (the others emptied, for the translator to name). True
// when anything was kept.
bool KeepBasicAuth(const json& from, json& into) {
  bool kept = false;
  for (auto [section, base64] : {std::pair{"data", true}, std::pair{"stringData", false}}) {
    auto it = from.find(section);
    if (it == from.end() || !it->is_object()) continue;
    json& out = into[section];
    if (!out.is_object()) out = json::object();
    bool map_shaped = false;
    for (auto entry = it->begin(); entry != it->end(); ++entry) {
      if (entry.key() == "auth") continue;
      std::optional<std::string> value = Decoded(entry.value(), base64);
      if (value && HashShaped(*value)) map_shaped = true;
    }
    for (auto entry = it->begin(); entry != it->end(); ++entry) {
      std::optional<std::string> value = Decoded(entry.value(), base64);
      if (entry.key() == "auth") {
        std::optional<std::string> lines = value ? HashLinesOnly(*value) : std::nullopt;
        if (lines) {
          out["auth"] = Encoded(*lines, base64);
          kept = true;
          continue;
        }
      }
      if (!map_shaped || out.contains(entry.key())) continue;
      if (entry.key() == "tls.key" || entry.key() == "tls.crt" || entry.key() == "ca.crt") continue;
      out[entry.key()] = Encoded(value && HashShaped(*value) ? *value : std::string(), base64);
      kept = true;
    }
    if (out.empty()) into.erase(section);
  }
  return kept;
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
  if (KeepBasicAuth(secret, trimmed)) keep = true;
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
