#pragma once
// Leader election on a coordination.k8s.io/v1 Lease, like client-go's
// leaderelection with a LeaseLock: the leader renews the Lease every
// retry_period; anyone may take it over once renewTime + leaseDurationSeconds
// has passed; updates carry metadata.resourceVersion so two candidates
// cannot both win (the loser gets 409 Conflict). Only the leader writes
// Ingress status and Events; every replica serves snapshots.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "controlplane/kube/api_client.h"
#include "controlplane/status/k8s_time.h"

namespace sluice::status {

struct LeaseRecord {
  std::string holder;  // spec.holderIdentity ("" = released)
  std::chrono::seconds lease_duration{0};
  std::optional<Clock::time_point> acquire_time, renew_time;
  int lease_transitions = 0;
};

// spec of a Lease object (missing fields stay empty).
LeaseRecord ParseLease(const nlohmann::json& lease);

enum class LeaseAction {
  kCreate,   // no Lease yet: create it with us as holder
  kAcquire,  // released or expired: take it over (leaseTransitions + 1)
  kRenew,    // ours: bump renewTime
  kWait,     // someone else holds a live lease
};

// `current` is nullopt when the Lease does not exist.
LeaseAction DecideLease(const std::optional<LeaseRecord>& current, const std::string& identity,
                        Clock::time_point now);

struct LeaderElectionOptions {
  std::string lease_name = "sluice-controller-leader";
  std::string lease_namespace = "default";
  std::string identity;  // POD_NAME, or hostname + random suffix (see DefaultIdentity)
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};  // leader gives up after failing to renew this long
  std::chrono::milliseconds retry_period{2000};     // renew / retry interval
};

// $POD_NAME, else the hostname plus a random suffix (two processes on one
// host must not share an identity).
std::string DefaultIdentity();

class LeaderElector {
 public:
  // on_leading_changed(true/false) runs on the elector's thread.
  LeaderElector(std::shared_ptr<kube::ApiClient> client, LeaderElectionOptions options,
                std::function<void(bool leading)> on_leading_changed);
  ~LeaderElector();  // Stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void Start();
  // Stops campaigning and, if leading, releases the Lease (holder cleared)
  // so another replica takes over at once rather than after it expires.
  void Stop();

  bool is_leader() const { return leading_; }
  // {"leader": bool, "identity": ..., "holder": ..., "lease": "ns/name"}
  nlohmann::json StatusJson() const;

 private:
  void Run();
  bool TryAcquireOrRenew();  // true: we hold the lease now
  void Release();
  void SetLeading(bool leading, const std::string& why);
  std::string LeasePath(bool collection) const;

  const std::shared_ptr<kube::ApiClient> client_;
  const LeaderElectionOptions options_;
  const std::function<void(bool)> on_leading_changed_;

  std::atomic<bool> leading_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::string observed_holder_;
  std::thread thread_;
};

}  // namespace sluice::status
