#include "dataplane/health/registry.h"

namespace sluice::health {

std::shared_ptr<EndpointHealth> HealthRegistry::Acquire(const std::string& endpoint_key) {
  std::lock_guard<std::mutex> lock(mu_);
  std::weak_ptr<EndpointHealth>& slot = entries_[endpoint_key];
  std::shared_ptr<EndpointHealth> health = slot.lock();
  if (health == nullptr) {
    health = std::make_shared<EndpointHealth>();
    slot = health;
    if (entries_.size() >= next_prune_) PruneLocked();
  }
  return health;
}

size_t HealthRegistry::live_count() {
  std::lock_guard<std::mutex> lock(mu_);
  PruneLocked();
  return entries_.size();
}

void HealthRegistry::PruneLocked() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->second.expired() ? entries_.erase(it) : std::next(it);
  }
  next_prune_ = entries_.size() * 2 + 64;
}

}  // namespace sluice::health
