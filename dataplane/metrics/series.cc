#include "dataplane/metrics/series.h"

#include <cstdio>

namespace sluice::metrics {

void Record(SeriesCounters& counters, const ExchangeSample& sample) {
  size_t code_class = sample.status >= 100 && sample.status < 600 ? static_cast<size_t>(sample.status / 100) : 0;
  counters.requests[code_class].Add();
  counters.latency[LatencyBucket(sample.total_micros)].Add();
  counters.latency_sum_micros.Add(sample.total_micros);
  if (sample.upstream_micros >= 0) {
    uint64_t upstream = static_cast<uint64_t>(sample.upstream_micros);
    counters.upstream_latency[LatencyBucket(upstream)].Add();
    counters.upstream_latency_sum_micros.Add(upstream);
  }
  if (sample.bytes_in != 0) counters.bytes_in.Add(sample.bytes_in);
  if (sample.bytes_out != 0) counters.bytes_out.Add(sample.bytes_out);
  if (sample.retries != 0) counters.retries.Add(sample.retries);
  if (sample.connect_failures != 0) counters.connect_failures.Add(sample.connect_failures);
  if (sample.cache_outcome != 0 && sample.cache_outcome < kCacheOutcomes) counters.cache[sample.cache_outcome].Add();
  if (sample.cache_waited) counters.cache_waits.Add();
  if (sample.cache_fill != 0 && sample.cache_fill < kCacheFillResults) counters.cache_fills[sample.cache_fill].Add();
}

void SeriesTotals::Add(const SeriesCounters& c) {
  for (size_t i = 0; i < kCodeClasses; ++i) requests[i] += c.requests[i].Get();
  for (size_t i = 0; i <= kLatencyBuckets; ++i) {
    latency[i] += c.latency[i].Get();
    upstream_latency[i] += c.upstream_latency[i].Get();
  }
  latency_sum_micros += c.latency_sum_micros.Get();
  upstream_latency_sum_micros += c.upstream_latency_sum_micros.Get();
  bytes_in += c.bytes_in.Get();
  bytes_out += c.bytes_out.Get();
  retries += c.retries.Get();
  connect_failures += c.connect_failures.Get();
  for (size_t i = 0; i < kCacheOutcomes; ++i) cache[i] += c.cache[i].Get();
  cache_waits += c.cache_waits.Get();
  for (size_t i = 0; i < kCacheFillResults; ++i) cache_fills[i] += c.cache_fills[i].Get();
  for (size_t i = 0; i < kStaticKinds; ++i) static_responses[i] += c.static_content.responses[i].Get();
  static_bytes_sent += c.static_content.bytes_sent.Get();
  open_cache_hits += c.static_content.open_cache_hits.Get();
  open_cache_misses += c.static_content.open_cache_misses.Get();
}

void SeriesTotals::Add(const SeriesTotals& o) {
  for (size_t i = 0; i < kCodeClasses; ++i) requests[i] += o.requests[i];
  for (size_t i = 0; i <= kLatencyBuckets; ++i) {
    latency[i] += o.latency[i];
    upstream_latency[i] += o.upstream_latency[i];
  }
  latency_sum_micros += o.latency_sum_micros;
  upstream_latency_sum_micros += o.upstream_latency_sum_micros;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  retries += o.retries;
  connect_failures += o.connect_failures;
  for (size_t i = 0; i < kCacheOutcomes; ++i) cache[i] += o.cache[i];
  cache_waits += o.cache_waits;
  for (size_t i = 0; i < kCacheFillResults; ++i) cache_fills[i] += o.cache_fills[i];
  for (size_t i = 0; i < kStaticKinds; ++i) static_responses[i] += o.static_responses[i];
  static_bytes_sent += o.static_bytes_sent;
  open_cache_hits += o.open_cache_hits;
  open_cache_misses += o.open_cache_misses;
}

namespace {
// Saturating: a worker's later cell may have been read before the baseline
// was, so a difference is never allowed to wrap.
uint64_t Minus(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }
}  // namespace

void SeriesTotals::Subtract(const SeriesTotals& o) {
  for (size_t i = 0; i < kCodeClasses; ++i) requests[i] = Minus(requests[i], o.requests[i]);
  for (size_t i = 0; i <= kLatencyBuckets; ++i) {
    latency[i] = Minus(latency[i], o.latency[i]);
    upstream_latency[i] = Minus(upstream_latency[i], o.upstream_latency[i]);
  }
  latency_sum_micros = Minus(latency_sum_micros, o.latency_sum_micros);
  upstream_latency_sum_micros = Minus(upstream_latency_sum_micros, o.upstream_latency_sum_micros);
  bytes_in = Minus(bytes_in, o.bytes_in);
  bytes_out = Minus(bytes_out, o.bytes_out);
  retries = Minus(retries, o.retries);
  connect_failures = Minus(connect_failures, o.connect_failures);
  for (size_t i = 0; i < kCacheOutcomes; ++i) cache[i] = Minus(cache[i], o.cache[i]);
  cache_waits = Minus(cache_waits, o.cache_waits);
  for (size_t i = 0; i < kCacheFillResults; ++i) cache_fills[i] = Minus(cache_fills[i], o.cache_fills[i]);
  for (size_t i = 0; i < kStaticKinds; ++i) static_responses[i] = Minus(static_responses[i], o.static_responses[i]);
  static_bytes_sent = Minus(static_bytes_sent, o.static_bytes_sent);
  open_cache_hits = Minus(open_cache_hits, o.open_cache_hits);
  open_cache_misses = Minus(open_cache_misses, o.open_cache_misses);
}

StaticKind StaticKindOf(int status) {
  switch (status) {
    case 200: return StaticKind::kFull;
    case 206: return StaticKind::kPartial;
    case 304: return StaticKind::kNotModified;
    case 404: return StaticKind::kNotFound;
    case 405: return StaticKind::kMethodNotAllowed;
    default: return StaticKind::kOther;
  }
}

WorkerSeries::WorkerSeries(size_t max_routes, size_t max_clusters)
    : route_count_(max_routes + 1),
      cluster_count_(max_clusters + 1),
      routes_(new SeriesCounters[max_routes + 1]),
      clusters_(new SeriesCounters[max_clusters + 1]) {}

size_t SeriesRegistry::RouteKeyHash::operator()(const RouteKey& key) const {
  std::hash<std::string> h;
  return h(key.origin) ^ (h(key.host) * 31) ^ (h(key.path) * 1000003);
}

SeriesRegistry::SeriesRegistry(size_t max_routes, size_t max_clusters)
    : max_routes_(max_routes),
      max_clusters_(max_clusters),
      route_baseline_(max_routes + 1),
      cluster_baseline_(max_clusters + 1),
      route_keys_(max_routes + 1),
      cluster_names_(max_clusters + 1) {}

namespace {
template <typename Map, typename Key>
uint32_t Assign(Map& map, const Key& key, std::vector<uint32_t>& free_slots, uint32_t& next, size_t max,
                bool& overflowed, uint64_t& overflowed_assignments) {
  auto found = map.find(key);
  if (found != map.end()) return found->second;
  uint32_t slot;
  if (!free_slots.empty()) {
    slot = free_slots.back();
    free_slots.pop_back();
  } else if (next < max) {
    slot = next++;
  } else {
    overflowed = true;
    ++overflowed_assignments;
    return static_cast<uint32_t>(max);  // the overflow slot: not remembered, so a later Reclaim can give it one
  }
  map.emplace(key, slot);
  return slot;
}
}  // namespace

uint32_t SeriesRegistry::RouteSlot(const RouteKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t slot = Assign(routes_, key, free_routes_, next_route_, max_routes_, overflowed_, overflowed_assignments_);
  if (slot < max_routes_ && !(route_keys_[slot] == key)) route_keys_[slot] = key;
  return slot;
}

RouteKey SeriesRegistry::RouteLabels(uint32_t slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  return slot < max_routes_ ? route_keys_[slot] : RouteKey{};
}

std::string SeriesRegistry::ClusterName(uint32_t slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  return slot < max_clusters_ ? cluster_names_[slot] : std::string();
}

uint32_t SeriesRegistry::ClusterSlot(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t slot =
      Assign(clusters_, name, free_clusters_, next_cluster_, max_clusters_, overflowed_, overflowed_assignments_);
  if (slot < max_clusters_ && cluster_names_[slot] != name) cluster_names_[slot] = name;
  return slot;
}

bool SeriesRegistry::overflowed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return overflowed_;
}

void SeriesRegistry::Reclaim(const std::vector<bool>& live_routes, const std::vector<bool>& live_clusters,
                             const std::function<SeriesTotals(bool route, uint32_t slot)>& totals) {
  std::lock_guard<std::mutex> lock(mu_);
  auto sweep = [&](auto& map, const std::vector<bool>& live, std::vector<uint32_t>& free_slots,
                   std::vector<SeriesTotals>& baseline, bool route) {
    // (The freed slot's labels stay until it is given again: nothing
    // exports a slot no live snapshot uses.)
    for (auto it = map.begin(); it != map.end();) {
      uint32_t slot = it->second;
      if (slot < live.size() && live[slot]) {
        ++it;
        continue;
      }
      baseline[slot] = totals(route, slot);
      free_slots.push_back(slot);
      it = map.erase(it);
    }
  };
  sweep(routes_, live_routes, free_routes_, route_baseline_, true);
  sweep(clusters_, live_clusters, free_clusters_, cluster_baseline_, false);
  overflowed_ = false;
}

SeriesTotals SeriesRegistry::Exported(bool route, uint32_t slot, SeriesTotals totals) const {
  std::lock_guard<std::mutex> lock(mu_);
  const std::vector<SeriesTotals>& baseline = route ? route_baseline_ : cluster_baseline_;
  if (slot < baseline.size()) totals.Subtract(baseline[slot]);
  return totals;
}

size_t SeriesRegistry::route_series() const {
  std::lock_guard<std::mutex> lock(mu_);
  return routes_.size();
}

size_t SeriesRegistry::cluster_series() const {
  std::lock_guard<std::mutex> lock(mu_);
  return clusters_.size();
}

uint64_t SeriesRegistry::overflowed_assignments() const {
  std::lock_guard<std::mutex> lock(mu_);
  return overflowed_assignments_;
}

namespace {
std::string Seconds(uint64_t micros) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6f", static_cast<double>(micros) / 1e6);
  return buffer;
}

std::string Bound(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", seconds);
  return buffer;
}

void Header(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void Histogram(std::string& out, const std::string& name, const char* help, const std::vector<std::string>& labels,
               const std::vector<SeriesTotals>& totals, bool upstream) {
  Header(out, name, "histogram", help);
  for (size_t s = 0; s < labels.size(); ++s) {
    const uint64_t* buckets = upstream ? totals[s].upstream_latency : totals[s].latency;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets; ++i) {
      cumulative += buckets[i];
      out += name + "_bucket{" + labels[s] + ",le=\"" + Bound(kLatencyBounds[i]) + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    cumulative += buckets[kLatencyBuckets];
    out += name + "_bucket{" + labels[s] + ",le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
    out += name + "_sum{" + labels[s] + "} " +
           Seconds(upstream ? totals[s].upstream_latency_sum_micros : totals[s].latency_sum_micros) + "\n";
    out += name + "_count{" + labels[s] + "} " + std::to_string(cumulative) + "\n";
  }
}

void Counter(std::string& out, const std::string& name, const char* help, const std::vector<std::string>& labels,
             const std::vector<SeriesTotals>& totals, uint64_t SeriesTotals::*field) {
  Header(out, name, "counter", help);
  for (size_t s = 0; s < labels.size(); ++s) {
    out += name + "{" + labels[s] + "} " + std::to_string(totals[s].*field) + "\n";
  }
}
}  // namespace

void AppendSeriesText(std::string& out, const char* prefix, const std::vector<std::string>& labels,
                      const std::vector<SeriesTotals>& totals) {
  const std::string p = prefix;
  Header(out, p + "_requests_total", "counter", "Requests finished, by response status class (none: no status sent).");
  for (size_t s = 0; s < labels.size(); ++s) {
    for (size_t c = 0; c < kCodeClasses; ++c) {
      out += p + "_requests_total{" + labels[s] + ",code_class=\"" + kCodeClassNames[c] + "\"} " +
             std::to_string(totals[s].requests[c]) + "\n";
    }
  }
  Histogram(out, p + "_request_duration_seconds",
            "Time from the request head to the end of the exchange, in seconds.", labels, totals, false);
  Histogram(out, p + "_upstream_duration_seconds",
            "Time from the last upstream try's start to the end of the exchange, in seconds (exchanges that "
            "reached for an upstream).",
            labels, totals, true);
  Counter(out, p + "_request_bytes_total", "Request body bytes received.", labels, totals, &SeriesTotals::bytes_in);
  Counter(out, p + "_response_bytes_total", "Response bytes sent to clients (head and body).", labels, totals,
          &SeriesTotals::bytes_out);
  Counter(out, p + "_upstream_retries_total", "Upstream tries after the first.", labels, totals,
          &SeriesTotals::retries);
  Counter(out, p + "_upstream_connect_failures_total",
          "Upstream tries that could not connect (refused, timed out, TLS handshake failed).", labels, totals,
          &SeriesTotals::connect_failures);
}

void AppendCacheSeriesText(std::string& out, const char* prefix, const std::vector<std::string>& labels,
                           const std::vector<SeriesTotals>& totals) {
  std::vector<size_t> caching;  // slots of routes that saw a cached route's request
  for (size_t s = 0; s < labels.size(); ++s) {
    uint64_t seen = 0;
    for (size_t i = 1; i < kCacheOutcomes; ++i) seen += totals[s].cache[i];
    if (seen != 0) caching.push_back(s);
  }
  const std::string p = prefix;
  Header(out, p + "_cache_requests_total", "counter",
         "Requests of caching routes, by what the response cache did (hit, coalesced: served from another "
         "request's fill, stale: a stale object answered, miss, pass: uncacheable or hit-for-pass, bypass: not looked up).");
  for (size_t s : caching) {
    for (size_t i = 1; i < kCacheOutcomes; ++i) {
      out += p + "_cache_requests_total{" + labels[s] + ",outcome=\"" + kCacheOutcomeNames[i] + "\"} " +
             std::to_string(totals[s].cache[i]) + "\n";
    }
  }
  Header(out, p + "_cache_coalesced_waits_total", "counter",
         "Cache misses that waited for another request's fill of the same key.");
  for (size_t s : caching) {
    out += p + "_cache_coalesced_waits_total{" + labels[s] + "} " + std::to_string(totals[s].cache_waits) + "\n";
  }
  Header(out, p + "_cache_fills_total", "counter",
         "Cache fills (a miss fetching an object to store), by result (stored, abandoned: truncated, too "
         "large, no room or cut short).");
  for (size_t s : caching) {
    for (size_t i = 1; i < kCacheFillResults; ++i) {
      out += p + "_cache_fills_total{" + labels[s] + ",result=\"" + kCacheFillResultNames[i] + "\"} " +
             std::to_string(totals[s].cache_fills[i]) + "\n";
    }
  }
}

void AppendStaticSeriesText(std::string& out, const std::vector<std::string>& labels,
                            const std::vector<SeriesTotals>& totals) {
  const std::string responses = "sluice_route_static_responses_total";
  Header(out, responses, "counter",
         "Static site responses, by kind (full 200, partial 206, not_modified 304, not_found 404, "
         "method_not_allowed 405, other: redirects, 400, 412, 416, 500).");
  for (size_t s = 0; s < labels.size(); ++s) {
    for (size_t k = 0; k < kStaticKinds; ++k) {
      out += responses + "{" + labels[s] + ",kind=\"" + kStaticKindNames[k] + "\"} " +
             std::to_string(totals[s].static_responses[k]) + "\n";
    }
  }
  Counter(out, "sluice_route_static_sent_bytes_total",
          "Bytes of static site responses queued for clients (heads and bodies).", labels, totals,
          &SeriesTotals::static_bytes_sent);
  Counter(out, "sluice_route_static_open_cache_hits_total",
          "Static file lookups answered by the worker's open-file cache (no open).", labels, totals,
          &SeriesTotals::open_cache_hits);
  Counter(out, "sluice_route_static_open_cache_misses_total",
          "Static file lookups that opened the path on disk (directory sites).", labels, totals,
          &SeriesTotals::open_cache_misses);
}

}  // namespace sluice::metrics
