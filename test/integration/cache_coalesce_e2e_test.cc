// Response cache coalescing and stale-if-error end to end: sluice-controller
// reading manifests, sluice-proxy (two workers sharing one cache), and an
// in-process origin (FakeUpstream, one thread per connection, so a slow
// answer keeps only its own connection waiting) that counts what it gets
// and how many requests it holds at once. Every load loop is bounded in
// count, and every read in time (HttpConnection's timeout).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test/support/cache_cluster.h"
#include "test/support/fake_upstream.h"
#include "test/support/http_client.h"
#include "test/support/observe.h"
#include "test/support/process.h"

namespace sluice {
namespace {

using testing::FakeUpstream;
using testing::HttpConnection;
using testing::MetricSample;


// The origin: counts requests in flight (the most at once says whether
// requests overlapped at the origin or came one after another).
struct OriginState {
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::atomic<int> error_path_requests{0};
  std::atomic<int> truncated_requests{0};
  // /streamed and /truncated send their head and half their body, then
  // wait (at most 30 s) until the test lets them go on.
  std::mutex mu;
  std::condition_variable changed;
  bool go_on = false;
  void GoOn() {
    std::lock_guard<std::mutex> lock(mu);
    go_on = true;
    changed.notify_all();
  }
  void WaitToGoOn() {
    std::unique_lock<std::mutex> lock(mu);
    changed.wait_for(lock, std::chrono::seconds(30), [this] { return go_on; });
  }
};

// A 200 KB body whose every byte depends on its position: a byte out of
// place or missing shows.
constexpr size_t kStreamedSize = 200000;
std::string StreamedBody() {
  std::string body(kStreamedSize, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return body;
}

std::string StreamedHead() {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nCache-Control: max-age=600\r\n"
         "Content-Length: " + std::to_string(kStreamedSize) + "\r\n\r\n";
}

// A client on a raw socket, to see how much of a response arrived while the
// origin is still sending it (HttpConnection reads whole responses only).
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  bool Send(const std::string& bytes) { return fd_ >= 0 && send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()); }
  // Reads until `body_bytes` of the body arrived, the peer closed, or
  // `timeout`. True when that much body is there.
  bool ReadBody(size_t body_bytes, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (body().size() < body_bytes && !closed_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[65536];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;  // EOF or reset
        break;
      }
      got_.append(buf, static_cast<size_t>(n));
    }
    return body().size() >= body_bytes;
  }
  std::string head() const {
    const size_t end = got_.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : got_.substr(0, end + 4);
  }
  std::string body() const {
    const size_t end = got_.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : got_.substr(end + 4);
  }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  std::string got_;
  bool closed_ = false;
};

FakeUpstream::Reply Answer(OriginState& origin, const FakeUpstream::Request& request) {
  const std::string target = request.target();
  const int now = ++origin.in_flight;
  for (int seen = origin.max_in_flight.load(); now > seen && !origin.max_in_flight.compare_exchange_weak(seen, now);) {
  }
  FakeUpstream::Reply reply{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
  if (target == "/coalesce") {
    // Slow enough that the concurrent misses all arrive while it is filled.
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    reply = {FakeUpstream::OkResponse("one body for all", "Cache-Control: max-age=600\r\n")};
  } else if (target == "/uncacheable") {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    reply = {FakeUpstream::OkResponse("private", "Cache-Control: private\r\n")};
  } else if (target == "/abort") {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    reply = {FakeUpstream::OkResponse("survivor", "Cache-Control: max-age=600\r\n")};
  } else if (target == "/streamed") {
    const std::string body = StreamedBody();
    reply = {StreamedHead() + body.substr(0, kStreamedSize / 2)};
    reply.then = [&origin, rest = body.substr(kStreamedSize / 2)] {
      origin.WaitToGoOn();
      return FakeUpstream::Reply{rest};
    };
  } else if (target == "/truncated") {
    // The first answer stops half way (the origin closes mid-body); later
    // ones are whole.
    const std::string body = StreamedBody();
    if (origin.truncated_requests++ == 0) {
      reply = {StreamedHead() + body.substr(0, kStreamedSize / 2)};
      reply.then = [&origin] {
        origin.WaitToGoOn();
        return FakeUpstream::Reply{"", /*close=*/true};
      };
    } else {
      reply = {StreamedHead() + body};
    }
  } else if (target == "/stale" || target == "/stale-down") {
    // Stale at once (Age over max-age), usable on error for an hour.
    reply = {FakeUpstream::OkResponse("stale but good", "Cache-Control: max-age=1, stale-if-error=3600\r\nAge: 100\r\n")};
  } else if (target == "/stale-5xx") {
    // First a storable answer, then the origin fails.
    if (origin.error_path_requests++ == 0) {
      reply = {FakeUpstream::OkResponse("before the outage", "Cache-Control: max-age=1, stale-if-error=3600\r\nAge: 100\r\n")};
    } else {
      reply = {"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\ndown!"};
    }
  }
  --origin.in_flight;
  return reply;
}

class CacheCoalesceEndToEndTest : public testing::CacheClusterTest {
 protected:
  void SetUp() override {
    origin_ = std::make_unique<FakeUpstream>([this](const FakeUpstream::Request& r) { return Answer(state_, r); });
    MakeCluster({.name = "cache-coalesce",
                 .workers = 2,
                 .access_log = "access.log",
                 .extra_proxy_flags = {"--cache-memory", "64M", "--cache-max-object-size", "1M"}});
    ASSERT_NO_FATAL_FAILURE(StartCluster({.origin_port = origin_->port()}));
  }

  void TearDown() override {
    state_.GoOn();  // no origin thread left waiting
    CacheClusterTest::TearDown();
  }

  size_t OriginSaw(const std::string& method_and_target) const { return origin_->requests_for(method_and_target); }

  // `n` clients asking for `path` on their own connections: the first
  // fills, the others come once its request reached the origin.
  std::vector<std::unique_ptr<RawClient>> ConcurrentClients(const std::string& path, int n) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: cache.local\r\n\r\n";
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int c = 0; c < n; ++c) {
      if (c == 1) {
        // Not WaitForRequests: SetUp's /ready went to the origin too.
        EXPECT_TRUE(testing::WaitUntil([&] { return OriginSaw("GET " + path) == 1; }, std::chrono::seconds(10),
                                       std::chrono::milliseconds(5)));
      }
      clients.push_back(std::make_unique<RawClient>(cluster_->http_port()));
      EXPECT_TRUE(clients.back()->Send(request)) << "client " << c;
    }
    return clients;
  }

  OriginState state_;
  std::unique_ptr<FakeUpstream> origin_;
};

// h2load -n1000 -c100 in spirit: 100 keep-alive connections, 10 requests
// each, all starting together on one uncached key.
TEST_F(CacheCoalesceEndToEndTest, AThousandConcurrentMissesSendOneOriginRequest) {
  constexpr int kConnections = 100;
  constexpr int kPerConnection = 10;
  std::atomic<int> ok{0}, wrong{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.emplace_back([&] {
      HttpConnection connection(cluster_->http_port(), "127.0.0.1", /*timeout_ms=*/15000);
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerConnection; ++i) {
        testing::Response r = connection.Get("cache.local", "/coalesce");
        (r.status == 200 && r.body == "one body for all" ? ok : wrong)++;
        if (r.status != 200) return;  // the connection is not usable any more
      }
    });
  }
  go = true;
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), kConnections * kPerConnection);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(OriginSaw("GET /coalesce"), 1u);

  // Counted per route (besides /ready's miss before the test): every
  // request but the filler was a hit or served from the fill; the access
  // log says which were coalesced.
  const std::string metrics = ProxyMetrics();
  const std::string route = "{namespace=\"cache\",ingress=\"cached\",host=\"cache.local\",path=\"/\"";
  const double hits = MetricSample(metrics, "sluice_route_cache_requests_total" + route + ",outcome=\"hit\"}");
  const double coalesced =
      MetricSample(metrics, "sluice_route_cache_requests_total" + route + ",outcome=\"coalesced\"}");
  EXPECT_GE(coalesced, 1) << metrics;
  EXPECT_EQ(hits + coalesced, kConnections * kPerConnection - 1) << metrics;
  EXPECT_EQ(MetricSample(metrics, "sluice_route_cache_coalesced_waits_total" + route + "}"), coalesced);
  EXPECT_GE(MetricSample(metrics, "sluice_route_cache_fills_total" + route + ",result=\"stored\"}"), 1);
  EXPECT_GE(MetricSample(metrics, "sluice_cache_objects"), 1);
  EXPECT_TRUE(testing::WaitUntil([&] { return cluster_->Read("access.log").find("\"cache\":\"COALESCED\"") != std::string::npos; },
                                 std::chrono::seconds(10), std::chrono::milliseconds(50)))
      << cluster_->Read("access.log").substr(0, 2000);
  ExpectPromtoolPasses(metrics);
}

// Waiters released together: their origin requests overlap (with a
// serialisation behind each other the origin would hold one at a time).
TEST_F(CacheCoalesceEndToEndTest, AnUncacheableResponseReleasesEveryWaiterAtOnce) {
  constexpr int kClients = 20;
  std::atomic<int> ok{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      HttpConnection connection(cluster_->http_port(), "127.0.0.1", /*timeout_ms=*/15000);
      while (!go.load()) std::this_thread::yield();
      testing::Response r = connection.Get("cache.local", "/uncacheable");
      if (r.status == 200 && r.body == "private") ++ok;
    });
  }
  go = true;
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients);
  EXPECT_EQ(OriginSaw("GET /uncacheable"), static_cast<size_t>(kClients));
  EXPECT_GE(state_.max_in_flight.load(), kClients / 2);
}

TEST_F(CacheCoalesceEndToEndTest, StaleIfErrorAnswersWhenTheOriginFails) {
  // Stored, stale at once.
  EXPECT_EQ(Get("/stale-5xx").body, "before the outage");
  // The origin answers 503: the stored object instead.
  testing::Response on_5xx = Get("/stale-5xx");
  EXPECT_EQ(on_5xx.status, 200);
  EXPECT_EQ(on_5xx.body, "before the outage");
  EXPECT_NE(on_5xx.Header("cache-status").find("fwd=stale; fwd-status=503"), std::string::npos)
      << on_5xx.Header("cache-status");
  EXPECT_NE(on_5xx.Header("cache-status").find("detail=stale-if-error"), std::string::npos);
  EXPECT_EQ(OriginSaw("GET /stale-5xx"), 2u);

  // The origin is down (connection refused): the proxy's 502 is replaced.
  EXPECT_EQ(Get("/stale-down").body, "stale but good");
  origin_.reset();
  testing::Response down = Get("/stale-down");
  EXPECT_EQ(down.status, 200);
  EXPECT_EQ(down.body, "stale but good");
  EXPECT_NE(down.Header("cache-status").find("detail=stale-if-error"), std::string::npos) << down.Header("cache-status");
  // Nothing stored for this one: the proxy's own error.
  EXPECT_GE(Get("/never-stored").status, 502);
  EXPECT_TRUE(testing::WaitUntil([&] { return cluster_->Read("access.log").find("\"cache\":\"STALE\"") != std::string::npos; },
                                 std::chrono::seconds(10), std::chrono::milliseconds(50)));
}

// Concurrent misses for one key while the origin is half way through its
// answer: every client has the first half before the origin sends the
// rest (streamed from the one fill, not answered after it), then the whole
// body byte for byte; the origin saw one request.
TEST_F(CacheCoalesceEndToEndTest, WaitersReceiveTheBodyAsTheOriginSendsIt) {
  constexpr int kClients = 8;
  std::vector<std::unique_ptr<RawClient>> clients = ConcurrentClients("/streamed", kClients);
  // The origin is paused after half the body: each client has that half.
  const std::string body = StreamedBody();
  for (int c = 0; c < kClients; ++c) {
    EXPECT_TRUE(clients[c]->ReadBody(kStreamedSize / 2, std::chrono::seconds(10)))
        << "client " << c << " has " << clients[c]->body().size() << " body bytes while the origin waits";
    EXPECT_EQ(clients[c]->body(), body.substr(0, clients[c]->body().size())) << "client " << c;
    EXPECT_NE(clients[c]->head().find("200 OK"), std::string::npos) << clients[c]->head();
  }
  EXPECT_EQ(OriginSaw("GET /streamed"), 1u);
  state_.GoOn();
  for (int c = 0; c < kClients; ++c) {
    EXPECT_TRUE(clients[c]->ReadBody(kStreamedSize, std::chrono::seconds(10))) << "client " << c;
    EXPECT_EQ(clients[c]->body(), body) << "client " << c;
  }
  // The waiters' answers say they were collapsed into the fill and streamed.
  for (int c = 1; c < kClients; ++c) {
    std::string head = clients[c]->head();
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char ch) { return std::tolower(ch); });
    EXPECT_NE(head.find("cache-status: sluice; hit; ttl="), std::string::npos) << head;
    EXPECT_NE(head.find("; collapsed; detail=streamed"), std::string::npos) << head;
    EXPECT_NE(head.find("\r\nage: "), std::string::npos) << head;
  }
  // Stored whole: a hit now.
  testing::Response hit = Get("/streamed");
  EXPECT_EQ(hit.status, 200);
  EXPECT_EQ(hit.body, body);
  EXPECT_NE(hit.Header("cache-status").find("hit"), std::string::npos) << hit.Header("cache-status");
  EXPECT_EQ(OriginSaw("GET /streamed"), 1u);
}

// The origin closes half way through its body: the clients streaming it
// see their connection close before the Content-Length is reached (never a
// complete-looking response), and nothing was stored (the next request
// goes to the origin, which answers whole this time).
TEST_F(CacheCoalesceEndToEndTest, ATruncatedOriginResponseIsNeitherStoredNorCompleteLooking) {
  constexpr int kClients = 6;
  std::vector<std::unique_ptr<RawClient>> clients = ConcurrentClients("/truncated", kClients);
  for (int c = 0; c < kClients; ++c) {
    EXPECT_TRUE(clients[c]->ReadBody(kStreamedSize / 2, std::chrono::seconds(10))) << "client " << c;
  }
  EXPECT_EQ(OriginSaw("GET /truncated"), 1u);
  state_.GoOn();  // the origin closes now
  for (int c = 0; c < kClients; ++c) {
    EXPECT_FALSE(clients[c]->ReadBody(kStreamedSize, std::chrono::seconds(10))) << "client " << c;
    EXPECT_TRUE(clients[c]->closed()) << "client " << c << " still waits with " << clients[c]->body().size() << " bytes";
    EXPECT_LT(clients[c]->body().size(), kStreamedSize) << "client " << c;
  }
  testing::Response next = Get("/truncated");
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, StreamedBody());
  EXPECT_EQ(OriginSaw("GET /truncated"), 2u);  // nothing was stored
}

// Clients that go away while they wait neither crash the proxy (run under
// ASan by scripts/test.sh) nor keep the others from their answer.
TEST_F(CacheCoalesceEndToEndTest, ClientsAbortingWhileWaitingHarmNobody) {
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      HttpConnection connection(cluster_->http_port(), "127.0.0.1", /*timeout_ms=*/15000);
      testing::Response r = connection.Get("cache.local", "/abort");
      if (r.status == 200 && r.body == "survivor") ++ok;
    });
  }
  // Wait until the fill reached the origin, then send and drop 20 requests.
  ASSERT_TRUE(origin_->WaitForRequests(1, std::chrono::seconds(10)));
  for (int i = 0; i < 20; ++i) {
    HttpConnection quitter(cluster_->http_port());
    ASSERT_TRUE(quitter.SendRaw("GET /abort HTTP/1.1\r\nHost: cache.local\r\n\r\n"));
  }  // closed at once: each was waiting for the fill
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(Get("/abort").body, "survivor");  // a hit
  EXPECT_EQ(OriginSaw("GET /abort"), 1u);
}

}  // namespace
}  // namespace sluice
