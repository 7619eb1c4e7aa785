#include "controlplane/metrics/controller_metrics.h"

namespace sluice::controlplane {

ControllerMetrics& ControllerMetrics::Get() {
  static ControllerMetrics* metrics = new ControllerMetrics();  // never destroyed: used by threads until exit
  return *metrics;
}

void ControllerMetrics::WatchEvent(std::string_view kind, std::string_view type) {
  std::lock_guard<std::mutex> lock(mu_);
  ++watch_events_[{std::string(kind), std::string(type)}];
}

void ControllerMetrics::List(std::string_view kind, bool relist) {
  std::lock_guard<std::mutex> lock(mu_);
  ++lists_[std::string(kind)];
  uint64_t& relists = relists_[std::string(kind)];
  if (relist) ++relists;
}

void ControllerMetrics::Translated(std::string_view kind, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  translate_.try_emplace(std::string(kind)).first->second.Observe(seconds);
}

void ControllerMetrics::Answered(bool ack, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  push_.Observe(seconds);
  ++(ack ? acks_ : nacks_);
}

void ControllerMetrics::EventWritten(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  ++(ok ? events_written_ : events_failed_);
}

void ControllerMetrics::ResetForTest() {
  std::lock_guard<std::mutex> lock(mu_);
  watch_events_.clear();
  lists_.clear();
  relists_.clear();
  translate_.clear();
  acks_ = nacks_ = events_written_ = events_failed_ = 0;
}

std::string ControllerMetrics::Text() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  prom::Header(out, "sluice_controller_watch_events_total", "counter",
               "Kubernetes watch events received, by kind and type (API mode).");
  for (const auto& [key, n] : watch_events_) {
    prom::Sample(out, "sluice_controller_watch_events_total",
                 "kind=\"" + prom::Escape(key.first) + "\",type=\"" + prom::Escape(key.second) + "\"",
                 static_cast<double>(n));
  }
  prom::Header(out, "sluice_controller_lists_total", "counter",
               "Kubernetes lists started, by kind: the first and every relist (API mode).");
  for (const auto& [kind, n] : lists_) {
    prom::Sample(out, "sluice_controller_lists_total", "kind=\"" + prom::Escape(kind) + "\"", static_cast<double>(n));
  }
  prom::Header(out, "sluice_controller_relists_total", "counter",
               "Lists started again after a watch expired (410) or failed, by kind (API mode).");
  for (const auto& [kind, n] : relists_) {
    prom::Sample(out, "sluice_controller_relists_total", "kind=\"" + prom::Escape(kind) + "\"",
                 static_cast<double>(n));
  }
  prom::Header(out, "sluice_controller_translate_duration_seconds", "histogram",
               "Time to translate the cluster's objects into a snapshot, by kind of update (full, partial, "
               "endpoints, manifests).");
  for (const auto& [kind, histogram] : translate_) {
    histogram.AppendSamples(out, "sluice_controller_translate_duration_seconds",
                            "kind=\"" + prom::Escape(kind) + "\"");
  }
  push_.Append(out, "sluice_controller_push_duration_seconds",
               "Time from sending a configuration version to a proxy until it answered (ACK or NACK): the "
               "proxy's apply included.");
  prom::Header(out, "sluice_controller_push_answers_total", "counter", "Proxy answers to pushed versions, by result.");
  prom::Sample(out, "sluice_controller_push_answers_total", "result=\"ack\"", static_cast<double>(acks_));
  prom::Sample(out, "sluice_controller_push_answers_total", "result=\"nack\"", static_cast<double>(nacks_));
  prom::Header(out, "sluice_controller_events_written_total", "counter",
               "Kubernetes Events written (created or count-patched) about Ingresses, by result.");
  prom::Sample(out, "sluice_controller_events_written_total", "result=\"ok\"", static_cast<double>(events_written_));
  prom::Sample(out, "sluice_controller_events_written_total", "result=\"error\"", static_cast<double>(events_failed_));
  return out;
}

}  // namespace sluice::controlplane
