#include "dataplane/balancer/consistent_hash.h"

#include <algorithm>

#include "dataplane/balancer/hash.h"

namespace sluice::balancer {
namespace {

uint32_t WeightOf(const HashTarget& t) { return t.weight == 0 ? 1 : t.weight; }

}  // namespace

HashRing::HashRing(std::span<const HashTarget> targets, size_t points_per_weight, size_t max_points) {
  if (targets.empty()) return;
  uint64_t total_weight = 0;
  for (const HashTarget& t : targets) total_weight += WeightOf(t);
  double per_unit = static_cast<double>(points_per_weight);
  if (per_unit * static_cast<double>(total_weight) > static_cast<double>(max_points)) {
    per_unit = static_cast<double>(max_points) / static_cast<double>(total_weight);
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    uint64_t count = std::max<uint64_t>(1, static_cast<uint64_t>(per_unit * WeightOf(targets[i]) + 0.5));
    for (uint64_t replica = 0; replica < count; ++replica) {
      points_.emplace_back(Hash64(targets[i].key, replica), static_cast<uint32_t>(i));
    }
  }
  // Ties (vanishingly rare) broken by index: the ring is the same whatever
  // the sort implementation.
  std::sort(points_.begin(), points_.end());
}

size_t HashRing::FirstAtOrAfter(uint64_t hash) const {
  auto it = std::lower_bound(points_.begin(), points_.end(), std::make_pair(hash, uint32_t{0}));
  return it == points_.end() ? 0 : static_cast<size_t>(it - points_.begin());
}

MaglevTable::MaglevTable(std::span<const HashTarget> targets) {
  if (targets.empty()) return;
  const uint64_t size = kTableSize;
  struct Build {
    uint64_t offset, skip, next = 0;
    uint64_t weight, target = 0;
  };
  std::vector<Build> builds;
  builds.reserve(targets.size());
  uint64_t max_weight = 0;
  for (const HashTarget& t : targets) {
    uint64_t offset = Hash64(t.key, 0x6d61676c65760001ull) % size;
    uint64_t skip = Hash64(t.key, 0x6d61676c65760002ull) % (size - 1) + 1;
    builds.push_back(Build{offset, skip, 0, WeightOf(t), 0});
    max_weight = std::max<uint64_t>(max_weight, WeightOf(t));
  }
  constexpr uint32_t kEmpty = static_cast<uint32_t>(-1);
  table_.assign(size, kEmpty);
  uint64_t filled = 0;
  // Each round every endpoint whose weight share is due takes its next
  // preferred free slot: an endpoint of max weight takes one every round,
  // one of a third of it every third round (Envoy's weighted Maglev).
  for (uint64_t round = 0; filled < size; ++round) {
    for (size_t i = 0; i < builds.size() && filled < size; ++i) {
      Build& b = builds[i];
      if (round * b.weight < b.target) continue;
      b.target += max_weight;
      uint64_t slot = (b.offset + b.skip * b.next) % size;
      while (table_[slot] != kEmpty) {
        ++b.next;
        slot = (b.offset + b.skip * b.next) % size;
      }
      table_[slot] = static_cast<uint32_t>(i);
      ++b.next;
      ++filled;
    }
  }
}

}  // namespace sluice::balancer
