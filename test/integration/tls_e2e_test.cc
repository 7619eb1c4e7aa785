// HTTPS end to end with real processes on loopback: sluice-controller on a
// folder of manifests, sluice-proxy with --https-listen, the echo backend,
// and `openssl s_server` as a TLS backend; real clients (openssl s_client,
// curl, and OpenSSL in process where a connection must stay open).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <regex>

#include "test/support/certificate.h"
#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/shell.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using testing::Fetch;
using testing::Pem;
using testing::Process;

// Runs a shell command (bounded to 10 s), returns stdout and stderr.
std::string RunShell(const std::string& command) { return testing::ShellOutput("timeout 10 " + command + " 2>&1"); }

// A self-signed ECDSA certificate for `name`, in `dir`/`file`.crt and .key.
Pem MakeCertificate(const std::string& dir, const std::string& name, const std::string& file) {
  Pem pem = testing::MakeSelfSignedCertificate(dir, file, name);
  EXPECT_FALSE(pem.cert.empty()) << pem.openssl_output;
  return pem;
}

std::string TlsSecret(const std::string& name, const Pem& pem, const std::string& ca = "") {
  return testing::TlsSecret(name, "demo", pem.cert, pem.key, ca);
}

std::string ServiceAndSlice(const std::string& name, int port) { return testing::ServiceAndSlice(name, "demo", port); }

std::string Ingress(const std::string& name, const std::string& host, const std::string& service,
                    const std::string& annotations = "", const std::string& tls = "") {
  std::string yaml = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
                     "\n  namespace: demo\n";
  if (!annotations.empty()) yaml += "  annotations:\n" + annotations;
  yaml += "spec:\n  ingressClassName: sluice\n";
  if (!tls.empty()) yaml += "  tls:\n" + tls;
  yaml += "  rules:\n    - host: \"" + host + "\"\n      http:\n        paths:\n          - {path: /, pathType: Prefix, "
          "backend: {service: {name: " + service + ", port: {number: 80}}}}\n";
  return yaml;
}

// A blocking TLS client connection (OpenSSL in process), for what the CLI
// tools cannot do: keep a connection open across a certificate change,
// resume a session.
class TlsClient {
 public:
  TlsClient(int port, const std::string& sni, SSL_SESSION* session = nullptr) {
    static SSL_CTX* ctx = [] {
      SSL_CTX* c = SSL_CTX_new(TLS_client_method());
      SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
      return c;
    }();
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, sni.c_str());
    if (session) SSL_set_session(ssl_, session);
    connected_ = SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    if (ssl_) {
      if (connected_) SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    close(fd_);
  }
  bool connected() const { return connected_; }
  bool resumed() const { return SSL_session_reused(ssl_) == 1; }
  std::string PeerCommonName() const {
    X509* peer = SSL_get1_peer_certificate(ssl_);
    char cn[256] = {0};
    if (peer) X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn - 1);
    X509_free(peer);
    return cn;
  }
  // GET / on this connection (keep-alive); returns the status line and
  // headers, or "" on failure.
  std::string Get(const std::string& host, const std::string& path = "/anything") {
    std::string request = "GET " + path + " HTTP/1.1\r\nhost: " + host + "\r\n\r\n";
    if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) return "";
    std::string response;
    char buffer[16384];
    for (int i = 0; i < 100; ++i) {
      int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n <= 0) break;
      response.append(buffer, n);
      size_t head_end = response.find("\r\n\r\n");
      if (head_end == std::string::npos) continue;
      std::smatch length;
      std::string head = response.substr(0, head_end);
      if (std::regex_search(head, length, std::regex("content-length: (\\d+)", std::regex::icase)) &&
          response.size() >= head_end + 4 + std::stoul(length[1])) {
        return response;
      }
    }
    return response;
  }
  SSL_SESSION* TakeSession() { return SSL_get1_session(ssl_); }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
};

class TlsEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string& dir = cluster_.dir();
    exact_ = MakeCertificate(dir, "secure.test", "exact");
    wild_ = MakeCertificate(dir, "wild.test", "wild");
    backend_pem_ = MakeCertificate(dir, "backend.test", "backend");
    other_ca_ = MakeCertificate(dir, "someone-else.test", "other");

    app_port_ = testing::FreePort();
    tls_backend_port_ = testing::FreePort();
    app_ = cluster_.StartEchoBackend("app", app_port_);
    tls_backend_ = cluster_.StartLogged({"/usr/bin/openssl", "s_server", "-www", "-quiet", "-accept",
                                         "127.0.0.1:" + std::to_string(tls_backend_port_), "-cert",
                                         dir + "/backend.crt", "-key", dir + "/backend.key"},
                                        "tls_backend.log");

    std::string base = R"(apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: sluice}
spec: {controller: sluice.io/ingress-controller}
---
)";
    base += ServiceAndSlice("app", app_port_) + "---\n" + ServiceAndSlice("tlsback", tls_backend_port_) + "---\n" +
            ServiceAndSlice("tlsback-verify", tls_backend_port_) + "---\n" +
            ServiceAndSlice("tlsback-wrongca", tls_backend_port_) + "---\n" + TlsSecret("wild", wild_) + "---\n" +
            TlsSecret("backend-ca", backend_pem_, backend_pem_.cert) + "---\n" +
            TlsSecret("wrong-ca", other_ca_, other_ca_.cert);
    cluster_.WriteManifest("base.yaml", base);
    WriteExactSecret(exact_);
    std::string ingresses =
        Ingress("secure", "secure.test", "app", "    sluice.io/hsts-max-age: \"600\"\n    sluice.io/hsts-include-subdomains: \"true\"\n",
                "    - {hosts: [secure.test], secretName: exact}\n") +
        "---\n" + Ingress("wild", "*.wild.test", "app", "", "    - {hosts: [\"*.wild.test\"], secretName: wild}\n") +
        "---\n" +
        Ingress("optout", "optout.test", "app", "    nginx.ingress.kubernetes.io/ssl-redirect: \"false\"\n",
                "    - {hosts: [optout.test], secretName: exact}\n") +
        "---\n" + Ingress("plain", "plain.test", "app") + "---\n" +
        Ingress("upstream", "up.test", "tlsback", "    sluice.io/backend-protocol: HTTPS\n") + "---\n" +
        Ingress("upstream-verify", "upv.test", "tlsback-verify",
                "    nginx.ingress.kubernetes.io/backend-protocol: HTTPS\n    sluice.io/backend-tls-ca-secret: "
                "backend-ca\n    sluice.io/backend-tls-server-name: backend.test\n") +
        "---\n" +
        Ingress("upstream-wrongca", "upw.test", "tlsback-wrongca",
                "    sluice.io/backend-protocol: https\n    nginx.ingress.kubernetes.io/proxy-ssl-secret: demo/wrong-ca\n"
                "    nginx.ingress.kubernetes.io/proxy-ssl-verify: \"on\"\n"
                "    nginx.ingress.kubernetes.io/proxy-ssl-name: backend.test\n");
    cluster_.WriteManifest("ingresses.yaml", ingresses);

    cluster_.Start();
    ASSERT_TRUE(testing::WaitForPort(app_port_));
    ASSERT_TRUE(testing::WaitForPort(tls_backend_port_));
    ASSERT_TRUE(WaitFor([&] { return Fetch(cluster_.http_port(), "plain.test", "/anything").status == 200; }))
        << cluster_.Logs();
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_.Logs();
  }

  void WriteExactSecret(const Pem& pem) { cluster_.WriteManifest("exact.yaml", TlsSecret("exact", pem)); }

  bool WaitFor(const std::function<bool()>& done) {
    return testing::WaitUntil(done, std::chrono::seconds(15), std::chrono::milliseconds(50));
  }

  std::string SClient(const std::string& args) {
    return RunShell("openssl s_client -connect 127.0.0.1:" + std::to_string(cluster_.https_port()) + " " + args +
                    " </dev/null");
  }

  std::string Curl(const std::string& host, const std::string& path, const std::string& extra = "") {
    std::string port = std::to_string(cluster_.https_port());
    return RunShell("curl -sS -k -i --max-time 5 " + extra + " --resolve " + host + ":" + port + ":127.0.0.1 https://" +
               host + ":" + port + path);
  }

  Pem exact_, wild_, backend_pem_, other_ca_;
  int app_port_ = 0, tls_backend_port_ = 0;
  std::unique_ptr<Process> app_, tls_backend_;
  testing::SluiceCluster cluster_{{.name = "tls_e2e", .workers = 2, .https = true, .access_log = "off"}};
};

TEST_F(TlsEndToEndTest, SniPicksExactThenWildcardThenDefaultCertificate) {
  EXPECT_NE(SClient("-servername secure.test").find("CN = secure.test"), std::string::npos);
  EXPECT_NE(SClient("-servername a.wild.test").find("CN = wild.test"), std::string::npos);
  EXPECT_NE(SClient("-servername a.b.wild.test").find("CN = sluice default certificate"), std::string::npos);
  EXPECT_NE(SClient("-servername unknown.test").find("CN = sluice default certificate"), std::string::npos);
  EXPECT_NE(SClient("-noservername").find("CN = sluice default certificate"), std::string::npos);
}

TEST_F(TlsEndToEndTest, AlpnAndProtocolVersions) {
  std::string h1 = SClient("-servername secure.test -alpn http/1.1");
  EXPECT_NE(h1.find("ALPN protocol: http/1.1"), std::string::npos) << h1;
  std::string h2 = SClient("-servername secure.test -alpn h2,http/1.1");
  EXPECT_NE(h2.find("ALPN protocol: h2"), std::string::npos) << h2;  // server preference
  std::string none = SClient("-servername secure.test");
  EXPECT_NE(none.find("No ALPN negotiated"), std::string::npos) << none;
  std::string tls13 = SClient("-servername secure.test -tls1_3");
  EXPECT_NE(tls13.find("TLSv1.3"), std::string::npos) << tls13;
  std::string tls12 = SClient("-servername secure.test -tls1_2");
  EXPECT_NE(tls12.find("Protocol  : TLSv1.2"), std::string::npos) << tls12;
  EXPECT_NE(tls12.find("ECDHE"), std::string::npos) << tls12;
  std::string tls11 = SClient("-servername secure.test -tls1_1 -cipher DEFAULT@SECLEVEL=0");
  EXPECT_NE(tls11.find("alert protocol version"), std::string::npos) << tls11;
  EXPECT_NE(tls11.find("Cipher is (NONE)"), std::string::npos) << tls11;
}

TEST_F(TlsEndToEndTest, CurlOverTls13ReachesTheBackendWithForwardedProtoHttps) {
  std::string out = Curl("secure.test", "/anything?x=1", "--tlsv1.3 --http1.1");
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("\"x-forwarded-proto\":\"https\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"backend\":\"app\""), std::string::npos) << out;
  EXPECT_NE(out.find("strict-transport-security: max-age=600; includeSubDomains"), std::string::npos) << out;
}

TEST_F(TlsEndToEndTest, CurlOverHttp2WhenAlpnChoosesH2) {
  std::string out = Curl("secure.test", "/anything", "--http2");
  EXPECT_NE(out.find("HTTP/2 200"), std::string::npos) << out;
  EXPECT_NE(out.find("\"x-forwarded-proto\":\"https\""), std::string::npos) << out;
}

TEST_F(TlsEndToEndTest, PlainHttpRedirectsWith308UnlessOptedOutAndNeverSendsHsts) {
  auto redirect = Fetch(cluster_.http_port(), "secure.test", "/some/path?q=1");
  EXPECT_EQ(redirect.status, 308);
  EXPECT_EQ(redirect.Header("location"),
            "https://secure.test:" + std::to_string(cluster_.https_port()) + "/some/path?q=1");
  EXPECT_EQ(redirect.Header("strict-transport-security"), "");
  EXPECT_EQ(Fetch(cluster_.http_port(), "a.wild.test", "/").status, 308);
  EXPECT_EQ(Fetch(cluster_.http_port(), "secure.test", "/.well-known/acme-challenge/token").status, 200);
  EXPECT_EQ(Fetch(cluster_.http_port(), "optout.test", "/anything").status, 200);
  EXPECT_EQ(Fetch(cluster_.http_port(), "plain.test", "/anything").status, 200);  // no TLS: no redirect
}

TEST_F(TlsEndToEndTest, NewCertificateWithoutRestartWhileOpenConnectionsKeepWorking) {
  TlsClient before(cluster_.https_port(), "secure.test");
  ASSERT_TRUE(before.connected());
  EXPECT_EQ(before.PeerCommonName(), "secure.test");
  ASSERT_NE(before.Get("secure.test").find("HTTP/1.1 200"), std::string::npos);

  Pem renewed = MakeCertificate(cluster_.dir(), "renewed.secure.test", "renewed");
  WriteExactSecret(renewed);
  EXPECT_TRUE(WaitFor([&] {
    TlsClient fresh(cluster_.https_port(), "secure.test");
    return fresh.connected() && fresh.PeerCommonName() == "renewed.secure.test";
  })) << "new connections never got the new certificate";
  // The connection made before the change keeps its certificate and works.
  EXPECT_EQ(before.PeerCommonName(), "secure.test");
  EXPECT_NE(before.Get("secure.test").find("HTTP/1.1 200"), std::string::npos);
}

TEST_F(TlsEndToEndTest, BadCertificateIsLeftOutAloneAndTheRestOfTheSnapshotApplies) {
  Pem mismatched{exact_.cert, wild_.key};
  cluster_.WriteManifest("bad.yaml",
                               TlsSecret("bad", mismatched) + "---\n" +
                                   Ingress("bad", "bad.test", "app", "", "    - {hosts: [bad.test], secretName: bad}\n") +
                                   "---\n" + Ingress("added", "added.test", "app"));
  // The new route of the same version applies...
  ASSERT_TRUE(WaitFor([&] { return Fetch(cluster_.http_port(), "added.test", "/anything").status == 200; }))
      << cluster_.Read("proxy.log");
  // ... and only the certificate is named as left out.
  std::string snapshot = Fetch(cluster_.admin_port(), "127.0.0.1", "/snapshot").body;
  EXPECT_NE(snapshot.find(R"("rejected_resources":[{"name":"demo/bad","error":"certificate demo/bad: private key does not match the certificate"}])"),
            std::string::npos)
      << snapshot.substr(0, 600);
  std::string metrics = Fetch(cluster_.admin_port(), "127.0.0.1", "/metrics").body;
  EXPECT_NE(metrics.find("sluice_certificates_rejected 1"), std::string::npos);
  // Its host is served with the default certificate; the others keep theirs.
  EXPECT_NE(SClient("-servername bad.test").find("CN = sluice default certificate"), std::string::npos);
  EXPECT_NE(SClient("-servername secure.test").find("CN = secure.test"), std::string::npos);
  EXPECT_NE(Curl("bad.test", "/anything", "--http1.1").find("HTTP/1.1 200"), std::string::npos);
  EXPECT_NE(cluster_.Read("proxy.log").find("resource left out of the applied snapshot"), std::string::npos);
}

TEST_F(TlsEndToEndTest, SessionTicketsResumeAndAreCounted) {
  SSL_SESSION* session = nullptr;
  {
    TlsClient first(cluster_.https_port(), "secure.test");
    ASSERT_TRUE(first.connected());
    ASSERT_NE(first.Get("secure.test").find("200"), std::string::npos);  // the ticket arrived with it
    EXPECT_FALSE(first.resumed());
    session = first.TakeSession();
  }
  for (int i = 0; i < 3; ++i) {  // two workers: whichever takes it can open the ticket
    TlsClient again(cluster_.https_port(), "secure.test", session);
    ASSERT_TRUE(again.connected());
    EXPECT_TRUE(again.resumed());
    EXPECT_NE(again.Get("secure.test").find("200"), std::string::npos);
  }
  SSL_SESSION_free(session);
  std::string metrics = Fetch(cluster_.admin_port(), "127.0.0.1", "/metrics").body;
  std::smatch resumed;
  ASSERT_TRUE(std::regex_search(metrics, resumed, std::regex("sluice_tls_resumed_handshakes_total (\\d+)")));
  EXPECT_GE(std::stoi(resumed[1]), 3);
}

TEST_F(TlsEndToEndTest, ReEncryptsToTlsBackendsWithAndWithoutVerification) {
  auto unverified = Fetch(cluster_.http_port(), "up.test", "/");
  EXPECT_EQ(unverified.status, 200) << cluster_.Read("proxy.log");
  EXPECT_NE(unverified.body.find("s_server"), std::string::npos) << unverified.body.substr(0, 300);
  auto verified = Fetch(cluster_.http_port(), "upv.test", "/");
  EXPECT_EQ(verified.status, 200);
  // Verification against a CA that did not sign the backend's certificate fails closed.
  auto wrong_ca = Fetch(cluster_.http_port(), "upw.test", "/");
  EXPECT_EQ(wrong_ca.status, 502);
}

}  // namespace
}  // namespace sluice
