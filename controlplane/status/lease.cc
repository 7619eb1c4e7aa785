#include "controlplane/status/lease.h"

#include <unistd.h>

#include <cstdlib>
#include <random>

#include "controlplane/kube/watch_events.h"
#include "controlplane/server/json_log.h"

namespace sluice::status {

using nlohmann::json;
using sluice::server::LogJson;

namespace {

std::optional<Clock::time_point> TimeField(const json& spec, const char* field) {
  auto it = spec.find(field);
  if (it == spec.end() || !it->is_string()) return std::nullopt;
  return ParseTime(it->get<std::string>());
}

}  // namespace

LeaseRecord ParseLease(const json& lease) {
  LeaseRecord record;
  if (!lease.is_object() || !lease.contains("spec") || !lease["spec"].is_object()) return record;
  const json& spec = lease["spec"];
  if (spec.contains("holderIdentity") && spec["holderIdentity"].is_string()) {
    record.holder = spec["holderIdentity"].get<std::string>();
  }
  if (spec.contains("leaseDurationSeconds") && spec["leaseDurationSeconds"].is_number_integer()) {
    record.lease_duration = std::chrono::seconds(spec["leaseDurationSeconds"].get<int64_t>());
  }
  if (spec.contains("leaseTransitions") && spec["leaseTransitions"].is_number_integer()) {
    record.lease_transitions = spec["leaseTransitions"].get<int>();
  }
  record.acquire_time = TimeField(spec, "acquireTime");
  record.renew_time = TimeField(spec, "renewTime");
  return record;
}

LeaseAction DecideLease(const std::optional<LeaseRecord>& current, const std::string& identity,
                        Clock::time_point now) {
  if (!current) return LeaseAction::kCreate;
  if (current->holder == identity) return LeaseAction::kRenew;
  if (current->holder.empty()) return LeaseAction::kAcquire;
  // A lease without a renewTime was never valid; take it.
  if (!current->renew_time) return LeaseAction::kAcquire;
  if (*current->renew_time + current->lease_duration < now) return LeaseAction::kAcquire;
  return LeaseAction::kWait;
}

std::string DefaultIdentity() {
  if (const char* pod = std::getenv("POD_NAME"); pod && *pod) return pod;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !host[0]) std::snprintf(host, sizeof host, "sluice-controller");
  std::mt19937_64 random{std::random_device{}()};
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string suffix;
  for (int i = 0; i < 5; ++i) suffix.push_back(kAlphabet[random() % (sizeof kAlphabet - 1)]);
  return std::string(host) + "_" + suffix;
}

LeaderElector::LeaderElector(std::shared_ptr<kube::ApiClient> client, LeaderElectionOptions options,
                             std::function<void(bool)> on_leading_changed)
    : client_(std::move(client)), options_(std::move(options)), on_leading_changed_(std::move(on_leading_changed)) {}

LeaderElector::~LeaderElector() { Stop(); }

void LeaderElector::Start() {
  LogJson("info", "leader election started",
          {{"lease", options_.lease_namespace + "/" + options_.lease_name}, {"identity", options_.identity}});
  thread_ = std::thread([this] { Run(); });
}

void LeaderElector::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

json LeaderElector::StatusJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {{"leader", leading_.load()},
          {"identity", options_.identity},
          {"holder", observed_holder_},
          {"lease", options_.lease_namespace + "/" + options_.lease_name}};
}

std::string LeaderElector::LeasePath(bool collection) const {
  std::string path = "/apis/coordination.k8s.io/v1/namespaces/" + kube::UrlEncode(options_.lease_namespace) +
                     "/leases";
  return collection ? path : path + "/" + kube::UrlEncode(options_.lease_name);
}

void LeaderElector::SetLeading(bool leading, const std::string& why) {
  if (leading_.exchange(leading) == leading) return;
  if (leading) {
    LogJson("info", "leader elected",
            {{"identity", options_.identity}, {"lease", options_.lease_namespace + "/" + options_.lease_name}});
  } else {
    LogJson("warn", "lost leadership", {{"identity", options_.identity}, {"reason", why}});
  }
  if (on_leading_changed_) on_leading_changed_(leading);
}

void LeaderElector::Run() {
  auto last_renewed = std::chrono::steady_clock::now();
  while (true) {
    const bool held = TryAcquireOrRenew();
    const auto now = std::chrono::steady_clock::now();
    if (held) {
      last_renewed = now;
      SetLeading(true, "");
    } else if (leading_ && now - last_renewed > options_.renew_deadline) {
      SetLeading(false, "could not renew the lease within the renew deadline");
    } else if (leading_) {
      std::string holder;
      {
        std::lock_guard<std::mutex> lock(mu_);
        holder = observed_holder_;
      }
      // Someone else holds it (we were too slow, or a 409 said they won).
      if (!holder.empty() && holder != options_.identity) SetLeading(false, "lease taken by " + holder);
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, options_.retry_period, [this] { return stopping_; })) break;
  }
  if (leading_) {
    Release();
    SetLeading(false, "shutting down");
  }
}

bool LeaderElector::TryAcquireOrRenew() {
  const auto now = Clock::now();
  kube::ApiRequest get;
  get.path = LeasePath(false);
  kube::ApiResponse got = client_->SendSync(get);
  const int duration_seconds =
      static_cast<int>(std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(options_.lease_duration).count()));
  json spec = {{"holderIdentity", options_.identity},
               {"leaseDurationSeconds", duration_seconds},
               {"renewTime", FormatMicroTime(now)}};
  if (got.status == 404) {
    spec["acquireTime"] = FormatMicroTime(now);
    spec["leaseTransitions"] = 0;
    kube::ApiRequest create;
    create.method = "POST";
    create.path = LeasePath(true);
    create.body = json{{"apiVersion", "coordination.k8s.io/v1"},
                       {"kind", "Lease"},
                       {"metadata", {{"name", options_.lease_name}, {"namespace", options_.lease_namespace}}},
                       {"spec", spec}}
                      .dump();
    kube::ApiResponse created = client_->SendSync(create);
    if (created.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      observed_holder_ = options_.identity;
      return true;
    }
    if (created.status != 409) {
      LogJson("error", "api error",
              {{"kind", "Lease"}, {"verb", "create"}, {"code", created.status}, {"message", created.Describe()}});
    }
    return false;
  }
  if (!got.ok()) {
    LogJson("error", "api error",
            {{"kind", "Lease"}, {"verb", "get"}, {"code", got.status}, {"message", got.Describe()}});
    return false;
  }
  json lease = json::parse(got.body, nullptr, false);
  if (!lease.is_object()) return false;
  LeaseRecord record = ParseLease(lease);
  {
    std::lock_guard<std::mutex> lock(mu_);
    observed_holder_ = record.holder;
  }
  LeaseAction action = DecideLease(record, options_.identity, now);
  if (action == LeaseAction::kWait) return false;
  if (action == LeaseAction::kRenew && record.acquire_time) {
    spec["acquireTime"] = FormatMicroTime(*record.acquire_time);
    spec["leaseTransitions"] = record.lease_transitions;
  } else {
    spec["acquireTime"] = FormatMicroTime(now);
    spec["leaseTransitions"] = record.lease_transitions + (record.holder.empty() ? 0 : 1);
  }
  // PUT the object we read, resourceVersion included: if someone else wrote
  // it since, the server answers 409 and they won.
  lease["spec"] = spec;
  kube::ApiRequest update;
  update.method = "PUT";
  update.path = LeasePath(false);
  update.body = lease.dump();
  kube::ApiResponse updated = client_->SendSync(update);
  if (updated.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    observed_holder_ = options_.identity;
    return true;
  }
  if (updated.status == 409) {
    LogJson("info", "lease update conflict", {{"identity", options_.identity}, {"message", updated.Describe()}});
  } else {
    LogJson("error", "api error",
            {{"kind", "Lease"}, {"verb", "update"}, {"code", updated.status}, {"message", updated.Describe()}});
  }
  return false;
}

void LeaderElector::Release() {
  kube::ApiRequest get;
  get.path = LeasePath(false);
  kube::ApiResponse got = client_->SendSync(get);
  if (!got.ok()) return;
  json lease = json::parse(got.body, nullptr, false);
  if (!lease.is_object() || ParseLease(lease).holder != options_.identity) return;
  const auto now = Clock::now();
  json& spec = lease["spec"];
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["renewTime"] = FormatMicroTime(now);
  kube::ApiRequest update;
  update.method = "PUT";
  update.path = LeasePath(false);
  update.body = lease.dump();
  kube::ApiResponse updated = client_->SendSync(update);
  LogJson(updated.ok() ? "info" : "warn", "lease released",
          {{"identity", options_.identity}, {"result", updated.ok() ? "ok" : updated.Describe()}});
}

}  // namespace sluice::status
