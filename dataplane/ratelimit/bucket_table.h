#pragma once
// The proxy-wide table of rate-limit buckets: one GCRA ("generic cell rate
// algorithm", a token bucket kept as one number) per key, shared by every
// worker, so a client spreading its requests over workers gets no more.
//
// Each slot is ONE atomic 64-bit word: an 18-bit tag of the key and the
// key's "theoretical arrival time" (TAT, microseconds since the table was
// made, 46 bits: 2.2 years of uptime). A request is one compare-and-swap
// of that word: no lock, no allocation, and no ABA problem since the word
// is the whole state. A slot whose TAT has passed holds a full bucket,
// which is exactly what a key that was never seen has: such a slot is free
// and any key may take it. So memory is fixed (8 bytes a slot) and idle keys
// are evicted for free; when every slot a key may use holds a live bucket
// (more active keys than the table holds), the one closest to full is
// taken over (counted in evictions()).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace sluice::ratelimit {

// `requests` per `period`, `burst` more at once (nginx's burst, nodelay).
struct GcraLimit {
  int64_t interval_us = 0;   // period / requests: the emission interval
  int64_t tolerance_us = 0;  // burst * interval: how far ahead TAT may run
  uint32_t quota = 0;        // burst + 1: requests that pass at once
  static GcraLimit Of(uint32_t requests, uint32_t period_seconds, uint32_t burst);
};

struct Decision {
  bool allowed = false;
  uint32_t remaining = 0;     // requests that would still pass right now
  int64_t reset_us = 0;       // until the bucket is full again
  int64_t retry_after_us = 0; // denied: until one request passes
};

class BucketTable {
 public:
  // 2^slots_log2 slots (default 2^17: 1 MiB, about 100k active keys).
  explicit BucketTable(int slots_log2 = 17);

  // One request of `key` at `now_us` (NowUs()). The key must be well mixed
  // (balancer::Hash64: the index comes from its low bits, the tag from its
  // high ones) and stable across processes for Redis keys (Hash64 is).
  Decision Take(uint64_t key, const GcraLimit& limit, int64_t now_us);
  // Without taking: what Take would answer about the remaining quota.
  int64_t NowUs() const { return ToUs(std::chrono::steady_clock::now()); }
  int64_t ToUs(std::chrono::steady_clock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::microseconds>(t - epoch_).count() + 1;
  }
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

  // The one the proxy's stages use (made on first use).
  static BucketTable& ProcessWide();

 private:
  static constexpr int kTagBits = 18;
  static constexpr int kTatBits = 64 - kTagBits;
  static constexpr uint64_t kTatMask = (uint64_t{1} << kTatBits) - 1;
  static constexpr size_t kProbe = 16;  // two cache lines

  std::chrono::steady_clock::time_point epoch_;
  size_t mask_;
  std::unique_ptr<std::atomic<uint64_t>[]> slots_;
  std::atomic<uint64_t> evictions_{0};
};

}  // namespace sluice::ratelimit
