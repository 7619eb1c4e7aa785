#pragma once
// Consistent hashing tables, built when a snapshot is compiled, once per
// cluster version (never per request; see snapshot::CompileBalancing) from the endpoints' stable keys and weights. Both map a 64-bit
// request hash to an endpoint index such that adding or removing one of N
// endpoints moves only about 1/N of the keys.
//
//  - HashRing: Ketama-style ring, `weight` x replicas points per endpoint,
//    lookup by binary search (O(log points)); 256 points per unit of weight.
//  - MaglevTable: Google's Maglev (NSDI '16) lookup table of prime size M,
//    filled by per-endpoint permutations, weighted as Envoy does; lookup is
//    one modulo (O(1)), 256 KiB per cluster, shared by the workers.
// Lookups take an `eligible(index)` predicate: an unavailable endpoint's keys
// go to the next eligible one along the ring or table, so they come back
// when it recovers and no other key moves.
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::balancer {

struct HashTarget {
  std::string_view key;  // stable name ("ip:port")
  uint32_t weight = 1;   // 0 counts as 1
};

inline constexpr size_t kNotFound = static_cast<size_t>(-1);

class HashRing {
 public:
  // `points_per_weight` points per unit of weight, so an endpoint's points
  // do not depend on the others (what keeps movement minimal); scaled down
  // only when the whole ring would exceed `max_points`.
  explicit HashRing(std::span<const HashTarget> targets, size_t points_per_weight = 256,
                    size_t max_points = 1 << 20);

  // The first eligible endpoint at or after `hash` on the ring; kNotFound if
  // none is eligible.
  template <typename Eligible>
  size_t Find(uint64_t hash, Eligible&& eligible) const;

  size_t size() const { return points_.size(); }

 private:
  size_t FirstAtOrAfter(uint64_t hash) const;
  std::vector<std::pair<uint64_t, uint32_t>> points_;  // (point hash, endpoint index), sorted
};

class MaglevTable {
 public:
  // A fixed prime size (Envoy's default, 65537): a size that followed the
  // endpoint count would remap every key when it changed. Balanced within
  // about 1% up to ~650 endpoints.
  static constexpr uint64_t kTableSize = 65537;
  explicit MaglevTable(std::span<const HashTarget> targets);

  template <typename Eligible>
  size_t Find(uint64_t hash, Eligible&& eligible) const;

  size_t size() const { return table_.size(); }

 private:
  std::vector<uint32_t> table_;  // endpoint index per slot
};

template <typename Eligible>
size_t HashRing::Find(uint64_t hash, Eligible&& eligible) const {
  if (points_.empty()) return kNotFound;
  size_t at = FirstAtOrAfter(hash);
  for (size_t step = 0; step < points_.size(); ++step) {
    uint32_t index = points_[(at + step) % points_.size()].second;
    if (eligible(index)) return index;
  }
  return kNotFound;
}

template <typename Eligible>
size_t MaglevTable::Find(uint64_t hash, Eligible&& eligible) const {
  if (table_.empty()) return kNotFound;
  size_t at = hash % table_.size();
  for (size_t step = 0; step < table_.size(); ++step) {
    uint32_t index = table_[(at + step) % table_.size()];
    if (eligible(index)) return index;
  }
  return kNotFound;
}

}  // namespace sluice::balancer
