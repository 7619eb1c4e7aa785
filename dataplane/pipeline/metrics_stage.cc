#include "dataplane/pipeline/metrics_stage.h"

#include <chrono>

#include "dataplane/metrics/series.h"

namespace sluice::pipeline {

void MetricsStage::OnComplete(const ExchangeState& state) const {
  if (state.route_series == nullptr && state.cluster_series == nullptr) return;
  metrics::ExchangeSample sample;
  sample.status = state.status;
  auto total = std::chrono::steady_clock::now() - state.start;
  sample.total_micros =
      static_cast<uint64_t>(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(total).count()));
  sample.upstream_micros = state.upstream_seconds < 0 ? -1 : static_cast<int64_t>(state.upstream_seconds * 1e6);
  sample.bytes_in = state.request_body_bytes;
  sample.bytes_out = state.bytes_out;
  sample.retries = state.upstream_attempts > 1 ? static_cast<uint32_t>(state.upstream_attempts - 1) : 0;
  sample.connect_failures = state.upstream_connect_failures;
  sample.cache_outcome = static_cast<size_t>(state.cache_outcome);
  sample.cache_waited = state.cache_waited;
  sample.cache_fill = static_cast<size_t>(state.cache_fill);
  if (state.route_series != nullptr) metrics::Record(*state.route_series, sample);
  if (state.cluster_series != nullptr) metrics::Record(*state.cluster_series, sample);
}

}  // namespace sluice::pipeline
