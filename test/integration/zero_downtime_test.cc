// Zero-downtime shutdown of a proxy, as a rolling restart does it: real
// processes on 127.0.0.1, requests flowing the whole time.
//
// SIGTERM with --shutdown-grace-period G then --drain-timeout D:
//   0 .. G   /readyz says 503 at once; the listeners stay open and serve
//            (load balancers and kube-proxy keep sending for a while);
//            every HTTP/1.1 response closes its connection, HTTP/2
//            connections get the GOAWAY shutdown notice (last id 2^31-1).
//   G .. G+D the listen queues are taken, the listeners closed, idle
//            connections closed, HTTP/2 gets the final GOAWAY; what is in
//            flight (a long download) finishes; exit 0.
// And a second proxy on the same port (SO_REUSEPORT, a new process on the
// same node) takes over from a proxy shutting down without a failed request.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "test/support/h2_frames.h"
#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using testing::Fetch;
using testing::HttpConnection;

constexpr int kGraceSeconds = 2;

class ZeroDowntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_port_ = testing::FreePort();
    backend_ = cluster_.StartEchoBackend("app", backend_port_);
    cluster_.WriteManifest("app.yaml", testing::DefaultIngressClass() + "\n---\n" +
                                           testing::ServiceAndSlice("app", "demo", backend_port_) + "\n---\n" +
                                           testing::PrefixIngress("app", "demo", "zd.local", "app"));
    cluster_.Start();
    ASSERT_TRUE(testing::WaitForPort(backend_port_));
    ASSERT_TRUE(cluster_.WaitReady()) << cluster_.Logs();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_.Logs();
  }

  // True when nothing accepts a connection on the proxy's HTTP port.
  bool Refused() const {
    HttpConnection probe(cluster_.http_port(), "127.0.0.1", 500);
    return !probe.connected();
  }

  int backend_port_ = 0;
  std::unique_ptr<testing::Process> backend_;
  testing::SluiceCluster cluster_{{.name = "zero-downtime",
                                   .workers = 2,
                                   .access_log = "off",
                                   .extra_proxy_flags = {"--shutdown-grace-period", std::to_string(kGraceSeconds),
                                                         "--drain-timeout", "10"}}};
};

TEST_F(ZeroDowntimeTest, TheGracePeriodServesNewAndKeptConnectionsWithReadinessDown) {
  HttpConnection kept(cluster_.http_port());
  auto first = kept.Get("zd.local", "/kept");
  ASSERT_EQ(first.status, 200);
  ASSERT_NE(first.Header("connection"), "close");
  HttpConnection download(cluster_.http_port());
  ASSERT_TRUE(download.SendRaw("GET /slow/3500 HTTP/1.1\r\nHost: zd.local\r\n\r\n"));
  std::this_thread::sleep_for(200ms);

  const auto sigterm = std::chrono::steady_clock::now();
  cluster_.proxy().Signal(SIGTERM);
  // Readiness drops first...
  EXPECT_TRUE(testing::WaitUntil([&] { return Fetch(cluster_.admin_port(), "127.0.0.1", "/readyz").status == 503; },
                                 1s));
  // ... while new connections are still served, one request each ...
  HttpConnection fresh(cluster_.http_port());
  ASSERT_TRUE(fresh.connected()) << "the listener closed before the grace period ended";
  auto during = fresh.Get("zd.local", "/new");
  EXPECT_EQ(during.status, 200);
  EXPECT_EQ(during.Header("connection"), "close");
  EXPECT_TRUE(fresh.PeerClosed());
  // ... and a kept-alive connection gets its answer and then its close.
  auto last = kept.Get("zd.local", "/kept-again");
  EXPECT_EQ(last.status, 200);
  EXPECT_EQ(last.Header("connection"), "close");
  EXPECT_TRUE(kept.PeerClosed());
  EXPECT_LT(std::chrono::steady_clock::now() - sigterm, std::chrono::seconds(kGraceSeconds))
      << "the checks above ran past the grace period: they proved nothing about it";

  // After the grace period the listeners close; the download still finishes.
  EXPECT_TRUE(testing::WaitUntil([&] { return Refused(); }, std::chrono::seconds(kGraceSeconds + 3)));
  EXPECT_GE(std::chrono::steady_clock::now() - sigterm, std::chrono::seconds(kGraceSeconds) - 100ms);
  auto slow = download.ReadResponse();
  EXPECT_EQ(slow.status, 200);
  EXPECT_EQ(slow.body, "slow\n");
  EXPECT_EQ(cluster_.proxy().Wait(10s), 0);
}

// One HTTP/2 frame read from a socket.
struct Frame {
  uint8_t type = 0, flags = 0;
  uint32_t stream = 0;
  std::string payload;
};

bool ReadExactly(int fd, char* out, size_t n) {
  while (n > 0) {
    ssize_t got = read(fd, out, n);
    if (got <= 0) return false;
    out += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool ReadFrame(int fd, Frame& frame) {
  unsigned char head[9];
  if (!ReadExactly(fd, reinterpret_cast<char*>(head), 9)) return false;
  const size_t length = (size_t{head[0]} << 16) | (size_t{head[1]} << 8) | head[2];
  frame.type = head[3];
  frame.flags = head[4];
  frame.stream = ((uint32_t{head[5]} << 24) | (uint32_t{head[6]} << 16) | (uint32_t{head[7]} << 8) | head[8]) &
                 0x7fffffffu;
  frame.payload.assign(length, '\0');
  return length == 0 || ReadExactly(fd, frame.payload.data(), length);
}

uint32_t GoawayLastStream(const Frame& frame) {
  const auto* p = reinterpret_cast<const unsigned char*>(frame.payload.data());
  return ((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]) & 0x7fffffffu;
}
uint32_t GoawayError(const Frame& frame) {
  const auto* p = reinterpret_cast<const unsigned char*>(frame.payload.data()) + 4;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

std::string GetHeaders(std::string_view path) {
  using testing::h2::HpackLiteral;
  return HpackLiteral(":method", "GET") + HpackLiteral(":scheme", "http") + HpackLiteral(":path", path) +
         HpackLiteral(":authority", "zd.local");
}

TEST_F(ZeroDowntimeTest, Http2GetsTheShutdownNoticeThenTheFinalGoaway) {
  using testing::h2::FrameBytes;
  constexpr uint8_t kHeaders = 0x1, kSettings = 0x4, kGoaway = 0x7, kEndStream = 0x1, kEndHeaders = 0x4;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  timeval timeout{8, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(cluster_.http_port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  std::string hello = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + FrameBytes(kSettings, 0, 0, "") +
                      FrameBytes(kHeaders, kEndStream | kEndHeaders, 1, GetHeaders("/before"));
  ASSERT_EQ(write(fd, hello.data(), hello.size()), static_cast<ssize_t>(hello.size()));
  // Until stream 1's response ends.
  Frame frame;
  bool answered = false;
  for (int i = 0; i < 50 && !answered && ReadFrame(fd, frame); ++i) {
    answered = frame.stream == 1 && (frame.flags & kEndStream) != 0;
  }
  ASSERT_TRUE(answered);

  cluster_.proxy().Signal(SIGTERM);
  bool notice = false;
  for (int i = 0; i < 50 && !notice && ReadFrame(fd, frame); ++i) {
    if (frame.type == kGoaway) {
      EXPECT_EQ(GoawayLastStream(frame), 0x7fffffffu) << "the first GOAWAY must refuse nothing (RFC 9113 §6.8)";
      EXPECT_EQ(GoawayError(frame), 0u);
      notice = true;
    }
  }
  ASSERT_TRUE(notice) << "no GOAWAY shutdown notice after SIGTERM";
  // A stream the client had already sent when the notice arrived is served.
  std::string late = FrameBytes(kHeaders, kEndStream | kEndHeaders, 3, GetHeaders("/in-flight"));
  ASSERT_EQ(write(fd, late.data(), late.size()), static_cast<ssize_t>(late.size()));
  bool late_answered = false, final_goaway = false;
  for (int i = 0; i < 50 && !final_goaway && ReadFrame(fd, frame); ++i) {
    if (frame.stream == 3 && frame.type == kHeaders) late_answered = true;
    if (frame.type == kGoaway) {
      EXPECT_EQ(GoawayLastStream(frame), 3u);
      EXPECT_EQ(GoawayError(frame), 0u);
      final_goaway = true;
    }
  }
  EXPECT_TRUE(late_answered) << "stream 3, sent before the notice was read, was not served";
  EXPECT_TRUE(final_goaway) << "no final GOAWAY with the last stream id at the end of the grace period";
  close(fd);
  EXPECT_EQ(cluster_.proxy().Wait(10s), 0);
}

// A client that keeps requests flowing: `conns` threads, each sending GETs
// one after another on a keep-alive connection (reconnecting when the proxy
// says Connection: close) or on a new connection each time. A request that
// gets no complete 200 is a failure: no retries are hidden here.
class Load {
 public:
  Load(int port, int threads, std::chrono::seconds bound) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, port, t, bound] {
        const auto end = std::chrono::steady_clock::now() + bound;
        const bool keep_alive = t % 2 == 0;
        std::unique_ptr<HttpConnection> connection;
        while (!stop_ && std::chrono::steady_clock::now() < end) {
          if (connection == nullptr) connection = std::make_unique<HttpConnection>(port, "127.0.0.1", 3000);
          auto r = connection->Get("zd.local", keep_alive ? "/kept" : "/fresh",
                                   keep_alive ? "" : "Connection: close\r\n");
          ++sent_;
          if (r.status != 200) {
            ++failed_;
            std::fprintf(stderr, "failed request: status %d on a %s connection\n", r.status,
                         keep_alive ? "kept-alive" : "new");
          }
          if (!keep_alive || r.status != 200 || r.Header("connection") == "close") connection.reset();
        }
      });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  int sent() const { return sent_; }
  int failed() const { return failed_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0}, failed_{0};
  std::vector<std::thread> threads_;
};

// Whether the kernel moves connections waiting in a closing listener's
// queue to another SO_REUSEPORT listener (Linux 5.14+). The test does not
// change it (it is the host's setting); it says which case it checked.
bool TcpMigrateRequests() { return testing::ReadFile("/proc/sys/net/ipv4/tcp_migrate_req").starts_with("1"); }

TEST_F(ZeroDowntimeTest, ANewProcessOnTheSamePortTakesOverWithoutAFailedRequest) {
  const bool migrate = TcpMigrateRequests();
  std::fprintf(stderr, "net.ipv4.tcp_migrate_req is %s\n", migrate ? "on" : "off");
  Load load(cluster_.http_port(), 4, 20s);
  std::this_thread::sleep_for(500ms);

  // The new proxy joins the same port (SO_REUSEPORT): the kernel spreads
  // new connections over both processes' listeners.
  const int admin_port = testing::FreePort();
  auto successor = cluster_.StartLogged(
      {testing::RunfilePath("dataplane/main/sluice-proxy"), "--controller",
       "127.0.0.1:" + std::to_string(cluster_.controller_port()), "--http-listen",
       "127.0.0.1:" + std::to_string(cluster_.http_port()), "--admin-listen", "127.0.0.1:" + std::to_string(admin_port),
       "--workers", "2", "--node-id", "successor", "--access-log", "off"},
      "successor.log");
  ASSERT_TRUE(testing::WaitUntil([&] { return Fetch(admin_port, "127.0.0.1", "/readyz").status == 200; }, 15s))
      << cluster_.Read("successor.log");
  std::this_thread::sleep_for(300ms);

  const int sent_before = load.sent();
  cluster_.proxy().Signal(SIGTERM);
  EXPECT_EQ(cluster_.proxy().Wait(15s), 0);
  std::this_thread::sleep_for(500ms);  // the successor alone
  load.Stop();

  std::fprintf(stderr, "hand-over: %d requests, %d failed (%d sent after SIGTERM)\n", load.sent(), load.failed(),
               load.sent() - sent_before);
  EXPECT_GT(load.sent() - sent_before, 100) << "too little load to show anything";
  EXPECT_EQ(load.failed(), 0);
  EXPECT_EQ(Fetch(cluster_.http_port(), "zd.local", "/after").status, 200) << "the successor does not serve";
  successor->Signal(SIGTERM);
  EXPECT_EQ(successor->Wait(15s), 0);
}

// WebSockets never end by themselves: at the drain deadline the proxy says
// 1001 "going away" to both peers (RFC 6455 §7.4.1) instead of cutting TCP,
// so clients reconnect at once and servers log a clean close.
TEST(WebSocketDrainTest, TunnelsAreClosedWith1001AtTheDrainDeadline) {
  testing::SluiceCluster cluster{{.name = "ws-drain",
                                  .access_log = "off",
                                  .extra_proxy_flags = {"--drain-timeout", "1"}}};
  const int ws_port = testing::FreePort();
  testing::Process server({"/usr/bin/python3", testing::RunfilePath("test/integration/ws_echo_server.py"),
                           std::to_string(ws_port)},
                          cluster.Path("ws_server.log"));
  ASSERT_TRUE(testing::WaitForPort(ws_port)) << cluster.Read("ws_server.log");
  cluster.WriteManifest("ws.yaml", testing::DefaultIngressClass() + "\n---\n" +
                                       testing::ServiceAndSlice("ws", "demo", ws_port) + "\n---\n" +
                                       testing::PrefixIngress("ws", "demo", "ws.local", "ws"));
  cluster.Start();
  ASSERT_TRUE(cluster.WaitReady()) << cluster.Logs();
  const std::string ready = cluster.Path("ws-ready");
  testing::Process client({"/usr/bin/python3", testing::RunfilePath("test/integration/ws_going_away_check.py"),
                           std::to_string(cluster.http_port()), "ws.local", ready},
                          cluster.Path("ws_client.log"));
  ASSERT_TRUE(testing::WaitUntil([&] { return !testing::ReadFile(ready).empty(); }, 10s))
      << cluster.Read("ws_client.log") << cluster.Logs();
  cluster.proxy().Signal(SIGTERM);
  EXPECT_EQ(client.Wait(15s), 0) << cluster.Read("ws_client.log");
  EXPECT_EQ(cluster.proxy().Wait(10s), 0);
  EXPECT_TRUE(testing::WaitUntil([&] { return cluster.Read("ws_server.log").find("closed 1001") != std::string::npos; },
                                 5s))
      << "the backend did not get Close 1001: " << cluster.Read("ws_server.log");
}

// The version the proxy routes with (its admin /snapshot), "" if unknown.
std::string ProxyVersion(int admin_port) {
  const std::string body = Fetch(admin_port, "127.0.0.1", "/snapshot").body;
  const std::string key = "\"version\":\"";
  const size_t at = body.find(key);
  if (at == std::string::npos) return "";
  const size_t end = body.find('"', at + key.size());
  return end == std::string::npos ? "" : body.substr(at + key.size(), end - at - key.size());
}

TEST_F(ZeroDowntimeTest, AThousandConfigurationChangesUnderLoadFailNoRequest) {
  // 300 by default (the folder source waits ~100 ms of quiet after each
  // write, so each change costs ~110 ms); the 1,000:
  //   bazel test //test/integration:zero_downtime_test --test_env=SLUICE_CONFIG_CHANGES=1000
  const char* wanted = std::getenv("SLUICE_CONFIG_CHANGES");
  const int kChanges = wanted != nullptr ? std::max(2, std::atoi(wanted)) : 300;
  Load load(cluster_.http_port(), 4, std::chrono::seconds(kChanges / 4 + 30));
  std::string version = ProxyVersion(cluster_.admin_port());
  ASSERT_FALSE(version.empty());
  int applied = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= kChanges; ++i) {
    // Each change adds a host and a path, and drops the previous ones: new
    // routes, a new chain for each, the old ones retired under load.
    cluster_.WriteManifest("extra.yaml", testing::PrefixIngress("extra", "demo", "extra" + std::to_string(i) + ".local",
                                                                "app"));
    std::string now;
    if (!testing::WaitUntil(
            [&] {
              now = ProxyVersion(cluster_.admin_port());
              return !now.empty() && now != version;
            },
            10s, 2ms)) {
      break;
    }
    version = now;
    ++applied;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  load.Stop();
  std::fprintf(stderr, "%d configuration changes applied in %.1f s under load: %d requests, %d failed\n", applied,
               seconds, load.sent(), load.failed());
  EXPECT_EQ(applied, kChanges) << "a change never reached the proxy";
  EXPECT_EQ(load.failed(), 0);
  EXPECT_GT(load.sent(), 1000);
  // Converged on the last change.
  EXPECT_EQ(Fetch(cluster_.http_port(), "extra" + std::to_string(kChanges) + ".local", "/").status, 200);
  EXPECT_EQ(Fetch(cluster_.http_port(), "extra" + std::to_string(kChanges - 1) + ".local", "/").status, 404);
}

}  // namespace
}  // namespace sluice
