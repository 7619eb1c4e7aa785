#include "dataplane/ratelimit/bucket_table.h"

#include <algorithm>

namespace sluice::ratelimit {

GcraLimit GcraLimit::Of(uint32_t requests, uint32_t period_seconds, uint32_t burst) {
  GcraLimit limit;
  requests = std::max<uint32_t>(requests, 1);
  limit.interval_us = std::max<int64_t>(int64_t{period_seconds} * 1000000 / requests, 1);
  limit.tolerance_us = int64_t{burst} * limit.interval_us;
  limit.quota = burst + 1;
  return limit;
}

BucketTable::BucketTable(int slots_log2)
    : epoch_(std::chrono::steady_clock::now()),
      mask_((size_t{1} << slots_log2) - 1),
      slots_(new std::atomic<uint64_t>[size_t{1} << slots_log2]) {
  for (size_t i = 0; i <= mask_; ++i) slots_[i].store(0, std::memory_order_relaxed);
}

BucketTable& BucketTable::ProcessWide() {
  static BucketTable* table = new BucketTable();  // never destroyed: workers may run at exit
  return *table;
}

Decision BucketTable::Take(uint64_t key, const GcraLimit& limit, int64_t now_us) {
  const uint64_t tag = key >> kTatBits;
  const int64_t now = now_us & static_cast<int64_t>(kTatMask);
  // The probe window starts at a cache line (8 slots) and covers two.
  const size_t start = static_cast<size_t>(key) & mask_ & ~size_t{7};
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::atomic<uint64_t>* chosen = nullptr;
    uint64_t seen = 0;
    std::atomic<uint64_t>* free_slot = nullptr;
    uint64_t free_seen = 0;
    std::atomic<uint64_t>* fullest = nullptr;  // the live bucket closest to full
    uint64_t fullest_seen = 0;
    for (size_t i = 0; i < kProbe; ++i) {
      std::atomic<uint64_t>& slot = slots_[(start + i) & mask_];
      uint64_t word = slot.load(std::memory_order_acquire);
      int64_t tat = static_cast<int64_t>(word & kTatMask);
      if ((word >> kTatBits) == tag && word != 0) {
        chosen = &slot;
        seen = word;
        break;
      }
      if (tat <= now) {
        if (free_slot == nullptr) {
          free_slot = &slot;
          free_seen = word;
        }
      } else if (fullest == nullptr || tat < static_cast<int64_t>(fullest_seen & kTatMask)) {
        fullest = &slot;
        fullest_seen = word;
      }
    }
    bool evicting = false;
    if (chosen == nullptr) {
      chosen = free_slot != nullptr ? free_slot : fullest;
      seen = free_slot != nullptr ? free_seen : fullest_seen;
      evicting = free_slot == nullptr;
    }
    // Another key's state counts as a full bucket (free or evicted).
    int64_t tat = (seen >> kTatBits) == tag && seen != 0 ? static_cast<int64_t>(seen & kTatMask) : 0;
    int64_t base = std::max(tat, now);
    Decision decision;
    if (base - now > limit.tolerance_us) {
      // Denied: nothing to write (the state is unchanged).
      decision.retry_after_us = base - now - limit.tolerance_us;
      decision.reset_us = base - now;
      return decision;
    }
    int64_t new_tat = base + limit.interval_us;
    uint64_t word = (tag << kTatBits) | (static_cast<uint64_t>(new_tat) & kTatMask);
    if (!chosen->compare_exchange_weak(seen, word, std::memory_order_acq_rel, std::memory_order_acquire)) {
      continue;  // another worker moved this slot first: read it again
    }
    if (evicting) evictions_.fetch_add(1, std::memory_order_relaxed);
    decision.allowed = true;
    decision.reset_us = new_tat - now;
    decision.remaining = static_cast<uint32_t>((limit.tolerance_us - (new_tat - now) + limit.interval_us) /
                                               limit.interval_us);
    return decision;
  }
  // Eight lost races in a row for one key: so many concurrent requests of
  // it that letting this one pass is within the burst the others use.
  Decision decision;
  decision.allowed = true;
  return decision;
}

}  // namespace sluice::ratelimit
