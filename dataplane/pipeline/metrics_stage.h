#pragma once
// Adds every finished exchange of a route to that route's and its cluster's
// counters on this worker (dataplane/metrics: status class, latency
// histograms, bytes, retries, connect failures). A stage of its own rather
// than a part of the access log's OnComplete: it runs whether or not the
// access log is on, and each is tested alone by filling an ExchangeState.
// Reads: status, start, upstream time, bytes, tries; the counters the
// exchange chose (state.route_series, state.cluster_series: null when the
// snapshot was compiled without a metrics registry). Changes: nothing of
// the exchange.
#include "dataplane/pipeline/stage.h"

namespace sluice::pipeline {

class MetricsStage final : public Stage {
 public:
  std::string_view name() const override { return "metrics"; }
  StageOrder order() const override { return StageOrder::kMetrics; }
  uint32_t hooks() const override { return kComplete; }
  void OnComplete(const ExchangeState& state) const override;
};

}  // namespace sluice::pipeline
