// HTTP/2 end to end with real processes on loopback: sluice-controller,
// sluice-proxy, the echo backend (HTTP/1) and nghttpd (an h2c origin, for
// the upstream HTTP/2 path). Clients are real (curl, h2load) or a raw frame
// writer for the abuse cases nghttp2 clients refuse to produce.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <thread>
#include <tuple>

#include "test/integration/trailer_echo.h"
#include "test/support/h2_frames.h"
#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/shell.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Process;
using testing::ShellOutput;

// Ingresses for the echo backend (h2.test) and nghttpd (origin.test, h2c);
// their Services come from ServiceAndSlice.
constexpr const char* kIngresses = R"(---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: echo, namespace: h2}
spec:
  ingressClassName: sluice
  rules:
    - host: h2.test
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: origin
  namespace: h2
  annotations: {sluice.io/backend-protocol: h2c}
spec:
  ingressClassName: sluice
  rules:
    - host: origin.test
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: origin, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: sluice
spec:
  controller: sluice.io/ingress-controller
)";

// ---- a raw HTTP/2 client: hand-built frames, nghttp2's HPACK for reading.
struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string payload;
};

using namespace testing::h2;  // FrameBytes, HpackLiteral, frame types and flags

std::string RequestBlock(const std::string& authority, const std::string& path, const std::string& method = "GET") {
  return HpackLiteral(":method", method) + HpackLiteral(":scheme", "http") + HpackLiteral(":authority", authority) +
         HpackLiteral(":path", path);
}

class RawH2 {
 public:
  explicit RawH2(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    nghttp2_hd_inflate_new(&inflater_);
  }
  ~RawH2() {
    close(fd_);
    nghttp2_hd_inflate_del(inflater_);
  }
  bool connected() const { return connected_; }
  // Preface + SETTINGS (with `settings` entries of id/value).
  void Handshake(std::string settings = "") {
    Send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + FrameBytes(kSettings, 0, 0, settings));
  }
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Next frame within `timeout`; false on timeout or EOF. SETTINGS from the
  // server are acknowledged automatically.
  bool Next(Frame* frame, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = Clock::now() + timeout;
    while (true) {
      if (in_.size() >= 9) {
        uint32_t len = (uint8_t(in_[0]) << 16) | (uint8_t(in_[1]) << 8) | uint8_t(in_[2]);
        if (in_.size() >= 9 + len) {
          frame->type = uint8_t(in_[3]);
          frame->flags = uint8_t(in_[4]);
          frame->stream = ((uint8_t(in_[5]) & 0x7f) << 24) | (uint8_t(in_[6]) << 16) | (uint8_t(in_[7]) << 8) |
                          uint8_t(in_[8]);
          frame->payload = in_.substr(9, len);
          in_.erase(0, 9 + len);
          if (frame->type == kSettings && !(frame->flags & kAck)) Send(FrameBytes(kSettings, kAck, 0, ""));
          if (frame->type == kHeaders) Decode(*frame);
          return true;
        }
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
      char buf[65536];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof_ = true;
        return false;
      }
      in_.append(buf, static_cast<size_t>(n));
    }
  }
  // Reads until a frame matching `pred` (true) or timeout/EOF (false).
  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout, Frame* out = nullptr) {
    auto deadline = Clock::now() + timeout;
    Frame f;
    while (Clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (!Next(&f, left)) return false;
      if (pred(f)) {
        if (out != nullptr) *out = f;
        return true;
      }
    }
    return false;
  }
  bool eof() const { return eof_; }
  // Decoded response headers per stream (the last HEADERS frame seen).
  std::map<uint32_t, std::map<std::string, std::string>> headers;

 private:
  void Decode(const Frame& frame) {
    std::string_view block = frame.payload;
    auto& fields = headers[frame.stream];
    while (true) {
      nghttp2_nv nv;
      int flags = 0;
      ssize_t n = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, reinterpret_cast<const uint8_t*>(block.data()),
                                         block.size(), 1);
      if (n < 0) return;
      block.remove_prefix(static_cast<size_t>(n));
      if (flags & NGHTTP2_HD_INFLATE_EMIT) {
        fields[std::string(reinterpret_cast<char*>(nv.name), nv.namelen)] =
            std::string(reinterpret_cast<char*>(nv.value), nv.valuelen);
      }
      if (flags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(inflater_);
        return;
      }
      if (n == 0 && block.empty()) return;
    }
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string in_;
  nghttp2_hd_inflater* inflater_ = nullptr;
};

uint32_t GoawayCode(const Frame& f) { return f.payload.size() >= 8 ? (uint8_t(f.payload[4]) << 24) | (uint8_t(f.payload[5]) << 16) | (uint8_t(f.payload[6]) << 8) | uint8_t(f.payload[7]) : 0xffffffff; }
uint32_t RstCode(const Frame& f) { return f.payload.size() >= 4 ? (uint8_t(f.payload[0]) << 24) | (uint8_t(f.payload[1]) << 16) | (uint8_t(f.payload[2]) << 8) | uint8_t(f.payload[3]) : 0xffffffff; }

class Http2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(cluster_.Path("www"));
    {
      std::ofstream big(cluster_.Path("www/big"));
      big << std::string(3 * 1024 * 1024, 'b');
      std::ofstream small(cluster_.Path("www/small"));
      small << "hello from nghttpd\n";
    }
    echo_port_ = testing::FreePort();
    origin_port_ = testing::FreePort();
    echo_ = cluster_.StartEchoBackend("echo", echo_port_);
    origin_ = cluster_.StartLogged({"/usr/sbin/nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", cluster_.Path("www"),
                                    std::to_string(origin_port_)},
                                   "nghttpd.log");
    cluster_.WriteManifest("all.yaml", testing::ServiceAndSlice("echo", "h2", echo_port_) + "---\n" +
                                           testing::ServiceAndSlice("origin", "h2", origin_port_) + kIngresses);
    cluster_.Start();
    ASSERT_TRUE(testing::WaitForPort(echo_port_));
    ASSERT_TRUE(testing::WaitForPort(origin_port_)) << cluster_.Read("nghttpd.log");
    ASSERT_TRUE(cluster_.WaitReady()) << cluster_.Read("proxy.log");
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_.Logs();
  }

  std::string Url(const std::string& path) { return "http://127.0.0.1:" + std::to_string(cluster_.http_port()) + path; }
  std::string Curl(const std::string& args) {
    return ShellOutput("timeout 20 curl -sS --http2-prior-knowledge " + args + " 2>&1");
  }

  int echo_port_ = 0, origin_port_ = 0;
  std::unique_ptr<Process> echo_, origin_;
  testing::SluiceCluster cluster_{{.name = "h2",
                                   .workers = 1,
                                   .access_log = "off",
                                   .extra_proxy_flags = {"--h2-stall-timeout", "1", "--drain-timeout", "5"}}};
};

TEST_F(Http2Test, CurlPriorKnowledgeGetsResponsesOverHttp2) {
  std::string out = Curl("-H 'host: h2.test' -o /dev/null -w '%{http_version} %{http_code}' " + Url("/anything"));
  EXPECT_EQ(out, "2 200");
  // The request reached the HTTP/1 backend with the proxy's forwarding headers.
  std::string body = Curl("-H 'host: h2.test' " + Url("/anything?x=1"));
  EXPECT_NE(body.find("\"path\":\"/anything?x=1\""), std::string::npos) << body;
  EXPECT_NE(body.find("x-forwarded-for"), std::string::npos) << body;
  // Unknown host: the protocol-neutral exchange answers 404 on this stream.
  EXPECT_EQ(Curl("-H 'host: nowhere.test' -o /dev/null -w '%{http_code}' " + Url("/")), "404");
}

TEST_F(Http2Test, LargeBodiesStreamBothWaysWithFlowControl) {
  std::string upload = cluster_.Path("upload");
  {
    std::ofstream f(upload);
    for (int i = 0; i < 4 * 1024 * 1024 / 16; ++i) f << "0123456789abcdef";
  }
  // 4 MiB up (more than any window we grant), echoed back down.
  std::string out = Curl("-H 'host: h2.test' --data-binary @" + upload + " -o " + cluster_.Path("echoed") +
                         " -w '%{http_code} %{size_download}' " + Url("/echo"));
  EXPECT_EQ(out, "200 4194304");
  EXPECT_EQ(ShellOutput("cmp " + upload + " " + cluster_.Path("echoed") + " && echo same"), "same\n");
  // 8 MB down from a Content-Length response.
  EXPECT_EQ(Curl("-H 'host: h2.test' -o /dev/null -w '%{http_code} %{size_download}' " + Url("/bytes/8000000")),
            "200 8000000");
}

TEST_F(Http2Test, H2loadMultiplexesManyStreamsPerConnection) {
  std::string out =
      ShellOutput("timeout 60 h2load -n 2000 -c 4 -m 50 -H ':authority: h2.test' " + Url("/bytes/1024") + " 2>&1");
  EXPECT_NE(out.find("2000 succeeded"), std::string::npos) << out;
  EXPECT_NE(out.find("status codes: 2000 2xx"), std::string::npos) << out;
}

TEST_F(Http2Test, AdvertisesAndEnforcesMaxConcurrentStreams) {
  RawH2 c(cluster_.http_port());
  ASSERT_TRUE(c.connected());
  c.Handshake();
  // 101 slow requests at once, before our SETTINGS are acknowledged (after
  // that, nghttp2 treats exceeding them as a connection error): the one
  // over SETTINGS_MAX_CONCURRENT_STREAMS is refused, the rest are served.
  std::string burst;
  for (uint32_t i = 0; i < 101; ++i) {
    burst += FrameBytes(kHeaders, kEndHeaders | kEndStream, 1 + 2 * i, RequestBlock("h2.test", "/slow/300"));
  }
  c.Send(burst);
  int refused = 0, ok = 0;
  bool advertised = false;
  Frame f;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (refused + ok < 101 && Clock::now() < deadline && c.Next(&f)) {
    if (f.type == kSettings && !(f.flags & kAck)) {
      for (size_t i = 0; i + 6 <= f.payload.size(); i += 6) {
        uint16_t id = (uint8_t(f.payload[i]) << 8) | uint8_t(f.payload[i + 1]);
        uint32_t value = (uint8_t(f.payload[i + 2]) << 24) | (uint8_t(f.payload[i + 3]) << 16) |
                         (uint8_t(f.payload[i + 4]) << 8) | uint8_t(f.payload[i + 5]);
        if (id == 3) advertised = value == 100;
      }
    }
    if (f.type == kRstStream && RstCode(f) == NGHTTP2_REFUSED_STREAM) ++refused;
    if (f.type == kHeaders && c.headers[f.stream][":status"] == "200") ++ok;
    ASSERT_NE(f.type, kGoaway);
  }
  EXPECT_TRUE(advertised) << "SETTINGS_MAX_CONCURRENT_STREAMS 100";
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(refused, 1);
}

TEST_F(Http2Test, MalformedRequestResetsOnlyThatStream) {
  RawH2 c(cluster_.http_port());
  c.Handshake();
  // Stream 1: uppercase header name (malformed in HTTP/2); stream 3 fine.
  c.Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, RequestBlock("h2.test", "/x") + HpackLiteral("Bad", "1")) +
         FrameBytes(kHeaders, kEndHeaders | kEndStream, 3, RequestBlock("h2.test", "/anything")));
  Frame rst;
  bool got_rst = false, got_ok = false;
  Frame f;
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!(got_rst && got_ok) && Clock::now() < deadline && c.Next(&f)) {
    if (f.type == kRstStream && f.stream == 1) got_rst = RstCode(f) == NGHTTP2_PROTOCOL_ERROR;
    if (f.type == kHeaders && f.stream == 3) got_ok = c.headers[3][":status"] == "200";
    ASSERT_NE(f.type, kGoaway);
  }
  EXPECT_TRUE(got_rst);
  EXPECT_TRUE(got_ok);
}

TEST_F(Http2Test, RapidResetGetsGoawayEnhanceYourCalm) {
  RawH2 c(cluster_.http_port());
  c.Handshake();
  std::string burst;
  for (uint32_t i = 0; i < 400; ++i) {
    uint32_t id = 1 + 2 * i;
    burst += FrameBytes(kHeaders, kEndHeaders | kEndStream, id, RequestBlock("h2.test", "/slow/2000"));
    burst += FrameBytes(kRstStream, 0, id, U32(NGHTTP2_CANCEL));
  }
  c.Send(burst);
  Frame goaway;
  ASSERT_TRUE(c.WaitFor([](const Frame& f) { return f.type == kGoaway; }, std::chrono::seconds(5), &goaway));
  EXPECT_EQ(GoawayCode(goaway), NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_F(Http2Test, ContinuationFloodIsCutOffByHeaderBlockSize) {
  RawH2 c(cluster_.http_port());
  c.Handshake();
  // A header block that never ends: six CONTINUATIONs of 16 KB each (under
  // nghttp2's own count limit), 96 KB in all, no END_HEADERS.
  c.Send(FrameBytes(kHeaders, 0, 1, RequestBlock("h2.test", "/")));
  for (int i = 0; i < 6; ++i) {
    c.Send(FrameBytes(kContinuation, 0, 1, HpackLiteral("x-filler-" + std::to_string(i), std::string(16000, 'a'))));
  }
  Frame goaway;
  ASSERT_TRUE(c.WaitFor([](const Frame& f) { return f.type == kGoaway; }, std::chrono::seconds(3), &goaway));
  EXPECT_EQ(GoawayCode(goaway), NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_F(Http2Test, HpackBombGets431FromTheProxyAndConnectionSurvives) {
  RawH2 c(cluster_.http_port());
  c.Handshake();
  // 4 KB value into the dynamic table once, then referenced by one byte
  // (index 62) 40 times: 160 KB decoded from a block of a few hundred bytes.
  std::string block = RequestBlock("h2.test", "/anything") + HpackLiteral("x-bomb", std::string(4000, 'z'), true);
  for (int i = 0; i < 40; ++i) block += static_cast<char>(0x80 | 62);
  c.Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, block));
  Frame f;
  ASSERT_TRUE(c.WaitFor([](const Frame& fr) { return fr.type == kHeaders && fr.stream == 1; }, std::chrono::seconds(5), &f));
  EXPECT_EQ(c.headers[1][":status"], "431");
  EXPECT_EQ(c.headers[1].count("x-backend"), 0u) << "the backend must never see it";
  // The same connection still serves (new HPACK context entries are fine).
  c.Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 3, RequestBlock("h2.test", "/anything")));
  ASSERT_TRUE(c.WaitFor([](const Frame& fr) { return fr.type == kHeaders && fr.stream == 3; }, std::chrono::seconds(5), &f));
  EXPECT_EQ(c.headers[3][":status"], "200");
}

TEST_F(Http2Test, PingFloodGetsGoaway) {
  RawH2 c(cluster_.http_port());
  c.Handshake();
  std::string burst;
  for (int i = 0; i < 3000; ++i) burst += FrameBytes(kPing, 0, 0, std::string(8, static_cast<char>(i)));
  c.Send(burst);
  Frame goaway;
  ASSERT_TRUE(c.WaitFor([](const Frame& f) { return f.type == kGoaway; }, std::chrono::seconds(5), &goaway));
  EXPECT_EQ(GoawayCode(goaway), NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_F(Http2Test, EmptyDataFloodGetsGoaway) {
  RawH2 c(cluster_.http_port());
  c.Handshake();
  std::string burst = FrameBytes(kHeaders, kEndHeaders, 1, RequestBlock("h2.test", "/echo", "POST"));
  for (int i = 0; i < 3000; ++i) burst += FrameBytes(kData, 0, 1, "");
  c.Send(burst);
  Frame goaway;
  ASSERT_TRUE(c.WaitFor([](const Frame& f) { return f.type == kGoaway; }, std::chrono::seconds(5), &goaway));
  EXPECT_EQ(GoawayCode(goaway), NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_F(Http2Test, ZeroWindowClientIsResetAfterStallTimeout) {
  RawH2 c(cluster_.http_port());
  // SETTINGS_INITIAL_WINDOW_SIZE 0: the client never lets a DATA byte through.
  c.Handshake(std::string("\x00\x04", 2) + U32(0));
  c.Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, RequestBlock("h2.test", "/bytes/100000")));
  auto start = Clock::now();
  Frame rst;
  ASSERT_TRUE(c.WaitFor([](const Frame& f) { return f.type == kRstStream && f.stream == 1; }, std::chrono::seconds(6), &rst));
  auto took = Clock::now() - start;
  EXPECT_EQ(RstCode(rst), NGHTTP2_CANCEL);
  EXPECT_GE(took, std::chrono::milliseconds(900));  // --h2-stall-timeout 1
}

TEST_F(Http2Test, DrainSendsGoawayFinishesInFlightAndRefusesNewStreams) {
  RawH2 c(cluster_.http_port());
  c.Handshake();
  c.Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, RequestBlock("h2.test", "/slow/1500")));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  cluster_.proxy().Signal(SIGTERM);
  Frame goaway;
  ASSERT_TRUE(c.WaitFor([](const Frame& f) { return f.type == kGoaway; }, std::chrono::seconds(3), &goaway));
  EXPECT_EQ(GoawayCode(goaway), NGHTTP2_NO_ERROR);
  uint32_t last = ((uint8_t(goaway.payload[0]) & 0x7f) << 24) | (uint8_t(goaway.payload[1]) << 16) |
                  (uint8_t(goaway.payload[2]) << 8) | uint8_t(goaway.payload[3]);
  EXPECT_EQ(last, 1u);
  // A new stream after the GOAWAY is not processed.
  c.Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 3, RequestBlock("h2.test", "/anything")));
  bool stream1_done = false, stream3_answered = false;
  Frame f;
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline && c.Next(&f, std::chrono::seconds(3))) {
    if (f.stream == 3 && f.type == kHeaders) stream3_answered = true;
    if (f.stream == 1 && (f.flags & kEndStream)) stream1_done = true;
  }
  EXPECT_TRUE(stream1_done) << "the in-flight stream completes";
  EXPECT_EQ(c.headers[1][":status"], "200");
  EXPECT_FALSE(stream3_answered);
  EXPECT_EQ(cluster_.proxy().Wait(std::chrono::seconds(10)), 0);
}

// ---- RFC 9113 conformance (issue 13): what a conformance tester checks,
// and what the frame-header pre-check in front of nghttp2 adds.

// The first GOAWAY or RST_STREAM (on `stream`) after what was sent; its
// error code, or -1 when the connection said nothing within 3 s.
int64_t FirstError(RawH2& c, uint32_t stream) {
  Frame f;
  if (!c.WaitFor([&](const Frame& fr) { return fr.type == kGoaway || (fr.type == kRstStream && fr.stream == stream); },
                 std::chrono::seconds(3), &f)) {
    return -1;
  }
  return f.type == kGoaway ? GoawayCode(f) : RstCode(f);
}

TEST_F(Http2Test, StreamStatePriorityAndPrefaceErrorsFollowRfc9113) {
  auto post = [](uint32_t id) { return FrameBytes(kHeaders, kEndHeaders, id, RequestBlock("h2.test", "/echo", "POST")); };
  std::string priority_self = U32(1) + std::string(1, '\x0f');
  {  // §5.1: DATA after the client's RST_STREAM: STREAM_CLOSED, not a WINDOW_UPDATE.
    RawH2 c(cluster_.http_port());
    c.Handshake();
    c.Send(post(1) + FrameBytes(kRstStream, 0, 1, U32(NGHTTP2_CANCEL)));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    c.Send(FrameBytes(kData, kEndStream, 1, "test"));
    EXPECT_EQ(FirstError(c, 1), NGHTTP2_STREAM_CLOSED) << "DATA after RST_STREAM";
  }
  {  // §5.1: HEADERS after the client's RST_STREAM.
    RawH2 c(cluster_.http_port());
    c.Handshake();
    c.Send(post(1) + FrameBytes(kRstStream, 0, 1, U32(NGHTTP2_CANCEL)));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    c.Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, RequestBlock("h2.test", "/anything")));
    EXPECT_EQ(FirstError(c, 1), NGHTTP2_STREAM_CLOSED) << "HEADERS after RST_STREAM";
  }
  for (bool data : {true, false}) {  // §5.1: DATA or HEADERS on a stream closed normally.
    RawH2 c(cluster_.http_port());
    c.Handshake();
    c.Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, RequestBlock("h2.test", "/anything")));
    ASSERT_TRUE(c.WaitFor([](const Frame& f) { return f.stream == 1 && (f.flags & kEndStream); }, std::chrono::seconds(5)));
    c.Send(data ? FrameBytes(kData, kEndStream, 1, "late")
                : FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, RequestBlock("h2.test", "/anything")));
    EXPECT_EQ(FirstError(c, 1), NGHTTP2_STREAM_CLOSED) << (data ? "DATA" : "HEADERS") << " on a closed stream";
  }
  {  // §5.1.1: HEADERS on stream 3 after stream 5: PROTOCOL_ERROR, never served.
    RawH2 c(cluster_.http_port());
    c.Handshake();
    c.Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 5, RequestBlock("h2.test", "/anything")));
    c.Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 3, RequestBlock("h2.test", "/lower-stream-id")));
    EXPECT_EQ(FirstError(c, 3), NGHTTP2_PROTOCOL_ERROR) << "HEADERS on a lower stream id";
  }
  {  // §5.3.1: PRIORITY making a stream depend on itself.
    RawH2 c(cluster_.http_port());
    c.Handshake();
    c.Send(FrameBytes(kPriority, 0, 1, priority_self));
    EXPECT_EQ(FirstError(c, 1), NGHTTP2_PROTOCOL_ERROR) << "PRIORITY depending on itself";
  }
  {  // §6.3: PRIORITY on stream 0.
    RawH2 c(cluster_.http_port());
    c.Handshake();
    c.Send(FrameBytes(kPriority, 0, 0, U32(1) + std::string(1, '\x0f')));
    EXPECT_EQ(FirstError(c, 0), NGHTTP2_PROTOCOL_ERROR) << "PRIORITY on stream 0";
  }
  {  // Ordinary PRIORITY frames change nothing.
    RawH2 c(cluster_.http_port());
    c.Handshake();
    c.Send(FrameBytes(kPriority, 0, 3, U32(1) + std::string(1, '\x0f')) +
           FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, RequestBlock("h2.test", "/anything")));
    Frame f;
    ASSERT_TRUE(c.WaitFor([](const Frame& fr) { return fr.type == kHeaders && fr.stream == 1; }, std::chrono::seconds(5), &f));
    EXPECT_EQ(c.headers[1][":status"], "200");
  }
  {  // §3.4 (h2c): a preface that goes wrong after its first line.
    RawH2 c(cluster_.http_port());
    c.Send("PRI * HTTP/2.0\r\n\r\nSM\r\n\rQ");
    EXPECT_EQ(FirstError(c, 0), NGHTTP2_PROTOCOL_ERROR) << "invalid connection preface";
  }
  // Nothing of the refused streams reached the backend.
  EXPECT_EQ(testing::Fetch(cluster_.http_port(), "h2.test", "/control/count?path=/lower-stream-id").body, "0\n");
}

// Requests that smuggle through HTTP/2-to-HTTP/1.1 downgrades: each gets a
// stream error (RST_STREAM PROTOCOL_ERROR) or a 400, the connection goes
// on, and the backend never receives one (its per-path request count).
TEST_F(Http2Test, DowngradeSmugglingRequestsNeverReachTheBackend) {
  auto block = [](const std::string& path) { return RequestBlock("h2.test", path); };
  std::vector<std::pair<std::string, std::function<std::string(uint32_t, const std::string&)>>> cases = {
      {"content-length over the DATA",
       [&](uint32_t id, const std::string& p) {
         return FrameBytes(kHeaders, kEndHeaders, id, RequestBlock("h2.test", p, "POST") +
                                                          HpackLiteral("content-length", "100")) +
                FrameBytes(kData, kEndStream, id, "short");
       }},
      {"content-length under the DATA",
       [&](uint32_t id, const std::string& p) {
         return FrameBytes(kHeaders, kEndHeaders, id, RequestBlock("h2.test", p, "POST") +
                                                          HpackLiteral("content-length", "2")) +
                FrameBytes(kData, kEndStream, id, "more than two");
       }},
  };
  auto headers_only = [&](const std::string& name, std::function<std::string(const std::string&)> make) {
    cases.push_back({name, [make](uint32_t id, const std::string& p) {
                       return FrameBytes(kHeaders, kEndHeaders | kEndStream, id, make(p));
                     }});
  };
  headers_only("transfer-encoding", [&](const std::string& p) { return block(p) + HpackLiteral("transfer-encoding", "chunked"); });
  headers_only("connection", [&](const std::string& p) { return block(p) + HpackLiteral("connection", "keep-alive"); });
  headers_only("uppercase name", [&](const std::string& p) { return block(p) + HpackLiteral("X-Smuggle", "1"); });
  headers_only("space in name", [&](const std::string& p) { return block(p) + HpackLiteral("x smuggle", "1"); });
  headers_only("CR in value", [&](const std::string& p) { return block(p) + HpackLiteral("x-a", "1\r\nx-b: 2"); });
  headers_only("LF in value", [&](const std::string& p) { return block(p) + HpackLiteral("x-a", "1\nx-b: 2"); });
  headers_only("NUL in value", [&](const std::string& p) { return block(p) + HpackLiteral("x-a", std::string("1\0" "2", 3)); });
  headers_only("path without /", [&](const std::string& p) { return RequestBlock("h2.test", p.substr(1)); });
  headers_only("path without /, other scheme", [&](const std::string& p) {
    return HpackLiteral(":method", "GET") + HpackLiteral(":scheme", "foo") + HpackLiteral(":authority", "h2.test") +
           HpackLiteral(":path", p.substr(1));
  });
  headers_only("CONNECT with :path", [&](const std::string& p) {
    return HpackLiteral(":method", "CONNECT") + HpackLiteral(":authority", "h2.test:443") + HpackLiteral(":path", p);
  });
  headers_only("duplicate :path", [&](const std::string& p) { return block(p) + HpackLiteral(":path", p + "-2"); });
  headers_only("pseudo after regular", [&](const std::string& p) {
    return HpackLiteral(":method", "GET") + HpackLiteral(":scheme", "http") + HpackLiteral("x-a", "1") +
           HpackLiteral(":authority", "h2.test") + HpackLiteral(":path", p);
  });
  headers_only("te gzip", [&](const std::string& p) { return block(p) + HpackLiteral("te", "gzip"); });
  headers_only("host other than :authority", [&](const std::string& p) { return block(p) + HpackLiteral("host", "other.test"); });

  RawH2 c(cluster_.http_port());
  ASSERT_TRUE(c.connected());
  c.Handshake();
  std::map<uint32_t, std::string> name_of, path_of;
  uint32_t id = 1;
  std::string all;
  for (auto& [name, make] : cases) {
    std::string path = "/smuggle-" + std::to_string(id);
    name_of[id] = name;
    path_of[id] = path;
    all += make(id, path);
    id += 2;
  }
  // A well-formed neighbour: served and counted (the count works).
  const uint32_t ok_id = id;
  all += FrameBytes(kHeaders, kEndHeaders | kEndStream, ok_id, block("/smuggle-ok"));
  c.Send(all);
  std::map<uint32_t, std::string> outcome;
  Frame f;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (outcome.size() < name_of.size() + 1 && Clock::now() < deadline && c.Next(&f)) {
    ASSERT_NE(f.type, kGoaway) << "stream errors only, the connection goes on";
    if (outcome.count(f.stream)) continue;
    if (f.type == kRstStream) outcome[f.stream] = "rst " + std::to_string(RstCode(f));
    if (f.type == kHeaders) outcome[f.stream] = c.headers[f.stream][":status"];
  }
  for (const auto& [sid, name] : name_of) {
    // RST_STREAM PROTOCOL_ERROR (1), or 400 for the Host disagreement.
    EXPECT_EQ(outcome[sid], name == "host other than :authority" ? "400" : "rst 1") << name;
  }
  EXPECT_EQ(outcome[ok_id], "200");
  for (const auto& [sid, path] : path_of) {
    EXPECT_EQ(testing::Fetch(cluster_.http_port(), "h2.test", "/control/count?path=" + path).body, "0\n")
        << name_of[sid] << " reached the backend";
  }
  EXPECT_EQ(testing::Fetch(cluster_.http_port(), "h2.test", "/control/count?path=/smuggle-ok").body, "1\n");
}

// ---- upstream HTTP/2 (h2c to nghttpd)
TEST_F(Http2Test, H2cUpstreamCarriesManyStreamsOnFewConnections) {
  EXPECT_EQ(Curl("-H 'host: origin.test' " + Url("/small")), "hello from nghttpd\n");
  // HTTP/1.1 client, HTTP/2 upstream: the protocol-neutral exchange bridges.
  auto r = testing::Fetch(cluster_.http_port(), "origin.test", "/small");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello from nghttpd\n");
  // 3 MB through the upstream stream's flow control.
  EXPECT_EQ(Curl("-H 'host: origin.test' -o /dev/null -w '%{http_code} %{size_download}' " + Url("/big")),
            "200 3145728");
  std::string out =
      ShellOutput("timeout 60 h2load -n 1000 -c 2 -m 20 -H ':authority: origin.test' " + Url("/small") + " 2>&1");
  EXPECT_NE(out.find("1000 succeeded"), std::string::npos) << out;
  std::string metrics = testing::Fetch(cluster_.admin_port(), "127.0.0.1", "/metrics").body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(metrics, m, std::regex("sluice_upstream_connects_total (\\d+)"))) << metrics;
  EXPECT_LE(std::stoi(m[1]), 10) << "streams are multiplexed, not one connection each";
}

// A response that is only a head (END_STREAM on HEADERS: a HEAD's answer,
// 204, 304, gRPC Trailers-Only) completes the exchange: the keep-alive
// connection carries the next request at once.
TEST_F(Http2Test, H2cUpstreamHeaderOnlyResponseCompletesTheExchange) {
  testing::HttpConnection c(cluster_.http_port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.SendRaw("HEAD /small HTTP/1.1\r\nhost: origin.test\r\n\r\n"));
    testing::Response head = c.ReadResponse(/*head_request=*/true);
    EXPECT_EQ(head.status, 200) << i;
    testing::Response get = c.Get("origin.test", "/small");
    EXPECT_EQ(get.status, 200) << i;
    EXPECT_EQ(get.body, "hello from nghttpd\n") << i;
  }
}

// ---- request trailers (a trailing HEADERS frame from the client)

// Routes trailers-h1.test to an HTTP/1.1 origin and trailers-h2.test to an
// h2c one, both answering with the body size and the trailers they got.
class RequestTrailersTest : public Http2Test {
 protected:
  void SetUp() override {
    Http2Test::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_GT(h1_origin_.port(), 0);
    ASSERT_GT(h2_origin_.port(), 0);
    std::string manifests;
    for (auto [name, port, protocol] : {std::tuple{"trailers-h1", h1_origin_.port(), "http"},
                                        std::tuple{"trailers-h2", h2_origin_.port(), "h2c"}}) {
      std::string n = name;
      manifests += testing::ServiceAndSlice(n, "h2", port) +
                   "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + n +
                   "\n  namespace: h2\n  annotations: {sluice.io/backend-protocol: " + protocol +
                   "}\nspec:\n  ingressClassName: sluice\n  rules:\n    - host: " + n +
                   ".test\n      http:\n        paths:\n          - {path: /, pathType: Prefix, backend: {service: "
                   "{name: " + n + ", port: {number: 80}}}}\n---\n";
    }
    cluster_.WriteManifest("trailers.yaml", manifests);
    // The controller re-reads the folder: wait for both routes.
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          return testing::Fetch(cluster_.http_port(), "trailers-h1.test", "/").body == "body 0\n" &&
                 testing::Fetch(cluster_.http_port(), "trailers-h2.test", "/").body == "body 0\n";
        },
        std::chrono::seconds(15), std::chrono::milliseconds(50)))
        << cluster_.Read("controller.log");
    std::ofstream(cluster_.Path("body")) << std::string(1000, 'd');
  }

  // nghttp (h2c prior knowledge) POSTs the 1000-byte body, then the trailers.
  std::string NghttpWithTrailers(const std::string& host) {
    return ShellOutput("timeout 20 nghttp -d " + cluster_.Path("body") +
                       " --trailer 'x-checksum: abc123' --trailer 'x-count: 2' -H ':authority: " + host + "' " +
                       Url("/upload") + " 2>&1");
  }

  // A raw HTTP/2 request without content-length (so an HTTP/1.1 upstream
  // gets it chunked): HEADERS, DATA "hello", trailing HEADERS.
  std::string RawPostWithTrailers(const std::string& host) {
    RawH2 c(cluster_.http_port());
    c.Handshake();
    c.Send(FrameBytes(kHeaders, kEndHeaders, 1, RequestBlock(host, "/upload", "POST")) +
           FrameBytes(kData, 0, 1, "hello") +
           FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, HpackLiteral("x-checksum", "abc123")));
    std::string body;
    Frame f;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline && c.Next(&f)) {
      if (f.stream != 1) continue;
      if (f.type == kData) body += f.payload;
      if ((f.type == kData || f.type == kHeaders) && (f.flags & kEndStream)) return body;
      if (f.type == kRstStream) return body + "<reset>";
    }
    return body + "<no end of stream>";
  }

  testing::TrailerEchoOrigin h1_origin_{testing::TrailerEchoOrigin::Protocol::kHttp1};
  testing::TrailerEchoOrigin h2_origin_{testing::TrailerEchoOrigin::Protocol::kH2c};
};

TEST_F(RequestTrailersTest, ReachAnHttp2UpstreamAsTrailingHeaders) {
  EXPECT_EQ(NghttpWithTrailers("trailers-h2.test"), "body 1000\nx-checksum: abc123\nx-count: 2\n");
  EXPECT_EQ(RawPostWithTrailers("trailers-h2.test"), "body 5\nx-checksum: abc123\n");
}

TEST_F(RequestTrailersTest, ReachAnHttp1UpstreamInTheLastChunk) {
  EXPECT_EQ(RawPostWithTrailers("trailers-h1.test"), "body 5\nx-checksum: abc123\n");
}

TEST_F(RequestTrailersTest, ChunkedHttp1RequestTrailersReachBothUpstreams) {
  for (const char* host : {"trailers-h1.test", "trailers-h2.test"}) {
    testing::HttpConnection c(cluster_.http_port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.SendRaw(std::string("POST /upload HTTP/1.1\r\nhost: ") + host +
                          "\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc123\r\n\r\n"));
    testing::Response r = c.ReadResponse();
    EXPECT_EQ(r.status, 200) << host;
    EXPECT_EQ(r.body, "body 5\nx-checksum: abc123\n") << host;
  }
}

TEST_F(RequestTrailersTest, AreDroppedForAnHttp1UpstreamWhenTheBodyHasAContentLength) {
  // nghttp sends content-length: the body goes up with it, and an HTTP/1.1
  // body framed by Content-Length cannot carry trailers (documented).
  EXPECT_EQ(NghttpWithTrailers("trailers-h1.test"), "body 1000\n");
}

// ---- requests the proxy refuses itself, before routing (Http2Session::Refuse)
TEST_F(Http2Test, RefusedRequestsReachGrpcClientsAsTrailersOnlyGrpcErrors) {
  RawH2 c(cluster_.http_port());
  ASSERT_TRUE(c.connected());
  c.Handshake();
  std::string grpc = HpackLiteral("content-type", "application/grpc+proto") + HpackLiteral("te", "trailers");
  std::string connect = HpackLiteral(":method", "CONNECT") + HpackLiteral(":authority", "h2.test:443");
  // Stream 1: CONNECT from a gRPC client (405 -> UNKNOWN), with a deadline
  // that changes nothing here. Stream 3: a plain CONNECT keeps its plain 405.
  // (The other refusal, an empty :authority, never gets past nghttp2.)
  c.Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, connect + grpc + HpackLiteral("grpc-timeout", "5S")) +
         FrameBytes(kHeaders, kEndHeaders | kEndStream, 3, connect));
  std::map<uint32_t, int> header_frames, data_frames;
  std::map<uint32_t, bool> ended;
  Frame f;
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (ended.size() < 2 && Clock::now() < deadline && c.Next(&f)) {
    ASSERT_NE(f.type, kGoaway);
    ASSERT_NE(f.type, kRstStream) << "stream " << f.stream;
    if (f.type == kHeaders) ++header_frames[f.stream];
    if (f.type == kData) ++data_frames[f.stream];
    if ((f.type == kHeaders || f.type == kData) && (f.flags & kEndStream)) ended[f.stream] = true;
  }
  ASSERT_EQ(ended.size(), 2u);
  // Trailers-Only: one HEADERS frame that ends the stream, HTTP 200, the
  // error in grpc-status / grpc-message (Envoy's mapping: 405 is UNKNOWN).
  EXPECT_EQ(header_frames[1], 1);
  EXPECT_EQ(data_frames[1], 0);
  EXPECT_EQ(c.headers[1][":status"], "200");
  EXPECT_EQ(c.headers[1]["content-type"], "application/grpc");
  EXPECT_EQ(c.headers[1]["grpc-status"], "2");
  EXPECT_EQ(c.headers[1]["grpc-message"], "method not allowed");
  // Everyone else keeps the plain answer.
  EXPECT_EQ(c.headers[3][":status"], "405");
  EXPECT_EQ(c.headers[3].count("grpc-status"), 0u);
}

}  // namespace
}  // namespace sluice
