#pragma once
// Test-only: a sluice-controller reading a folder of manifests and one
// sluice-proxy configured by it, as real processes on 127.0.0.1 with their
// logs in a fresh temporary directory. The integration tests add their own
// backends and manifests around it.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "test/support/process.h"

namespace sluice::testing {

struct SluiceClusterOptions {
  std::string name = "cluster";  // prefix of the temporary directory
  int workers = 1;               // --workers
  bool https = false;            // also --https-listen on a free port
  std::string node_id;           // --node-id, when not empty
  // --access-log: "off", or a file name in dir() (empty: the proxy's default).
  std::string access_log;
  std::vector<std::string> extra_proxy_flags;  // appended as given, e.g. {"--access-log", "off"}
  std::vector<std::string> extra_controller_flags;  // appended as given, e.g. {"--static-site-root", dir}
};

class SluiceCluster {
 public:
  // Makes the directory (with manifests/ in it) and picks the ports; starts
  // nothing, so the caller can write manifests and start backends first.
  explicit SluiceCluster(SluiceClusterOptions options);
  SluiceCluster(const SluiceCluster&) = delete;
  SluiceCluster& operator=(const SluiceCluster&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& manifests_dir() const { return manifests_dir_; }
  // `dir()`/`file`, e.g. Path("proxy.log").
  std::string Path(const std::string& file) const { return dir_ + "/" + file; }
  // Writes manifests/`file` atomically; the controller picks it up.
  void WriteManifest(const std::string& file, const std::string& yaml) const;

  // Starts a process with its output in `dir()`/`log_file`.
  std::unique_ptr<Process> StartLogged(std::vector<std::string> argv, const std::string& log_file) const;
  // The echo backend (test/backend) on 127.0.0.1:`port`, answering with
  // x-backend: `name`; its log is `name`.log.
  std::unique_ptr<Process> StartEchoBackend(const std::string& name, int port) const;

  // (Re)starts the controller on the same ports (controller.log).
  void StartController();
  // Starts the proxy against the controller (proxy.log).
  void StartProxy();
  void Start() {
    StartController();
    StartProxy();
  }
  // Polls the proxy's /readyz (a first snapshot applied) until `limit`.
  bool WaitReady(std::chrono::milliseconds limit = std::chrono::seconds(15)) const;

  Process& controller() { return *controller_; }
  Process& proxy() { return *proxy_; }
  int controller_port() const { return controller_port_; }  // the snapshot stream
  int http_port() const { return http_port_; }
  int https_port() const { return https_port_; }  // 0 unless options.https
  int admin_port() const { return admin_port_; }  // the proxy's admin listener
  int controller_admin_port() const { return controller_admin_port_; }  // /nodes, /metrics

  // A file of `dir()` (a log), empty when missing.
  std::string Read(const std::string& file) const;
  // Polls `file` of `dir()` (a log written every so often) until one of its
  // lines has every one of `parts` (true) or `limit` passes (false).
  bool WaitForLine(const std::string& file, const std::vector<std::string>& parts,
                   std::chrono::milliseconds limit = std::chrono::seconds(10)) const;
  // The controller's and the proxy's logs, labelled, for failure messages.
  std::string Logs() const;

 private:
  SluiceClusterOptions options_;
  std::string dir_, manifests_dir_;
  int controller_port_ = 0, controller_admin_port_ = 0, http_port_ = 0, https_port_ = 0, admin_port_ = 0;
  // Declared in this order so that the proxy is killed before the controller.
  std::unique_ptr<Process> controller_, proxy_;
};

}  // namespace sluice::testing
