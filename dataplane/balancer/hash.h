#pragma once
// Fast, stable 64-bit hashing and a small PRNG for the balancer. Stable means
// the same bytes hash the same in every process and version, which affinity
// cookies and consistent hashing across proxies rely on (std::hash promises
// neither). Not cryptographic.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sluice::balancer {

// MurmurHash3's finaliser: every input bit affects every output bit.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

// Eight bytes at a time (little-endian loads), then a final mix.
inline uint64_t Hash64(std::string_view bytes, uint64_t seed = 0) {
  constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;
  uint64_t h = seed ^ (bytes.size() * kGolden);
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    h = (h ^ Mix64(word)) * kGolden;
    h = (h << 27) | (h >> 37);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  h ^= Mix64(tail ^ (static_cast<uint64_t>(bytes.size() - i) << 56));
  return Mix64(h);
}

// xorshift64*: one multiply per number, good enough to pick endpoints.
class FastRandom {
 public:
  explicit FastRandom(uint64_t seed) : state_(Mix64(seed) | 1) {}
  uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dull;
  }
  // Uniform in [0, bound), bound > 0 (Lemire's multiply-shift, bias < 2^-32
  // for the bounds a balancer sees).
  uint64_t Below(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * bound) >> 64);
  }
  // Uniform in [0, 1).
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// Cookie affinity: the stable hash naming `endpoint_key` in `cluster_name`,
// and the cookie value that carries it (16 hex digits, the same in every
// proxy and across restarts, never the endpoint's address).
inline uint64_t AffinityHash(std::string_view cluster_name, std::string_view endpoint_key) {
  constexpr uint64_t kAffinitySeed = 0x736c756963652d61ull;
  std::string joined;
  joined.reserve(cluster_name.size() + 1 + endpoint_key.size());
  joined.append(cluster_name).append("\n").append(endpoint_key);
  return Hash64(joined, kAffinitySeed);
}

inline std::string AffinityCookieValue(std::string_view cluster_name, std::string_view endpoint_key) {
  uint64_t hash = AffinityHash(cluster_name, endpoint_key);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, hash >>= 4) out[static_cast<size_t>(i)] = kHex[hash & 15];
  return out;
}

}  // namespace sluice::balancer
