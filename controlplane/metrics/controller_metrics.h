#pragma once
// The controller's counters for /metrics: watch events and (re)lists per
// kind, translation time, push latency (a response sent to a proxy until
// its ACK or NACK), Kubernetes Events written. One process-wide object with
// a mutex: every path that counts runs a few times a second at most (the
// controller is never on a request path), and a singleton spares threading
// a pointer through the reflectors, the snapshot server and the recorder.
// Label values come from fixed sets (kinds the controller watches, event
// types, translation kinds).
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "base/prom_text.h"

namespace sluice::controlplane {

class ControllerMetrics {
 public:
  static ControllerMetrics& Get();

  // A watch event of `kind` ("Ingress"...), `type` "ADDED", "MODIFIED" or
  // "DELETED".
  void WatchEvent(std::string_view kind, std::string_view type);
  // A list of `kind` started: the first one and every relist (410, watch
  // failure). `relist` false for the first.
  void List(std::string_view kind, bool relist);
  // Translation time; `kind` "full", "partial" or "endpoints" (the
  // IncrementalTranslator's last_update_kind), "manifests" in folder mode.
  void Translated(std::string_view kind, double seconds);
  // A response sent to a proxy was answered (ACK or NACK) after `seconds`.
  void Answered(bool ack, double seconds);
  // An Event create or patch (`ok`: the API server took it).
  void EventWritten(bool ok);

  // Everything above as Prometheus text.
  std::string Text() const;
  void ResetForTest();

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> watch_events_;  // (kind, type)
  std::map<std::string, uint64_t> lists_, relists_;
  std::map<std::string, prom::Histogram> translate_;
  prom::Histogram push_;
  uint64_t acks_ = 0, nacks_ = 0;
  uint64_t events_written_ = 0, events_failed_ = 0;
};

}  // namespace sluice::controlplane
