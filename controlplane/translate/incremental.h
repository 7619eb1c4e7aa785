#pragma once
// Translation that follows a changing store::Store without redoing all of
// it: Translate() is pure and, at 10,000 Ingresses, costs far more than the
// 100 ms a change may take to reach the proxies.
//
//  - EndpointSlices only feed the endpoint lists of Clusters (no route, no
//    cluster policy, no diagnostic depends on them): only the Clusters of
//    the Services whose slices changed get their endpoints recomputed.
//  - An Ingress, Service or Secret change re-translates only the Ingresses
//    it can affect. Each Ingress's last translation is traced
//    (TranslateTraced): the hosts, clusters, certificates it wrote or read,
//    and its diagnostics per phase. The changed Ingresses, the Ingresses
//    using a changed Service or Secret, and everything sharing a written key
//    with them (transitively) are translated again together, with the same
//    code and in the same oldest-first order as Translate(); their hosts,
//    clusters and certificates replace the previous ones, and the
//    diagnostics are put back in Translate()'s order.
//  - An IngressClass change, a change touching the default backend (it
//    reaches every host), or one whose Ingresses are a large part of all,
//    is a full Translate().
//
// Guarantee (tested in incremental_test.cc): Update(store) is equal, byte
// for byte and diagnostics included, to Translate(store, options).
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "controlplane/store/store.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {

// The resources of the snapshot that differ from the previous Update()'s,
// by name: present in the result (added or changed) or gone from it.
struct SnapshotChanges {
  std::vector<std::string> virtual_hosts, clusters, certificates;
  std::vector<std::string> removed_virtual_hosts, removed_clusters, removed_certificates;
  bool empty() const {
    return virtual_hosts.empty() && clusters.empty() && certificates.empty() && removed_virtual_hosts.empty() &&
           removed_clusters.empty() && removed_certificates.empty();
  }
};

class IncrementalTranslator {
 public:
  explicit IncrementalTranslator(Options options) : options_(std::move(options)) {}

  // Translate(store, options), reusing the previous result where the store
  // says nothing it depends on changed. The reference stays valid until the
  // next Update(); callers may move the snapshot out (the next Update() is
  // then a full translation).
  const Result& Update(const store::Store& store);

  // The last Update()'s result (move it out with TakeResult()).
  const Result& result() const { return result_; }
  Result TakeResult();

  // What the last Update() did: "full", "partial" (some Ingresses
  // re-translated, endpoints maybe too), "endpoints" or "unchanged".
  const char* last_update_kind() const { return last_update_kind_; }
  // After "partial" and "endpoints": what differs from the previous result
  // (publish just that). Meaningless after "full".
  const SnapshotChanges& last_changes() const { return changes_; }
  // Clusters whose endpoints the last "endpoints" update recomputed, by name.
  const std::vector<std::string>& refreshed_clusters() const { return refreshed_clusters_; }
  // How many Ingresses the last "partial" update translated again.
  size_t last_retranslated() const { return last_retranslated_; }

 private:
  using Key = std::pair<std::string, std::string>;  // namespace, name
  struct SliceSeen {
    uint64_t revision = 0;
    std::string service;  // its kubernetes.io/service-name label
  };
  struct KeyUsers {
    std::set<Key> writers, readers;
  };
  // The "oldest wins" order of Translate(): no timestamp last.
  using AgeKey = std::tuple<bool, std::string, std::string, std::string>;

  void Full(const store::Store& store);
  // Re-translates the Ingresses affected by these changes; false when a
  // full translation is needed instead.
  bool Partial(const store::Store& store, const std::vector<Key>& ingresses, const std::vector<Key>& services,
               const std::vector<Key>& secrets);
  std::set<std::pair<std::string, std::string>> ChangedSliceServices(const store::Store& store);
  void RefreshServices(const store::Store& store, const std::set<std::pair<std::string, std::string>>& services);
  // Records (or forgets) `traced` in users_ and aged_with_diagnostics_.
  void Index(const IngressTrace& traced, bool add);
  void RebuildDiagnostics();
  void RememberRevisions(const store::Store& store);
  static AgeKey AgeOf(const IngressTrace& traced) {
    return {traced.creation.empty(), traced.creation, traced.ns, traced.name};
  }

  const Options options_;
  bool have_result_ = false;
  Result result_;
  const char* last_update_kind_ = "full";
  SnapshotChanges changes_;
  std::vector<std::string> refreshed_clusters_;
  size_t last_retranslated_ = 0;

  // Kind -> Store::KindRevision at the last Update().
  std::map<std::string, uint64_t> kind_revisions_;
  // Object -> StoredObject::revision at the last Update(), per kind.
  std::map<std::string, std::map<Key, uint64_t>> object_revisions_;
  std::map<Key, SliceSeen> slices_;
  SlicesByService slices_by_service_;  // the same, by Service

  // The last translation of every Ingress, and who uses which key.
  std::map<Key, IngressTrace> traces_;
  std::map<std::string, KeyUsers> users_;
  std::set<AgeKey> aged_with_diagnostics_;  // handled, with diagnostics in phases 1-4
  std::vector<Diagnostic> class_diagnostics_;
  std::optional<v1::Route> default_route_;
  bool default_route_ssl_opt_out_ = false;
};

}  // namespace sluice::translate
