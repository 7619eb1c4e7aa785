#pragma once
// Translation that follows a changing store::Store without redoing all of
// it: Translate() is pure and, at 10,000 Ingresses, costs far more than the
// 100 ms an endpoint change may take to reach the proxies. Endpoints are the
// objects that change most (every pod start, stop and readiness flip), and
// they only ever feed the endpoint lists of Clusters: no route, no cluster
// policy and no diagnostic depends on them. So when only EndpointSlices
// changed since the previous Update(), the previous result is kept and only
// the Clusters of the Services whose slices changed get their endpoints
// recomputed; any other change is a full Translate().
//
// Guarantee (tested in incremental_test.cc): Update(store) is equal, byte
// for byte and diagnostics included, to Translate(store, options).
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "controlplane/store/store.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {

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

  // What the last Update() did: "full", "endpoints" or "unchanged".
  const char* last_update_kind() const { return last_update_kind_; }
  // Clusters whose endpoints the last "endpoints" update recomputed, by name.
  const std::vector<std::string>& refreshed_clusters() const { return refreshed_clusters_; }

 private:
  struct SliceSeen {
    uint64_t revision = 0;
    std::string service;  // its kubernetes.io/service-name label
  };
  using SliceKey = std::pair<std::string, std::string>;  // namespace, name

  void Remember(const store::Store& store);

  const Options options_;
  bool have_result_ = false;
  Result result_;
  const char* last_update_kind_ = "full";
  std::vector<std::string> refreshed_clusters_;
  // Kind -> Store::KindRevision at the last Update(), EndpointSlice excluded.
  std::map<std::string, uint64_t> kind_revisions_;
  uint64_t slice_kind_revision_ = 0;
  std::map<SliceKey, SliceSeen> slices_;
};

}  // namespace sluice::translate
