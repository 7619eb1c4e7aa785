#include "controlplane/main/flags.h"

#include <cstdlib>
#include <iterator>
#include <map>

#include "base/grpc_tls/grpc_tls.h"

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
      {"--election-id", &flags.election_id},
      {"--election-namespace", &flags.election_namespace},
      {"--publish-service", &flags.publish_service},
      {"--check", &flags.check_path},
      {"--output", &flags.check_output},
      {"--grpc-tls-cert", &flags.grpc_tls_cert},
      {"--grpc-tls-key", &flags.grpc_tls_key},
      {"--grpc-client-ca", &flags.grpc_client_ca},
      {"--grpc-client-identity", &flags.grpc_client_identity},
      {"--static-site-root", &flags.static_site_root},
  };
  std::string publish_status_address, lease_duration, renew_deadline, retry_period, grpc_tls_reload;
  const std::map<std::string, std::string*> later = {
      {"--publish-status-address", &publish_status_address},
      {"--lease-duration", &lease_duration},
      {"--renew-deadline", &renew_deadline},
      {"--retry-period", &retry_period},
      {"--grpc-tls-reload", &grpc_tls_reload},
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
    if (arg == "--annotation-table") {
      flags.annotation_table = true;
      continue;
    }
    if (arg == "--grpc-insecure") {
      flags.grpc_insecure = true;
      continue;
    }
    if (arg == "--enable-ssl-passthrough") {
      flags.enable_ssl_passthrough = true;
      continue;
    }
    const size_t equals = arg.find('=');
    const std::string name = arg.substr(0, equals);
    std::string* target = nullptr;
    if (auto flag = valued.find(name); flag != valued.end()) target = flag->second;
    if (auto flag = later.find(name); flag != later.end()) target = flag->second;
    if (target == nullptr) {
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
    *target = value;
  }
  if (flags.check_output != "text" && flags.check_output != "json") {
    return sluice::Status::Error("--output must be text or json, got \"" + flags.check_output + "\"");
  }
  if (!flags.manifests_dir.empty() && !flags.kubeconfig.empty()) {
    return sluice::Status::Error("--manifests and --kubeconfig are exclusive; choose one source");
  }
  if (!flags.publish_service.empty()) {
    const size_t slash = flags.publish_service.find('/');
    if (slash == 0 || slash == std::string::npos || slash + 1 == flags.publish_service.size() ||
        flags.publish_service.find('/', slash + 1) != std::string::npos) {
      return sluice::Status::Error("--publish-service must be NAMESPACE/NAME, got \"" + flags.publish_service + "\"");
    }
  }
  size_t start = 0;
  while (!publish_status_address.empty() && start <= publish_status_address.size()) {
    size_t comma = publish_status_address.find(',', start);
    if (comma == std::string::npos) comma = publish_status_address.size();
    std::string address = publish_status_address.substr(start, comma - start);
    while (!address.empty() && address.front() == ' ') address.erase(0, 1);
    while (!address.empty() && address.back() == ' ') address.pop_back();
    if (!address.empty()) flags.publish_status_addresses.push_back(address);
    start = comma + 1;
  }
  const std::pair<const std::string*, std::chrono::milliseconds*> durations[] = {
      {&lease_duration, &flags.lease_duration},
      {&renew_deadline, &flags.renew_deadline},
      {&retry_period, &flags.retry_period},
      {&grpc_tls_reload, &flags.grpc_tls_reload},
  };
  const char* duration_names[] = {"--lease-duration", "--renew-deadline", "--retry-period", "--grpc-tls-reload"};
  for (size_t i = 0; i < std::size(durations); ++i) {
    if (durations[i].first->empty()) continue;
    sluice::Result<std::chrono::milliseconds> parsed = ParseDuration(*durations[i].first);
    if (!parsed.ok()) return sluice::Status::Error(std::string(duration_names[i]) + ": " + parsed.status().message());
    *durations[i].second = *parsed;
  }
  if (sluice::Status tls = CheckSnapshotStreamFlags(flags); !tls.ok()) return tls;
  // client-go's rules: a leader must give up before its lease can expire,
  // and retry more than once before giving up.
  if (flags.renew_deadline >= flags.lease_duration) {
    return sluice::Status::Error("--renew-deadline must be shorter than --lease-duration");
  }
  if (flags.retry_period >= flags.renew_deadline) {
    return sluice::Status::Error("--retry-period must be shorter than --renew-deadline");
  }
  return flags;
}

sluice::Status CheckSnapshotStreamFlags(const ControllerFlags& flags) {
  const bool any_file = !flags.grpc_tls_cert.empty() || !flags.grpc_tls_key.empty() || !flags.grpc_client_ca.empty();
  if (any_file) {
    if (flags.grpc_tls_cert.empty() || flags.grpc_tls_key.empty() || flags.grpc_client_ca.empty()) {
      return sluice::Status::Error("--grpc-tls-cert, --grpc-tls-key and --grpc-client-ca go together");
    }
    if (flags.grpc_client_identity.empty()) {
      return sluice::Status::Error(
          "--grpc-client-identity is needed with --grpc-tls-cert: the subject alternative name a proxy's "
          "certificate must carry (e.g. spiffe://sluice/NAMESPACE/proxy)");
    }
    if (flags.grpc_insecure) return sluice::Status::Error("--grpc-insecure contradicts --grpc-tls-cert; choose one");
    return sluice::Status::Ok();
  }
  if (!flags.grpc_client_identity.empty()) {
    return sluice::Status::Error("--grpc-client-identity needs --grpc-tls-cert, --grpc-tls-key and --grpc-client-ca");
  }
  // Snapshots carry every TLS private key of the cluster: in plaintext they
  // may only be offered where nothing but this machine can ask for them.
  if (!flags.grpc_insecure && !grpc_tls::IsLoopbackAddress(flags.grpc_listen)) {
    return sluice::Status::Error("--grpc-listen " + flags.grpc_listen +
                                 " is not a loopback address and the snapshot stream, which carries every TLS "
                                 "private key, would be plaintext: give --grpc-tls-cert, --grpc-tls-key, "
                                 "--grpc-client-ca and --grpc-client-identity (mutual TLS), or --grpc-insecure");
  }
  return sluice::Status::Ok();
}

sluice::Result<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  double scale = 1000;  // plain numbers are seconds
  std::string number = text;
  if (text.size() > 2 && text.compare(text.size() - 2, 2, "ms") == 0) {
    scale = 1;
    number = text.substr(0, text.size() - 2);
  } else if (!text.empty() && text.back() == 's') {
    number = text.substr(0, text.size() - 1);
  } else if (!text.empty() && text.back() == 'm') {
    scale = 60000;
    number = text.substr(0, text.size() - 1);
  }
  char* end = nullptr;
  const double value = number.empty() ? -1 : std::strtod(number.c_str(), &end);
  if (number.empty() || end == nullptr || *end != '\0' || !(value > 0) || value * scale > 86400e3) {
    return sluice::Status::Error("\"" + text + "\" is not a duration (e.g. 15s, 500ms, 1m)");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(value * scale));
}

std::string UsageText() {
  return R"(Usage: sluice-controller [--manifests DIR | --kubeconfig FILE] [flags]

Watches Ingresses (from a folder of manifests or the Kubernetes API) and
streams the resulting configuration to sluice-proxy instances over gRPC.

Before switching from ingress-nginx (no cluster needed, runs nothing else):
  --check DIR|-                   report what Sluice does with each annotation of the Ingresses in
                                  DIR (or on stdin: kubectl get ingress -A -o yaml | ... --check -);
                                  exit 1 when something is unsupported, refused, unknown or invalid
  --output text|json              the report's format (default text)
  --annotation-table              print the ingress-nginx annotation table (markdown) and exit

Flags:
  --manifests DIR                 read YAML/JSON manifests from DIR and re-read them on change
  --kubeconfig FILE               use the Kubernetes API with this kubeconfig; without --manifests
                                  and --kubeconfig, the in-cluster service account is used
  --grpc-listen ADDR              snapshot stream listen address (default 127.0.0.1:18000); plaintext
                                  is refused on any other address unless mutual TLS is configured:
  --grpc-tls-cert FILE            the controller's PEM certificate chain (proxies check it and its name)
  --grpc-tls-key FILE             its private key
  --grpc-client-ca FILE           PEM CA bundle a proxy's client certificate must chain to
  --grpc-client-identity NAME     subject alternative name (URI or DNS) a proxy's certificate must
                                  carry, e.g. spiffe://sluice/NAMESPACE/proxy
  --grpc-tls-reload D             re-read the three files this often; rotated files serve new
                                  handshakes, open streams keep going (default 10s)
  --grpc-insecure                 allow a plaintext snapshot stream on a non-loopback address
                                  (anyone who can connect gets every TLS private key)
  --admin-listen ADDR             admin HTTP listen address (default 127.0.0.1:9902):
                                  /healthz /readyz /nodes /snapshot
  --ingress-class-controller NAME IngressClass spec.controller to serve
                                  (default sluice.io/ingress-controller)
  --watch-namespace NS            only Ingresses in NS (default: all namespaces)
  --enable-ssl-passthrough        honour ssl-passthrough annotations: TLS connections to those hosts
                                  are passed to the backend by SNI, not terminated (off by default,
                                  as in ingress-nginx)
  --static-site-root DIR          StaticSite spec.root must lie beneath DIR, where the proxies mount
                                  the static-site volumes (default /srv/sluice/static)

Kubernetes API mode (leader election; the leader writes Ingress status and Events):
  --election-id NAME              the leader-election Lease (default sluice-controller-leader)
  --election-namespace NS         the Lease's namespace (default: the service account's, else default)
  --publish-service NS/NAME       write this Service's address into Ingress status.loadBalancer
  --publish-status-address A,B    write these addresses instead (IPs or host names)
  --lease-duration D              lease validity (default 15s)
  --renew-deadline D              the leader gives up after failing to renew this long (default 10s)
  --retry-period D                renew / retry interval (default 2s)
  --help                          this text
  --version                       print the version and the commit (of a stamped build)
)";
}

}  // namespace sluice::controller
