#pragma once
// Requests in flight per key, for the whole proxy (every worker shares one
// table): ingress-nginx's limit-connections, which is nginx's limit_conn per
// client address. A count-min sketch of atomics (two rows of 65536
// counters, seeded per process): a key is never under-counted, so a limit
// always holds; a light key shares a limit with a heavy one only when both
// of its counters collide with busy keys. No lock, no allocation: admitting
// is two fetch_adds, releasing two fetch_subs.
#include <atomic>
#include <cstdint>
#include <memory>

namespace sluice::ratelimit {

class InFlightTable {
 public:
  static constexpr uint32_t kBuckets = 1u << 16;

  InFlightTable();
  // The table of the process, shared by every route and worker.
  static InFlightTable& ProcessWide();

  // A held slot of a key; releases it when destroyed (however the request
  // ended). Empty when not admitted.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept { *this = std::move(other); }
    Slot& operator=(Slot&& other) noexcept;
    ~Slot() { Release(); }
    void Release();
    bool held() const { return table_ != nullptr; }

   private:
    friend class InFlightTable;
    InFlightTable* table_ = nullptr;
    uint32_t buckets_[2] = {0, 0};
  };

  // Admits one more request of `key` when fewer than `limit` are in flight.
  bool Admit(uint64_t key, uint32_t limit, Slot* slot);
  // The (over-)estimate of requests in flight for `key`.
  uint32_t InFlight(uint64_t key) const;

 private:
  void Buckets(uint64_t key, uint32_t out[2]) const;
  const uint64_t seed_;
  std::unique_ptr<std::atomic<uint32_t>[]> rows_[2];
};

}  // namespace sluice::ratelimit
