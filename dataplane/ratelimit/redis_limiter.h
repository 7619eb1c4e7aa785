#pragma once
// Cluster-wide rate limits through Redis (--ratelimit-redis): every proxy
// leases batches of tokens from one GCRA bucket per key kept in Redis (a
// Lua script: atomic, and Redis's own clock, so proxies' clocks do not
// matter), and answers requests from the tokens it holds. Redis never
// grants more than the global bucket allows, so the global rate holds
// within the tokens leased but not yet used (at most about two batches a
// proxy; a batch is 1/20 of a second's rate), without a round trip per
// request: a proxy asks for the next batch when half of the current one
// is left, so a steady client never waits.
//
// Threading: one Redis thread per proxy owns the connection (plain TCP or
// TLS, AUTH) and does blocking I/O with timeouts; workers never touch the
// socket. Workers hand refill requests over through a lock-free bounded
// queue and read leases from a fixed table of atomics. A dedicated thread
// rather than hiredis's async API on each worker's loop: one connection
// and one pipeline for the whole proxy (fewer Redis round trips than one
// per worker), and a slow or dead Redis can only ever slow that thread,
// never a worker's loop. hiredis (Debian's libhiredis, the maintained
// client) formats commands and parses replies; its 0.14 in Debian 12 has
// no TLS, so the transport (and TLS through OpenSSL) is ours.
//
// When Redis is down, slow (no answer within the timeout, and a fresh
// connection failing too) or unreachable, keys without leased tokens are
// kUnavailable (the route's fail mode decides) until a reconnection
// succeeds (tried every second).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "dataplane/ratelimit/cluster_limiter.h"

namespace sluice::ratelimit {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  bool tls = false;             // rediss://
  std::string ca_file;          // TLS: verify the server with these CAs (default: the system's)
  std::string username;         // AUTH username password (Redis 6 ACL), or AUTH password
  std::string password;
  std::chrono::milliseconds timeout{250};  // connect, and each batch's answers
  // "host:port", "redis://[user:password@]host[:port]" or "rediss://...".
  static Result<RedisOptions> Parse(std::string_view address);
};

class RedisLimiter final : public ClusterLimiter {
 public:
  // `clock`: whose NowUs the callers' now_us is (the proxy's BucketTable).
  RedisLimiter(RedisOptions options, const BucketTable* clock, int lease_slots_log2 = 14);
  ~RedisLimiter() override;  // stops the Redis thread
  RedisLimiter(const RedisLimiter&) = delete;
  RedisLimiter& operator=(const RedisLimiter&) = delete;

  Answer Take(const ClusterLimit& limit, int64_t now_us) override;

  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  uint64_t redis_calls() const { return redis_calls_.load(std::memory_order_relaxed); }

  // The batch of tokens a proxy leases at a time for `limit`.
  static int64_t BatchSize(const GcraLimit& limit);

 private:
  struct Lease;
  struct Refill;
  class Queue;
  class Connection;

  Lease* FindLease(uint64_t key, int64_t now_us);
  void RequestRefill(Lease& lease, const ClusterLimit& limit);
  void Run();
  void FailPending(std::vector<Refill>& batch);

  RedisOptions options_;
  size_t lease_mask_;
  std::unique_ptr<Lease[]> leases_;
  std::unique_ptr<Queue> queue_;
  int wakeup_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> healthy_{false};
  std::atomic<uint64_t> redis_calls_{0};
  const BucketTable* clock_;
  std::thread thread_;
};

}  // namespace sluice::ratelimit
