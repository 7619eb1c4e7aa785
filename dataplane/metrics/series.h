#pragma once
// Per-route and per-cluster traffic metrics, Envoy-style: every worker owns
// its counters (WorkerSeries), written by that worker's thread only, with a
// plain relaxed load + store (no lock prefix, no cache line shared with
// another writer); a scrape sums the workers. A route or cluster finds its
// counters by a slot number given when the snapshot is compiled
// (SeriesRegistry), so the per-request cost is an index, never a lookup by
// name.
//
// Cardinality is bounded: at most `max_routes` route series and
// `max_clusters` cluster series per proxy; every route or cluster past the
// cap shares one overflow series (labels `overflow="true"`). Labels come
// from the configuration only (the route's origin, host and configured
// path; the cluster's name), never from a request.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sluice::metrics {

// Histogram bucket upper bounds, in seconds (Prometheus `le`), fixed so that
// series of every proxy aggregate: 1 ms .. 10 s, then +Inf.
inline constexpr double kLatencyBounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,  0.5,    1,     2.5,  5,     10};
inline constexpr size_t kLatencyBuckets = sizeof(kLatencyBounds) / sizeof(kLatencyBounds[0]);
// The same bounds in microseconds (what the per-request path compares).
inline constexpr uint64_t kLatencyBoundsMicros[] = {1000,   2500,   5000,    10000,   25000,   50000,   100000,
                                                    250000, 500000, 1000000, 2500000, 5000000, 10000000};

// Index of the bucket `micros` falls in (kLatencyBuckets: +Inf only).
inline size_t LatencyBucket(uint64_t micros) {
  size_t i = 0;
  while (i < kLatencyBuckets && micros > kLatencyBoundsMicros[i]) ++i;
  return i;
}

// One counter with a single writer (the worker that owns it) and any number
// of readers (the scrape). Readers may see a value a few increments old.
class Cell {
 public:
  void Add(uint64_t n = 1) { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Status classes, `code_class` label: index status/100, 0 when no response
// status was sent (the exchange was cut short before a head).
inline constexpr size_t kCodeClasses = 6;
inline constexpr const char* kCodeClassNames[kCodeClasses] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

// The response cache's outcomes, `outcome` label of
// sluice_route_cache_requests_total (the access log's "cache" field, lower
// case); index 0 is "not a caching route" and is not exported.
inline constexpr size_t kCacheOutcomes = 7;
inline constexpr const char* kCacheOutcomeNames[kCacheOutcomes] = {"",     "hit",  "coalesced", "stale",
                                                                   "miss", "pass", "bypass"};
// What became of a request's own cache fill: `result` label of
// sluice_route_cache_fills_total (index 0: no fill, not exported).
inline constexpr size_t kCacheFillResults = 3;
inline constexpr const char* kCacheFillResultNames[kCacheFillResults] = {"", "stored", "abandoned"};
// Static content (routes that serve a static site): responses by kind,
// `kind` label. Index StaticKind.
enum class StaticKind : uint8_t { kFull, kPartial, kNotModified, kNotFound, kMethodNotAllowed, kOther };
inline constexpr size_t kStaticKinds = 6;
inline constexpr const char* kStaticKindNames[kStaticKinds] = {"full",      "partial",           "not_modified",
                                                               "not_found", "method_not_allowed", "other"};
// The kind of a static response by its status (200, 206, 304, 404, 405;
// the rest, 301/400/412/416/500, is "other").
StaticKind StaticKindOf(int status);

struct StaticCounters {
  Cell responses[kStaticKinds];
  Cell bytes_sent;         // heads and bodies queued for the client
  Cell open_cache_hits;    // opens the worker's open-file cache answered
  Cell open_cache_misses;  // opens that went to the disk
};

// The counters of one route or one cluster on one worker.
struct SeriesCounters {
  Cell requests[kCodeClasses];
  Cell latency[kLatencyBuckets + 1];  // per bucket (not cumulative); last: over 10 s
  Cell latency_sum_micros;
  Cell upstream_latency[kLatencyBuckets + 1];  // exchanges that tried an upstream
  Cell upstream_latency_sum_micros;
  Cell bytes_in;   // request body bytes received
  Cell bytes_out;  // response bytes queued for the client (head and body)
  Cell retries;    // upstream tries after the first
  Cell connect_failures;  // upstream tries that did not connect (refused, timeout, TLS)
  // Routes with the response cache only (clusters leave them at 0).
  Cell cache[kCacheOutcomes];
  Cell cache_waits;  // misses that waited for another request's fill
  Cell cache_fills[kCacheFillResults];
  StaticCounters static_content;  // routes with a static site only (the static stage)
};

// What one finished exchange adds (filled from the ExchangeState).
struct ExchangeSample {
  int status = 0;
  uint64_t total_micros = 0;
  int64_t upstream_micros = -1;  // < 0: no upstream try
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint32_t retries = 0;
  uint32_t connect_failures = 0;
  size_t cache_outcome = 0;  // index into kCacheOutcomeNames
  bool cache_waited = false;
  size_t cache_fill = 0;     // index into kCacheFillResultNames
};

void Record(SeriesCounters& counters, const ExchangeSample& sample);

// The sum over workers of one slot's counters, as plain numbers.
struct SeriesTotals {
  uint64_t requests[kCodeClasses] = {};
  uint64_t latency[kLatencyBuckets + 1] = {};
  uint64_t latency_sum_micros = 0;
  uint64_t upstream_latency[kLatencyBuckets + 1] = {};
  uint64_t upstream_latency_sum_micros = 0;
  uint64_t bytes_in = 0, bytes_out = 0, retries = 0, connect_failures = 0;
  uint64_t cache[kCacheOutcomes] = {};
  uint64_t cache_waits = 0;
  uint64_t cache_fills[kCacheFillResults] = {};
  uint64_t static_responses[kStaticKinds] = {};
  uint64_t static_bytes_sent = 0, open_cache_hits = 0, open_cache_misses = 0;

  void Add(const SeriesCounters& counters);
  void Add(const SeriesTotals& other);
  void Subtract(const SeriesTotals& other);  // a reused slot's baseline
};

// Slot numbers. kNoSlot: not counted (snapshots compiled without a
// registry: tests, tools).
inline constexpr uint32_t kNoSlot = UINT32_MAX;

// A worker's counters for every slot: allocated once (max + 1 overflow).
class WorkerSeries {
 public:
  WorkerSeries(size_t max_routes, size_t max_clusters);
  // Null for kNoSlot.
  SeriesCounters* route(uint32_t slot) { return slot < route_count_ ? &routes_[slot] : nullptr; }
  SeriesCounters* cluster(uint32_t slot) { return slot < cluster_count_ ? &clusters_[slot] : nullptr; }
  const SeriesCounters* route(uint32_t slot) const { return slot < route_count_ ? &routes_[slot] : nullptr; }
  const SeriesCounters* cluster(uint32_t slot) const { return slot < cluster_count_ ? &clusters_[slot] : nullptr; }

 private:
  size_t route_count_, cluster_count_;
  std::unique_ptr<SeriesCounters[]> routes_;
  std::unique_ptr<SeriesCounters[]> clusters_;
};

// The labels of a route series: the Ingress (Route.origin
// "namespace/name"), the host and the configured path.
struct RouteKey {
  std::string origin;
  std::string host;
  std::string path;
  bool operator==(const RouteKey&) const = default;
};

// Gives slots to label sets while snapshots compile, and turns slots back
// into labels at scrape time. Called from the thread that compiles
// snapshots and from the admin thread (one mutex; never per request).
//
// A label set keeps its slot for as long as it is in use, so its counters
// run on across snapshots. When the slots run out, Reclaim() frees those
// no longer used by any live snapshot; a freed slot's totals at that moment
// become its baseline, subtracted at scrape time, so the next label set to
// take it starts from zero (a removed route's series simply stops being
// exported: Prometheus marks it stale).
class SeriesRegistry {
 public:
  SeriesRegistry(size_t max_routes, size_t max_clusters);
  size_t max_routes() const { return max_routes_; }
  size_t max_clusters() const { return max_clusters_; }
  uint32_t route_overflow_slot() const { return static_cast<uint32_t>(max_routes_); }
  uint32_t cluster_overflow_slot() const { return static_cast<uint32_t>(max_clusters_); }

  // The slot of this label set: its own while it has one or one is free,
  // else the overflow slot.
  uint32_t RouteSlot(const RouteKey& key);
  uint32_t ClusterSlot(const std::string& name);

  // True once a label set went to the overflow slot since the last Reclaim.
  bool overflowed() const;

  // Frees every slot not in `live_routes` / `live_clusters` (index: slot,
  // true: used by a live snapshot). `totals(route?, slot)` is the slot's
  // sum over workers now, kept as its baseline.
  void Reclaim(const std::vector<bool>& live_routes, const std::vector<bool>& live_clusters,
               const std::function<SeriesTotals(bool route, uint32_t slot)>& totals);

  // The totals minus the slot's baseline (what a scrape exports).
  SeriesTotals Exported(bool route, uint32_t slot, SeriesTotals totals) const;

  // The label set holding `slot` now (empty for the overflow slot and free
  // slots).
  RouteKey RouteLabels(uint32_t slot) const;
  std::string ClusterName(uint32_t slot) const;

  // Label sets with a slot now, and how many went to the overflow slot.
  size_t route_series() const;
  size_t cluster_series() const;
  uint64_t overflowed_assignments() const;

 private:
  struct RouteKeyHash {
    size_t operator()(const RouteKey& key) const;
  };
  size_t max_routes_, max_clusters_;
  mutable std::mutex mu_;
  std::unordered_map<RouteKey, uint32_t, RouteKeyHash> routes_;
  std::unordered_map<std::string, uint32_t> clusters_;
  std::vector<uint32_t> free_routes_, free_clusters_;  // freed slots, reused first
  uint32_t next_route_ = 0, next_cluster_ = 0;        // never given out yet
  std::vector<SeriesTotals> route_baseline_, cluster_baseline_;
  std::vector<RouteKey> route_keys_;          // by slot
  std::vector<std::string> cluster_names_;    // by slot
  bool overflowed_ = false;
  uint64_t overflowed_assignments_ = 0;
};

// Prometheus text for one family of histograms/counters over slots: used
// by the proxy's /metrics. `labels` is the label text of the slot without
// braces (`namespace="a",ingress="b",...`).
void AppendSeriesText(std::string& out, const char* prefix, const std::vector<std::string>& labels,
                      const std::vector<SeriesTotals>& totals);
// The per-route response cache families (sluice_route_cache_*): only the
// slots that saw a caching route's request (the others would be all zero).
void AppendCacheSeriesText(std::string& out, const char* prefix, const std::vector<std::string>& labels,
                           const std::vector<SeriesTotals>& totals);
// The static-content families (sluice_route_static_*) of the routes that
// serve a static site.
void AppendStaticSeriesText(std::string& out, const std::vector<std::string>& labels,
                            const std::vector<SeriesTotals>& totals);

}  // namespace sluice::metrics
