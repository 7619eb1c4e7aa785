// sluice-controller: reads Kubernetes objects (today: a folder of manifests),
// translates them into a Snapshot and streams it to every sluice-proxy.
#include <grpc/support/log.h>
#include <google/protobuf/util/json_util.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/grpc_tls/grpc_tls.h"
#include "base/prom_text.h"
#include "base/version/version.h"
#include "controlplane/metrics/controller_metrics.h"
#include "controlplane/main/admin_http.h"
#include "controlplane/kube/api_client.h"
#include "controlplane/kube/credentials.h"
#include "controlplane/kube/kube_source.h"
#include "controlplane/main/flags.h"
#include "controlplane/migrate/report.h"
#include "controlplane/server/json_log.h"
#include "controlplane/server/snapshot_server.h"
#include "controlplane/source/manifest_source.h"
#include "controlplane/status/lease.h"
#include "controlplane/status/status_reporter.h"
#include "controlplane/status/status_writer.h"
#include "controlplane/store/store.h"
#include "controlplane/translate/annotation_catalog.h"
#include "controlplane/translate/incremental.h"
#include "controlplane/translate/translate.h"

namespace sluice::controller {
namespace {

using sluice::server::LogJson;

// gRPC's own log lines, as JSON lines like everything else on stderr.
void LogGrpc(gpr_log_func_args* args) {
  const char* level = args->severity == GPR_LOG_SEVERITY_ERROR  ? "error"
                      : args->severity == GPR_LOG_SEVERITY_INFO ? "info"
                                                                : "debug";
  LogJson(level, "grpc", {{"error", args->message ? args->message : ""}, {"file", args->file ? args->file : ""},
                          {"line", args->line}});
}

// Manifests -> store -> translation -> publish. A fresh Store each time: the
// folder is the whole truth, and the server only pushes what changed.
void LoadAndPublish(const source::LoadResult& loaded, const translate::Options& options,
                    server::SnapshotServer& server) {
  for (const source::ManifestError& error : loaded.errors) {
    LogJson("error", "invalid manifest", {{"origin", error.origin}, {"message", error.message}});
  }
  store::Store store;
  for (const source::ManifestObject& object : loaded.objects) store.Upsert(object.object, object.origin);

  const auto translate_started = std::chrono::steady_clock::now();
  translate::Result result = translate::Translate(store, options);
  controlplane::ControllerMetrics::Get().Translated(
      "manifests", std::chrono::duration<double>(std::chrono::steady_clock::now() - translate_started).count());
  for (const translate::Diagnostic& diagnostic : result.diagnostics) {
    LogJson(diagnostic.severity == translate::Diagnostic::Severity::kError ? "error" : "warn",
            "invalid object",
            {{"origin", diagnostic.origin},
             {"kind", diagnostic.kind},
             {"namespace", diagnostic.ns},
             {"name", diagnostic.name},
             {"message", diagnostic.message}});
  }
  LogJson("info", "manifests translated",
          {{"objects", loaded.objects.size()},
           {"manifest_errors", loaded.errors.size()},
           {"diagnostics", result.diagnostics.size()},
           {"virtual_hosts", result.snapshot.virtual_hosts_size()},
           {"clusters", result.snapshot.clusters_size()},
           {"certificates", result.snapshot.certificates_size()}});
  server.Publish(std::move(result.snapshot));
}

// What the admin pages show of Kubernetes API mode (absent in folder mode).
struct KubeAdmin {
  const kube::KubeSource* source = nullptr;
  const status::LeaderElector* elector = nullptr;
};

// Prometheus text: the controller's counters (controlplane/metrics), the
// version it publishes, its proxies (connected, version, up to date: one
// series per proxy node, so bounded by the proxies, pruned an hour after
// one disconnects) and whether it leads.
std::string MetricsText(const server::SnapshotServer& server, const KubeAdmin* kube) {
  std::string out = controlplane::ControllerMetrics::Get().Text();
  const std::string version = server.current_version();
  prom::Header(out, "sluice_controller_config_info", "gauge",
               "The configuration version the controller publishes (label version).");
  if (!version.empty()) prom::Sample(out, "sluice_controller_config_info", "version=\"" + prom::Escape(version) + "\"", 1);
  const std::vector<server::NodeStatus> nodes = server.Nodes();
  size_t connected = 0, up_to_date = 0;
  std::map<std::string, size_t> by_version;
  for (const server::NodeStatus& node : nodes) {
    if (!node.connected) continue;
    ++connected;
    if (!version.empty() && node.applied_version == version) ++up_to_date;
    ++by_version[node.applied_version];
  }
  prom::Single(out, "sluice_controller_proxies_connected", "gauge", "Proxies with an open snapshot stream.",
               static_cast<double>(connected));
  prom::Single(out, "sluice_controller_proxies_up_to_date", "gauge",
               "Connected proxies whose last ACKed version is the one the controller publishes.",
               static_cast<double>(up_to_date));
  prom::Header(out, "sluice_controller_proxies_by_version", "gauge",
               "Connected proxies by the version they last ACKed (\"\": none yet).");
  for (const auto& [applied, count] : by_version) {
    prom::Sample(out, "sluice_controller_proxies_by_version", "version=\"" + prom::Escape(applied) + "\"",
                 static_cast<double>(count));
  }
  // Connected proxies only: a departed one (a rolled pod) is not "behind".
  prom::Header(out, "sluice_controller_proxy_up_to_date", "gauge",
               "Per connected proxy node: 1 when it serves the published version, 0 when behind.");
  for (const server::NodeStatus& node : nodes) {
    if (!node.connected) continue;
    prom::Sample(out, "sluice_controller_proxy_up_to_date", "node=\"" + prom::Escape(node.node_id) + "\"",
                 !version.empty() && node.applied_version == version ? 1 : 0);
  }
  // Folder mode has no election: the one controller acts (leads).
  const bool leading = kube == nullptr || kube->elector == nullptr || kube->elector->is_leader();
  prom::Single(out, "sluice_controller_leader", "gauge",
               "1 while this controller holds the leader Lease (writes status and Events); always 1 in "
               "--manifests mode.",
               leading ? 1 : 0);
  prom::Single(out, "sluice_controller_synced", "gauge", "1 once every watched kind finished its first list.",
               kube == nullptr || kube->source == nullptr || kube->source->synced() ? 1 : 0);
  return out;
}

// POST /cache/purge: the purge (url=, host=&prefix=, or tag=; see the
// README) sent to every connected proxy through its snapshot stream; the
// answer says which proxies confirmed and how much each removed. 200 when
// all confirmed, 400 when they all refused the request (the same error),
// 504 when some did not answer in time, 503 when no proxy is connected.
AdminResponse ServePurge(const std::string& path, const std::string& form, server::SnapshotServer& server) {
  if (path != "/cache/purge") return {404, "text/plain; charset=utf-8", "not found\n"};
  const std::vector<server::SnapshotServer::PurgeOutcome> outcomes =
      server.PurgeAll(form, std::chrono::seconds(5));
  nlohmann::json proxies = nlohmann::json::array();
  size_t confirmed = 0, refused = 0;
  for (const auto& outcome : outcomes) {
    nlohmann::json entry = {{"node", outcome.node_id}};
    if (outcome.answered && outcome.error.empty()) {
      entry["purged"] = outcome.purged;
      ++confirmed;
    } else {
      entry["error"] = outcome.error;
      refused += outcome.answered ? 1 : 0;
    }
    proxies.push_back(std::move(entry));
  }
  const nlohmann::json body = {{"request", form}, {"proxies", proxies}, {"confirmed", confirmed},
                               {"total", outcomes.size()}};
  const int status = outcomes.empty()                      ? 503
                     : confirmed == outcomes.size()        ? 200
                     : refused == outcomes.size()          ? 400
                                                           : 504;
  LogJson(status == 200 ? "info" : "warn", "cache purge",
          {{"request", form}, {"confirmed", std::to_string(confirmed)}, {"total", std::to_string(outcomes.size())}});
  return {status, "application/json", body.dump() + "\n"};
}

AdminResponse ServeAdmin(const std::string& path, const server::SnapshotServer& server,
                         const KubeAdmin* kube = nullptr) {
  constexpr const char* kText = "text/plain; charset=utf-8";
  constexpr const char* kJson = "application/json";
  if (path == "/healthz") return {200, kText, "ok\n"};
  if (path == "/readyz") {
    if (kube != nullptr && !kube->source->synced()) {
      std::string kinds;
      for (const std::string& kind : kube->source->unsynced_kinds()) kinds += (kinds.empty() ? "" : ", ") + kind;
      return {503, kText, "waiting for initial sync of " + kinds + "\n"};
    }
    if (server.has_snapshot()) return {200, kText, "ok\n"};
    return {503, kText, "no snapshot published yet\n"};
  }
  if (path == "/nodes") return {200, kJson, server.NodesJson()};
  if (path == "/metrics") return {200, "text/plain; version=0.0.4", MetricsText(server, kube)};
  if (path == "/leader") {
    if (kube == nullptr) return {404, kText, "no leader election in --manifests mode\n"};
    return {200, kJson, kube->elector->StatusJson().dump() + "\n"};
  }
  if (path == "/snapshot") {
    std::string version;
    sluice::v1::Snapshot snapshot = server.CurrentSnapshot(&version);
    // Private keys stay on the stream (mTLS in a cluster); an admin page is
    // too easy to share or scrape.
    for (auto& certificate : *snapshot.mutable_certificates()) {
      if (!certificate.private_key_pem().empty()) certificate.set_private_key_pem("<redacted>");
    }
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(snapshot, &json, options).ok()) {
      return {500, kText, "cannot render snapshot as JSON\n"};
    }
    return {200, kJson, "{\"version\":\"" + version + "\",\"snapshot\":" + json + "}\n"};
  }
  return {404, kText, "not found; try /healthz /readyz /metrics /nodes /snapshot /leader\n"};
}

// The snapshot server's listen address and transport. Mutual TLS when the
// files are given (checked now, so a wrong path fails the start instead of
// every handshake); otherwise plaintext, which ParseFlags allowed only on
// loopback or with --grpc-insecure, and which is said on start either way.
Result<server::ServerOptions> SnapshotServerOptions(const ControllerFlags& flags) {
  server::ServerOptions options;
  options.listen_address = flags.grpc_listen;
  if (!flags.grpc_tls_cert.empty()) {
    const grpc_tls::TlsFiles files{flags.grpc_tls_cert, flags.grpc_tls_key, flags.grpc_client_ca};
    if (Status usable = grpc_tls::CheckFiles(files); !usable.ok()) {
      return Status::Error("snapshot stream TLS: " + usable.message());
    }
    options.credentials = grpc_tls::MutualTlsServerCredentials(
        files, flags.grpc_client_identity, std::chrono::duration_cast<std::chrono::seconds>(flags.grpc_tls_reload),
        [](const std::string& reason) { LogJson("warn", "snapshot stream client refused", {{"error", reason}}); });
    LogJson("info", "snapshot stream uses mutual TLS",
            {{"cert", flags.grpc_tls_cert},
             {"client_ca", flags.grpc_client_ca},
             {"client_identity", flags.grpc_client_identity},
             {"reload_seconds", std::chrono::duration_cast<std::chrono::seconds>(flags.grpc_tls_reload).count()}});
  } else if (flags.grpc_insecure) {
    LogJson("warn",
            "snapshot stream is PLAINTEXT on a non-loopback address (--grpc-insecure): anyone who can connect to " +
                flags.grpc_listen + " gets every TLS private key",
            {{"grpc_listen", flags.grpc_listen}});
  } else {
    LogJson("warn",
            "snapshot stream is plaintext, on loopback only; in a cluster use --grpc-tls-cert, --grpc-tls-key, "
            "--grpc-client-ca and --grpc-client-identity",
            {{"grpc_listen", flags.grpc_listen}});
  }
  return options;
}

// Blocks the stop signals in this thread and every thread started after it:
// they are taken synchronously by sigwait().
sigset_t BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  gpr_set_log_function(LogGrpc);
  return stop_signals;
}

int WaitForStopSignal(const sigset_t& stop_signals) {
  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  LogJson("info", "shutting down", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  return signal_number;
}

// Kubernetes API mode: reflectors -> store (controller thread) -> translate
// -> publish; the leader also writes Ingress status and Events.
int RunKube(const ControllerFlags& flags) {
  Result<kube::Credentials> credentials = flags.kubeconfig.empty()
                                              ? kube::LoadInCluster(kube::ServiceAccountDir(), ::getenv)
                                              : kube::LoadKubeconfig(flags.kubeconfig);
  if (!credentials.ok()) {
    std::fprintf(stderr, "sluice-controller: %s\n", credentials.status().message().c_str());
    return 2;
  }
  Result<std::shared_ptr<kube::ApiClient>> client = kube::ApiClient::Create(*credentials);
  if (!client.ok()) {
    std::fprintf(stderr, "sluice-controller: %s: %s\n", credentials->description.c_str(),
                 client.status().message().c_str());
    return 2;
  }
  const sigset_t stop_signals = BlockStopSignals();

  Result<server::ServerOptions> server_options = SnapshotServerOptions(flags);
  if (!server_options.ok()) {
    std::fprintf(stderr, "sluice-controller: %s\n", server_options.status().message().c_str());
    return 2;
  }
  server::SnapshotServer server(*server_options);
  if (sluice::Status started = server.Start(); !started.ok()) {
    LogJson("error", "cannot start", {{"error", started.message()}});
    return 1;
  }

  status::LeaderElectionOptions election;
  election.lease_name = flags.election_id;
  const char* pod_namespace = std::getenv("POD_NAMESPACE");
  election.lease_namespace = !flags.election_namespace.empty()       ? flags.election_namespace
                             : pod_namespace && *pod_namespace        ? pod_namespace
                             : !credentials->default_namespace.empty() ? credentials->default_namespace
                                                                       : "default";
  election.identity = status::DefaultIdentity();
  election.lease_duration = flags.lease_duration;
  election.renew_deadline = flags.renew_deadline;
  election.retry_period = flags.retry_period;

  status::StatusReporterOptions reporter_options;
  reporter_options.publish_service = flags.publish_service;
  reporter_options.publish_addresses = flags.publish_status_addresses;
  reporter_options.events.instance = election.identity;
  status::StatusReporter* reporter_ptr = nullptr;
  status::LeaderElector elector(*client, election, [&reporter_ptr](bool) {
    if (reporter_ptr != nullptr) reporter_ptr->Wake();
  });
  status::StatusReporter reporter(*client, reporter_options, [&elector] { return elector.is_leader(); });
  reporter_ptr = &reporter;

  translate::Options translate_options;
  translate_options.ingress_class_controller = flags.ingress_class_controller;
  translate_options.watch_namespace = flags.watch_namespace;
  translate_options.enable_ssl_passthrough = flags.enable_ssl_passthrough;
  translate_options.static_sites.root_base = flags.static_site_root;

  // Controller thread state: what was last logged and reported, so a
  // problem is logged once, not at every translation.
  std::set<std::string> logged_diagnostics;
  std::vector<translate::Diagnostic> diagnostics;
  // Endpoint-only changes (the common case) recompute just the Clusters
  // concerned instead of translating 10,000 Ingresses again.
  translate::IncrementalTranslator translator(translate_options);
  auto on_change = [&](const store::Store& store, bool translation_inputs_changed) {
    if (translation_inputs_changed) {
      const auto translate_started = std::chrono::steady_clock::now();
      const translate::Result& result = translator.Update(store);
      const double translate_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - translate_started).count();
      controlplane::ControllerMetrics::Get().Translated(translator.last_update_kind(), translate_ms / 1000);
      std::set<std::string> current;
      for (const translate::Diagnostic& diagnostic : result.diagnostics) {
        std::string key = diagnostic.kind + "/" + diagnostic.ns + "/" + diagnostic.name + ": " + diagnostic.message;
        if (!logged_diagnostics.count(key)) {
          LogJson(diagnostic.severity == translate::Diagnostic::Severity::kError ? "error" : "warn",
                  "invalid object",
                  {{"origin", diagnostic.origin},
                   {"kind", diagnostic.kind},
                   {"namespace", diagnostic.ns},
                   {"name", diagnostic.name},
                   {"message", diagnostic.message}});
        }
        current.insert(std::move(key));
      }
      logged_diagnostics = std::move(current);
      // Published first: status and Events are not on the way to the proxies.
      const std::string_view update_kind = translator.last_update_kind();
      if (update_kind == "endpoints" || update_kind == "partial") {
        // Only these resources differ from what was published last: the
        // publish costs the change, not the 10,000 hosts.
        const translate::SnapshotChanges& names = translator.last_changes();
        sluice::server::SnapshotChange change;
        auto copy_named = [](const auto& all, const std::vector<std::string>& wanted, auto& out) {
          for (const std::string& name : wanted) {  // `all` is sorted by name
            auto it = std::lower_bound(all.begin(), all.end(), name,
                                       [](const auto& message, const std::string& n) { return message.name() < n; });
            if (it != all.end() && it->name() == name) out.push_back(*it);
          }
        };
        copy_named(result.snapshot.virtual_hosts(), names.virtual_hosts, change.virtual_hosts);
        copy_named(result.snapshot.clusters(), names.clusters, change.clusters);
        copy_named(result.snapshot.certificates(), names.certificates, change.certificates);
        change.removed_virtual_hosts = names.removed_virtual_hosts;
        change.removed_clusters = names.removed_clusters;
        change.removed_certificates = names.removed_certificates;
        server.PublishChange(std::move(change));
      } else if (update_kind == "full") {
        server.Publish(result.snapshot);
      }
      LogJson("info", "translated",
              {{"objects", store.size()},
               {"kind", translator.last_update_kind()},
               {"translate_ms", translate_ms},
               {"diagnostics", result.diagnostics.size()},
               {"virtual_hosts", result.snapshot.virtual_hosts_size()},
               {"clusters", result.snapshot.clusters_size()},
               {"certificates", result.snapshot.certificates_size()}});
      diagnostics = result.diagnostics;
    }
    std::vector<status::IngressState> ingresses =
        status::CollectIngresses(store, flags.ingress_class_controller, flags.watch_namespace);
    // Events only for Ingresses we handle: another controller's Ingresses
    // are none of our business.
    std::map<std::pair<std::string, std::string>, const status::IngressState*> ours;
    for (const status::IngressState& ingress : ingresses) {
      if (ingress.ours) ours[{ingress.ns, ingress.name}] = &ingress;
    }
    std::vector<status::EventSpec> problems;
    for (const translate::Diagnostic& diagnostic : diagnostics) {
      if (diagnostic.kind != "Ingress") continue;
      auto it = ours.find({diagnostic.ns, diagnostic.name});
      if (it == ours.end()) continue;
      problems.push_back({diagnostic.ns, diagnostic.name, it->second->uid,
                          diagnostic.reason.empty() ? "InvalidIngress" : diagnostic.reason, diagnostic.message,
                          "Warning"});
    }
    reporter.Update(std::move(ingresses), std::move(problems));
  };

  kube::KubeSourceOptions source_options;
  source_options.reflector.watch_namespace = flags.watch_namespace;
  kube::KubeSource source(*client, source_options, on_change);

  KubeAdmin kube_admin{&source, &elector};
  AdminHttpServer admin(
      [&server, &kube_admin](const std::string& path) { return ServeAdmin(path, server, &kube_admin); },
      [&server](const std::string& path, const std::string& form) { return ServePurge(path, form, server); });
  if (sluice::Status started = admin.Start(flags.admin_listen); !started.ok()) {
    LogJson("error", "cannot start", {{"error", started.message()}});
    server.Shutdown();
    return 1;
  }
  LogJson("info", "sluice-controller started",
          {{"version", VersionLine(kProgram, kVersion)},
           {"api_server", credentials->server},
           {"credentials", credentials->description},
           {"grpc_listen", flags.grpc_listen},
           {"grpc_port", server.bound_port()},
           {"admin_listen", flags.admin_listen},
           {"admin_port", admin.port()},
           {"ingress_class_controller", flags.ingress_class_controller},
           {"watch_namespace", flags.watch_namespace},
           {"election", election.lease_namespace + "/" + election.lease_name},
           {"identity", election.identity}});

  reporter.Start();
  elector.Start();
  source.Start();

  WaitForStopSignal(stop_signals);
  source.Stop();
  reporter.Stop();
  elector.Stop();  // releases the Lease if we hold it
  admin.Stop();
  server.Shutdown();
  LogJson("info", "stopped");
  return 0;
}

int Run(const ControllerFlags& flags) {
  if (flags.manifests_dir.empty()) return RunKube(flags);
  std::error_code error;
  if (!std::filesystem::is_directory(flags.manifests_dir, error)) {
    std::fprintf(stderr, "sluice-controller: --manifests %s: not a directory\n", flags.manifests_dir.c_str());
    return 2;
  }

  const sigset_t stop_signals = BlockStopSignals();

  Result<server::ServerOptions> server_options = SnapshotServerOptions(flags);
  if (!server_options.ok()) {
    std::fprintf(stderr, "sluice-controller: %s\n", server_options.status().message().c_str());
    return 2;
  }
  server::SnapshotServer server(*server_options);
  if (sluice::Status started = server.Start(); !started.ok()) {
    LogJson("error", "cannot start", {{"error", started.message()}});
    return 1;
  }
  AdminHttpServer admin(
      [&server](const std::string& path) { return ServeAdmin(path, server); },
      [&server](const std::string& path, const std::string& form) { return ServePurge(path, form, server); });
  if (sluice::Status started = admin.Start(flags.admin_listen); !started.ok()) {
    LogJson("error", "cannot start", {{"error", started.message()}});
    server.Shutdown();
    return 1;
  }
  LogJson("info", "sluice-controller started",
          {{"version", VersionLine(kProgram, kVersion)},
           {"manifests", flags.manifests_dir},
           {"grpc_listen", flags.grpc_listen},
           {"grpc_port", server.bound_port()},
           {"admin_listen", flags.admin_listen},
           {"admin_port", admin.port()},
           {"ingress_class_controller", flags.ingress_class_controller},
           {"watch_namespace", flags.watch_namespace}});

  translate::Options translate_options;
  translate_options.ingress_class_controller = flags.ingress_class_controller;
  translate_options.watch_namespace = flags.watch_namespace;
  translate_options.enable_ssl_passthrough = flags.enable_ssl_passthrough;
  translate_options.static_sites.root_base = flags.static_site_root;

  LoadAndPublish(source::LoadManifests(flags.manifests_dir), translate_options, server);
  source::ManifestWatcher watcher(flags.manifests_dir, [&](source::LoadResult loaded) {
    LogJson("info", "manifests changed", {{"manifests", flags.manifests_dir}});
    LoadAndPublish(loaded, translate_options, server);
  });
  watcher.Start();

  WaitForStopSignal(stop_signals);
  watcher.Stop();
  admin.Stop();
  server.Shutdown();
  LogJson("info", "stopped");
  return 0;
}

}  // namespace
}  // namespace sluice::controller

// --check: the migration report. 0: everything supported; 1: something
// will not behave as it did under ingress-nginx; 2: nothing could be read.
int RunMigrationCheck(const std::string& path, const std::string& output) {
  sluice::source::LoadResult loaded;
  if (path == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    const bool is_json = text.find_first_not_of(" \t\r\n") != std::string::npos &&
                         text[text.find_first_not_of(" \t\r\n")] == '{';
    loaded = sluice::source::ParseManifests(text, "stdin", is_json);
  } else {
    std::error_code error;
    if (!std::filesystem::is_directory(path, error)) {
      std::fprintf(stderr, "sluice-controller: --check %s: not a directory (use - for stdin)\n", path.c_str());
      return 2;
    }
    loaded = sluice::source::LoadManifests(path);
  }
  sluice::migrate::Report report = sluice::migrate::BuildReport(loaded);
  if (output == "json") {
    std::puts(sluice::migrate::RenderJson(report).dump(2).c_str());
  } else {
    std::fputs(sluice::migrate::RenderText(report).c_str(), stdout);
  }
  if (report.ingresses.empty() && !loaded.errors.empty()) return 2;
  return report.blocking() ? 1 : 0;
}

int main(int argc, char** argv) {
  using namespace sluice::controller;
  const std::vector<std::string> args(argv + 1, argv + argc);
  sluice::Result<ControllerFlags> flags = ParseFlags(args);
  if (!flags.ok()) {
    std::fprintf(stderr, "sluice-controller: %s\n", flags.status().message().c_str());
    return 2;
  }
  if (flags->help) {
    std::fputs(UsageText().c_str(), stdout);
    return 0;
  }
  if (flags->version) {
    std::puts(sluice::VersionLine(kProgram, kVersion).c_str());
    return 0;
  }
  if (flags->annotation_table) {
    std::fputs(sluice::translate::MarkdownAnnotationTable().c_str(), stdout);
    return 0;
  }
  if (!flags->check_path.empty()) return RunMigrationCheck(flags->check_path, flags->check_output);
  return Run(*flags);
}
