// What a rate limit adds to a request: the rate-limit stage's request-head
// hook, alone, in a loop over 1000 client addresses (so the bucket table
// is used as a real proxy's would be, not one hot cache line).
//
//   rate_limit_bench MODE N [REDIS_PORT]
//     MODE none     the loop without the stage (baseline)
//          local    a local limit (100/s per client, burst 100)
//          cluster  a cluster limit through Redis on 127.0.0.1:REDIS_PORT
//                   (100/s per client, burst 100: batches of 5 tokens, so
//                   one Redis call per 5 requests of a client)
//          cluster-2000  the same at 2000/s per client: batches of 100, so
//                   a request almost always finds a leased token
// Prints the wall-clock ns per request; bench/ratelimit_bench.sh runs it
// under callgrind twice (N1, N2) to get exact instructions per request.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/pipeline/rate_limit_stage.h"
#include "dataplane/ratelimit/redis_limiter.h"

using namespace sluice;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s none|local|cluster N [REDIS_PORT]\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  long n = std::atol(argv[2]);
  constexpr int kClients = 1000;
  std::vector<http::ClientInfo> clients(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients[i].ip = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256);
  }
  v1::RateLimitPolicy policy;
  policy.set_name("bench/ingress");
  auto* limit = policy.add_limits();
  uint32_t rate = mode == "cluster-2000" ? 2000 : 100;
  limit->set_requests(rate);
  limit->set_period_seconds(1);
  limit->set_burst(rate);
  std::unique_ptr<ratelimit::RedisLimiter> redis;
  if (mode == "cluster" || mode == "cluster-2000") {
    if (argc < 4) {
      std::fprintf(stderr, "cluster needs REDIS_PORT\n");
      return 2;
    }
    ratelimit::RedisOptions options;
    options.port = std::atoi(argv[3]);
    redis = std::make_unique<ratelimit::RedisLimiter>(options, &ratelimit::BucketTable::ProcessWide());
    for (int i = 0; i < 5000 && !redis->healthy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!redis->healthy()) {
      std::fprintf(stderr, "no Redis on port %s\n", argv[3]);
      return 1;
    }
    policy.set_scope(v1::RateLimitPolicy::CLUSTER);
  } else if (mode != "none" && mode != "local") {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  pipeline::RateLimitStage stage(pipeline::RateLimitStage::Options::From(policy),
                                 &ratelimit::BucketTable::ProcessWide(), redis.get());
  pipeline::ExchangeState state;
  state.request.method = "GET";
  state.request.path = "/";
  state.request.headers.Add("host", "bench.local");
  long passed = 0;
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    state.client = &clients[static_cast<size_t>(i % kClients)];
    if (mode == "none") {
      passed += state.client->ip.size() > 0;
    } else {
      passed += stage.OnRequestHead(state) == pipeline::Verdict::kContinue;
      if (!state.reply.empty()) state.reply = pipeline::LocalReply{};
    }
  }
  double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
              static_cast<double>(n);
  std::printf("%s: %ld requests, %ld passed, %.1f ns/request, %llu Redis calls\n", mode.c_str(), n, passed, ns,
              static_cast<unsigned long long>(redis ? redis->redis_calls() : 0));
  return 0;
}
