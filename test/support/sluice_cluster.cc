#include "test/support/sluice_cluster.h"

#include <filesystem>
#include <utility>

#include "test/support/http_client.h"

namespace sluice::testing {

namespace {
std::string Loopback(int port) { return "127.0.0.1:" + std::to_string(port); }
}  // namespace

SluiceCluster::SluiceCluster(SluiceClusterOptions options) : options_(std::move(options)) {
  dir_ = MakeTempDir(options_.name);
  manifests_dir_ = dir_ + "/manifests";
  std::filesystem::create_directories(manifests_dir_);
  controller_port_ = FreePort();
  controller_admin_port_ = FreePort();
  http_port_ = FreePort();
  if (options_.https) https_port_ = FreePort();
  admin_port_ = FreePort();
}

void SluiceCluster::WriteManifest(const std::string& file, const std::string& yaml) const {
  WriteFileAtomically(manifests_dir_ + "/" + file, yaml);
}

std::unique_ptr<Process> SluiceCluster::StartLogged(std::vector<std::string> argv, const std::string& log_file) const {
  return std::make_unique<Process>(std::move(argv), Path(log_file));
}

std::unique_ptr<Process> SluiceCluster::StartEchoBackend(const std::string& name, int port) const {
  return StartLogged({RunfilePath("test/backend/sluice-echo-backend"), "--listen", Loopback(port), "--name", name},
                     name + ".log");
}

void SluiceCluster::StartController() {
  std::vector<std::string> argv = {RunfilePath("controlplane/main/sluice-controller"), "--manifests", manifests_dir_,
                                   "--grpc-listen", Loopback(controller_port_), "--admin-listen",
                                   Loopback(controller_admin_port_)};
  argv.insert(argv.end(), options_.extra_controller_flags.begin(), options_.extra_controller_flags.end());
  controller_ = StartLogged(std::move(argv), "controller.log");
}

void SluiceCluster::StartProxy() {
  std::vector<std::string> argv = {RunfilePath("dataplane/main/sluice-proxy"),
                                   "--controller", Loopback(controller_port_),
                                   "--http-listen", Loopback(http_port_),
                                   "--admin-listen", Loopback(admin_port_),
                                   "--workers", std::to_string(options_.workers)};
  if (options_.https) argv.insert(argv.end(), {"--https-listen", Loopback(https_port_)});
  if (!options_.node_id.empty()) argv.insert(argv.end(), {"--node-id", options_.node_id});
  if (options_.access_log == "off") {
    argv.insert(argv.end(), {"--access-log", "off"});
  } else if (!options_.access_log.empty()) {
    argv.insert(argv.end(), {"--access-log", Path(options_.access_log)});
  }
  argv.insert(argv.end(), options_.extra_proxy_flags.begin(), options_.extra_proxy_flags.end());
  proxy_ = StartLogged(std::move(argv), "proxy.log");
}

bool SluiceCluster::WaitReady(std::chrono::milliseconds limit) const {
  return WaitUntil([&] { return Fetch(admin_port_, "127.0.0.1", "/readyz").status == 200; }, limit);
}

std::string SluiceCluster::Read(const std::string& file) const { return ReadFile(Path(file)); }

bool SluiceCluster::WaitForLine(const std::string& file, const std::vector<std::string>& parts,
                                std::chrono::milliseconds limit) const {
  return WaitUntil(
      [&] {
        const std::string log = Read(file);
        size_t start = 0;
        while (start < log.size()) {
          size_t end = log.find('\n', start);
          if (end == std::string::npos) end = log.size();
          const std::string line = log.substr(start, end - start);
          bool all = true;
          for (const std::string& part : parts) all = all && line.find(part) != std::string::npos;
          if (all) return true;
          start = end + 1;
        }
        return false;
      },
      limit, std::chrono::milliseconds(50));
}

std::string SluiceCluster::Logs() const {
  return "--- controller.log\n" + Read("controller.log") + "--- proxy.log\n" + Read("proxy.log");
}

}  // namespace sluice::testing
