// Proxy-level HTTP/1.1 conformance and hardening: a real Worker on loopback
// between a raw socket client and either the echo backend (a normal origin,
// a separate process) or a FakeUpstream (a scriptable origin that misbehaves
// on demand and records every byte the proxy forwards). Each test asserts
// what a client or a backend would observe on the wire.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <thread>

#include "dataplane/http1/parser.h"
#include "dataplane/proxy/worker.h"
#include "test/support/fake_upstream.h"
#include "test/support/process.h"

namespace sluice::proxy {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::FakeUpstream;

// Upper bound for anything that should happen; the tests never sleep it out
// unless something is broken.
constexpr milliseconds kWait = 3s;
// How long we watch for something that must NOT happen (a forwarded request).
constexpr milliseconds kGrace = 100ms;

milliseconds Since(steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One response as the client saw it.
struct Seen {
  int status = 0;        // 0: no complete head arrived
  std::string head;      // raw head bytes, as sent by the proxy
  http::HeaderMap headers;
  std::string body;      // decoded payload, as much as arrived
  bool complete = false; // the body ended as its framing says (not truncated)
  std::string Header(std::string_view name) const {
    const std::string* v = headers.Get(name);
    return v ? *v : "";
  }
};

// A blocking-with-deadlines client on a raw loopback socket: sends any bytes,
// reads responses (1xx included) with the product's parser, and tells
// whether and when the proxy closed the connection.
class Client {
 public:
  explicit Client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{3, 0};  // sends never block forever either
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~Client() { Close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // False when the proxy already closed (or reset) the connection.
  bool Send(std::string_view bytes) {
    while (!bytes.empty() && fd_ >= 0) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return fd_ >= 0;
  }

  // Reads one response, interim (1xx) ones included.
  Seen ReadResponse(std::string_view request_method = "GET", milliseconds timeout = kWait) {
    auto deadline = steady_clock::now() + timeout;
    Seen out;
    http::ResponseHead head;
    while (true) {
      http1::HeadParse parsed = http1::ParseResponseHead(buffer_, http1::Limits(), &head);
      if (parsed.state == http1::ParseState::kError) return out;
      if (parsed.state == http1::ParseState::kDone) {
        out.head = buffer_.substr(0, parsed.consumed);
        buffer_.erase(0, parsed.consumed);
        break;
      }
      if (!Fill(deadline)) return out;
    }
    out.status = head.status;
    out.headers = head.headers;
    if (head.status >= 100 && head.status < 200) {
      out.complete = true;
      return out;
    }
    http1::BodyFraming framing;
    if (!http1::ResponseBodyFraming(head, request_method, &framing).ok()) return out;
    http1::BodyDecoder decoder(framing);
    bool at_eof = false;
    while (!decoder.done()) {
      auto step = decoder.Next(buffer_);
      if (step.kind == http1::BodyDecoder::Step::kData) out.body.append(step.data);  // a view: copy first
      buffer_.erase(0, step.consumed);
      if (step.kind == http1::BodyDecoder::Step::kError) return out;
      if (step.kind == http1::BodyDecoder::Step::kNeedMore && step.consumed == 0) {
        if (at_eof) return out;  // truncated
        if (!Fill(deadline)) {
          if (!eof_) return out;  // timed out
          at_eof = true;
          decoder.FinishAtEof();
        }
      }
    }
    out.complete = true;
    return out;
  }

  // Reads until `needle` has arrived (kept for ReadResponse) or the deadline.
  bool ReadUntil(std::string_view needle, milliseconds timeout = kWait) {
    auto deadline = steady_clock::now() + timeout;
    while (!Contains(buffer_, needle)) {
      if (!Fill(deadline)) return false;
    }
    return true;
  }

  // True when the proxy closes the connection within `timeout`. Bytes that
  // arrive meanwhile are kept (see unread()).
  bool WaitForClose(milliseconds timeout = kWait) {
    auto deadline = steady_clock::now() + timeout;
    while (!eof_ && Fill(deadline)) {
    }
    return eof_;
  }

  // True when a byte or the end of stream is ready now or within `timeout`.
  bool Readable(milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, static_cast<int>(timeout.count())) > 0;
  }

  const std::string& unread() const { return buffer_; }
  const std::string& all_received() const { return all_; }
  bool closed_by_proxy() const { return eof_; }

 private:
  // Reads more; false on end of stream (eof_ set) or at the deadline.
  bool Fill(steady_clock::time_point deadline) {
    if (eof_ || fd_ < 0) return false;
    while (true) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      int ready = poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      char buf[65536];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {  // FIN or reset: either way the proxy is gone
        eof_ = true;
        return false;
      }
      buffer_.append(buf, static_cast<size_t>(n));
      all_.append(buf, static_cast<size_t>(n));
      return true;
    }
  }

  int fd_ = -1;
  std::string buffer_;  // received, not yet consumed by ReadResponse
  std::string all_;     // everything received
  bool eof_ = false;
};

std::string Get(std::string_view path, std::string_view extra_headers = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: demo.local\r\n" + std::string(extra_headers) + "\r\n";
}

// A listener on 127.0.0.1 whose accept queue is full, so the kernel drops
// further SYNs: a connect to it hangs like one to a black-holed address,
// without sending a packet anywhere but loopback.
class BlackHoleListener {
 public:
  BlackHoleListener() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(listen_fd_, 0);  // room for one queued connection
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    for (int i = 0; i < 3; ++i) {  // fill the queue, never accept
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fillers_.push_back(fd);
    }
    std::this_thread::sleep_for(50ms);  // let the handshakes that can finish, finish
  }
  ~BlackHoleListener() {
    for (int fd : fillers_) close(fd);
    close(listen_fd_);
  }
  int port() const { return port_; }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

class Http1ConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.high_watermark = 64 * 1024;
    config_.low_watermark = 16 * 1024;
    worker_ = std::make_unique<Worker>(0, &config_);
    proxy_port_ = testing::FreePort();
    auto address = net::ParseListenAddress("127.0.0.1:" + std::to_string(proxy_port_));
    ASSERT_TRUE(address.ok());
    ASSERT_TRUE(worker_->Listen(*address).ok());
    worker_->Start();
  }

  void TearDown() override { worker_->Stop(); }

  // The echo backend, started on first use (most tests use a FakeUpstream).
  int EchoPort() {
    if (echo_ == nullptr) {
      echo_port_ = testing::FreePort();
      echo_ = std::make_unique<testing::Process>(std::vector<std::string>{
          testing::RunfilePath("test/backend/sluice-echo-backend"), "--listen",
          "127.0.0.1:" + std::to_string(echo_port_), "--name", "echo"});
      EXPECT_TRUE(testing::WaitForPort(echo_port_));
    }
    return echo_port_;
  }

  // demo.local/* -> 127.0.0.1:`port` with `policy`; every other host is 404.
  // `port` 0: a cluster without endpoints.
  void RouteTo(int port, const v1::RoutePolicy& policy = v1::RoutePolicy()) {
    v1::Snapshot s;
    auto* cluster = s.add_clusters();
    cluster->set_name("demo/app:80");
    if (port != 0) {
      auto* endpoint = cluster->add_endpoints();
      endpoint->set_address("127.0.0.1");
      endpoint->set_port(static_cast<uint32_t>(port));
    }
    auto* vhost = s.add_virtual_hosts();
    vhost->set_name("demo.local");
    auto* route = vhost->add_routes();
    route->set_match(v1::Route::PREFIX);
    route->set_path("/");
    route->set_cluster("demo/app:80");
    *route->mutable_policy() = policy;
    std::string version = "v" + std::to_string(++versions_);
    auto compiled = snapshot::Compile(s, version);
    ASSERT_TRUE(compiled.ok()) << compiled.status().message();
    worker_->SetSnapshot(*compiled);
    for (int i = 0; i < 400 && worker_->applied_version() != version; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(worker_->applied_version(), version);
  }

  // One request on a fresh connection.
  Seen Roundtrip(std::string_view request, std::string_view method = "GET") {
    Client client(proxy_port_);
    EXPECT_TRUE(client.Send(request));
    return client.ReadResponse(method);
  }

  ProxyConfig config_;
  int proxy_port_ = 0;
  int echo_port_ = 0;
  int versions_ = 0;
  std::unique_ptr<testing::Process> echo_;
  std::unique_ptr<Worker> worker_;
};

// ---------------------------------------------------------------------------
// 1. Malformed request heads: the client gets the listed status and a closed
// connection; the backend never hears of the request.

struct MalformedRequest {
  std::string name;
  std::string bytes;
  int status;
};

std::vector<MalformedRequest> MalformedRequests() {
  const std::string host = "Host: demo.local\r\n";
  std::string big_head = "GET / HTTP/1.1\r\n" + host + "X-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n";
  std::string many_headers = "GET / HTTP/1.1\r\n" + host;
  for (int i = 0; i < 100; ++i) many_headers += "X-H" + std::to_string(i) + ": v\r\n";  // 101 with Host
  many_headers += "\r\n";
  return {
      {"ContentLengthWithTransferEncoding",
       "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"TwoDifferingContentLengths", "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
       400},
      // An unknown coding: 501 (RFC 9112 section 6.1).
      {"GzipThenChunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
      // chunked not final: the length cannot be determined, MUST be 400 (RFC 9112 section 6.3).
      {"ChunkedNotFinal", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400},
      {"BareLfLineEndings", "GET / HTTP/1.1\nHost: demo.local\n\n", 400},
      {"BareCrInsideALine", "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", 400},
      {"ObsFold", "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n folded\r\n\r\n", 400},
      {"WhitespaceBeforeColon", "GET / HTTP/1.1\r\n" + host + "X-A : 1\r\n\r\n", 400},
      {"NulInValue", "GET / HTTP/1.1\r\n" + host + "X-A: a\0b\r\n\r\n"s, 400},
      {"ControlCharacterInName", "GET / HTTP/1.1\r\n" + host + "X\x01" "A: 1\r\n\r\n", 400},
      {"MissingHostInHttp11", "GET / HTTP/1.1\r\n\r\n", 400},
      {"TwoHostHeaders", "GET / HTTP/1.1\r\n" + host + host + "\r\n", 400},
      {"InvalidHost", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"Http20RequestLine", "GET / HTTP/2.0\r\n" + host + "\r\n", 505},
      {"SpaceInTarget", "GET /a b HTTP/1.1\r\n" + host + "\r\n", 400},
      {"HeadOver64KiB", big_head, 431},
      {"OneHundredAndOneHeaders", many_headers, 431},
  };
}

void PrintTo(const MalformedRequest& c, std::ostream* os) { *os << c.name; }

class MalformedRequestTest : public Http1ConformanceTest,
                             public ::testing::WithParamInterface<MalformedRequest> {};

TEST_P(MalformedRequestTest, IsAnsweredClosedAndNeverForwarded) {
  FakeUpstream upstream(FakeUpstream::Always(FakeUpstream::OkResponse()));
  RouteTo(upstream.port());
  Client client(proxy_port_);
  client.Send(GetParam().bytes);  // may fail part-way for the oversized head: the answer still counts
  Seen r = client.ReadResponse();
  EXPECT_EQ(r.status, GetParam().status) << client.all_received();
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_TRUE(client.WaitForClose()) << "the connection stays open after a malformed request";
  std::this_thread::sleep_for(kGrace);
  EXPECT_EQ(upstream.connection_count(), 0u) << upstream.all_received();
}

INSTANTIATE_TEST_SUITE_P(Conformance, MalformedRequestTest, ::testing::ValuesIn(MalformedRequests()),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// 2. A valid head followed by a broken chunked body: the client gets 400 and a
// closed connection; the backend, which already got the head and the first
// chunk, never gets a complete request (no last-chunk) and sees its
// connection closed.

struct BadChunkedBody {
  std::string name;
  std::string tail;  // sent after a valid "5\r\nhello\r\n"
};

void PrintTo(const BadChunkedBody& c, std::ostream* os) { *os << c.name; }

class BadChunkedBodyTest : public Http1ConformanceTest, public ::testing::WithParamInterface<BadChunkedBody> {};

TEST_P(BadChunkedBodyTest, Gets400AndTheBackendNeverSeesACompleteRequest) {
  FakeUpstream upstream(FakeUpstream::Silent());
  RouteTo(upstream.port());
  Client client(proxy_port_);
  ASSERT_TRUE(client.Send("POST /upload HTTP/1.1\r\nHost: demo.local\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5\r\nhello\r\n"));
  ASSERT_TRUE(upstream.WaitForReceived(0, "hello", kWait)) << "the proxy does not stream request bodies";
  client.Send(GetParam().tail);
  Seen r = client.ReadResponse();
  EXPECT_EQ(r.status, 400) << client.all_received();
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_TRUE(upstream.WaitForAllPeerClosed(kWait)) << "the half-sent upstream request was left open";
  EXPECT_FALSE(Contains(upstream.all_received(), "\r\n0\r\n\r\n")) << upstream.all_received();
  EXPECT_EQ(upstream.request_count(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Conformance, BadChunkedBodyTest,
                         ::testing::Values(BadChunkedBody{"InvalidChunkSize", "zz\r\nabc\r\n0\r\n\r\n"},
                                           BadChunkedBody{"SeventeenHexDigits",
                                                          "10000000000000000\r\nabc\r\n0\r\n\r\n"},
                                           BadChunkedBody{"ControlCharacterInExtension",
                                                          "5;ext=a\x01" "b\r\nworld\r\n0\r\n\r\n"},
                                           BadChunkedBody{"MissingCrlfAfterData", "5\r\nworldXX0\r\n\r\n"}),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// 3. A backend that answers garbage: the client gets 502, and the proxy
// closes that backend connection rather than pooling it.

struct BadResponse {
  std::string name;
  std::string bytes;
};

void PrintTo(const BadResponse& c, std::ostream* os) { *os << c.name; }

class BadResponseTest : public Http1ConformanceTest, public ::testing::WithParamInterface<BadResponse> {};

TEST_P(BadResponseTest, Gets502AndTheUpstreamConnectionIsClosed) {
  FakeUpstream upstream(FakeUpstream::Always(GetParam().bytes));
  RouteTo(upstream.port());
  Seen r = Roundtrip(Get("/"));
  EXPECT_EQ(r.status, 502);
  EXPECT_FALSE(Contains(r.body, "127.0.0.1")) << r.body;
  EXPECT_TRUE(upstream.WaitForPeerClose(0, kWait)) << "a connection that sent garbage was kept";
}

INSTANTIATE_TEST_SUITE_P(
    Conformance, BadResponseTest,
    ::testing::Values(
        BadResponse{"InvalidStatusLine", "HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\nok"},
        BadResponse{"ContentLengthWithTransferEncoding",
                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        BadResponse{"TwoDifferingContentLengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"},
        BadResponse{"BareLfInHead", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"},
        BadResponse{"NulInHeaderValue", "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok"s}),
    [](const auto& info) { return info.param.name; });

// The backend's chunked body turns invalid after the head went out: the
// client sees a truncated response (no last-chunk, connection closed), never
// a complete-looking one, and the backend connection is closed.
TEST_F(Http1ConformanceTest, ChunkedResponseBrokenMidwayIsTruncatedForTheClient) {
  FakeUpstream upstream(
      FakeUpstream::Always("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n"));
  RouteTo(upstream.port());
  Client client(proxy_port_);
  ASSERT_TRUE(client.Send(Get("/")));
  Seen r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete) << "a broken upstream body was delivered as complete";
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_FALSE(Contains(client.all_received(), "0\r\n\r\n")) << client.all_received();
  EXPECT_TRUE(upstream.WaitForPeerClose(0, kWait));
}

// ---------------------------------------------------------------------------
// 4. Three pipelined requests in one write, the second malformed: the client
// gets the first response, then 400, then the connection closes; the third
// request is never forwarded.
TEST_F(Http1ConformanceTest, PipelinedMalformedRequestStopsTheConnection) {
  FakeUpstream upstream(FakeUpstream::Always(FakeUpstream::OkResponse("first")));
  RouteTo(upstream.port());
  Client client(proxy_port_);
  ASSERT_TRUE(client.Send(Get("/one") +
                          "GET /two HTTP/1.1\r\nHost: demo.local\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n" +
                          Get("/three")));
  Seen first = client.ReadResponse();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "first");
  Seen second = client.ReadResponse();
  EXPECT_EQ(second.status, 400);
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_TRUE(client.unread().empty()) << client.unread();
  std::this_thread::sleep_for(kGrace);
  ASSERT_EQ(upstream.request_count(), 1u);
  EXPECT_TRUE(upstream.request_heads()[0].starts_with("GET /one ")) << upstream.request_heads()[0];
}

// ---------------------------------------------------------------------------
// 5. Expect: 100-continue: the client is told to go on before it sends the
// body, the backend gets the body and no Expect header.
TEST_F(Http1ConformanceTest, ExpectContinueIsAnsweredByTheProxy) {
  RouteTo(EchoPort());
  Client client(proxy_port_);
  ASSERT_TRUE(client.Send(
      "POST /anything HTTP/1.1\r\nHost: demo.local\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  Seen interim = client.ReadResponse();
  EXPECT_EQ(interim.status, 100);
  EXPECT_TRUE(interim.head.starts_with("HTTP/1.1 100 Continue\r\n")) << interim.head;
  ASSERT_TRUE(client.Send("hello"));
  Seen r = client.ReadResponse("POST");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(Contains(r.body, "\"body_bytes\":5")) << r.body;
  EXPECT_FALSE(Contains(Lower(r.body), "expect")) << r.body;
}

// ---------------------------------------------------------------------------
// 6. Request targets. CONNECT is not something this proxy does: 405, and the
// backend never hears of it.
TEST_F(Http1ConformanceTest, ConnectGets405AndIsNotForwarded) {
  FakeUpstream upstream(FakeUpstream::Always(FakeUpstream::OkResponse()));
  RouteTo(upstream.port());
  Client client(proxy_port_);
  ASSERT_TRUE(client.Send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse("CONNECT").status, 405);
  EXPECT_TRUE(client.WaitForClose());
  std::this_thread::sleep_for(kGrace);
  EXPECT_EQ(upstream.connection_count(), 0u);
}

// An absolute-form target is routed by its authority and reaches the backend
// in origin-form.
TEST_F(Http1ConformanceTest, AbsoluteFormIsRoutedByAuthorityAndForwardedInOriginForm) {
  FakeUpstream upstream(FakeUpstream::Always(FakeUpstream::OkResponse()));
  RouteTo(upstream.port());
  Seen r = Roundtrip("GET http://demo.local/app?x=1 HTTP/1.1\r\nHost: demo.local\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(upstream.request_count(), 1u);
  std::string head = upstream.request_heads()[0];
  EXPECT_TRUE(head.starts_with("GET /app?x=1 HTTP/1.1\r\n")) << head;
  EXPECT_TRUE(Contains(Lower(head), "\r\nhost: demo.local\r\n")) << head;
}

// ---------------------------------------------------------------------------
// 7. Backend software names stay private unless the route says otherwise;
// the proxy's own error pages reveal neither software nor addresses.
const std::string kRevealingHeaders = "Server: secret-origin/1.2\r\nX-Powered-By: PHP/5.1\r\n";

TEST_F(Http1ConformanceTest, ServerAndPoweredByAreRemovedByDefault) {
  FakeUpstream upstream(FakeUpstream::Always(FakeUpstream::OkResponse("ok", kRevealingHeaders)));
  RouteTo(upstream.port());
  Seen r = Roundtrip(Get("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("server"), "");
  EXPECT_EQ(r.Header("x-powered-by"), "");
}

TEST_F(Http1ConformanceTest, KeepServerHeaderPolicyForwardsThem) {
  FakeUpstream upstream(FakeUpstream::Always(FakeUpstream::OkResponse("ok", kRevealingHeaders)));
  v1::RoutePolicy policy;
  policy.set_keep_server_header(true);
  RouteTo(upstream.port(), policy);
  Seen r = Roundtrip(Get("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("server"), "secret-origin/1.2");
  EXPECT_EQ(r.Header("x-powered-by"), "PHP/5.1");
}

TEST_F(Http1ConformanceTest, ProxyErrorPagesRevealNoServerOrUpstreamAddress) {
  auto check = [](const Seen& r, int status, const std::string& secret) {
    SCOPED_TRACE(status);
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.Header("server"), "");
    EXPECT_FALSE(Contains(r.body, "127.0.0.1")) << r.body;
    if (!secret.empty()) EXPECT_FALSE(Contains(r.head + r.body, secret)) << r.head << r.body;
  };
  RouteTo(0);  // a service without ready endpoints
  check(Roundtrip(Get("/")), 503, "");
  int closed_port = testing::FreePort();
  RouteTo(closed_port);
  check(Roundtrip(Get("/")), 502, std::to_string(closed_port));
  check(Roundtrip("GET / HTTP/1.1\r\nHost: other.local\r\n\r\n"), 404, "");
}

// ---------------------------------------------------------------------------
// 8. Per-route policies from the snapshot.

// A backend slower than the route's response timeout: 504 well before the
// backend would have answered.
TEST_F(Http1ConformanceTest, RouteResponseTimeoutGives504) {
  v1::RoutePolicy policy;
  policy.set_response_timeout_ms(200);
  RouteTo(EchoPort(), policy);
  auto start = steady_clock::now();
  Seen r = Roundtrip(Get("/slow/2000"));
  EXPECT_EQ(r.status, 504);
  EXPECT_LT(Since(start), 1000ms);
  EXPECT_GE(Since(start), 150ms);
}

// A declared body over the route's limit: 413 at once, nothing forwarded.
TEST_F(Http1ConformanceTest, RouteBodyLimitRejectsContentLengthWithoutForwarding) {
  FakeUpstream upstream(FakeUpstream::Always(FakeUpstream::OkResponse()));
  v1::RoutePolicy policy;
  policy.set_max_request_body_bytes(10);
  RouteTo(upstream.port(), policy);
  Client client(proxy_port_);
  ASSERT_TRUE(client.Send("POST / HTTP/1.1\r\nHost: demo.local\r\nContent-Length: 11\r\n\r\nhello world"));
  EXPECT_EQ(client.ReadResponse("POST").status, 413);
  EXPECT_TRUE(client.WaitForClose());
  std::this_thread::sleep_for(kGrace);
  EXPECT_EQ(upstream.connection_count(), 0u);
}

// A chunked body that grows past the limit: 413 (nothing answered yet), and
// the backend, which saw the start, never gets a complete request.
TEST_F(Http1ConformanceTest, RouteBodyLimitStopsAChunkedBody) {
  FakeUpstream upstream(FakeUpstream::Silent());
  v1::RoutePolicy policy;
  policy.set_max_request_body_bytes(10);
  RouteTo(upstream.port(), policy);
  Client client(proxy_port_);
  ASSERT_TRUE(client.Send("POST / HTTP/1.1\r\nHost: demo.local\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello!\r\n"));
  ASSERT_TRUE(upstream.WaitForReceived(0, "hello!", kWait));
  client.Send("6\r\nworld!\r\n0\r\n\r\n");
  EXPECT_EQ(client.ReadResponse("POST").status, 413);
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_TRUE(upstream.WaitForAllPeerClosed(kWait));
  EXPECT_FALSE(Contains(upstream.all_received(), "world!")) << upstream.all_received();
  EXPECT_FALSE(Contains(upstream.all_received(), "\r\n0\r\n\r\n")) << upstream.all_received();
}

// A backend whose connect never completes (a full accept queue on loopback
// drops the SYN): 504 after the route's connect timeout.
TEST_F(Http1ConformanceTest, RouteConnectTimeoutGives504) {
  BlackHoleListener black_hole;
  v1::RoutePolicy policy;
  policy.set_connect_timeout_ms(200);
  RouteTo(black_hole.port(), policy);
  auto start = steady_clock::now();
  Seen r = Roundtrip(Get("/"));
  EXPECT_EQ(r.status, 504);
  EXPECT_LT(Since(start), 1000ms);
  EXPECT_GE(Since(start), 150ms);
}

// The route's client body timeout applies even when the proxy-wide one is long.
TEST_F(Http1ConformanceTest, RouteClientBodyTimeoutGives408) {
  FakeUpstream upstream(FakeUpstream::Silent());
  v1::RoutePolicy policy;
  policy.set_client_body_timeout_ms(300);
  RouteTo(upstream.port(), policy);
  Client client(proxy_port_);
  auto start = steady_clock::now();
  ASSERT_TRUE(client.Send("POST / HTTP/1.1\r\nHost: demo.local\r\nContent-Length: 10\r\n\r\nabc"));
  EXPECT_EQ(client.ReadResponse("POST").status, 408);
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_LT(Since(start), 1500ms);
  EXPECT_GE(Since(start), 250ms);
  EXPECT_TRUE(upstream.WaitForAllPeerClosed(kWait));
}

// ---------------------------------------------------------------------------
// 9. Client timeouts from ProxyConfig (short ones, set for these tests).
class ClientTimeoutTest : public Http1ConformanceTest {
 protected:
  void SetUp() override {
    config_.client_header_timeout = 300ms;
    config_.keepalive_timeout = 300ms;
    config_.client_body_timeout = 300ms;
    Http1ConformanceTest::SetUp();
  }
};

// Half a request head, then nothing: 408 and a closed connection after the
// header timeout, and nothing forwarded.
TEST_F(ClientTimeoutTest, StalledHeadGets408) {
  FakeUpstream upstream(FakeUpstream::Always(FakeUpstream::OkResponse()));
  RouteTo(upstream.port());
  Client client(proxy_port_);
  auto start = steady_clock::now();
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: demo"));
  EXPECT_EQ(client.ReadResponse().status, 408);
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_GE(Since(start), 250ms);
  EXPECT_LT(Since(start), 1300ms);
  EXPECT_EQ(upstream.connection_count(), 0u);
}

// Slowloris: a head trickled one byte at a time does not extend the header
// timeout.
TEST_F(ClientTimeoutTest, TrickledHeadStillTimesOut) {
  RouteTo(testing::FreePort());
  Client client(proxy_port_);
  const std::string head = "GET / HTTP/1.1\r\nHost: demo.local\r\nX-Padding: " + std::string(200, 'p');
  auto start = steady_clock::now();
  for (size_t i = 0; i < head.size() && Since(start) < 2500ms; ++i) {
    if (client.Readable(50ms)) break;  // the proxy answered or closed
    if (!client.Send(head.substr(i, 1))) break;
  }
  EXPECT_EQ(client.ReadResponse().status, 408);
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_LT(Since(start), 1300ms);
}

// An idle keep-alive connection is closed quietly after the keep-alive
// timeout (no response bytes).
TEST_F(ClientTimeoutTest, IdleKeepAliveConnectionIsClosed) {
  FakeUpstream upstream(FakeUpstream::Always(FakeUpstream::OkResponse()));
  RouteTo(upstream.port());
  Client client(proxy_port_);
  ASSERT_TRUE(client.Send(Get("/")));
  ASSERT_EQ(client.ReadResponse().status, 200);
  auto idle_since = steady_clock::now();
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_GE(Since(idle_since), 250ms);
  EXPECT_LT(Since(idle_since), 1300ms);
  EXPECT_TRUE(client.unread().empty()) << client.unread();
}

// A client that stops mid-body: 408, closed connection, and the backend's
// half-received request is abandoned (its connection closed).
TEST_F(ClientTimeoutTest, StalledBodyGets408) {
  FakeUpstream upstream(FakeUpstream::Silent());
  RouteTo(upstream.port());
  Client client(proxy_port_);
  auto start = steady_clock::now();
  ASSERT_TRUE(client.Send("POST / HTTP/1.1\r\nHost: demo.local\r\nContent-Length: 10\r\n\r\nabc"));
  EXPECT_EQ(client.ReadResponse("POST").status, 408);
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_GE(Since(start), 250ms);
  EXPECT_LT(Since(start), 1300ms);
  EXPECT_TRUE(upstream.WaitForAllPeerClosed(kWait));
}

// ---------------------------------------------------------------------------
// 10. Connection management towards the client.

// "Connection: close" from the client: the response says so and the socket
// closes after it.
TEST_F(Http1ConformanceTest, ClientConnectionCloseIsHonoured) {
  RouteTo(EchoPort());
  Client client(proxy_port_);
  ASSERT_TRUE(client.Send(Get("/x", "Connection: close\r\n")));
  Seen r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Lower(r.Header("connection")), "close");
  EXPECT_TRUE(client.WaitForClose());
}

// An HTTP/1.0 client asking for keep-alive gets it and can send a second
// request on the same connection.
TEST_F(Http1ConformanceTest, Http10KeepAliveIsHonoured) {
  RouteTo(EchoPort());
  Client client(proxy_port_);
  const std::string request = "GET /one HTTP/1.0\r\nHost: demo.local\r\nConnection: keep-alive\r\n\r\n";
  ASSERT_TRUE(client.Send(request));
  Seen first = client.ReadResponse();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(Lower(first.Header("connection")), "keep-alive");
  EXPECT_TRUE(first.complete);
  ASSERT_TRUE(client.Send("GET /two HTTP/1.0\r\nHost: demo.local\r\nConnection: keep-alive\r\n\r\n"));
  Seen second = client.ReadResponse();
  EXPECT_EQ(second.status, 200);
  EXPECT_TRUE(Contains(second.body, "/two")) << second.body;
}

// ---------------------------------------------------------------------------
// 11. Connection management towards the backend.

// The baseline the next two tests depend on: plain keep-alive responses
// reuse one backend connection.
TEST_F(Http1ConformanceTest, UpstreamConnectionIsReusedAfterACompleteResponse) {
  FakeUpstream upstream(FakeUpstream::Always(FakeUpstream::OkResponse()));
  RouteTo(upstream.port());
  EXPECT_EQ(Roundtrip(Get("/1")).status, 200);
  EXPECT_EQ(Roundtrip(Get("/2")).status, 200);
  EXPECT_EQ(upstream.request_count(), 2u);
  EXPECT_EQ(upstream.connection_count(), 1u);
}

// A backend that said "Connection: close" (but left the socket open) is not
// asked again on that connection: the proxy closes it and opens a new one.
TEST_F(Http1ConformanceTest, UpstreamConnectionCloseIsNotReused) {
  FakeUpstream upstream(FakeUpstream::Always(FakeUpstream::OkResponse("ok", "Connection: close\r\n")));
  RouteTo(upstream.port());
  EXPECT_EQ(Roundtrip(Get("/1")).status, 200);
  EXPECT_TRUE(upstream.WaitForPeerClose(0, kWait));
  EXPECT_EQ(Roundtrip(Get("/2")).status, 200);
  EXPECT_EQ(upstream.connection_count(), 2u);
  EXPECT_EQ(upstream.received(0).find("GET /2"), std::string::npos);
}

// The client leaves in the middle of a response body that is still
// streaming (the proxy has more to write to it): the backend connection,
// with the rest of that body in flight, is closed (never pooled), and the
// next request gets a fresh one.
TEST_F(Http1ConformanceTest, PartlyReadResponseConnectionIsNeverReused) {
  FakeUpstream upstream([](const FakeUpstream::Request& request) {
    if (request.connection == 0) {  // more than all the socket buffers on the way can hold
      return FakeUpstream::Reply{"HTTP/1.1 200 OK\r\nContent-Length: 64000000\r\n\r\n" +
                                 std::string(32000000, 'x')};
    }
    return FakeUpstream::Reply{FakeUpstream::OkResponse("fresh")};
  });
  RouteTo(upstream.port());
  {
    Client client(proxy_port_);
    ASSERT_TRUE(client.Send(Get("/big")));
    ASSERT_TRUE(client.ReadUntil("xxxx"));
  }  // the client disconnects mid-body
  EXPECT_TRUE(upstream.WaitForPeerClose(0, kWait));
  Seen r = Roundtrip(Get("/next"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "fresh");
  EXPECT_EQ(upstream.connection_count(), 2u);
}

// The client leaves in the middle of a response body while the backend
// pauses: the proxy lets go of the backend connection at once instead of
// holding it until the upstream idle timeout (a minute by default).
TEST_F(Http1ConformanceTest, ClientGoneWhileTheUpstreamPausesReleasesTheUpstream) {
  FakeUpstream upstream(
      FakeUpstream::Always("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + std::string(1000, 'x')));
  RouteTo(upstream.port());
  {
    Client client(proxy_port_);
    ASSERT_TRUE(client.Send(Get("/big")));
    ASSERT_TRUE(client.ReadUntil("xxxx"));
  }  // the client disconnects mid-body
  EXPECT_TRUE(upstream.WaitForPeerClose(0, kWait));
}

// A close-delimited response whose last bytes and FIN reach the proxy in
// one segment (one epoll wakeup): the proxy must not take its short read
// for "drained" and wait for an edge that never comes; the client gets the
// whole response at once, not when the upstream idle timeout fires.
TEST_F(Http1ConformanceTest, CloseDelimitedBodyEndingWithTheFinInOneSegmentCompletesAtOnce) {
  FakeUpstream upstream([](const FakeUpstream::Request&) {
    FakeUpstream::Reply reply{"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it", /*close=*/true};
    reply.fin_with_data = true;
    return reply;
  });
  RouteTo(upstream.port());
  for (int i = 0; i < 5; ++i) {
    Client client(proxy_port_);
    ASSERT_TRUE(client.Send(Get("/")));
    Seen r = client.ReadResponse();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "all of it");
    EXPECT_TRUE(r.complete) << "request " << i << ": the end of a close-delimited body was missed";
  }
}

// The same for a tunnel (WebSocket): the upstream's last bytes and its FIN
// arrive together; the client gets the bytes and its connection closes
// promptly (a WebSocket client waits for the TCP close after the closing
// handshake).
TEST_F(Http1ConformanceTest, TunnelEndingWithTheFinInOneSegmentClosesTheClientAtOnce) {
  FakeUpstream upstream([](const FakeUpstream::Request&) {
    FakeUpstream::Reply reply{
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nbye", /*close=*/true};
    reply.fin_with_data = true;
    return reply;
  });
  RouteTo(upstream.port());
  for (int i = 0; i < 5; ++i) {
    Client client(proxy_port_);
    ASSERT_TRUE(client.Send(Get("/chat", "Connection: Upgrade\r\nUpgrade: websocket\r\n")));
    ASSERT_TRUE(client.ReadUntil("bye")) << client.all_received();
    EXPECT_TRUE(client.WaitForClose()) << "request " << i << ": the tunnel's end was missed";
  }
}

}  // namespace
}  // namespace sluice::proxy
