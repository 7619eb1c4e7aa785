// The Redis-backed limiter against a real redis-server on a loopback port
// (started here, no persistence): leases, a global limit shared by two
// limiters (two proxies), AUTH, and Redis going away.
#include "dataplane/ratelimit/redis_limiter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "dataplane/balancer/hash.h"
#include "test/support/certificate.h"
#include "test/support/process.h"

namespace sluice::ratelimit {
namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<testing::Process> StartRedis(int port, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"/usr/bin/redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto redis = std::make_unique<testing::Process>(argv);
  EXPECT_TRUE(testing::WaitForPort(port));
  return redis;
}

bool WaitHealthy(const RedisLimiter& limiter, bool healthy) {
  return testing::WaitUntil([&] { return limiter.healthy() == healthy; }, std::chrono::seconds(10),
                            std::chrono::milliseconds(5));
}

// Takes from `limiter` for `key` until `deadline`; counts what Redis
// allowed (kUnknown: not followed by the limiter, counted apart).
struct Counts {
  int allowed = 0, denied = 0, unknown = 0, unavailable = 0;
};
Counts TakeUntil(RedisLimiter& limiter, const BucketTable& clock, const ClusterLimit& limit, Clock::time_point deadline) {
  Counts counts;
  while (Clock::now() < deadline) {
    switch (limiter.Take(limit, clock.NowUs()).outcome) {
      case ClusterLimiter::Outcome::kAllowed: ++counts.allowed; break;
      case ClusterLimiter::Outcome::kDenied: ++counts.denied; break;
      case ClusterLimiter::Outcome::kUnknown: ++counts.unknown; break;
      case ClusterLimiter::Outcome::kUnavailable: ++counts.unavailable; break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // ~5000 tries/s: 50x the limit
  }
  return counts;
}

TEST(RedisOptions, ParsesAddresses) {
  auto plain = RedisOptions::Parse("10.0.0.5:6380");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "10.0.0.5");
  EXPECT_EQ(plain->port, 6380);
  EXPECT_FALSE(plain->tls);
  auto tls = RedisOptions::Parse("rediss://sluice:s3cret@redis.example:6390/0");
  ASSERT_TRUE(tls.ok());
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->host, "redis.example");
  EXPECT_EQ(tls->port, 6390);
  EXPECT_EQ(tls->username, "sluice");
  EXPECT_EQ(tls->password, "s3cret");
  auto v6 = RedisOptions::Parse("redis://[::1]");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6379);
  EXPECT_FALSE(RedisOptions::Parse("redis://host:99999").ok());
  EXPECT_FALSE(RedisOptions::Parse("").ok());
}

TEST(RedisLimiter, BatchIsAFewPercentOfTheRate) {
  EXPECT_EQ(RedisLimiter::BatchSize(GcraLimit::Of(100, 1, 50)), 5);
  EXPECT_EQ(RedisLimiter::BatchSize(GcraLimit::Of(60, 60, 10)), 1);
  EXPECT_EQ(RedisLimiter::BatchSize(GcraLimit::Of(100000, 1, 0)), 1);  // never above the burst
}

// A redis-server of its own for each test, and limiters connecting to it.
class RedisLimiterTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> extra = {}) { redis_ = StartRedis(port_, std::move(extra)); }
  std::unique_ptr<RedisLimiter> Limiter(std::string password = "") {
    RedisOptions options;
    options.port = port_;
    options.password = std::move(password);
    return std::make_unique<RedisLimiter>(options, &clock_);
  }
  // A limiter already connected.
  std::unique_ptr<RedisLimiter> Connected() {
    auto limiter = Limiter();
    EXPECT_TRUE(WaitHealthy(*limiter, true));
    return limiter;
  }

  int port_ = testing::FreePort();
  std::unique_ptr<testing::Process> redis_;
  BucketTable clock_{8};
  const ClusterLimit key_limit_{balancer::Hash64("k"), GcraLimit::Of(10, 1, 0)};
};

TEST_F(RedisLimiterTest, TwoProxiesShareOneGlobalLimit) {
  StartServer();
  auto a_owner = Connected(), b_owner = Connected();
  RedisLimiter &a = *a_owner, &b = *b_owner;
  BucketTable& clock = clock_;
  ClusterLimit limit{balancer::Hash64("client"), GcraLimit::Of(100, 1, 50)};
  auto start = Clock::now();
  auto deadline = start + std::chrono::seconds(2);
  Counts ca, cb;
  std::thread ta([&] { ca = TakeUntil(a, clock, limit, deadline); });
  std::thread tb([&] { cb = TakeUntil(b, clock, limit, deadline); });
  ta.join();
  tb.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // Each proxy lets one batch (5) through before its first lease arrives.
  int allowed = ca.allowed + cb.allowed;
  double expected = 51 + 100 * seconds;  // the burst, then the rate
  EXPECT_EQ(ca.unavailable + cb.unavailable + ca.unknown + cb.unknown, 0);
  EXPECT_GT(ca.allowed, 20);
  EXPECT_GT(cb.allowed, 20);
  EXPECT_LE(allowed, expected * 1.03 + 2 * RedisLimiter::BatchSize(limit.gcra))
      << "allowed " << allowed << " in " << seconds << "s";
  EXPECT_GE(allowed, expected * 0.95 - 2 * RedisLimiter::BatchSize(limit.gcra)) << "allowed " << allowed;
  // Redis calls follow the tokens granted, not the requests: at 50x the
  // limit, two proxies competing for every token get partial batches, about
  // one call per two tokens (measured: ~130 calls, ~250 allowed, ~14000 tries).
  int requests = ca.allowed + ca.denied + cb.allowed + cb.denied;
  EXPECT_LT(a.redis_calls() + b.redis_calls(), static_cast<uint64_t>(allowed)) << requests << " requests";
  EXPECT_LT(a.redis_calls() + b.redis_calls(), static_cast<uint64_t>(requests / 20)) << requests << " requests";
}

TEST_F(RedisLimiterTest, AuthWithThePassword) {
  StartServer({"--requirepass", "s3cret"});
  auto refused = Limiter("nope");
  auto accepted = Limiter("s3cret");
  ASSERT_TRUE(WaitHealthy(*accepted, true));
  EXPECT_FALSE(refused->healthy());
}

TEST_F(RedisLimiterTest, RedisGoingAwayMakesKeysUnavailableWithoutWaiting) {
  StartServer();
  auto limiter = Connected();
  limiter->Take(key_limit_, clock_.NowUs());
  ASSERT_TRUE(testing::WaitUntil([&] { return limiter->redis_calls() > 0; }, std::chrono::seconds(5),
                                 std::chrono::milliseconds(1)));
  redis_->Kill();
  redis_->Wait();
  ASSERT_TRUE(WaitHealthy(*limiter, false));
  auto before = Clock::now();
  int unavailable = 0;
  for (int i = 0; i < 1000; ++i) {
    unavailable += limiter->Take(key_limit_, clock_.NowUs()).outcome == ClusterLimiter::Outcome::kUnavailable;
  }
  EXPECT_GE(unavailable, 998);  // all but the tokens still leased (batch 1)
  // A thousand answers, none waiting on the network (generous bound).
  EXPECT_LT(Clock::now() - before, std::chrono::milliseconds(100));
  // Back: healthy again (reconnect within about a second).
  StartServer();
  EXPECT_TRUE(WaitHealthy(*limiter, true));
}

TEST_F(RedisLimiterTest, HungRedisIsNoticedWithinTheTimeout) {
  StartServer();
  auto limiter = Connected();
  redis_->Signal(SIGSTOP);  // accepts nothing, answers nothing
  limiter->Take(key_limit_, clock_.NowUs());
  EXPECT_TRUE(WaitHealthy(*limiter, false));
  redis_->Signal(SIGCONT);
}

// A client at a fifth of its limit always finds a token (before its first
// lease, the batch let through meanwhile): never refused.
TEST_F(RedisLimiterTest, AClientUnderItsLimitIsNeverRefused) {
  StartServer();
  auto limiter = Connected();
  ClusterLimit limit{balancer::Hash64("slow client"), GcraLimit::Of(50, 1, 25)};
  std::string outcomes;
  for (int i = 0; i < 20; ++i) {
    outcomes += "ADUN"[static_cast<int>(limiter->Take(limit, clock_.NowUs()).outcome)];
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(outcomes.find('D'), std::string::npos) << outcomes;
}

// rediss://: a redis-server with TLS only, a self-signed certificate for
// "localhost"; the limiter verifies it against that certificate as its CA.
TEST_F(RedisLimiterTest, TlsWithTheServersCertificateVerified) {
  char dir_template[] = "/tmp/sluice-redis-tls.XXXXXX";
  std::string dir = mkdtemp(dir_template);
  testing::Pem pem = testing::MakeSelfSignedCertificate(dir, "redis", "localhost");
  ASSERT_FALSE(pem.cert.empty()) << pem.openssl_output;
  StartServer({"--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file", dir + "/redis.crt",
               "--tls-key-file", dir + "/redis.key", "--tls-ca-cert-file", dir + "/redis.crt",
               "--tls-auth-clients", "no"});
  auto options = RedisOptions::Parse("rediss://localhost:" + std::to_string(port_));
  ASSERT_TRUE(options.ok());
  options->ca_file = dir + "/redis.crt";
  RedisLimiter verified(*options, &clock_);
  RedisOptions untrusted = *options;
  untrusted.ca_file = "";  // the system's CAs do not know this certificate
  RedisLimiter refused(untrusted, &clock_);
  ASSERT_TRUE(WaitHealthy(verified, true));
  // A lease over TLS.
  verified.Take(key_limit_, clock_.NowUs());
  EXPECT_TRUE(testing::WaitUntil([&] { return verified.redis_calls() > 0; }, std::chrono::seconds(5),
                                  std::chrono::milliseconds(1)));
  EXPECT_FALSE(refused.healthy());
}

}  // namespace
}  // namespace sluice::ratelimit
