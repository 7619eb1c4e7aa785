// Hit ratio of the response cache's eviction (S3-FIFO, the real
// dataplane/cache/store code) against plain LRU on Zipf traces: 1M
// requests over a key space of 100,000 keys, Zipf alpha 0.8 / 1.0 / 1.2,
// cache sizes 1% and 10% of the key space, a fixed seed. Every object has
// the same size (so a byte budget is an object count and the two policies
// hold the same number of objects); S3-FIFO runs with one shard (the
// policy alone) and with 16 shards (as the proxy runs it: each shard
// evicts within its 1/16 of the budget). Prints one table; see
// bench/cache_hit_ratio.sh.
//
//   cache_hit_ratio [--requests N] [--keys N] [--seed N]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/cache/store/store.h"

namespace {

using sluice::cache::CachedObject;
using sluice::cache::Store;
using sluice::cache::StoreOptions;

// Ranks 0..n-1 drawn with P(r) proportional to 1/(r+1)^alpha.
class Zipf {
 public:
  Zipf(size_t n, double alpha) : cdf_(n) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), alpha);
      cdf_[i] = sum;
    }
    for (double& c : cdf_) c /= sum;
  }
  size_t Next(std::mt19937_64& rng) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return std::min<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin(), cdf_.size() - 1);
  }

 private:
  std::vector<double> cdf_;
};

class Lru {
 public:
  explicit Lru(size_t capacity) : capacity_(capacity) {}
  bool Access(uint32_t key) {
    auto it = map_.find(key);
    if (it != map_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      return true;
    }
    if (map_.size() == capacity_) {
      map_.erase(order_.back());
      order_.pop_back();
    }
    order_.push_front(key);
    map_.emplace(key, order_.begin());
    return false;
  }

 private:
  size_t capacity_;
  std::list<uint32_t> order_;
  std::unordered_map<uint32_t, std::list<uint32_t>::iterator> map_;
};

std::string KeyOf(uint32_t id) {
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), "k%09u", id);  // 10 bytes: no heap, every charge equal
  return buffer;
}

double S3FifoHitRatio(const std::vector<uint32_t>& trace, size_t objects, size_t shards, size_t object_charge) {
  StoreOptions options;
  options.capacity_bytes = objects * object_charge;
  options.max_object_bytes = 1024;
  options.shards = shards;
  Store store(options);
  const auto empty = std::make_shared<const std::string>();
  size_t hits = 0;
  for (uint32_t id : trace) {
    const std::string key = KeyOf(id);
    if (store.Find(key) != nullptr) {
      ++hits;
      continue;
    }
    auto object = std::make_shared<CachedObject>();
    object->key = key;
    object->body = empty;
    store.Insert(std::move(object));
  }
  if (!store.CheckInvariants()) {
    std::fprintf(stderr, "store invariants broken\n");
    std::exit(1);
  }
  return static_cast<double>(hits) / static_cast<double>(trace.size());
}

double LruHitRatio(const std::vector<uint32_t>& trace, size_t objects) {
  Lru lru(objects);
  size_t hits = 0;
  for (uint32_t id : trace) hits += lru.Access(id);
  return static_cast<double>(hits) / static_cast<double>(trace.size());
}

}  // namespace

int main(int argc, char** argv) {
  size_t requests = 1000000, keys = 100000;
  uint64_t seed = 42;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--requests") == 0) requests = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--keys") == 0) keys = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--seed") == 0) seed = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: cache_hit_ratio [--requests N] [--keys N] [--seed N]\n");
      return 2;
    }
  }
  CachedObject probe;
  probe.key = KeyOf(0);
  probe.body = std::make_shared<const std::string>();
  const size_t charge = sluice::cache::ChargeOf(probe);
  std::printf("Zipf traces: %zu requests over %zu keys, seed %llu; every object charged %zu bytes "
              "(the store's fixed per-object overhead: no heap bytes)\n\n",
              requests, keys, static_cast<unsigned long long>(seed), charge);
  std::printf("%-6s %-7s %9s %11s %12s %13s %16s\n", "alpha", "cache", "LRU", "S3-FIFO", "S3-FIFO x16",
              "S3-FIFO/LRU", "misses vs LRU");
  for (double alpha : {0.8, 1.0, 1.2}) {
    // Ranks mapped to ids by a fixed permutation: popularity is not key order.
    std::mt19937_64 rng(seed);
    std::vector<uint32_t> ids(keys);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    Zipf zipf(keys, alpha);
    std::vector<uint32_t> trace(requests);
    for (uint32_t& id : trace) id = ids[zipf.Next(rng)];
    for (double fraction : {0.01, 0.10}) {
      const size_t objects = static_cast<size_t>(static_cast<double>(keys) * fraction);
      const double lru = LruHitRatio(trace, objects);
      const double s3 = S3FifoHitRatio(trace, objects, 1, charge);
      const double s3x16 = S3FifoHitRatio(trace, objects, 16, charge);
      char cache[16];
      std::snprintf(cache, sizeof(cache), "%.0f%%", fraction * 100);
      std::printf("%-6.1f %-7s %9.4f %11.4f %12.4f %13.3f %15.1f%%\n", alpha, cache, lru, s3, s3x16, s3 / lru,
                  100.0 * ((1 - s3) - (1 - lru)) / (1 - lru));
    }
  }
  return 0;
}
