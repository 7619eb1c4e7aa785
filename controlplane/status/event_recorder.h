#pragma once
// core/v1 Events on our Ingresses for translation problems, so that
// `kubectl describe ingress` says why an Ingress does not work. Like
// client-go's recorder: a problem that persists is one Event, not one per
// translation; a problem that comes back bumps that Event's count (PATCH);
// a token bucket caps the rate. Leader only; blocking; status thread only.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "controlplane/kube/api_client.h"
#include "controlplane/status/k8s_time.h"

namespace sluice::status {

struct EventSpec {
  std::string ns, name, uid;  // the Ingress
  std::string reason;         // "InvalidIngress", "ServiceNotFound", ...
  std::string message;
  std::string type = "Warning";  // or "Normal"
};

// The pure part: which Events to create or bump, given the current set of
// problems. Testable without a server.
class EventAggregator {
 public:
  struct Emission {
    EventSpec spec;
    bool create = true;      // POST a new Event, else PATCH the existing one
    std::string event_name;  // "<ingress>.<hex nanoseconds>", as client-go names them
    int count = 1;
    Clock::time_point first, last;
  };

  EventAggregator(int burst, double per_second) : burst_(burst), per_second_(per_second), tokens_(burst) {}

  // Every problem in `current` that was not in the previous call's set is
  // emitted, while tokens last; one over the limit is retried next call.
  std::vector<Emission> Observe(const std::vector<EventSpec>& current, Clock::time_point now);
  // The Event disappeared (expired on the server): the next emission creates.
  void Forget(const EventSpec& spec);

 private:
  using Key = std::tuple<std::string, std::string, std::string, std::string, std::string>;
  static Key KeyOf(const EventSpec& spec) { return {spec.ns, spec.name, spec.reason, spec.message, spec.type}; }
  struct Record {
    std::string event_name;
    int count = 0;
    Clock::time_point first, last;
    bool active = false;  // in the previous call's set
  };
  int burst_;
  double per_second_;
  double tokens_;
  Clock::time_point refilled_{};
  std::map<Key, Record> records_;
};

struct EventRecorderOptions {
  std::string component = "sluice-controller";
  std::string instance;  // our leader-election identity
  int burst = 25;
  double per_second = 1.0;
};

class EventRecorder {
 public:
  EventRecorder(std::shared_ptr<kube::ApiClient> client, EventRecorderOptions options);
  void Observe(const std::vector<EventSpec>& current);
  // After losing leadership: the next leader term starts from scratch.
  void Reset();

 private:
  bool Write(const EventAggregator::Emission& emission);

  std::shared_ptr<kube::ApiClient> client_;
  EventRecorderOptions options_;
  EventAggregator aggregator_;
};

}  // namespace sluice::status
