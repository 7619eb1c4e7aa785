#include "controlplane/status/status_reporter.h"

#include "controlplane/kube/watch_events.h"
#include "controlplane/server/json_log.h"

namespace sluice::status {

using nlohmann::json;
using sluice::server::LogJson;

StatusReporter::StatusReporter(std::shared_ptr<kube::ApiClient> client, StatusReporterOptions options,
                               std::function<bool()> is_leader)
    : client_(client),
      options_(std::move(options)),
      is_leader_(std::move(is_leader)),
      writer_(client),
      recorder_(client, options_.events) {}

StatusReporter::~StatusReporter() { Stop(); }

void StatusReporter::Start() { thread_ = std::thread([this] { Run(); }); }

void StatusReporter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StatusReporter::Update(std::vector<IngressState> ingresses, std::vector<EventSpec> problems) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ingresses_ = std::move(ingresses);
    problems_ = std::move(problems);
    have_update_ = true;
    dirty_ = true;
  }
  cv_.notify_all();
}

void StatusReporter::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

json StatusReporter::DesiredLoadBalancer() {
  if (!options_.publish_addresses.empty()) return LoadBalancerIngress(options_.publish_addresses);
  if (options_.publish_service.empty()) return json::array();
  const size_t slash = options_.publish_service.find('/');
  const std::string ns = options_.publish_service.substr(0, slash);
  const std::string name = options_.publish_service.substr(slash + 1);
  kube::ApiRequest request;
  request.path = "/api/v1/namespaces/" + kube::UrlEncode(ns) + "/services/" + kube::UrlEncode(name);
  kube::ApiResponse response = client_->SendSync(request);
  if (!response.ok()) {
    // Keep what we knew: a blip must not clear every Ingress's address.
    LogJson("error", "api error",
            {{"kind", "Service"},
             {"verb", "get"},
             {"name", options_.publish_service},
             {"code", response.status},
             {"message", response.Describe()}});
    return last_addresses_;
  }
  json service = json::parse(response.body, nullptr, false);
  json addresses = LoadBalancerIngress(AddressesFromService(service));
  if (addresses != last_addresses_) {
    LogJson("info", "published addresses", {{"service", options_.publish_service}, {"loadBalancer", addresses}});
  }
  last_addresses_ = addresses;
  return addresses;
}

void StatusReporter::Run() {
  bool was_leader = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.resync, [this] { return stopping_ || dirty_; });
    if (stopping_) break;
    dirty_ = false;
    const bool leader = is_leader_();
    if (!leader) {
      if (was_leader) {
        // A later term starts clean: what we wrote may have been rewritten.
        writer_.Forget();
        recorder_.Reset();
      }
      was_leader = false;
      continue;
    }
    was_leader = true;
    if (!have_update_) continue;  // the initial sync has not happened yet
    std::vector<IngressState> ingresses = ingresses_;
    std::vector<EventSpec> problems = problems_;
    lock.unlock();
    json desired = DesiredLoadBalancer();
    writer_.Apply(PlanStatusUpdates(ingresses, desired));
    recorder_.Observe(problems);
    lock.lock();
  }
}

}  // namespace sluice::status
