#include "controlplane/kube/credentials.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "controlplane/source/yaml_json.h"

namespace sluice::kube {
namespace {

using nlohmann::json;

constexpr const char* kDefaultServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Trim(std::string text) {
  const char* space = " \t\r\n";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

std::string StringAt(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// The `what` entry named `name` of a kubeconfig list (clusters, users,
// contexts): {"name": ..., "<what>": {...}}.
const json* FindNamed(const json& config, const char* list, const char* what, const std::string& name) {
  auto it = config.find(list);
  if (it == config.end() || !it->is_array()) return nullptr;
  for (const json& entry : *it) {
    if (StringAt(entry, "name") == name) {
      auto inner = entry.find(what);
      static const json kEmpty = json::object();
      return inner != entry.end() && inner->is_object() ? &*inner : &kEmpty;
    }
  }
  return nullptr;
}

// "<field>-data" (base64) or "<field>" (a file path): the PEM text, "" when
// neither is set.
Result<std::string> PemFrom(const json& section, const std::string& field, const std::filesystem::path& base,
                            const std::string& kubeconfig) {
  std::string data = StringAt(section, (field + "-data").c_str());
  if (!data.empty()) {
    Result<std::string> decoded = DecodeBase64(data);
    if (!decoded.ok()) return Status::Error(kubeconfig + ": " + field + "-data: " + decoded.status().message());
    return decoded;
  }
  std::string file = StringAt(section, field.c_str());
  if (file.empty()) return std::string();
  std::filesystem::path path(file);
  if (path.is_relative()) path = base / path;
  Result<std::string> text = ReadFile(path.string());
  if (!text.ok()) return Status::Error(kubeconfig + ": " + field + ": " + text.status().message());
  return text;
}

bool TrueValue(const json& section, const char* key) {
  auto it = section.find(key);
  if (it == section.end()) return false;
  if (it->is_boolean()) return it->get<bool>();
  return it->is_string() && it->get<std::string>() == "true";
}

}  // namespace

Result<std::string> DecodeBase64(std::string_view text) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    else if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    else if (c >= '0' && c <= '9') value = c - '0' + 52;
    else if (c == '+' || c == '-') value = 62;
    else if (c == '/' || c == '_') value = 63;
    else if (c == '=' || c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    else return Status::Error("not valid base64");
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

Result<Credentials> LoadKubeconfig(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return Status::Error("--kubeconfig: " + text.status().message());
  Result<std::vector<json>> documents = source::ParseYamlDocuments(*text);
  if (!documents.ok()) return Status::Error("--kubeconfig " + path + ": " + documents.status().message());
  if (documents->empty() || !(*documents)[0].is_object()) {
    return Status::Error("--kubeconfig " + path + ": not a kubeconfig (expected a YAML mapping)");
  }
  const json& config = (*documents)[0];
  const std::string context_name = StringAt(config, "current-context");
  if (context_name.empty()) return Status::Error("--kubeconfig " + path + ": no current-context");
  const json* context = FindNamed(config, "contexts", "context", context_name);
  if (!context) return Status::Error("--kubeconfig " + path + ": context \"" + context_name + "\" not found");
  const std::string cluster_name = StringAt(*context, "cluster");
  const json* cluster = FindNamed(config, "clusters", "cluster", cluster_name);
  if (!cluster) return Status::Error("--kubeconfig " + path + ": cluster \"" + cluster_name + "\" not found");
  const std::string user_name = StringAt(*context, "user");
  static const json kNoUser = json::object();
  const json* user = user_name.empty() ? &kNoUser : FindNamed(config, "users", "user", user_name);
  if (!user) return Status::Error("--kubeconfig " + path + ": user \"" + user_name + "\" not found");

  Credentials credentials;
  credentials.description = "kubeconfig " + path + " (context " + context_name + ")";
  credentials.server = StringAt(*cluster, "server");
  while (!credentials.server.empty() && credentials.server.back() == '/') credentials.server.pop_back();
  if (credentials.server.empty()) {
    return Status::Error("--kubeconfig " + path + ": cluster \"" + cluster_name + "\" has no server");
  }
  if (credentials.server.rfind("https://", 0) != 0 && credentials.server.rfind("http://", 0) != 0) {
    return Status::Error("--kubeconfig " + path + ": server \"" + credentials.server +
                         "\" must start with https:// or http://");
  }
  const std::filesystem::path base = std::filesystem::path(path).parent_path();
  Result<std::string> ca = PemFrom(*cluster, "certificate-authority", base, path);
  if (!ca.ok()) return ca.status();
  credentials.ca_pem = *ca;
  credentials.insecure_skip_tls_verify = TrueValue(*cluster, "insecure-skip-tls-verify");
  Result<std::string> cert = PemFrom(*user, "client-certificate", base, path);
  if (!cert.ok()) return cert.status();
  Result<std::string> key = PemFrom(*user, "client-key", base, path);
  if (!key.ok()) return key.status();
  if (cert->empty() != key->empty()) {
    return Status::Error("--kubeconfig " + path + ": user \"" + user_name +
                         "\" needs both a client certificate and a client key");
  }
  credentials.client_cert_pem = *cert;
  credentials.client_key_pem = *key;
  credentials.token = StringAt(*user, "token");
  std::string token_file = StringAt(*user, "tokenFile");
  if (!token_file.empty()) {
    std::filesystem::path token_path(token_file);
    if (token_path.is_relative()) token_path = base / token_path;
    credentials.token_file = token_path.string();
    if (!ReadFile(credentials.token_file).ok()) {
      return Status::Error("--kubeconfig " + path + ": tokenFile: cannot read " + credentials.token_file);
    }
  }
  credentials.default_namespace = StringAt(*context, "namespace");
  return credentials;
}

Result<Credentials> LoadInCluster(const std::string& serviceaccount_dir,
                                  const std::function<const char*(const char*)>& getenv) {
  const char* host = getenv("KUBERNETES_SERVICE_HOST");
  const char* port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    return Status::Error(
        "no Kubernetes API to talk to: not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no "
        "--kubeconfig FILE or --manifests DIR given");
  }
  Credentials credentials;
  credentials.description = "in-cluster (" + serviceaccount_dir + ")";
  std::string host_text = host;
  if (host_text.find(':') != std::string::npos) host_text = "[" + host_text + "]";  // IPv6
  credentials.server = "https://" + host_text + ":" + port;
  credentials.token_file = serviceaccount_dir + "/token";
  if (!ReadFile(credentials.token_file).ok()) {
    return Status::Error("in-cluster: cannot read the service account token " + credentials.token_file);
  }
  Result<std::string> ca = ReadFile(serviceaccount_dir + "/ca.crt");
  if (!ca.ok()) return Status::Error("in-cluster: cannot read the cluster CA " + serviceaccount_dir + "/ca.crt");
  credentials.ca_pem = *ca;
  if (Result<std::string> ns = ReadFile(serviceaccount_dir + "/namespace"); ns.ok()) {
    credentials.default_namespace = Trim(*ns);
  }
  return credentials;
}

std::string ServiceAccountDir() {
  const char* dir = std::getenv("SLUICE_SERVICEACCOUNT_DIR");
  return dir && *dir ? dir : kDefaultServiceAccountDir;
}

TokenSource::TokenSource(std::string static_token, std::string token_file, std::chrono::seconds refresh)
    : static_token_(std::move(static_token)), token_file_(std::move(token_file)), refresh_(refresh) {}

std::string TokenSource::Get() {
  if (token_file_.empty()) return static_token_;
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (stale_ || now - read_at_ >= refresh_) {
    // A failed read keeps the last good token: a rotation replaces the file
    // atomically, but a brief hiccup should not cost us the API.
    if (Result<std::string> text = ReadFile(token_file_); text.ok()) cached_ = Trim(*text);
    read_at_ = now;
    stale_ = false;
  }
  return cached_.empty() ? static_token_ : cached_;
}

void TokenSource::Invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  stale_ = true;
}

}  // namespace sluice::kube
