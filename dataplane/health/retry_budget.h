#pragma once
// Retry budget of one cluster on one worker: retries may be at most
// `percent` of the requests seen in a sliding window of 10 one-second
// buckets, or `min_per_second` in the current second, whichever allows
// more (so low traffic can still retry). Keeps retries from multiplying the
// load on a cluster that is failing as a whole. Single-threaded (per worker).
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace sluice::health {

class RetryBudget {
 public:
  static constexpr int kWindowSeconds = 10;

  void RecordRequest(int64_t now_ns);
  // True (and the retry counted) when one more retry fits the budget.
  bool TryAcquireRetry(int64_t now_ns, uint32_t percent, uint32_t min_per_second);

  uint64_t requests_in_window(int64_t now_ns);
  uint64_t retries_in_window(int64_t now_ns);

 private:
  void Advance(int64_t now_ns);
  int64_t current_second_ = 0;
  bool started_ = false;
  std::array<uint32_t, kWindowSeconds> requests_{};
  std::array<uint32_t, kWindowSeconds> retries_{};
};

// One budget per cluster name on a worker; survives snapshot swaps.
class RetryBudgets {
 public:
  RetryBudgets() = default;
  RetryBudgets(const RetryBudgets&) = delete;  // last_ points into this map
  RetryBudgets& operator=(const RetryBudgets&) = delete;

  RetryBudget& For(const std::string& cluster) {
    // Every request asks for its cluster's budget, nearly always the one
    // asked for last: a compare of the name instead of hashing it (~160
    // instructions per proxied request in callgrind). Budgets are never
    // erased, so the element stays where it is.
    if (last_budget_ != nullptr && *last_name_ == cluster) return *last_budget_;
    auto it = budgets_.try_emplace(cluster).first;
    last_name_ = &it->first;
    last_budget_ = &it->second;
    return it->second;
  }

 private:
  std::unordered_map<std::string, RetryBudget> budgets_;
  const std::string* last_name_ = nullptr;
  RetryBudget* last_budget_ = nullptr;
};

}  // namespace sluice::health
