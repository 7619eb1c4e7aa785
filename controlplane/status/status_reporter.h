#pragma once
// The status thread: while this replica leads, keeps Ingress
// status.loadBalancer in line with the published addresses and turns
// translation problems on our Ingresses into Events. Fed by the controller
// thread after every store change; idle on followers.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/kube/api_client.h"
#include "controlplane/status/event_recorder.h"
#include "controlplane/status/status_writer.h"

namespace sluice::status {

struct StatusReporterOptions {
  std::string publish_service;                 // "ns/name" ("" = none)
  std::vector<std::string> publish_addresses;  // wins over publish_service
  // How often the leader re-reads the published Service's addresses when
  // nothing else happens.
  std::chrono::milliseconds resync{30000};
  EventRecorderOptions events;
};

class StatusReporter {
 public:
  StatusReporter(std::shared_ptr<kube::ApiClient> client, StatusReporterOptions options,
                 std::function<bool()> is_leader);
  ~StatusReporter();  // Stop()
  StatusReporter(const StatusReporter&) = delete;
  StatusReporter& operator=(const StatusReporter&) = delete;

  void Start();
  void Stop();

  // The latest Ingresses and problems; replaces what was given before.
  void Update(std::vector<IngressState> ingresses, std::vector<EventSpec> problems);
  // Call when leadership changes, so a new leader acts at once.
  void Wake();

 private:
  void Run();
  nlohmann::json DesiredLoadBalancer();

  const std::shared_ptr<kube::ApiClient> client_;
  const StatusReporterOptions options_;
  const std::function<bool()> is_leader_;
  StatusWriter writer_;
  EventRecorder recorder_;
  nlohmann::json last_addresses_ = nlohmann::json::array();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool dirty_ = false;
  bool have_update_ = false;
  std::vector<IngressState> ingresses_;
  std::vector<EventSpec> problems_;
  std::thread thread_;
};

}  // namespace sluice::status
