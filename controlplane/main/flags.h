#pragma once
// sluice-controller's command line.
#include <string>
#include <vector>

#include "dataplane/common/status.h"

namespace sluice::controller {

struct ControllerFlags {
  std::string manifests_dir;   // --manifests DIR (folder mode)
  std::string kubeconfig;      // --kubeconfig FILE
  std::string grpc_listen = ":18000";
  std::string admin_listen = "127.0.0.1:9902";
  std::string ingress_class_controller = "sluice.io/ingress-controller";
  std::string watch_namespace;  // empty = all namespaces
  bool help = false;
  bool version = false;
};

// Accepts "--flag VALUE" and "--flag=VALUE". The error is one line meant for
// stderr, e.g. "unknown flag --foo (see --help)".
sluice::Result<ControllerFlags> ParseFlags(const std::vector<std::string>& args);

std::string UsageText();

inline constexpr const char* kVersionText = "sluice-controller 0.1.0";

}  // namespace sluice::controller
