// TLS passthrough end to end (ssl-passthrough with the controller's
// --enable-ssl-passthrough): sluice-controller and sluice-proxy as real
// processes, `openssl s_server` as the TLS backend on 127.0.0.1. A client
// naming the passthrough host sees the BACKEND's certificate (the proxy never
// terminates), while a terminated host on the same HTTPS listener still sees
// the proxy's; ClientHellos split over segments and records; PROXY protocol
// before the ClientHello; the next endpoint after a refused connect; one
// access-log line per connection, with bytes each way.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "test/support/certificate.h"
#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/observe.h"
#include "test/support/process.h"
#include "test/support/proxy_header.h"
#include "test/support/shell.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using testing::Pem;

std::string RunShell(const std::string& command) { return testing::ShellOutput("timeout 10 " + command + " 2>&1"); }

std::string Ingress(const std::string& name, const std::string& host, const std::string& service,
                    const std::string& annotations, const std::string& tls = "") {
  std::string yaml = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
                     "\n  namespace: demo\n";
  if (!annotations.empty()) yaml += "  annotations:\n" + annotations;
  yaml += "spec:\n  ingressClassName: sluice\n";
  if (!tls.empty()) yaml += "  tls:\n" + tls;
  yaml += "  rules:\n    - host: \"" + host + "\"\n      http:\n        paths:\n"
          "          - {path: /, pathType: Prefix, backend: {service: {name: " + service + ", port: {number: 80}}}}\n"
          "          - {path: /ignored, pathType: Prefix, backend: {service: {name: " + service +
          ", port: {number: 80}}}}\n";
  return yaml;
}

// A Service with two endpoints: 127.0.0.2 (nothing listens there: refused)
// and 127.0.0.1 (the backend), on the same port.
std::string ServiceWithDeadEndpoint(const std::string& name, int port) {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name +
         ", namespace: demo}\nspec:\n  ports: [{port: 80, protocol: TCP}]\n---\n"
         "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " + name +
         "-1\n  namespace: demo\n  labels: {kubernetes.io/service-name: " + name +
         "}\naddressType: IPv4\nports: [{port: " + std::to_string(port) +
         ", protocol: TCP}]\nendpoints:\n  - {addresses: [\"127.0.0.2\"], conditions: {ready: true}}\n"
         "  - {addresses: [\"127.0.0.1\"], conditions: {ready: true}}\n";
}

// Splits the handshake record `hello` into records of `chunk` fragment bytes.
std::string Rerecord(const std::string& hello, size_t chunk) {
  std::string message = hello.substr(5), out;
  for (size_t at = 0; at < message.size(); at += chunk) {
    std::string fragment = message.substr(at, chunk);
    out += std::string{22, 3, 1, static_cast<char>(fragment.size() >> 8), static_cast<char>(fragment.size() & 0xff)};
    out += fragment;
  }
  return out;
}

// The ClientHello OpenSSL sends for `sni` (its bytes only; no handshake).
std::string ClientHelloBytes(const std::string& sni) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, BIO_new(BIO_s_mem()), out);
  SSL_set_tlsext_host_name(ssl, sni.c_str());
  SSL_connect(ssl);
  char* data = nullptr;
  long n = BIO_get_mem_data(out, &data);
  std::string hello(data, static_cast<size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

int ConnectTo(int port, int rcvbuf = 0) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads until `n` bytes or EOF/timeout (SO_RCVTIMEO).
std::string ReadN(int fd, size_t n) {
  std::string out;
  char buffer[65536];
  while (out.size() < n) {
    ssize_t got = recv(fd, buffer, std::min(sizeof buffer, n - out.size()), 0);
    if (got <= 0) break;
    out.append(buffer, static_cast<size_t>(got));
  }
  return out;
}

// A TLS handshake driven by hand over memory BIOs, so the test decides how
// the ClientHello reaches the proxy: after `prefix` (a PROXY header), cut
// into TLS records of `record_chunk` bytes (0: as OpenSSL wrote it) and sent
// in TCP writes of `write_chunk` bytes with a pause between them. Returns
// the peer certificate's subject ("" when the handshake failed).
std::string HandshakeSubject(int port, const std::string& sni, const std::string& prefix, size_t record_chunk,
                             size_t write_chunk) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_tlsext_host_name(ssl, sni.c_str());
  auto drain = [&] {
    char* data = nullptr;
    long n = BIO_get_mem_data(out, &data);
    std::string bytes(data, static_cast<size_t>(n));
    (void)BIO_reset(out);
    return bytes;
  };
  int result = SSL_connect(ssl);
  std::string hello = drain();
  if (record_chunk != 0) hello = Rerecord(hello, record_chunk);
  if (!prefix.empty()) send(fd, prefix.data(), prefix.size(), MSG_NOSIGNAL);
  for (size_t at = 0; at < hello.size(); at += write_chunk) {
    std::string piece = hello.substr(at, write_chunk);
    send(fd, piece.data(), piece.size(), MSG_NOSIGNAL);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  for (int i = 0; i < 50 && result != 1; ++i) {  // bounded: each recv waits at most 5 s
    char buffer[16384];
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    BIO_write(in, buffer, static_cast<int>(n));
    result = SSL_connect(ssl);
    std::string reply = drain();
    if (!reply.empty()) send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    if (result != 1 && SSL_get_error(ssl, result) != SSL_ERROR_WANT_READ) break;
  }
  std::string subject;
  if (result == 1) {
    if (X509* cert = SSL_get1_peer_certificate(ssl)) {
      char line[512];
      X509_NAME_oneline(X509_get_subject_name(cert), line, sizeof line);
      subject = line;
      X509_free(cert);
    }
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return subject;
}

class PassthroughEndToEndTest : public ::testing::Test {
 protected:
  void Start(bool proxy_protocol, std::vector<std::string> proxy_flags = {}) {
    if (proxy_protocol) proxy_flags.insert(proxy_flags.end(), {"--proxy-protocol", "https"});
    cluster_ = std::make_unique<testing::SluiceCluster>(testing::SluiceClusterOptions{
        .name = "passthrough_e2e",
        .workers = 2,
        .https = true,
        .access_log = "access.log",
        .extra_proxy_flags = proxy_flags,
        .extra_controller_flags = {"--enable-ssl-passthrough"}});
    const std::string& dir = cluster_->dir();
    proxy_cert_ = testing::MakeSelfSignedCertificate(dir, "proxy", "terminated.test");
    backend_cert_ = testing::MakeSelfSignedCertificate(dir, "backend", "passthrough-backend.test");
    ASSERT_FALSE(proxy_cert_.cert.empty()) << proxy_cert_.openssl_output;
    ASSERT_FALSE(backend_cert_.cert.empty()) << backend_cert_.openssl_output;
    app_port_ = testing::FreePort();
    tls_backend_port_ = testing::FreePort();
    // A raw TCP backend the test drives itself (bytes, half-close, stalls).
    raw_port_ = testing::FreePort();
    raw_listener_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(raw_listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(raw_port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(raw_listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(raw_listener_, 16), 0);
    app_ = cluster_->StartEchoBackend("app", app_port_);
    tls_backend_ = cluster_->StartLogged({"/usr/bin/openssl", "s_server", "-www", "-quiet", "-accept",
                                          "127.0.0.1:" + std::to_string(tls_backend_port_), "-cert",
                                          dir + "/backend.crt", "-key", dir + "/backend.key"},
                                         "tls_backend.log");
    std::string passthrough = "    nginx.ingress.kubernetes.io/ssl-passthrough: \"true\"\n";
    cluster_->WriteManifest(
        "all.yaml",
        testing::DefaultIngressClass() + "---\n" + testing::ServiceAndSlice("app", "demo", app_port_) + "---\n" +
            testing::ServiceAndSlice("tlsback", "demo", tls_backend_port_) + "---\n" +
            ServiceWithDeadEndpoint("tlsback-flaky", tls_backend_port_) + "---\n" +
            testing::TlsSecret("proxy-cert", "demo", proxy_cert_.cert, proxy_cert_.key) + "---\n" +
            Ingress("terminated", "terminated.test", "app", "", "    - {hosts: [terminated.test], secretName: proxy-cert}\n") +
            "---\n" + Ingress("pass", "pass.test", "tlsback", passthrough) + "---\n" +
            testing::ServiceAndSlice("rawback", "demo", raw_port_) + "---\n" +
            Ingress("raw", "raw.test", "rawback",
                    passthrough + "    nginx.ingress.kubernetes.io/proxy-read-timeout: \"1\"\n") + "---\n" +
            Ingress("rawslow", "rawslow.test", "rawback", passthrough) + "---\n" +
            Ingress("flaky", "flaky.test", "tlsback-flaky", passthrough));
    cluster_->Start();
    ASSERT_TRUE(testing::WaitForPort(app_port_));
    ASSERT_TRUE(testing::WaitForPort(tls_backend_port_));
    ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Logs();
    // The snapshot with the passthrough hosts is applied.
    ASSERT_TRUE(testing::WaitUntil([&] { return Subject("pass.test").find("passthrough-backend.test") != std::string::npos; },
                                   std::chrono::seconds(15), std::chrono::milliseconds(100)))
        << cluster_->Logs();
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs() << cluster_->Read("access.log");
    if (raw_listener_ >= 0) close(raw_listener_);
  }

  // The raw backend's next connection (5 s at most), -1 if none.
  int AcceptRaw(int sndbuf = 0) {
    pollfd p{raw_listener_, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return -1;
    int fd = accept(raw_listener_, nullptr, nullptr);
    timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    return fd;
  }

  std::string Prefix() const {
    return proxy_protocol_ ? testing::ProxyV1("203.0.113.9", 4000, "127.0.0.1", 443) : std::string();
  }
  std::string Subject(const std::string& sni) {
    return HandshakeSubject(cluster_->https_port(), sni, Prefix(), 0, 1 << 20);
  }

  bool Logged(const std::vector<std::string>& parts) { return cluster_->WaitForLine("access.log", parts); }

  long Metric(const std::string& series) {
    return static_cast<long>(
        testing::MetricSample(testing::Fetch(cluster_->admin_port(), "127.0.0.1", "/metrics").body, series));
  }

  bool proxy_protocol_ = false;
  Pem proxy_cert_, backend_cert_;
  int app_port_ = 0, tls_backend_port_ = 0, raw_port_ = 0, raw_listener_ = -1;
  std::unique_ptr<testing::SluiceCluster> cluster_;
  std::unique_ptr<testing::Process> app_, tls_backend_;
};

TEST_F(PassthroughEndToEndTest, BackendCertificateForPassthroughProxyCertificateForTerminatedHost) {
  ASSERT_NO_FATAL_FAILURE(Start(false));
  std::string port = std::to_string(cluster_->https_port());
  std::string pass = RunShell("openssl s_client -connect 127.0.0.1:" + port + " -servername pass.test </dev/null");
  EXPECT_NE(pass.find("CN = passthrough-backend.test"), std::string::npos) << pass;
  std::string terminated =
      RunShell("openssl s_client -connect 127.0.0.1:" + port + " -servername terminated.test </dev/null");
  EXPECT_NE(terminated.find("CN = terminated.test"), std::string::npos) << terminated;
  EXPECT_EQ(terminated.find("passthrough-backend.test"), std::string::npos) << terminated;

  // HTTP inside the passed-through TLS reaches the backend itself (s_server
  // -www answers with its status page), and the terminated host still
  // reaches its HTTP backend through the proxy.
  std::string page = RunShell("curl -sS -k --max-time 5 --resolve pass.test:" + port +
                              ":127.0.0.1 https://pass.test:" + port + "/");
  EXPECT_NE(page.find("s_server"), std::string::npos) << page;
  std::string proxied = RunShell("curl -sS -k -i --max-time 5 --resolve terminated.test:" + port +
                                 ":127.0.0.1 https://terminated.test:" + port + "/anything");
  EXPECT_NE(proxied.find("x-backend: app"), std::string::npos) << proxied;

  EXPECT_TRUE(Logged({R"("method":"PASSTHROUGH")", R"("host":"pass.test")", "\"upstream\":\"127.0.0.1:" +
                                                                               std::to_string(tls_backend_port_)}));
  // Every passthrough line counts bytes both ways (the handshakes moved some).
  std::string log = cluster_->Read("access.log");
  for (size_t start = 0, end; start < log.size(); start = end + 1) {
    end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(start, end - start);
    if (line.find("PASSTHROUGH") == std::string::npos) continue;
    EXPECT_EQ(line.find(R"("bytes_in":0,)"), std::string::npos) << line;
    EXPECT_EQ(line.find(R"("bytes_out":0,)"), std::string::npos) << line;
  }
  EXPECT_GE(Metric("sluice_passthrough_connections_total"), 3);
  EXPECT_GT(Metric("sluice_passthrough_received_bytes_total"), 0);
  EXPECT_GT(Metric("sluice_passthrough_sent_bytes_total"), 0);
}

TEST_F(PassthroughEndToEndTest, ClientHelloSplitOverSegmentsAndRecords) {
  ASSERT_NO_FATAL_FAILURE(Start(false));
  int port = cluster_->https_port();
  // Three-byte TCP writes, 30 ms apart, one record.
  EXPECT_NE(HandshakeSubject(port, "pass.test", "", 0, 3).find("passthrough-backend.test"), std::string::npos);
  // Records of 40 bytes, in 100-byte writes: the proxy reassembles the
  // message to read the name, the backend gets the records untouched.
  EXPECT_NE(HandshakeSubject(port, "pass.test", "", 40, 100).find("passthrough-backend.test"), std::string::npos);
  // The same for a terminated host: OpenSSL gets every peeked byte.
  EXPECT_NE(HandshakeSubject(port, "terminated.test", "", 40, 100).find("CN=terminated.test"), std::string::npos);
  // Names are case-insensitive.
  EXPECT_NE(HandshakeSubject(port, "PASS.test", "", 0, 1 << 20).find("passthrough-backend.test"), std::string::npos);
}

TEST_F(PassthroughEndToEndTest, RefusedEndpointIsSkipped) {
  ASSERT_NO_FATAL_FAILURE(Start(false));
  for (int i = 0; i < 4; ++i) {
    EXPECT_NE(Subject("flaky.test").find("passthrough-backend.test"), std::string::npos) << i;
  }
  // Some connection tried the dead endpoint first and went on to the live one.
  EXPECT_TRUE(Logged({R"("host":"flaky.test")", R"("attempts":2)", "127.0.0.2:"}));
}

TEST_F(PassthroughEndToEndTest, ProxyProtocolHeaderIsReadFirst) {
  proxy_protocol_ = true;
  ASSERT_NO_FATAL_FAILURE(Start(true));
  EXPECT_NE(Subject("terminated.test").find("CN=terminated.test"), std::string::npos);
  EXPECT_NE(HandshakeSubject(cluster_->https_port(), "pass.test", Prefix(), 50, 7).find("passthrough-backend.test"),
            std::string::npos);
  // The client is the one the header names, and the header's bytes never
  // reached the backend (its handshake would have failed).
  EXPECT_TRUE(Logged({R"("client":"203.0.113.9")", R"("method":"PASSTHROUGH")", R"("host":"pass.test")"}));
}

TEST_F(PassthroughEndToEndTest, BytesUntouchedHalfCloseBackpressureAndIdleTimeout) {
  ASSERT_NO_FATAL_FAILURE(Start(false));
  // rawslow.test has the default idle timeout (60 s): a busy machine may
  // leave the stalled connection below quiet for more than a second.
  std::string hello = ClientHelloBytes("rawslow.test");

  // Every byte, the ClientHello first, reaches the backend as sent; a half
  // close goes through and the other direction still works.
  int client = ConnectTo(cluster_->https_port());
  ASSERT_GE(client, 0);
  ASSERT_EQ(send(client, (hello + "ping").data(), hello.size() + 4, MSG_NOSIGNAL), static_cast<ssize_t>(hello.size() + 4));
  int backend = AcceptRaw();
  ASSERT_GE(backend, 0);
  EXPECT_EQ(ReadN(backend, hello.size() + 4), hello + "ping");
  shutdown(client, SHUT_WR);
  char byte;
  EXPECT_EQ(recv(backend, &byte, 1, 0), 0) << "the client's EOF reaches the backend";
  ASSERT_EQ(send(backend, "pong", 4, MSG_NOSIGNAL), 4);
  close(backend);
  EXPECT_EQ(ReadN(client, 4), "pong");
  EXPECT_EQ(recv(client, &byte, 1, 0), 0) << "then the backend's EOF";
  close(client);

  // Backpressure: a client that does not read stops the backend's writes
  // after the socket buffers and the proxy's bounded buffer, far below
  // what it tries to send; then everything arrives, in order.
  client = ConnectTo(cluster_->https_port(), /*rcvbuf=*/65536);
  ASSERT_GE(client, 0);
  send(client, hello.data(), hello.size(), MSG_NOSIGNAL);
  backend = AcceptRaw(/*sndbuf=*/65536);
  ASSERT_GE(backend, 0);
  EXPECT_EQ(ReadN(backend, hello.size()), hello);
  const size_t kTry = 64u << 20;
  std::string block(65536, 'x');
  size_t written = 0;
  int stalls = 0;
  while (written < kTry && stalls < 10) {  // bounded: 10 stalls of 50 ms in a row
    ssize_t n = send(backend, block.data(), block.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      written += static_cast<size_t>(n);
      stalls = 0;
    } else {
      ++stalls;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  EXPECT_LT(written, 32u << 20) << "the proxy buffered without bound";
  EXPECT_EQ(ReadN(client, written).size(), written);
  close(backend);
  close(client);

  // Idle timeout (proxy-read-timeout "1"): nothing moves, both sides close.
  hello = ClientHelloBytes("raw.test");
  client = ConnectTo(cluster_->https_port());
  ASSERT_GE(client, 0);
  send(client, hello.data(), hello.size(), MSG_NOSIGNAL);
  backend = AcceptRaw();
  ASSERT_GE(backend, 0);
  EXPECT_EQ(ReadN(backend, hello.size()), hello);
  auto quiet = std::chrono::steady_clock::now();
  EXPECT_EQ(recv(client, &byte, 1, 0), 0);
  EXPECT_EQ(recv(backend, &byte, 1, 0), 0);
  auto waited = std::chrono::steady_clock::now() - quiet;
  EXPECT_GE(waited, std::chrono::milliseconds(900));
  EXPECT_LT(waited, std::chrono::milliseconds(4000));
  close(backend);
  close(client);
  EXPECT_TRUE(Logged({R"("host":"raw.test")", R"("error":"idle timeout")"}));
}

// A spliced connection never ends by itself; at the drain deadline the
// proxy ends it: what was in flight is delivered, both peers get a FIN
// (not a reset), and the connection's access-log line says why.
TEST_F(PassthroughEndToEndTest, DrainDeadlineEndsSplicedConnectionsWithAFinAndALogLine) {
  ASSERT_NO_FATAL_FAILURE(Start(false, {"--shutdown-grace-period", "0", "--drain-timeout", "1"}));
  std::string hello = ClientHelloBytes("rawslow.test");
  int client = ConnectTo(cluster_->https_port());
  ASSERT_GE(client, 0);
  ASSERT_EQ(send(client, hello.data(), hello.size(), MSG_NOSIGNAL), static_cast<ssize_t>(hello.size()));
  int backend = AcceptRaw();
  ASSERT_GE(backend, 0);
  EXPECT_EQ(ReadN(backend, hello.size()), hello);
  ASSERT_EQ(send(backend, "before", 6, MSG_NOSIGNAL), 6);
  EXPECT_EQ(ReadN(client, 6), "before");

  cluster_->proxy().Signal(SIGTERM);
  // Still spliced during the drain (the deadline is 1 s away).
  ASSERT_EQ(send(client, "during", 6, MSG_NOSIGNAL), 6);
  EXPECT_EQ(ReadN(backend, 6), "during");
  char byte;
  errno = 0;
  EXPECT_EQ(recv(client, &byte, 1, 0), 0) << "the client gets a FIN, not a reset or a timeout: errno " << errno;
  errno = 0;
  EXPECT_EQ(recv(backend, &byte, 1, 0), 0) << "the backend gets a FIN too: errno " << errno;
  close(backend);
  close(client);
  EXPECT_EQ(cluster_->proxy().Wait(), 0);
  EXPECT_TRUE(Logged({R"("host":"rawslow.test")", R"("error":"drain deadline")"})) << cluster_->Read("access.log");
}

}  // namespace
}  // namespace sluice
