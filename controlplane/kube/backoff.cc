#include "controlplane/kube/backoff.h"

#include <algorithm>
#include <cmath>

namespace sluice::kube {

Backoff::Backoff(BackoffOptions options, uint64_t seed) : options_(options), random_(seed) {}

std::chrono::milliseconds Backoff::Next() {
  const double initial = static_cast<double>(options_.initial.count());
  const double cap = static_cast<double>(options_.max.count());
  // pow() on a bounded exponent: attempts_ keeps counting, the delay does not.
  const double base = std::min(cap, initial * std::pow(options_.factor, std::min(attempts_, 64)));
  ++attempts_;
  std::uniform_real_distribution<double> spread(0.0, options_.jitter);
  const double jitter = options_.jitter > 0 ? spread(random_) : 0.0;
  return std::chrono::milliseconds(static_cast<int64_t>(base * (1.0 + jitter)));
}

std::chrono::milliseconds Backoff::Next(std::optional<std::chrono::seconds> retry_after) {
  std::chrono::milliseconds delay = Next();
  if (retry_after) delay = std::max<std::chrono::milliseconds>(delay, *retry_after);
  return delay;
}

std::chrono::seconds RandomSeconds(std::chrono::seconds min, std::chrono::seconds max) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  if (max <= min) return min;
  std::uniform_int_distribution<int64_t> pick(min.count(), max.count());
  return std::chrono::seconds(pick(random));
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty() || value.size() > 9) return std::nullopt;
  int64_t seconds = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    seconds = seconds * 10 + (c - '0');
  }
  return std::chrono::seconds(seconds);
}

}  // namespace sluice::kube
