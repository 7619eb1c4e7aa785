#pragma once
// Connection-level limits for the whole proxy, shared by every worker:
//   - total open connections (--max-connections), with the last share of
//     them (kReservedPercent) kept for light clients: an address that
//     already holds kReservedShareConnections or more cannot take the
//     reserve, so a flood from one address (or a few) fills at most the
//     rest and everyone else still gets in;
//   - open connections per client address (--max-connections-per-address);
//   - new connections per second per address (--max-connection-rate-per-address;
//     a fixed one-second window: a burst straddling a second boundary may
//     get up to twice the rate for that moment).
// The address is the real client's (after the PROXY protocol header).
// IPv6 clients count by their /64: one host usually owns a whole /64, and
// counting each of its 2^64 addresses apart would make the limits moot.
//
// Lock-free: counts per address live in a count-min sketch of atomics (two
// rows of buckets, each address hashed with a per-process random seed into
// one bucket per row; its count is the smaller of the two). Fixed memory
// whatever the number of clients and nothing to evict; an address is never
// counted lower than it is (limits always hold), and is counted higher only
// if both its buckets are shared with busy addresses (~(busy/65536)^2).
// Admit takes a ticket; the ticket gives the connection back when it is
// released or destroyed.
#include <atomic>
#include <cstdint>
#include <memory>

#include "base/ip_prefix.h"

namespace sluice::connlimit {

enum class Refusal : uint8_t {
  kNone,
  kTotal,       // --max-connections reached
  kReserved,    // only the reserve is left, and this address is not light
  kPerAddress,  // --max-connections-per-address reached
  kRate,        // --max-connection-rate-per-address reached this second
};
std::string_view RefusalName(Refusal refusal);

struct Options {
  uint32_t max_connections = 0;              // 0: no total limit
  uint32_t max_connections_per_address = 0;  // 0: none
  uint32_t max_rate_per_address = 0;         // new connections per second; 0: none
};

// The share of max_connections kept for light clients, and what "light" is.
constexpr uint32_t kReservedPercent = 10;
constexpr uint32_t kReservedShareConnections = 16;

class ConnectionLimits;

// One admitted connection. Move-only; gives the connection back once.
class Ticket {
 public:
  Ticket() = default;
  Ticket(Ticket&& other) noexcept { *this = std::move(other); }
  Ticket& operator=(Ticket&& other) noexcept;
  ~Ticket() { Release(); }
  void Release();
  bool held() const { return limits_ != nullptr; }

 private:
  friend class ConnectionLimits;
  ConnectionLimits* limits_ = nullptr;
  uint32_t buckets_[2] = {0, 0};
  bool counted_per_address_ = false;
};

class ConnectionLimits {
 public:
  static constexpr uint32_t kBuckets = 1u << 16;  // per row

  explicit ConnectionLimits(Options options);
  const Options& options() const { return options_; }

  // Admits a connection from `client` at `now_second` (any monotonic count
  // of seconds: the caller's clock, so tests need no sleeping). On kNone
  // `ticket` holds the connection until released.
  Refusal Admit(const IpAddress& client, uint32_t now_second, Ticket* ticket);

  uint32_t open_connections() const { return total_.load(std::memory_order_relaxed); }
  // The count-min estimate of `client`'s open connections.
  uint32_t ConnectionsOf(const IpAddress& client) const;

 private:
  friend class Ticket;
  void Give(const Ticket& ticket);
  void Buckets(const IpAddress& client, uint32_t out[2]) const;
  // Counts one attempt this second in both rows; returns the estimate.
  uint32_t CountAttempt(const uint32_t buckets[2], uint32_t now_second);

  Options options_;
  uint64_t seeds_[2];
  std::atomic<uint32_t> total_{0};
  // Allocated only for the limits that are on.
  std::unique_ptr<std::atomic<uint32_t>[]> open_;    // 2 rows: open connections
  std::unique_ptr<std::atomic<uint64_t>[]> rate_;    // 2 rows: second << 32 | attempts
};

}  // namespace sluice::connlimit
