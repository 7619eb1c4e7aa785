#include "dataplane/metrics/series.h"

#include <gtest/gtest.h>

namespace sluice::metrics {
namespace {

TEST(Series, BucketsAreUpperInclusive) {
  EXPECT_EQ(LatencyBucket(0), 0u);
  EXPECT_EQ(LatencyBucket(1000), 0u);  // le="0.001" holds exactly 1 ms
  EXPECT_EQ(LatencyBucket(1001), 1u);
  EXPECT_EQ(LatencyBucket(10'000'000), kLatencyBuckets - 1);
  EXPECT_EQ(LatencyBucket(10'000'001), kLatencyBuckets);  // +Inf only
  for (size_t i = 0; i < kLatencyBuckets; ++i) {
    EXPECT_EQ(kLatencyBoundsMicros[i], static_cast<uint64_t>(kLatencyBounds[i] * 1e6 + 0.5));
  }
}

TEST(Series, RecordCountsClassesLatencyBytesRetries) {
  SeriesCounters c;
  Record(c, {.status = 200, .total_micros = 500, .upstream_micros = 400, .bytes_in = 10, .bytes_out = 100});
  Record(c, {.status = 503, .total_micros = 30'000, .upstream_micros = -1, .retries = 2, .connect_failures = 3});
  Record(c, {.status = 0, .total_micros = 20'000'000});
  SeriesTotals t;
  t.Add(c);
  EXPECT_EQ(t.requests[2], 1u);
  EXPECT_EQ(t.requests[5], 1u);
  EXPECT_EQ(t.requests[0], 1u);  // no status: "none"
  EXPECT_EQ(t.latency[0], 1u);
  EXPECT_EQ(t.latency[LatencyBucket(30'000)], 1u);
  EXPECT_EQ(t.latency[kLatencyBuckets], 1u);
  EXPECT_EQ(t.latency_sum_micros, 20'030'500u);
  uint64_t upstream = 0;
  for (uint64_t n : t.upstream_latency) upstream += n;
  EXPECT_EQ(upstream, 1u);  // only the exchange that tried an upstream
  EXPECT_EQ(t.upstream_latency_sum_micros, 400u);
  EXPECT_EQ(t.bytes_in, 10u);
  EXPECT_EQ(t.bytes_out, 100u);
  EXPECT_EQ(t.retries, 2u);
  EXPECT_EQ(t.connect_failures, 3u);
}

TEST(Series, WorkersAreSummedAtScrape) {
  WorkerSeries a(4, 2), b(4, 2);
  Record(*a.route(1), {.status = 200});
  Record(*b.route(1), {.status = 200});
  Record(*b.route(1), {.status = 404});
  EXPECT_EQ(a.route(kNoSlot), nullptr);
  EXPECT_NE(a.route(4), nullptr);  // the overflow slot
  EXPECT_EQ(a.route(5), nullptr);
  SeriesTotals t;
  t.Add(*a.route(1));
  t.Add(*b.route(1));
  EXPECT_EQ(t.requests[2], 2u);
  EXPECT_EQ(t.requests[4], 1u);
}

TEST(SeriesRegistry, StableSlotsOverflowAndReclaim) {
  SeriesRegistry r(2, 1);
  RouteKey a{"ns/a", "a.example", "/"}, b{"ns/b", "b.example", "/"}, c{"ns/c", "c.example", "/x"};
  uint32_t sa = r.RouteSlot(a), sb = r.RouteSlot(b);
  EXPECT_NE(sa, sb);
  EXPECT_EQ(r.RouteSlot(a), sa);  // the same label set keeps its slot across snapshots
  EXPECT_FALSE(r.overflowed());
  EXPECT_EQ(r.RouteSlot(c), r.route_overflow_slot());
  EXPECT_TRUE(r.overflowed());
  EXPECT_EQ(r.overflowed_assignments(), 1u);
  EXPECT_EQ(r.RouteLabels(sb).origin, "ns/b");

  // b's route is gone: its slot is freed, with its totals as the baseline,
  // so c starts from zero on it.
  WorkerSeries w(2, 1);
  for (int i = 0; i < 5; ++i) Record(*w.route(sb), {.status = 200});
  std::vector<bool> live_routes(3), live_clusters(2);
  live_routes[sa] = true;
  r.Reclaim(live_routes, live_clusters, [&](bool route, uint32_t slot) {
    SeriesTotals t;
    if (route) t.Add(*w.route(slot));
    return t;
  });
  EXPECT_FALSE(r.overflowed());
  EXPECT_EQ(r.route_series(), 1u);
  uint32_t sc = r.RouteSlot(c);
  EXPECT_EQ(sc, sb);
  EXPECT_EQ(r.RouteLabels(sc).origin, "ns/c");
  Record(*w.route(sc), {.status = 500});
  SeriesTotals now;
  now.Add(*w.route(sc));
  SeriesTotals exported = r.Exported(true, sc, now);
  EXPECT_EQ(exported.requests[2], 0u);
  EXPECT_EQ(exported.requests[5], 1u);
}

TEST(SeriesRegistry, ClustersByName) {
  SeriesRegistry r(1, 2);
  uint32_t x = r.ClusterSlot("default/x:80");
  EXPECT_EQ(r.ClusterSlot("default/x:80"), x);
  EXPECT_EQ(r.ClusterName(x), "default/x:80");
  r.ClusterSlot("default/y:80");
  EXPECT_EQ(r.ClusterSlot("default/z:80"), r.cluster_overflow_slot());
  EXPECT_EQ(r.ClusterName(r.cluster_overflow_slot()), "");
}

TEST(Series, TextIsCumulativeWithCount) {
  SeriesCounters c;
  Record(c, {.status = 200, .total_micros = 500});
  Record(c, {.status = 200, .total_micros = 2'000});
  Record(c, {.status = 502, .total_micros = 20'000'000});
  SeriesTotals t;
  t.Add(c);
  std::string out;
  AppendSeriesText(out, "sluice_route", {"host=\"h\""}, {t});
  EXPECT_NE(out.find("sluice_route_requests_total{host=\"h\",code_class=\"2xx\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("sluice_route_requests_total{host=\"h\",code_class=\"5xx\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("sluice_route_request_duration_seconds_bucket{host=\"h\",le=\"0.001\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("sluice_route_request_duration_seconds_bucket{host=\"h\",le=\"0.0025\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("sluice_route_request_duration_seconds_bucket{host=\"h\",le=\"10\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("sluice_route_request_duration_seconds_bucket{host=\"h\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("sluice_route_request_duration_seconds_count{host=\"h\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("sluice_route_request_duration_seconds_sum{host=\"h\"} 20.002500\n"), std::string::npos);
  EXPECT_NE(out.find("# TYPE sluice_route_upstream_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(out.find("sluice_route_upstream_duration_seconds_count{host=\"h\"} 0\n"), std::string::npos);
}

TEST(Series, CacheFamiliesOnlyForRoutesThatCache) {
  SeriesCounters cached, plain;
  Record(cached, {.status = 200, .cache_outcome = 4, .cache_fill = 1});  // miss, stored
  Record(cached, {.status = 200, .cache_outcome = 2, .cache_waited = true});  // coalesced
  Record(cached, {.status = 200, .cache_outcome = 1});  // hit
  Record(plain, {.status = 200});
  SeriesTotals a, b;
  a.Add(cached);
  b.Add(plain);
  std::string out;
  AppendCacheSeriesText(out, "sluice_route", {"host=\"c\"", "host=\"p\""}, {a, b});
  EXPECT_NE(out.find("sluice_route_cache_requests_total{host=\"c\",outcome=\"hit\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("sluice_route_cache_requests_total{host=\"c\",outcome=\"coalesced\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("sluice_route_cache_requests_total{host=\"c\",outcome=\"miss\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("sluice_route_cache_requests_total{host=\"c\",outcome=\"stale\"} 0\n"), std::string::npos);
  EXPECT_NE(out.find("sluice_route_cache_coalesced_waits_total{host=\"c\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("sluice_route_cache_fills_total{host=\"c\",result=\"stored\"} 1\n"), std::string::npos);
  EXPECT_EQ(out.find("host=\"p\""), std::string::npos);  // a route without a cache: no series
  // A reused slot's baseline is subtracted like the other counters.
  SeriesTotals later = a;
  later.Subtract(a);
  EXPECT_EQ(later.cache[1], 0u);
  EXPECT_EQ(later.cache_waits, 0u);
}

}  // namespace
}  // namespace sluice::metrics
