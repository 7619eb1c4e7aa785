#include "controlplane/translate/incremental.h"

#include <set>

namespace sluice::translate {
namespace {

constexpr const char* kSliceKind = "EndpointSlice";

std::string ServiceLabel(const store::StoredObject& slice) {
  const nlohmann::json& object = slice.object;
  if (!object.is_object()) return "";
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  auto labels = metadata->find("labels");
  if (labels == metadata->end() || !labels->is_object()) return "";
  auto service = labels->find("kubernetes.io/service-name");
  return service != labels->end() && service->is_string() ? service->get<std::string>() : "";
}

// Every stored kind translation reads, except EndpointSlice.
constexpr const char* kOtherKinds[] = {"Ingress", "IngressClass", "Service", "Secret"};

}  // namespace

Result IncrementalTranslator::TakeResult() {
  have_result_ = false;  // the next Update() cannot build on a moved-from result
  return std::move(result_);
}

void IncrementalTranslator::Remember(const store::Store& store) {
  kind_revisions_.clear();
  for (const char* kind : kOtherKinds) kind_revisions_[kind] = store.KindRevision(kind);
  slice_kind_revision_ = store.KindRevision(kSliceKind);
  slices_.clear();
  for (const auto& [key, stored] : store.Objects(kSliceKind)) {
    slices_.emplace_hint(slices_.end(), key, SliceSeen{stored.revision, ServiceLabel(stored)});
  }
}

const Result& IncrementalTranslator::Update(const store::Store& store) {
  refreshed_clusters_.clear();
  bool only_slices = have_result_;
  for (const char* kind : kOtherKinds) {
    if (!only_slices) break;
    auto seen = kind_revisions_.find(kind);
    only_slices = seen != kind_revisions_.end() && seen->second == store.KindRevision(kind);
  }
  if (!only_slices) {
    result_ = Translate(store, options_);
    have_result_ = true;
    last_update_kind_ = "full";
    Remember(store);
    return result_;
  }
  if (store.KindRevision(kSliceKind) == slice_kind_revision_) {
    last_update_kind_ = "unchanged";
    return result_;
  }

  // The Services (namespace, name) whose slices were added, changed or
  // removed: a slice that moved from one Service to another counts for both.
  std::set<std::pair<std::string, std::string>> services;
  std::map<SliceKey, SliceSeen> seen_now;
  const store::Store::ObjectMap& slices = store.Objects(kSliceKind);
  auto before = slices_.begin();
  for (const auto& [key, stored] : slices) {
    while (before != slices_.end() && before->first < key) {  // removed
      services.emplace(before->first.first, before->second.service);
      ++before;
    }
    SliceSeen now;
    now.revision = stored.revision;
    if (before != slices_.end() && before->first == key && before->second.revision == stored.revision) {
      now.service = before->second.service;  // unchanged
    } else {
      now.service = ServiceLabel(stored);
      services.emplace(key.first, now.service);
      if (before != slices_.end() && before->first == key) services.emplace(key.first, before->second.service);
    }
    if (before != slices_.end() && before->first == key) ++before;
    seen_now.emplace_hint(seen_now.end(), key, std::move(now));
  }
  for (; before != slices_.end(); ++before) services.emplace(before->first.first, before->second.service);
  slices_ = std::move(seen_now);
  slice_kind_revision_ = store.KindRevision(kSliceKind);

  // Their Clusters, named "<namespace>/<service>:<port>".
  std::vector<v1::Cluster*> clusters;
  for (v1::Cluster& cluster : *result_.snapshot.mutable_clusters()) {
    const std::string& name = cluster.name();
    size_t slash = name.find('/'), colon = name.rfind(':');
    if (slash == std::string::npos || colon == std::string::npos || colon < slash) continue;
    if (services.count({name.substr(0, slash), name.substr(slash + 1, colon - slash - 1)})) {
      clusters.push_back(&cluster);
      refreshed_clusters_.push_back(name);
    }
  }
  if (!clusters.empty()) RefreshEndpoints(store, options_, clusters);
  last_update_kind_ = "endpoints";
  return result_;
}

}  // namespace sluice::translate
