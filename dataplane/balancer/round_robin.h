#pragma once
// nginx's smooth weighted round robin: every pick adds each eligible
// endpoint's weight to its running "current" value, takes the largest, and
// subtracts the total from the winner. Deterministic, and it interleaves:
// weights 5, 1, 1 give a a b a c a a, not a a a a a b c. Ineligible
// endpoints (unavailable, already tried) sit the round out, as nginx's down
// peers do. No allocation: `current` is the caller's per-endpoint state.
#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::balancer {

inline constexpr size_t kNoEndpoint = static_cast<size_t>(-1);

// `weight_of(i)` >= 1; kNoEndpoint when no index is eligible. Ties go to the
// lowest index.
template <typename WeightOf, typename Eligible>
size_t SmoothWeightedPick(std::span<int64_t> current, WeightOf&& weight_of, Eligible&& eligible) {
  int64_t total = 0;
  size_t best = kNoEndpoint;
  for (size_t i = 0; i < current.size(); ++i) {
    if (!eligible(i)) continue;
    int64_t weight = static_cast<int64_t>(weight_of(i));
    current[i] += weight;
    total += weight;
    if (best == kNoEndpoint || current[i] > current[best]) best = i;
  }
  if (best != kNoEndpoint) current[best] -= total;
  return best;
}

}  // namespace sluice::balancer
