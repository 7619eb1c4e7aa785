#pragma once
// The proxy's EndpointHealth objects by endpoint key ("ip:port"). Snapshot
// compilation asks for each endpoint's object: an endpoint that stays across
// snapshots gets the same object back (its health state carries over), and
// an object is freed once no snapshot (and no checker) holds it any more.
// Thread-safe; used when snapshots are compiled, never per request.
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "dataplane/health/endpoint_health.h"

namespace sluice::health {

class HealthRegistry {
 public:
  std::shared_ptr<EndpointHealth> Acquire(const std::string& endpoint_key);
  // Objects still in use by someone.
  size_t live_count();

 private:
  void PruneLocked();
  std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<EndpointHealth>> entries_;
  size_t next_prune_ = 64;
};

}  // namespace sluice::health
