#include "controlplane/translate/static_sites.h"

#include <algorithm>

#include "base/base64.h"
#include "controlplane/store/secret_filter.h"
#include "controlplane/translate/json_access.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

// A boolean spec field: `fallback` when absent or not a boolean.
bool Bool(const json* object, std::string_view key, bool fallback) {
  const json* value = Get(object, key);
  return value != nullptr && value->is_boolean() ? value->get<bool>() : fallback;
}

// A relative file path: "/"-separated, no empty, "." or ".." segment, no
// backslash or control byte. Leading "/" allowed (removed).
bool ValidRelativePath(std::string& path) {
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  if (path.empty() || path.size() > 1024) return false;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string segment = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') return false;
  }
  return true;
}

// A header value the proxy sends as is: visible ASCII and spaces only
// (nothing that could end the field or the head).
bool ValidFieldValue(const std::string& value) {
  if (value.size() > 256) return false;
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Sets a path option from `value` (ignored with a warning when invalid).
void PathOption(std::string value, const std::string& what, std::vector<std::string>& warnings,
                void (v1::StaticSitePolicy::*set)(const std::string&), v1::StaticSitePolicy& policy) {
  if (value.empty()) return;
  if (!ValidRelativePath(value)) {
    warnings.push_back(what + " \"" + value + "\" is not a relative file path; ignored");
    return;
  }
  (policy.*set)(value);
}

void FieldOption(const std::string& value, const std::string& what, std::vector<std::string>& warnings,
                 void (v1::StaticSitePolicy::*set)(const std::string&), v1::StaticSitePolicy& policy) {
  if (value.empty()) return;
  if (!ValidFieldValue(value)) {
    warnings.push_back(what + ": only printable ASCII, at most 256 characters; ignored");
    return;
  }
  (policy.*set)(value);
}

StaticSiteResult Failed(std::string error, std::string reason) {
  StaticSiteResult result;
  result.error = std::move(error);
  result.reason = std::move(reason);
  return result;
}

StaticSiteResult FromConfigMap(const store::StoredObject& stored, const std::string& label,
                               const StaticSiteLimits& limits, uint64_t& total_bytes) {
  StaticSiteResult result;
  const json& object = stored.object;
  const json* annotations = Get(Get(&object, "metadata"), "annotations");
  v1::StaticSitePolicy& policy = result.policy;
  policy.set_source(label);
  std::vector<std::pair<std::string, std::string>> files;
  uint64_t bytes = 0;
  auto add = [&](const std::string& key, std::string content) {
    std::string path = DecodeConfigMapKey(key);
    if (path.empty()) {
      result.warnings.push_back(label + " key \"" + key + "\" names no file path (\"__\" stands for \"/\"); skipped");
      return;
    }
    bytes += content.size();
    files.emplace_back(std::move(path), std::move(content));
  };
  if (const json* data = Get(&object, "data"); data != nullptr && data->is_object()) {
    for (const auto& [key, value] : data->items()) {
      if (value.is_string()) add(key, value.get<std::string>());
    }
  }
  if (const json* binary = Get(&object, "binaryData"); binary != nullptr && binary->is_object()) {
    for (const auto& [key, value] : binary->items()) {
      if (!value.is_string()) continue;
      Result<std::string> decoded = DecodeBase64(value.get<std::string>());
      if (!decoded.ok()) {
        result.warnings.push_back(label + " binaryData[\"" + key + "\"] " + decoded.status().message() + "; skipped");
        continue;
      }
      add(key, std::move(*decoded));
    }
  }
  if (bytes > limits.max_site_bytes) {
    return Failed(label + " holds " + std::to_string(bytes) + " bytes of files, over the per-site cap of " +
                      std::to_string(limits.max_site_bytes) + "; not served",
                  "StaticSiteTooLarge");
  }
  if (total_bytes + bytes > limits.max_total_bytes) {
    return Failed(label + ": its " + std::to_string(bytes) + " bytes would take the snapshot's static files over " +
                      "the total cap of " + std::to_string(limits.max_total_bytes) + " bytes; not served",
                  "StaticSiteTooLarge");
  }
  total_bytes += bytes;
  std::sort(files.begin(), files.end());  // deterministic snapshots
  for (auto& [path, content] : files) {
    v1::StaticFile* file = policy.add_files();
    file->set_path(path);
    file->set_content(std::move(content));
  }
  PathOption(String(annotations, "sluice.io/static-index-file"), "sluice.io/static-index-file", result.warnings,
             &v1::StaticSitePolicy::set_index_file, policy);
  PathOption(String(annotations, "sluice.io/static-spa-fallback"), "sluice.io/static-spa-fallback",
             result.warnings, &v1::StaticSitePolicy::set_spa_fallback, policy);
  FieldOption(String(annotations, "sluice.io/static-cache-control"), "sluice.io/static-cache-control",
              result.warnings, &v1::StaticSitePolicy::set_cache_control, policy);
  // Siblings and hashed names cost nothing in memory: on.
  policy.set_precompressed(true);
  policy.set_hashed_assets(true);
  result.ok = true;
  return result;
}

StaticSiteResult FromStaticSite(const store::StoredObject& stored, const std::string& label,
                                const StaticSiteLimits& limits) {
  StaticSiteResult result;
  const json* spec = Get(&stored.object, "spec");
  v1::StaticSitePolicy& policy = result.policy;
  policy.set_source(label);
  std::string root = String(spec, "root");
  std::string beneath = root;
  std::string base = limits.root_base;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (root.empty() || root.front() != '/' || beneath.compare(0, base.size() + 1, base + "/") != 0) {
    return Failed(label + " spec.root \"" + root + "\" must be a directory beneath " + base + " (--static-site-root)",
                  "InvalidStaticSite");
  }
  beneath.erase(0, base.size() + 1);
  if (!ValidRelativePath(beneath)) {
    return Failed(label + " spec.root \"" + root + "\" must be a plain path (no \"..\", \".\" or empty segment)",
                  "InvalidStaticSite");
  }
  policy.set_root(base + "/" + beneath);
  PathOption(String(spec, "indexFile"), "spec.indexFile", result.warnings, &v1::StaticSitePolicy::set_index_file,
             policy);
  PathOption(String(spec, "spaFallback"), "spec.spaFallback", result.warnings,
             &v1::StaticSitePolicy::set_spa_fallback, policy);
  FieldOption(String(spec, "cacheControl"), "spec.cacheControl", result.warnings,
              &v1::StaticSitePolicy::set_cache_control, policy);
  FieldOption(String(spec, "immutableCacheControl"), "spec.immutableCacheControl", result.warnings,
              &v1::StaticSitePolicy::set_immutable_cache_control, policy);
  policy.set_hashed_assets(Bool(spec, "hashedAssets", true));
  policy.set_precompressed(Bool(spec, "precompressed", false));
  policy.set_show_dotfiles(Bool(spec, "showDotfiles", false));
  for (std::string& warning : result.warnings) warning = label + " " + warning;
  result.ok = true;
  return result;
}

}  // namespace

std::string DecodeConfigMapKey(const std::string& key) {
  std::string path;
  path.reserve(key.size());
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '_' && i + 1 < key.size() && key[i + 1] == '_') {
      path.push_back('/');
      ++i;
    } else {
      path.push_back(key[i]);
    }
  }
  if (path.empty() || path.front() == '/' || !ValidRelativePath(path)) return "";
  return path;
}

StaticSiteResult ResolveStaticSite(const store::Store& store, const std::string& ns, const json& resource,
                                   const std::string& route_prefix, const StaticSiteLimits& limits,
                                   uint64_t& total_bytes) {
  std::string group = String(&resource, "apiGroup");
  std::string kind = String(&resource, "kind");
  std::string name = String(&resource, "name");
  StaticSiteResult result;
  if (group.empty() && kind == "ConfigMap") {
    std::string label = "ConfigMap " + ns + "/" + name;
    const store::StoredObject* stored = store.Find("ConfigMap", ns, name);
    // The store also keeps header-set ConfigMaps (sluice.io/headers): only
    // a site's label makes one a site.
    if (stored != nullptr &&
        String(Get(Get(&stored->object, "metadata"), "labels"), store::kStaticSiteLabel) != "true") {
      stored = nullptr;
    }
    if (stored == nullptr) {
      return Failed(label + " not found, or not labelled sluice.io/static-site: \"true\"", "StaticSiteNotFound");
    }
    result = FromConfigMap(*stored, label, limits, total_bytes);
  } else if (group == "sluice.io" && kind == "StaticSite") {
    std::string label = "StaticSite " + ns + "/" + name;
    const store::StoredObject* stored = store.Find("StaticSite", ns, name);
    if (stored == nullptr) return Failed(label + " not found", "StaticSiteNotFound");
    result = FromStaticSite(*stored, label, limits);
  } else {
    return Failed("resource backends are not supported except ConfigMap (labelled sluice.io/static-site: "
                  "\"true\") and sluice.io StaticSite, got " + (group.empty() ? std::string() : group + "/") + kind,
                  "UnsupportedBackend");
  }
  if (result.ok && route_prefix != "/") result.policy.set_strip_prefix(route_prefix);
  return result;
}

}  // namespace sluice::translate
