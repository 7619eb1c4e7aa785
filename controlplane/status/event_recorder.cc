#include "controlplane/status/event_recorder.h"

#include "controlplane/metrics/controller_metrics.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "controlplane/server/json_log.h"

namespace sluice::status {

using nlohmann::json;
using sluice::server::LogJson;

namespace {

// Records of problems gone for longer than this are dropped (the API server
// garbage-collects Events after an hour anyway).
constexpr auto kForgetAfter = std::chrono::hours(1);
constexpr size_t kMaxMessage = 1024;

std::string EventName(const std::string& object_name, Clock::time_point now) {
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%llx",
                static_cast<unsigned long long>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count()));
  return object_name + suffix;
}

}  // namespace

std::vector<EventAggregator::Emission> EventAggregator::Observe(const std::vector<EventSpec>& current,
                                                                Clock::time_point now) {
  if (refilled_ != Clock::time_point{}) {
    const double elapsed = std::chrono::duration<double>(now - refilled_).count();
    tokens_ = std::min<double>(burst_, tokens_ + std::max(0.0, elapsed) * per_second_);
  }
  refilled_ = now;

  std::set<Key> present;
  std::vector<Emission> out;
  for (const EventSpec& spec : current) {
    Key key = KeyOf(spec);
    if (!present.insert(key).second) continue;  // the same problem twice in one set
    Record& record = records_[key];
    if (record.active) continue;
    if (tokens_ < 1.0) continue;  // over the limit: stays inactive, tried again next call
    tokens_ -= 1.0;
    record.active = true;
    Emission emission;
    emission.spec = spec;
    emission.create = record.count == 0;
    if (emission.create) {
      record.event_name = EventName(spec.name, now);
      record.first = now;
    }
    record.count += 1;
    record.last = now;
    emission.event_name = record.event_name;
    emission.count = record.count;
    emission.first = record.first;
    emission.last = now;
    out.push_back(std::move(emission));
  }
  for (auto it = records_.begin(); it != records_.end();) {
    if (!present.count(it->first)) {
      it->second.active = false;
      if (it->second.count == 0 || now - it->second.last > kForgetAfter) {
        it = records_.erase(it);
        continue;
      }
    }
    ++it;
  }
  return out;
}

void EventAggregator::Forget(const EventSpec& spec) {
  auto it = records_.find(KeyOf(spec));
  if (it != records_.end()) {
    it->second.count = 0;
    it->second.active = false;
  }
}

EventRecorder::EventRecorder(std::shared_ptr<kube::ApiClient> client, EventRecorderOptions options)
    : client_(std::move(client)), options_(std::move(options)), aggregator_(options_.burst, options_.per_second) {}

void EventRecorder::Reset() { aggregator_ = EventAggregator(options_.burst, options_.per_second); }

void EventRecorder::Observe(const std::vector<EventSpec>& current) {
  // (Each Write is counted in controller metrics: ok or error.)
  for (const EventAggregator::Emission& emission : aggregator_.Observe(current, Clock::now())) {
    bool written = Write(emission);
    controlplane::ControllerMetrics::Get().EventWritten(written);
    if (!written) aggregator_.Forget(emission.spec);
  }
}

bool EventRecorder::Write(const EventAggregator::Emission& emission) {
  const EventSpec& spec = emission.spec;
  const std::string events_path = "/api/v1/namespaces/" + kube::UrlEncode(spec.ns) + "/events";
  std::string message = spec.message.substr(0, kMaxMessage);
  kube::ApiRequest request;
  if (!emission.create) {
    request.method = "PATCH";
    request.path = events_path + "/" + kube::UrlEncode(emission.event_name);
    request.content_type = "application/merge-patch+json";
    request.body = json{{"count", emission.count}, {"lastTimestamp", FormatTime(emission.last)}}.dump();
    kube::ApiResponse patched = client_->SendSync(request);
    if (patched.ok()) return true;
    if (patched.status != 404) {
      LogJson("warn", "api error",
              {{"kind", "Event"}, {"verb", "patch"}, {"code", patched.status}, {"message", patched.Describe()}});
      return false;
    }
    // Expired on the server: create it again below.
  }
  json involved = {{"kind", "Ingress"},
                   {"apiVersion", "networking.k8s.io/v1"},
                   {"namespace", spec.ns},
                   {"name", spec.name}};
  if (!spec.uid.empty()) involved["uid"] = spec.uid;
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", emission.event_name}, {"namespace", spec.ns}}},
                {"involvedObject", involved},
                {"reason", spec.reason.empty() ? "InvalidIngress" : spec.reason},
                {"message", message},
                {"type", spec.type},
                {"source", {{"component", options_.component}}},
                {"reportingComponent", options_.component},
                {"reportingInstance", options_.instance},
                {"firstTimestamp", FormatTime(emission.first)},
                {"lastTimestamp", FormatTime(emission.last)},
                {"count", emission.count}};
  request.method = "POST";
  request.path = events_path;
  request.content_type = "application/json";
  request.body = event.dump();
  kube::ApiResponse created = client_->SendSync(request);
  if (created.ok() || created.status == 409) return true;
  LogJson("warn", "api error",
          {{"kind", "Event"}, {"verb", "create"}, {"code", created.status}, {"message", created.Describe()}});
  return false;
}

}  // namespace sluice::status
