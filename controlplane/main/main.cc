// sluice-controller: reads Kubernetes objects (today: a folder of manifests),
// translates them into a Snapshot and streams it to every sluice-proxy.
#include <grpc/support/log.h>
#include <google/protobuf/util/json_util.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/main/admin_http.h"
#include "controlplane/main/flags.h"
#include "controlplane/server/json_log.h"
#include "controlplane/server/snapshot_server.h"
#include "controlplane/source/manifest_source.h"
#include "controlplane/store/store.h"
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

  translate::Result result = translate::Translate(store, options);
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

AdminResponse ServeAdmin(const std::string& path, const server::SnapshotServer& server) {
  constexpr const char* kText = "text/plain; charset=utf-8";
  constexpr const char* kJson = "application/json";
  if (path == "/healthz") return {200, kText, "ok\n"};
  if (path == "/readyz") {
    if (server.has_snapshot()) return {200, kText, "ok\n"};
    return {503, kText, "no snapshot published yet\n"};
  }
  if (path == "/nodes") return {200, kJson, server.NodesJson()};
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
  return {404, kText, "not found; try /healthz /readyz /nodes /snapshot\n"};
}

int Run(const ControllerFlags& flags) {
  if (!flags.kubeconfig.empty() || flags.manifests_dir.empty()) {
    std::fprintf(stderr,
                 "sluice-controller: kubeconfig/in-cluster mode is not available in this build yet; "
                 "use --manifests DIR\n");
    return 2;
  }
  std::error_code error;
  if (!std::filesystem::is_directory(flags.manifests_dir, error)) {
    std::fprintf(stderr, "sluice-controller: --manifests %s: not a directory\n", flags.manifests_dir.c_str());
    return 2;
  }

  // Signals are taken synchronously by this thread (sigwait below); every
  // thread started from here on inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  gpr_set_log_function(LogGrpc);

  server::ServerOptions server_options;
  server_options.listen_address = flags.grpc_listen;
  server::SnapshotServer server(server_options);
  if (sluice::Status started = server.Start(); !started.ok()) {
    LogJson("error", "cannot start", {{"error", started.message()}});
    return 1;
  }
  AdminHttpServer admin([&server](const std::string& path) { return ServeAdmin(path, server); });
  if (sluice::Status started = admin.Start(flags.admin_listen); !started.ok()) {
    LogJson("error", "cannot start", {{"error", started.message()}});
    server.Shutdown();
    return 1;
  }
  LogJson("info", "sluice-controller started",
          {{"version", kVersionText},
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

  LoadAndPublish(source::LoadManifests(flags.manifests_dir), translate_options, server);
  source::ManifestWatcher watcher(flags.manifests_dir, [&](source::LoadResult loaded) {
    LogJson("info", "manifests changed", {{"manifests", flags.manifests_dir}});
    LoadAndPublish(loaded, translate_options, server);
  });
  watcher.Start();

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  LogJson("info", "shutting down", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  watcher.Stop();
  admin.Stop();
  server.Shutdown();
  LogJson("info", "stopped");
  return 0;
}

}  // namespace
}  // namespace sluice::controller

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
    std::puts(kVersionText);
    return 0;
  }
  return Run(*flags);
}
