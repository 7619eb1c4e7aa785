#pragma once
// Active HTTP health checks, run on one dedicated thread with its own epoll
// loop (never on a worker). Each check target is one endpoint and path:
// however many routes and clusters use an endpoint, it is checked once per
// path. A check is a non-blocking HTTP/1.1 GET (Host header, User-Agent
// "sluice-health-check", Connection: close) that passes when the status is
// in the expected ranges within the timeout. After `unhealthy_threshold`
// failures in a row a target turns unhealthy, after `healthy_threshold`
// passes healthy again; an endpoint is actively healthy while all its
// targets are. Transitions are logged as JSON lines. First checks are spread
// over one interval and every interval is jittered by +-10%, so that many
// proxies and endpoints do not check in lock step.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dataplane/health/endpoint_health.h"
#include "dataplane/net/socket.h"

namespace sluice::net {
class EventLoop;
}

namespace sluice::health {

struct CheckSpec {
  std::string path;  // starts with '/'
  std::string host;  // Host header; empty: the endpoint key
  std::chrono::milliseconds interval{10000};
  std::chrono::milliseconds timeout{2000};
  uint32_t healthy_threshold = 2;
  uint32_t unhealthy_threshold = 3;
  std::vector<std::pair<int, int>> expected_statuses = {{200, 399}};  // inclusive ranges

  bool Passes(int status) const;
};

struct CheckTarget {
  std::string endpoint_key;  // "ip:port"
  net::Address address;
  CheckSpec spec;
  std::shared_ptr<EndpointHealth> health;
};

class HealthChecker {
 public:
  HealthChecker();
  ~HealthChecker();  // stops the thread
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  void Start();
  void Stop();
  // Thread-safe: the checks to run from now on. Targets with the same
  // endpoint key and path are one check (the first one's settings win). A
  // target that stays keeps its counters and schedule; an endpoint no longer
  // checked at all becomes actively healthy again.
  void Update(std::vector<CheckTarget> targets);

  uint64_t checks_started() const { return checks_started_.load(std::memory_order_relaxed); }
  uint64_t checks_failed() const { return checks_failed_.load(std::memory_order_relaxed); }

  class Probe;

 private:
  void ApplyUpdate(std::vector<CheckTarget> targets);
  void RecomputeEndpoint(const std::string& endpoint_key);

  std::unique_ptr<net::EventLoop> loop_;
  std::thread thread_;
  bool started_ = false;
  // Loop thread only.
  std::vector<std::unique_ptr<Probe>> probes_;
  std::atomic<uint64_t> checks_started_{0};
  std::atomic<uint64_t> checks_failed_{0};
  friend class Probe;
};

}  // namespace sluice::health
