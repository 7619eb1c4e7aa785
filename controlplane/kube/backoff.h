#pragma once
// Exponential backoff with jitter for retrying API calls, so that many
// controllers (or many reflectors) hitting a sick API server do not retry in
// lockstep. Not thread-safe: each retry loop owns one.
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

namespace sluice::kube {

struct BackoffOptions {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30000};
  double factor = 2.0;
  // Each delay is base * (1 + U[0, jitter)), base = min(max, initial * factor^n).
  double jitter = 0.5;
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options = {}, uint64_t seed = std::random_device{}());

  // The delay before the next attempt; grows until Reset().
  std::chrono::milliseconds Next();
  // Like Next(), but never shorter than what the server asked for (429/503
  // Retry-After).
  std::chrono::milliseconds Next(std::optional<std::chrono::seconds> retry_after);
  void Reset() { attempts_ = 0; }
  int attempts() const { return attempts_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 random_;
  int attempts_ = 0;
};

// A uniformly random duration in [min, max] (e.g. a watch's timeoutSeconds,
// randomized as client-go does so that watches do not all end together).
std::chrono::seconds RandomSeconds(std::chrono::seconds min, std::chrono::seconds max);

// Retry-After as delta-seconds (what the API server sends); nullopt when
// absent or not a number.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value);

}  // namespace sluice::kube
