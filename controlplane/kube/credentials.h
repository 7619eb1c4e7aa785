#pragma once
// Where the Kubernetes API server is and how to prove who we are: from a
// kubeconfig file (--kubeconfig) or from the pod's service account
// (in-cluster). Plain data; api_client.h turns it into connections.
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "base/status.h"

namespace sluice::kube {

struct Credentials {
  std::string server;           // "https://10.0.0.1:443" or "http://127.0.0.1:8001" (no trailing '/')
  std::string ca_pem;           // trusted CA(s); empty = the system roots
  std::string client_cert_pem;  // client certificate chain (mutual TLS), optional
  std::string client_key_pem;
  std::string token;            // static bearer token, optional
  std::string token_file;       // bearer token re-read from this file (rotation); wins over `token`
  bool insecure_skip_tls_verify = false;  // only when the kubeconfig says so
  std::string default_namespace;          // the context's or the service account's namespace; may be empty
  std::string description;                // "kubeconfig /x (context kind)" or "in-cluster", for logs
};

// Reads a kubeconfig: current-context -> cluster (server,
// certificate-authority[-data], insecure-skip-tls-verify) and user
// (client-certificate[-data], client-key[-data], token, tokenFile). Relative
// file paths are relative to the kubeconfig's directory, as kubectl does.
// Errors are one line naming the file and what is missing.
Result<Credentials> LoadKubeconfig(const std::string& path);

// In-cluster: KUBERNETES_SERVICE_HOST/PORT and `serviceaccount_dir`/{token,
// ca.crt,namespace}. `getenv` is injectable for tests.
Result<Credentials> LoadInCluster(const std::string& serviceaccount_dir,
                                  const std::function<const char*(const char*)>& getenv);

// $SLUICE_SERVICEACCOUNT_DIR, else /var/run/secrets/kubernetes.io/serviceaccount.
std::string ServiceAccountDir();

// RFC 4648 base64 (whitespace ignored), as in *-data kubeconfig fields.
Result<std::string> DecodeBase64(std::string_view text);

// The bearer token to send. A token file is re-read at most every
// `refresh` (service-account tokens are rotated by the kubelet) and at once
// after Invalidate() (a 401), as client-go does. Thread-safe.
class TokenSource {
 public:
  TokenSource(std::string static_token, std::string token_file,
              std::chrono::seconds refresh = std::chrono::seconds(60));
  std::string Get();
  void Invalidate();

 private:
  const std::string static_token_, token_file_;
  const std::chrono::seconds refresh_;
  std::mutex mu_;
  std::string cached_;
  std::chrono::steady_clock::time_point read_at_{};
  bool stale_ = true;
};

}  // namespace sluice::kube
