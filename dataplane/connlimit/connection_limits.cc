#include "dataplane/connlimit/connection_limits.h"

#include <algorithm>
#include <random>

namespace sluice::connlimit {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void Decrement(std::atomic<uint32_t>& counter) { counter.fetch_sub(1, std::memory_order_relaxed); }

}  // namespace

std::string_view RefusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::kNone: return "none";
    case Refusal::kTotal: return "total";
    case Refusal::kReserved: return "reserved";
    case Refusal::kPerAddress: return "per_address";
    case Refusal::kRate: return "rate";
  }
  return "unknown";
}

Ticket& Ticket::operator=(Ticket&& other) noexcept {
  if (this == &other) return *this;
  Release();
  limits_ = other.limits_;
  buckets_[0] = other.buckets_[0];
  buckets_[1] = other.buckets_[1];
  counted_per_address_ = other.counted_per_address_;
  other.limits_ = nullptr;
  return *this;
}

void Ticket::Release() {
  if (limits_ == nullptr) return;
  limits_->Give(*this);
  limits_ = nullptr;
}

ConnectionLimits::ConnectionLimits(Options options) : options_(options) {
  std::random_device random;
  for (uint64_t& seed : seeds_) seed = (uint64_t{random()} << 32) | random();
  // The per-address counts are needed for the per-address cap and for the
  // reserve (who is light), i.e. whenever any limit is on.
  if (options_.max_connections != 0 || options_.max_connections_per_address != 0) {
    open_ = std::make_unique<std::atomic<uint32_t>[]>(2 * kBuckets);
  }
  if (options_.max_rate_per_address != 0) rate_ = std::make_unique<std::atomic<uint64_t>[]>(2 * kBuckets);
}

void ConnectionLimits::Buckets(const IpAddress& client, uint32_t out[2]) const {
  // IPv6 by its /64 (see the header); IPv4 (mapped) by the whole address.
  uint64_t key_hi = client.hi, key_lo = client.is_v4() ? client.lo : 0;
  for (int row = 0; row < 2; ++row) {
    uint64_t h = Mix(Mix(key_hi ^ seeds_[row]) ^ key_lo);
    out[row] = static_cast<uint32_t>(row * kBuckets + (h & (kBuckets - 1)));
  }
}

uint32_t ConnectionLimits::CountAttempt(const uint32_t buckets[2], uint32_t now_second) {
  uint32_t estimate = UINT32_MAX;
  for (int row = 0; row < 2; ++row) {
    std::atomic<uint64_t>& slot = rate_[buckets[row]];
    uint64_t seen = slot.load(std::memory_order_relaxed);
    uint64_t next;
    do {
      uint32_t count = static_cast<uint32_t>(seen >> 32) == now_second ? static_cast<uint32_t>(seen) : 0;
      next = (uint64_t{now_second} << 32) | std::min<uint32_t>(count + 1, UINT32_MAX - 1);
    } while (!slot.compare_exchange_weak(seen, next, std::memory_order_relaxed));
    estimate = std::min(estimate, static_cast<uint32_t>(next));
  }
  return estimate;
}

Refusal ConnectionLimits::Admit(const IpAddress& client, uint32_t now_second, Ticket* ticket) {
  uint32_t buckets[2];
  if (open_ != nullptr || rate_ != nullptr) Buckets(client, buckets);
  // Refused attempts count too: a client that keeps hammering stays refused.
  if (rate_ != nullptr && CountAttempt(buckets, now_second) > options_.max_rate_per_address) return Refusal::kRate;

  uint32_t total = total_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (options_.max_connections != 0 && total > options_.max_connections) {
    Decrement(total_);
    return Refusal::kTotal;
  }
  if (open_ != nullptr) {
    // Counted first, checked after: two workers admitting the same address
    // at once cannot both slip under the cap.
    uint32_t held = UINT32_MAX;
    for (uint32_t bucket : buckets) held = std::min(held, open_[bucket].fetch_add(1, std::memory_order_relaxed) + 1);
    Refusal refusal = Refusal::kNone;
    if (options_.max_connections_per_address != 0 && held > options_.max_connections_per_address) {
      refusal = Refusal::kPerAddress;
    } else if (options_.max_connections != 0) {
      uint32_t reserve = static_cast<uint32_t>(uint64_t{options_.max_connections} * kReservedPercent / 100);
      if (total > options_.max_connections - reserve && held > kReservedShareConnections) refusal = Refusal::kReserved;
    }
    if (refusal != Refusal::kNone) {
      for (uint32_t bucket : buckets) Decrement(open_[bucket]);
      Decrement(total_);
      return refusal;
    }
  }
  ticket->Release();
  ticket->limits_ = this;
  ticket->counted_per_address_ = open_ != nullptr;
  if (open_ != nullptr) {
    ticket->buckets_[0] = buckets[0];
    ticket->buckets_[1] = buckets[1];
  }
  return Refusal::kNone;
}

void ConnectionLimits::Give(const Ticket& ticket) {
  if (ticket.counted_per_address_) {
    for (uint32_t bucket : ticket.buckets_) Decrement(open_[bucket]);
  }
  Decrement(total_);
}

uint32_t ConnectionLimits::ConnectionsOf(const IpAddress& client) const {
  if (open_ == nullptr) return 0;
  uint32_t buckets[2];
  Buckets(client, buckets);
  return std::min(open_[buckets[0]].load(std::memory_order_relaxed), open_[buckets[1]].load(std::memory_order_relaxed));
}

}  // namespace sluice::connlimit
