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
  std::string grpc_listen = ":18000";
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
  bool help = false;
  bool version = false;
};

// Accepts "--flag VALUE" and "--flag=VALUE". The error is one line meant for
// stderr, e.g. "unknown flag --foo (see --help)".
sluice::Result<ControllerFlags> ParseFlags(const std::vector<std::string>& args);

// "15s", "500ms", "1m", or a plain number of seconds ("2", "0.5").
sluice::Result<std::chrono::milliseconds> ParseDuration(const std::string& text);

std::string UsageText();

inline constexpr const char* kVersionText = "sluice-controller 0.1.0";

}  // namespace sluice::controller
