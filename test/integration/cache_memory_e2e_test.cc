// The response cache's memory limit end to end: sluice-controller reading
// manifests, sluice-proxy (two workers sharing one cache of 2 MiB) and an
// in-process origin serving many keys of mixed sizes (100 B to past
// --cache-max-object-size). Concurrent keep-alive clients request a hot set
// and a long cold tail, far more bytes than the cache holds, while a
// sampler reads the proxy's /metrics and its resident set. What a user
// would check: the cache's own byte count never goes past the limit, it
// evicts, it still hits, every body is the origin's, and the proxy's memory
// does not grow with the bytes that went through it. Every loop is bounded
// in count, and every read in time (HttpConnection's timeout).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test/support/cache_cluster.h"
#include "test/support/fake_upstream.h"
#include "test/support/http_client.h"
#include "test/support/observe.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLUICE_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLUICE_TEST_ASAN 1
#endif
#endif

namespace sluice {
namespace {

using testing::FakeUpstream;
using testing::HttpConnection;

constexpr size_t kLimit = 2u << 20;          // --cache-memory
constexpr size_t kMaxObject = 128u << 10;    // --cache-max-object-size
// Key k's body size is kSizes[k % 7]: the last one passes through.
constexpr size_t kSizes[] = {100, 1000, 4096, 16384, 65536, 120000, 200000};
constexpr int kHotKeys = 16;
constexpr int kColdKeys = 1200;
constexpr int kClients = 8;
constexpr int kRequestsPerClient = 400;

size_t SizeOf(int key) { return kSizes[key % 7]; }

// Key k's body: bytes that differ per key and per offset, so a body of the
// wrong key, a truncated one or one with a block out of place all differ.
std::string Body(int key) {
  std::string body(SizeOf(key), '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (key * 31 + i * 7 + i / 4096) % 26);
  return body;
}

std::string Path(int key) { return "/obj/" + std::to_string(key); }

FakeUpstream::Reply Answer(const FakeUpstream::Request& request) {
  const std::string target = request.target();
  if (target.rfind("/obj/", 0) != 0) return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
  return {FakeUpstream::OkResponse(Body(std::atoi(target.c_str() + 5)), "Cache-Control: max-age=600\r\n")};
}

class CacheMemoryEndToEndTest : public testing::CacheClusterTest {
 protected:
  void SetUp() override {
    origin_ = std::make_unique<FakeUpstream>(Answer);
    MakeCluster({.name = "cache-memory",
                 .workers = 2,
                 .access_log = "off",
                 .extra_proxy_flags = {"--cache-memory", std::to_string(kLimit), "--cache-max-object-size",
                                       std::to_string(kMaxObject)}});
    ASSERT_NO_FATAL_FAILURE(
        StartCluster({.origin_port = origin_->port(), .annotations = "sluice.io/cache: \"true\"\n"}));
  }

  std::unique_ptr<FakeUpstream> origin_;
};

TEST_F(CacheMemoryEndToEndTest, AMixedSizeLoadNeverTakesTheCachePastItsLimit) {
  using testing::MetricSample;
  // Warm-up: one request of every size, twice (a miss, then a hit or a
  // pass), so the baseline resident set has every code path's memory.
  for (int key = kHotKeys + kColdKeys; key < kHotKeys + kColdKeys + 7; ++key) {
    for (int i = 0; i < 2; ++i) ASSERT_EQ(Get(Path(key)).body, Body(key)) << key;
  }
  const long rss_before = testing::RssKib(cluster_->proxy().pid());
  ASSERT_GT(rss_before, 0);
  EXPECT_EQ(MetricSample(ProxyMetrics(), "sluice_cache_memory_limit_bytes"), static_cast<double>(kLimit));

  // The sampler: the store's bytes (published and reserved by fills) and
  // the proxy's resident set, as often as /metrics answers.
  std::atomic<bool> done{false};
  double most_bytes = 0, most_charged = 0;
  long most_rss = 0;
  int samples = 0, over_limit = 0;
  std::string over_limit_example;
  std::thread sampler([&] {
    while (!done.load() && samples < 100000) {
      const std::string text = ProxyMetrics();
      const double bytes = MetricSample(text, "sluice_cache_memory_bytes");
      const double reserved = MetricSample(text, "sluice_cache_reserved_bytes");
      if (bytes >= 0 && reserved >= 0) {
        ++samples;
        most_bytes = std::max(most_bytes, bytes);
        most_charged = std::max(most_charged, bytes + reserved);
        if (bytes + reserved > kLimit && over_limit++ == 0) {
          over_limit_example = std::to_string(bytes) + " + " + std::to_string(reserved) + " reserved";
        }
      }
      most_rss = std::max(most_rss, testing::RssKib(cluster_->proxy().pid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });

  // Half the requests go to 16 hot keys (they hit), half to 1,200 cold ones
  // (about 25 MB of cacheable bodies: the cache turns over many times).
  std::atomic<int> ok{0}, wrong{0}, broken{0};
  std::atomic<uint64_t> body_bytes{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 random(1000 + c);
      std::uniform_int_distribution<int> coin(0, 1), hot(0, kHotKeys - 1), cold(kHotKeys, kHotKeys + kColdKeys - 1);
      auto connection = std::make_unique<HttpConnection>(cluster_->http_port(), "127.0.0.1", /*timeout_ms=*/15000);
      for (int i = 0; i < kRequestsPerClient; ++i) {
        const int key = coin(random) ? hot(random) : cold(random);
        testing::Response r = connection->Get("cache.local", Path(key));
        if (r.status == 200 && r.body == Body(key)) {
          ++ok;
          body_bytes += r.body.size();
        } else {
          ++wrong;
        }
        if (r.status == 0) {  // the connection is not usable any more
          ++broken;
          connection = std::make_unique<HttpConnection>(cluster_->http_port(), "127.0.0.1", 15000);
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  done = true;
  sampler.join();

  EXPECT_EQ(ok.load(), kClients * kRequestsPerClient);
  EXPECT_EQ(wrong.load(), 0) << broken.load() << " connections broke";
  // Sampled all along, and never past the limit.
  EXPECT_GE(samples, 10);
  EXPECT_EQ(over_limit, 0) << "first sample over the limit: " << over_limit_example;
  EXPECT_LE(most_charged, static_cast<double>(kLimit));
  // The cache was full, at least nearly (so the limit is what held it).
  EXPECT_GE(most_bytes, kLimit / 2.0);

  const std::string metrics = ProxyMetrics();
  const std::string route = "{namespace=\"cache\",ingress=\"cached\",host=\"cache.local\",path=\"/\"";
  const double hits = MetricSample(metrics, "sluice_route_cache_requests_total" + route + ",outcome=\"hit\"}");
  EXPECT_GT(MetricSample(metrics, "sluice_cache_evictions_total"), 100) << metrics;
  EXPECT_GT(hits, kClients * kRequestsPerClient / 10) << metrics;
  EXPECT_LE(MetricSample(metrics, "sluice_cache_memory_bytes") + MetricSample(metrics, "sluice_cache_reserved_bytes"),
            static_cast<double>(kLimit));
  // The hits are real: the origin saw fewer requests than the clients sent.
  EXPECT_LT(origin_->request_count(), static_cast<size_t>(kClients * kRequestsPerClient - hits / 2));

  // The resident set: far less growth than the bytes that went through
  // (about 140 MB) or the cold tail's cacheable bytes (about 25 MB). ASan's
  // quarantine keeps freed memory resident on purpose: no bound there.
  const long growth_kib = most_rss - rss_before;
  std::cerr << "cache memory e2e: " << samples << " samples, at most " << most_charged << " bytes charged (limit "
            << kLimit << "), " << hits << " hits, origin saw " << origin_->request_count() << " of "
            << kClients * kRequestsPerClient << ", " << body_bytes.load() / 1000000 << " MB of bodies, RSS "
            << rss_before << " KiB before, at most " << most_rss << " KiB during the load\n";
#ifndef SLUICE_TEST_ASAN
  EXPECT_LT(growth_kib, 16 * 1024) << "RSS " << rss_before << " KiB before, at most " << most_rss << " KiB during";
#else
  (void)growth_kib;
#endif
}

// Large hits written while the client does not read: the socket fills in
// the middle of a body, and what it did not take must follow in order.
TEST_F(CacheMemoryEndToEndTest, PipelinedLargeHitsToAClientThatReadsLateArriveWhole) {
  constexpr int kKey = 5;  // 120,000 bytes, cacheable
  constexpr int kPipelined = 400;
  const size_t origin_before = origin_->request_count();
  ASSERT_EQ(Get(Path(kKey)).body, Body(kKey));  // stored
  HttpConnection connection(cluster_->http_port(), "127.0.0.1", /*timeout_ms=*/15000);
  std::string requests;
  for (int i = 0; i < kPipelined; ++i) requests += "GET " + Path(kKey) + " HTTP/1.1\r\nHost: cache.local\r\n\r\n";
  ASSERT_TRUE(connection.SendRaw(requests));
  // 48 MB of answers: more than loopback buffers hold (tcp_wmem and
  // tcp_rmem allow up to 4 + 32 MiB here), so the socket fills mid-body.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int i = 0; i < kPipelined; ++i) {
    testing::Response r = connection.ReadResponse();
    ASSERT_EQ(r.status, 200) << i;
    ASSERT_EQ(r.body.size(), Body(kKey).size()) << i;
    ASSERT_TRUE(r.body == Body(kKey)) << "response " << i << " differs from the origin's bytes";
  }
  EXPECT_EQ(origin_->request_count(), origin_before + 1);  // the one miss; the rest were hits
}

}  // namespace
}  // namespace sluice
