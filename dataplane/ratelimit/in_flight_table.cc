#include "dataplane/ratelimit/in_flight_table.h"

#include <algorithm>
#include <chrono>
#include <random>

namespace sluice::ratelimit {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t RandomSeed() {
  std::random_device device;
  return (uint64_t{device()} << 32) ^ device() ^
         static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace

InFlightTable::InFlightTable() : seed_(RandomSeed()) {
  for (auto& row : rows_) {
    row = std::make_unique<std::atomic<uint32_t>[]>(kBuckets);
    for (uint32_t i = 0; i < kBuckets; ++i) row[i].store(0, std::memory_order_relaxed);
  }
}

InFlightTable& InFlightTable::ProcessWide() {
  static InFlightTable* table = new InFlightTable();  // never destroyed: workers may outlive main's statics
  return *table;
}

void InFlightTable::Buckets(uint64_t key, uint32_t out[2]) const {
  const uint64_t hash = Mix(key ^ seed_);
  out[0] = static_cast<uint32_t>(hash) & (kBuckets - 1);
  out[1] = static_cast<uint32_t>(hash >> 32) & (kBuckets - 1);
}

bool InFlightTable::Admit(uint64_t key, uint32_t limit, Slot* slot) {
  slot->Release();
  uint32_t buckets[2];
  Buckets(key, buckets);
  const uint32_t a = rows_[0][buckets[0]].fetch_add(1, std::memory_order_relaxed);
  const uint32_t b = rows_[1][buckets[1]].fetch_add(1, std::memory_order_relaxed);
  if (std::min(a, b) >= limit) {
    rows_[0][buckets[0]].fetch_sub(1, std::memory_order_relaxed);
    rows_[1][buckets[1]].fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  slot->table_ = this;
  slot->buckets_[0] = buckets[0];
  slot->buckets_[1] = buckets[1];
  return true;
}

uint32_t InFlightTable::InFlight(uint64_t key) const {
  uint32_t buckets[2];
  Buckets(key, buckets);
  return std::min(rows_[0][buckets[0]].load(std::memory_order_relaxed),
                  rows_[1][buckets[1]].load(std::memory_order_relaxed));
}

InFlightTable::Slot& InFlightTable::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    table_ = other.table_;
    buckets_[0] = other.buckets_[0];
    buckets_[1] = other.buckets_[1];
    other.table_ = nullptr;
  }
  return *this;
}

void InFlightTable::Slot::Release() {
  if (table_ == nullptr) return;
  table_->rows_[0][buckets_[0]].fetch_sub(1, std::memory_order_relaxed);
  table_->rows_[1][buckets_[1]].fetch_sub(1, std::memory_order_relaxed);
  table_ = nullptr;
}

}  // namespace sluice::ratelimit
