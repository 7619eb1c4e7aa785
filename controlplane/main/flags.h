#pragma once
// sluice-controller's command line.
#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"

namespace sluice::controller {

struct ControllerFlags {
  std::string manifests_dir;   // --manifests DIR (folder mode)
  std::string kubeconfig;      // --kubeconfig FILE
  // Loopback by default: plaintext is only allowed there (see below).
  std::string grpc_listen = "127.0.0.1:18000";
  // Mutual TLS on the snapshot stream: all three files, or none.
  std::string grpc_tls_cert, grpc_tls_key, grpc_client_ca;
  // The subject alternative name (URI or DNS) a proxy's client certificate
  // must carry; required with the files.
  std::string grpc_client_identity;
  std::chrono::milliseconds grpc_tls_reload{10000};  // how often the files are re-read
  // Plaintext on a non-loopback --grpc-listen: refused unless this is set.
  bool grpc_insecure = false;
  bool enable_ssl_passthrough = false;  // translate::Options::enable_ssl_passthrough
  std::string admin_listen = "127.0.0.1:9902";
  std::string ingress_class_controller = "sluice.io/ingress-controller";
  std::string watch_namespace;  // empty = all namespaces
  // StaticSite roots must lie beneath this directory of the proxy pods
  // (where the chart mounts the static-site volumes).
  std::string static_site_root = "/srv/sluice/static";
  // Kubernetes API mode only (--kubeconfig or in-cluster):
  std::string election_id = "sluice-controller-leader";  // the Lease's name
  std::string election_namespace;  // "" = the service account's namespace, else "default"
  std::string publish_service;     // --publish-service NS/NAME
  std::vector<std::string> publish_status_addresses;  // --publish-status-address A,B
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  // Migration report (no controller runs): --check DIR|- [--output text|json]
  std::string check_path;
  std::string check_output = "text";
  bool annotation_table = false;  // --annotation-table: print README's table and exit
  bool help = false;
  bool version = false;
};

// Accepts "--flag VALUE" and "--flag=VALUE". The error is one line meant for
// stderr, e.g. "unknown flag --foo (see --help)".
sluice::Result<ControllerFlags> ParseFlags(const std::vector<std::string>& args);

// The snapshot stream's transport: mutual TLS with all its flags, or
// plaintext on a loopback --grpc-listen, or plaintext with --grpc-insecure.
sluice::Status CheckSnapshotStreamFlags(const ControllerFlags& flags);

// "15s", "500ms", "1m", or a plain number of seconds ("2", "0.5").
sluice::Result<std::chrono::milliseconds> ParseDuration(const std::string& text);

std::string UsageText();

// --version prints VersionLine(kProgram, kVersion) (base/version: with the
// commit of a stamped build).
inline constexpr const char* kProgram = "sluice-controller";
inline constexpr const char* kVersion = "0.1.0";

}  // namespace sluice::controller
