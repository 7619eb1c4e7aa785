#include "controlplane/translate/incremental.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/repeated_field.h>

#include <algorithm>

namespace sluice::translate {
namespace {

using Key = std::pair<std::string, std::string>;

constexpr const char* kSliceKind = "EndpointSlice";
constexpr const char* kClassKind = "IngressClass";
// The kinds a change of which re-translates the Ingresses using the object.
constexpr const char* kTrackedKinds[] = {"Ingress", "Service", "Secret"};
// The kinds of static sites (translate/static_sites.h).
constexpr const char* kStaticSiteKinds[] = {"ConfigMap", "StaticSite"};

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

// The objects added, changed or removed since `seen`, which is brought up
// to date. One ordered walk: no lookup per object.
std::vector<Key> Diff(const store::Store::ObjectMap& now, std::map<Key, uint64_t>& seen) {
  std::vector<Key> changed;
  auto before = seen.begin();
  for (const auto& [key, stored] : now) {
    while (before != seen.end() && before->first < key) {
      changed.push_back(before->first);
      before = seen.erase(before);
    }
    if (before != seen.end() && before->first == key) {
      if (before->second != stored.revision) {
        changed.push_back(key);
        before->second = stored.revision;
      }
      ++before;
    } else {
      seen.emplace_hint(before, key, stored.revision);
      changed.push_back(key);
    }
  }
  while (before != seen.end()) {
    changed.push_back(before->first);
    before = seen.erase(before);
  }
  return changed;
}

std::string Bytes(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

// Makes the entries of `target` named in `names` what they are in `source`
// (present, changed or gone). Both are sorted by name, as Translate() emits
// them; `changed` and `removed` receive the names that actually differ.
template <typename Message>
void Splice(google::protobuf::RepeatedPtrField<Message>* target, const google::protobuf::RepeatedPtrField<Message>& source,
            const std::set<std::string>& names, std::vector<std::string>* changed, std::vector<std::string>* removed) {
  auto by_name = [](const Message& message, const std::string& name) { return message.name() < name; };
  for (const std::string& name : names) {
    auto from = std::lower_bound(source.begin(), source.end(), name, by_name);
    const bool in_source = from != source.end() && from->name() == name;
    auto to = std::lower_bound(target->begin(), target->end(), name, by_name);
    const int index = static_cast<int>(to - target->begin());
    const bool in_target = to != target->end() && to->name() == name;
    if (!in_source) {
      if (in_target) {
        target->DeleteSubrange(index, 1);
        removed->push_back(name);
      }
      continue;
    }
    if (in_target) {
      if (Bytes(*to) == Bytes(*from)) continue;
      *to = *from;
    } else {
      *target->Add() = *from;
      // Into its place by name: moves pointers, not messages.
      std::rotate(target->pointer_begin() + index, target->pointer_end() - 1, target->pointer_end());
    }
    changed->push_back(name);
  }
}

bool StartsWith(const std::string& text, std::string_view prefix) { return text.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

Result IncrementalTranslator::TakeResult() {
  have_result_ = false;  // the next Update() cannot build on a moved-from result
  return std::move(result_);
}

void IncrementalTranslator::RememberRevisions(const store::Store& store) {
  kind_revisions_.clear();
  for (const char* kind : {kClassKind, kSliceKind}) kind_revisions_[kind] = store.KindRevision(kind);
  for (const char* kind : kStaticSiteKinds) kind_revisions_[kind] = store.KindRevision(kind);
  for (const char* kind : kTrackedKinds) {
    kind_revisions_[kind] = store.KindRevision(kind);
    std::map<Key, uint64_t>& seen = object_revisions_[kind];
    seen.clear();
    for (const auto& [key, stored] : store.Objects(kind)) seen.emplace_hint(seen.end(), key, stored.revision);
  }
  slices_.clear();
  slices_by_service_.clear();
  for (const auto& [key, stored] : store.Objects(kSliceKind)) {
    auto slice = slices_.emplace_hint(slices_.end(), key, SliceSeen{stored.revision, ServiceLabel(stored)});
    if (!slice->second.service.empty()) slices_by_service_[{key.first, slice->second.service}].insert(key.second);
  }
}

void IncrementalTranslator::Index(const IngressTrace& traced, bool add) {
  const Key key{traced.ns, traced.name};
  for (bool writes : {true, false}) {
    for (const std::string& name : writes ? traced.writes : traced.reads) {
      if (add) {
        KeyUsers& users = users_[name];
        (writes ? users.writers : users.readers).insert(key);
        continue;
      }
      auto found = users_.find(name);
      if (found == users_.end()) continue;
      (writes ? found->second.writers : found->second.readers).erase(key);
      if (found->second.writers.empty() && found->second.readers.empty()) users_.erase(found);
    }
  }
  bool later_diagnostics = false;
  for (size_t phase = 1; phase < traced.diagnostics.size(); ++phase) {
    later_diagnostics = later_diagnostics || !traced.diagnostics[phase].empty();
  }
  if (!traced.handled || !later_diagnostics) return;
  if (add) {
    aged_with_diagnostics_.insert(AgeOf(traced));
  } else {
    aged_with_diagnostics_.erase(AgeOf(traced));
  }
}

void IncrementalTranslator::Full(const store::Store& store) {
  Trace trace;
  result_ = TranslateTraced(store, options_, TraceScope{}, &trace);
  traces_.clear();
  users_.clear();
  aged_with_diagnostics_.clear();
  for (IngressTrace& traced : trace.ingresses) {
    Index(traced, true);
    Key key{traced.ns, traced.name};
    traces_.emplace_hint(traces_.end(), std::move(key), std::move(traced));
  }
  class_diagnostics_ = std::move(trace.class_diagnostics);
  default_route_ = std::move(trace.default_route);
  default_route_ssl_opt_out_ = trace.default_route_ssl_opt_out;
  have_result_ = true;
  last_update_kind_ = "full";
  RememberRevisions(store);
}

void IncrementalTranslator::RebuildDiagnostics() {
  // Translate()'s order: IngressClasses; every Ingress's class and
  // annotation checks by (namespace, name); then phase by phase, oldest first.
  std::vector<Diagnostic>& out = result_.diagnostics;
  out = class_diagnostics_;
  for (const auto& [key, traced] : traces_) out.insert(out.end(), traced.diagnostics[0].begin(), traced.diagnostics[0].end());
  for (size_t phase = 1; phase < 5; ++phase) {
    for (const AgeKey& age : aged_with_diagnostics_) {
      const IngressTrace& traced = traces_.at({std::get<2>(age), std::get<3>(age)});
      out.insert(out.end(), traced.diagnostics[phase].begin(), traced.diagnostics[phase].end());
    }
  }
}

bool IncrementalTranslator::Partial(const store::Store& store, const std::vector<Key>& ingresses,
                                    const std::vector<Key>& services, const std::vector<Key>& secrets) {
  // The seeds: changed Ingresses, and those using a changed Service or Secret.
  std::set<Key> scope(ingresses.begin(), ingresses.end());
  for (const auto& [ns, name] : services) {
    const std::string prefix = "c:" + ns + "/" + name + ":";
    for (auto it = users_.lower_bound(prefix); it != users_.end() && StartsWith(it->first, prefix); ++it) {
      scope.insert(it->second.writers.begin(), it->second.writers.end());
    }
  }
  for (const auto& [ns, name] : secrets) {
    if (auto it = users_.find("s:" + ns + "/" + name); it != users_.end()) {
      scope.insert(it->second.writers.begin(), it->second.writers.end());
    }
    if (auto it = users_.find("ca:" + ns + "/" + name); it != users_.end()) {
      scope.insert(it->second.readers.begin(), it->second.readers.end());
    }
    if (auto it = users_.find("auth:" + ns + "/" + name); it != users_.end()) {
      scope.insert(it->second.readers.begin(), it->second.readers.end());
    }
  }

  // Closed over interaction: whoever shares a key with a member, where one
  // of the two writes it, is a member.
  bool needs_full = false;
  std::vector<Key> queue;
  auto add = [&](const std::set<Key>& keys) {
    for (const Key& key : keys) {
      if (scope.insert(key).second) queue.push_back(key);
    }
  };
  auto expand = [&](const IngressTrace& traced) {
    for (const std::string& name : traced.writes) {
      if (name == "d") needs_full = true;  // the default route reaches every host
      if (auto it = users_.find(name); it != users_.end()) {
        add(it->second.writers);
        add(it->second.readers);
      }
    }
    for (const std::string& name : traced.reads) {
      if (auto it = users_.find(name); it != users_.end()) add(it->second.writers);
    }
  };
  auto close = [&] {
    while (!queue.empty() && !needs_full) {
      Key key = std::move(queue.back());
      queue.pop_back();
      if (auto it = traces_.find(key); it != traces_.end()) expand(it->second);
    }
  };
  queue.assign(scope.begin(), scope.end());
  close();

  // Translating the members may show keys they did not use before (a new
  // host, another Service): then whoever used those joins, and again.
  const size_t limit = std::max<size_t>(64, traces_.size() / 4);
  Trace trace;
  Result part;
  for (int round = 0;; ++round) {
    if (needs_full || scope.size() > limit || round > 16) return false;
    const std::vector<Key> only(scope.begin(), scope.end());
    TraceScope trace_scope;
    trace_scope.only = &only;
    trace_scope.default_route = default_route_;
    trace_scope.default_route_ssl_opt_out = default_route_ssl_opt_out_;
    trace_scope.slices_by_service = &slices_by_service_;
    trace = Trace();
    part = TranslateTraced(store, options_, trace_scope, &trace);
    for (const IngressTrace& traced : trace.ingresses) expand(traced);
    if (queue.empty()) break;
    close();
  }
  if (needs_full) return false;

  // What the members owned before and own now is theirs alone (closure).
  std::set<std::string> hosts, clusters, certificates;
  auto owned = [&](const IngressTrace& traced) {
    for (const std::string& name : traced.writes) {
      if (StartsWith(name, "h:")) hosts.insert(name.substr(2));
      if (StartsWith(name, "c:")) clusters.insert(name.substr(2));
      if (StartsWith(name, "s:")) certificates.insert(name.substr(2));
    }
  };
  for (const Key& key : scope) {
    if (auto it = traces_.find(key); it != traces_.end()) owned(it->second);
  }
  for (const IngressTrace& traced : trace.ingresses) owned(traced);

  v1::Snapshot& snapshot = result_.snapshot;
  Splice(snapshot.mutable_virtual_hosts(), part.snapshot.virtual_hosts(), hosts, &changes_.virtual_hosts,
         &changes_.removed_virtual_hosts);
  Splice(snapshot.mutable_clusters(), part.snapshot.clusters(), clusters, &changes_.clusters,
         &changes_.removed_clusters);
  Splice(snapshot.mutable_certificates(), part.snapshot.certificates(), certificates, &changes_.certificates,
         &changes_.removed_certificates);

  for (const Key& key : scope) {
    if (auto it = traces_.find(key); it != traces_.end()) {
      Index(it->second, false);
      traces_.erase(it);
    }
  }
  for (IngressTrace& traced : trace.ingresses) {
    Index(traced, true);
    Key key{traced.ns, traced.name};
    traces_.emplace(std::move(key), std::move(traced));
  }
  RebuildDiagnostics();
  last_retranslated_ = scope.size();
  return true;
}

std::set<std::pair<std::string, std::string>> IncrementalTranslator::ChangedSliceServices(const store::Store& store) {
  // The Services (namespace, name) whose slices were added, changed or
  // removed: a slice that moved from one Service to another counts for both.
  std::set<std::pair<std::string, std::string>> services;
  std::map<Key, SliceSeen> seen_now;
  auto unindex = [&](const Key& slice, const std::string& service) {
    auto names = slices_by_service_.find({slice.first, service});
    if (names == slices_by_service_.end()) return;
    names->second.erase(slice.second);
    if (names->second.empty()) slices_by_service_.erase(names);
  };
  const store::Store::ObjectMap& slices = store.Objects(kSliceKind);
  auto before = slices_.begin();
  for (const auto& [key, stored] : slices) {
    while (before != slices_.end() && before->first < key) {  // removed
      services.emplace(before->first.first, before->second.service);
      unindex(before->first, before->second.service);
      ++before;
    }
    SliceSeen now;
    now.revision = stored.revision;
    if (before != slices_.end() && before->first == key && before->second.revision == stored.revision) {
      now.service = before->second.service;  // unchanged
    } else {
      now.service = ServiceLabel(stored);
      services.emplace(key.first, now.service);
      if (before != slices_.end() && before->first == key) {
        services.emplace(key.first, before->second.service);
        unindex(key, before->second.service);
      }
      if (!now.service.empty()) slices_by_service_[{key.first, now.service}].insert(key.second);
    }
    if (before != slices_.end() && before->first == key) ++before;
    seen_now.emplace_hint(seen_now.end(), key, std::move(now));
  }
  for (; before != slices_.end(); ++before) {
    services.emplace(before->first.first, before->second.service);
    unindex(before->first, before->second.service);
  }
  slices_ = std::move(seen_now);
  return services;
}

void IncrementalTranslator::RefreshServices(const store::Store& store,
                                            const std::set<std::pair<std::string, std::string>>& services) {
  // Their Clusters, named "<namespace>/<service>:<port>".
  std::vector<v1::Cluster*> clusters;
  for (v1::Cluster& cluster : *result_.snapshot.mutable_clusters()) {
    const std::string& name = cluster.name();
    size_t slash = name.find('/'), colon = name.rfind(':');
    if (slash == std::string::npos || colon == std::string::npos || colon < slash) continue;
    if (services.count({name.substr(0, slash), name.substr(slash + 1, colon - slash - 1)})) {
      clusters.push_back(&cluster);
      refreshed_clusters_.push_back(name);
      if (std::find(changes_.clusters.begin(), changes_.clusters.end(), name) == changes_.clusters.end()) {
        changes_.clusters.push_back(name);
      }
    }
  }
  if (!clusters.empty()) RefreshEndpoints(store, options_, clusters, &slices_by_service_);
}

const Result& IncrementalTranslator::Update(const store::Store& store) {
  changes_ = SnapshotChanges();
  refreshed_clusters_.clear();
  last_retranslated_ = 0;
  auto seen_class = kind_revisions_.find(kClassKind);
  if (!have_result_ || seen_class == kind_revisions_.end() || seen_class->second != store.KindRevision(kClassKind)) {
    Full(store);
    return result_;
  }
  // Static sites and header-set ConfigMaps: a change re-translates
  // everything (they are few and change rarely).
  for (const char* kind : kStaticSiteKinds) {
    auto seen = kind_revisions_.find(kind);
    if (seen == kind_revisions_.end() || seen->second != store.KindRevision(kind)) {
      Full(store);
      return result_;
    }
  }
  std::map<std::string, std::vector<Key>> changed;
  for (const char* kind : kTrackedKinds) {
    uint64_t& seen = kind_revisions_[kind];
    if (seen == store.KindRevision(kind)) continue;
    seen = store.KindRevision(kind);
    changed[kind] = Diff(store.Objects(kind), object_revisions_[kind]);
  }
  std::set<std::pair<std::string, std::string>> slice_services;
  if (uint64_t& seen = kind_revisions_[kSliceKind]; seen != store.KindRevision(kSliceKind)) {
    seen = store.KindRevision(kSliceKind);
    slice_services = ChangedSliceServices(store);
  }
  const std::vector<Key> &ingresses = changed["Ingress"], &services = changed["Service"], &secrets = changed["Secret"];
  if (!ingresses.empty() || !services.empty() || !secrets.empty()) {
    // ConfigMap sites' size caps count over every route, which a partial
    // translation of some Ingresses cannot see.
    if (!store.Objects("ConfigMap").empty() || !Partial(store, ingresses, services, secrets)) {
      changes_ = SnapshotChanges();
      Full(store);
      return result_;
    }
    last_update_kind_ = "partial";
  } else if (!slice_services.empty()) {
    last_update_kind_ = "endpoints";
  } else {
    last_update_kind_ = "unchanged";
    return result_;
  }
  // Clusters just re-translated read the slices already; refreshing them
  // again gives the same endpoints.
  if (!slice_services.empty()) RefreshServices(store, slice_services);
  return result_;
}

}  // namespace sluice::translate
