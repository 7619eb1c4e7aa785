#include "controlplane/main/flags.h"

#include <map>

namespace sluice::controller {

sluice::Result<ControllerFlags> ParseFlags(const std::vector<std::string>& args) {
  ControllerFlags flags;
  const std::map<std::string, std::string*> valued = {
      {"--manifests", &flags.manifests_dir},
      {"--kubeconfig", &flags.kubeconfig},
      {"--grpc-listen", &flags.grpc_listen},
      {"--admin-listen", &flags.admin_listen},
      {"--ingress-class-controller", &flags.ingress_class_controller},
      {"--watch-namespace", &flags.watch_namespace},
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      flags.help = true;
      continue;
    }
    if (arg == "--version") {
      flags.version = true;
      continue;
    }
    const size_t equals = arg.find('=');
    const std::string name = arg.substr(0, equals);
    auto flag = valued.find(name);
    if (flag == valued.end()) {
      if (arg.rfind("-", 0) == 0) return sluice::Status::Error("unknown flag " + name + " (see --help)");
      return sluice::Status::Error("unexpected argument \"" + arg + "\" (see --help)");
    }
    std::string value;
    if (equals != std::string::npos) {
      value = arg.substr(equals + 1);
    } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
      value = args[++i];
    } else {
      return sluice::Status::Error(name + " needs a value (see --help)");
    }
    if (value.empty() && name != "--watch-namespace") {
      return sluice::Status::Error(name + " needs a non-empty value");
    }
    *flag->second = value;
  }
  if (!flags.manifests_dir.empty() && !flags.kubeconfig.empty()) {
    return sluice::Status::Error("--manifests and --kubeconfig are exclusive; choose one source");
  }
  return flags;
}

std::string UsageText() {
  return R"(Usage: sluice-controller [--manifests DIR | --kubeconfig FILE] [flags]

Watches Ingresses (from a folder of manifests or the Kubernetes API) and
streams the resulting configuration to sluice-proxy instances over gRPC.

Flags:
  --manifests DIR                 read YAML/JSON manifests from DIR and re-read them on change
  --kubeconfig FILE               use the Kubernetes API with this kubeconfig (not in this build yet)
  --grpc-listen ADDR              snapshot stream listen address (default :18000, all interfaces)
  --admin-listen ADDR             admin HTTP listen address (default 127.0.0.1:9902):
                                  /healthz /readyz /nodes /snapshot
  --ingress-class-controller NAME IngressClass spec.controller to serve
                                  (default sluice.io/ingress-controller)
  --watch-namespace NS            only Ingresses in NS (default: all namespaces)
  --help                          this text
  --version                       print the version
)";
}

}  // namespace sluice::controller
