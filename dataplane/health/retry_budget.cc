#include "dataplane/health/retry_budget.h"

namespace sluice::health {

void RetryBudget::Advance(int64_t now_ns) {
  int64_t second = now_ns / 1'000'000'000;
  if (!started_) {
    started_ = true;
    current_second_ = second;
    return;
  }
  if (second <= current_second_) return;
  // Clear the buckets of the seconds that passed (all of them after a pause).
  int64_t steps = second - current_second_;
  if (steps > kWindowSeconds) steps = kWindowSeconds;
  for (int64_t s = 1; s <= steps; ++s) {
    size_t slot = static_cast<size_t>((current_second_ + s) % kWindowSeconds);
    requests_[slot] = 0;
    retries_[slot] = 0;
  }
  current_second_ = second;
}

void RetryBudget::RecordRequest(int64_t now_ns) {
  Advance(now_ns);
  ++requests_[static_cast<size_t>(current_second_ % kWindowSeconds)];
}

uint64_t RetryBudget::requests_in_window(int64_t now_ns) {
  Advance(now_ns);
  uint64_t total = 0;
  for (uint32_t n : requests_) total += n;
  return total;
}

uint64_t RetryBudget::retries_in_window(int64_t now_ns) {
  Advance(now_ns);
  uint64_t total = 0;
  for (uint32_t n : retries_) total += n;
  return total;
}

bool RetryBudget::TryAcquireRetry(int64_t now_ns, uint32_t percent, uint32_t min_per_second) {
  uint64_t requests = requests_in_window(now_ns);
  uint64_t retries = retries_in_window(now_ns);
  size_t slot = static_cast<size_t>(current_second_ % kWindowSeconds);
  bool within_percent = (retries + 1) * 100 <= requests * percent;
  bool within_floor = retries_[slot] < min_per_second;
  if (!within_percent && !within_floor) return false;
  ++retries_[slot];
  return true;
}

}  // namespace sluice::health
