// The real client address, access control and connection limits end to
// end: sluice-controller reading manifests, sluice-proxy, an echo backend,
// and clients bound to different 127.x source addresses (any address of
// 127.0.0.0/8 is local), some speaking through a "balancer" that sends a
// PROXY protocol header or X-Forwarded-For.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/observe.h"
#include "test/support/process.h"
#include "test/support/proxy_header.h"
#include "test/support/shell.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using testing::HttpConnection;
using testing::ProxyV1;
using testing::ProxyV2;
using testing::Response;

// allowed.local: only 203.0.113.0/24 (ours) and 127.0.0.5 (ingress-nginx's
// name). denied.local: everyone but 127.0.0.3 and 198.51.100.0/24.
// open.local: no list.
// After testing::DefaultIngressClass().
constexpr const char* kManifests = R"(SERVICE
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: allowed
  namespace: acl
  annotations:
    sluice.io/allow-source-range: "203.0.113.0/24"
spec:
  rules:
    - host: allowed.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: nginx-allowed
  namespace: acl
  annotations:
    nginx.ingress.kubernetes.io/whitelist-source-range: "127.0.0.5/32"
spec:
  rules:
    - host: nginx-allowed.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: denied
  namespace: acl
  annotations:
    nginx.ingress.kubernetes.io/denylist-source-range: "127.0.0.3, 198.51.100.0/24"
spec:
  rules:
    - host: denied.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: open, namespace: acl}
spec:
  rules:
    - host: open.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
)";

class AccessEndToEndTest : public ::testing::Test {
 protected:
  // `flags`: the proxy's; `prefix`: what a ready-check request starts with
  // (a PROXY header on a strict listener).
  void StartCluster(const std::string& name, std::vector<std::string> flags, const std::string& prefix = "",
                    bool https = false) {
    cluster_ = std::make_unique<testing::SluiceCluster>(testing::SluiceClusterOptions{
        .name = name, .workers = 2, .https = https, .access_log = "access.log", .extra_proxy_flags = std::move(flags)});
    backend_port_ = testing::FreePort();
    backend_ = cluster_->StartEchoBackend("echo", backend_port_);
    cluster_->WriteManifest("all.yaml", testing::DefaultIngressClass() + "---\n" + testing::ReplaceAll(kManifests, "SERVICE",
                                                            testing::ServiceAndSlice("echo", "acl", backend_port_)));
    cluster_->Start();
    ASSERT_TRUE(testing::WaitForPort(backend_port_));
    ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Logs();
    ASSERT_TRUE(testing::WaitUntil([&] { return Request(prefix, "open.local").status == 200; },
                                   std::chrono::seconds(15), std::chrono::milliseconds(50)))
        << cluster_->Logs();
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs() << cluster_->Read("access.log");
  }

  // One GET on a fresh connection from `source`, after `prefix` bytes.
  Response Request(const std::string& prefix, const std::string& host, const std::string& source = "",
                   const std::string& extra_headers = "", const std::string& path = "/anything") {
    HttpConnection conn(cluster_->http_port(), "127.0.0.1", 5000, source);
    if (!conn.connected()) return Response{};
    conn.SendRaw(prefix + "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra_headers + "\r\n");
    return conn.ReadResponse();
  }

  // The access log has a line with all of `parts` (written every 100 ms).
  bool Logged(const std::vector<std::string>& parts) { return cluster_->WaitForLine("access.log", parts); }

  int Metric(const std::string& series) {
    return static_cast<int>(
        testing::MetricSample(testing::Fetch(cluster_->admin_port(), "127.0.0.1", "/metrics").body, series));
  }

  std::unique_ptr<testing::SluiceCluster> cluster_;
  int backend_port_ = 0;
  std::unique_ptr<testing::Process> backend_;
};

TEST_F(AccessEndToEndTest, ProxyProtocolHeadersDecideTheClient) {
  const std::string v1_allowed = ProxyV1("203.0.113.7", 40000, "127.0.0.1", 80);
  ASSERT_NO_FATAL_FAILURE(StartCluster("access-pp", {"--proxy-protocol", "http"}, v1_allowed));
  // v1 and v2 (with TLVs) naming an allowed client; the peer is 127.0.0.1.
  Response v1 = Request(v1_allowed, "allowed.local");
  EXPECT_EQ(v1.status, 200);
  EXPECT_NE(v1.body.find("203.0.113.7"), std::string::npos) << v1.body;  // X-Forwarded-For upstream
  std::string tlvs = std::string("\x02\x00\x0b", 3) + "example.com";
  EXPECT_EQ(Request(ProxyV2("203.0.113.9", 1, "127.0.0.1", 80, tlvs), "allowed.local").status, 200);
  // Named clients outside the list are refused, whatever the peer.
  Response refused = Request(ProxyV2("198.51.100.1", 1, "127.0.0.1", 80), "allowed.local");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(Request(ProxyV1("198.51.100.1", 1, "127.0.0.1", 80), "denied.local").status, 403);
  EXPECT_EQ(Request(ProxyV1("192.0.2.1", 1, "127.0.0.1", 80), "denied.local").status, 200);
  // LOCAL: the balancer's own connection, the peer's address (not allowed).
  EXPECT_EQ(Request(ProxyV2("203.0.113.9", 1, "127.0.0.1", 80, {}, /*local=*/true), "allowed.local").status, 403);
  EXPECT_TRUE(Logged({R"("client":"203.0.113.7","peer":"127.0.0.1")", R"("host":"allowed.local")", R"("status":200)"}));
  EXPECT_TRUE(Logged({R"("client":"198.51.100.1","peer":"127.0.0.1")", R"("status":403)"}));
}

TEST_F(AccessEndToEndTest, ProxyProtocolBeforeTlsOnTheHttpsListener) {
  // Only the HTTPS listener expects the header; curl sends a v1 header with
  // its own source address, then the TLS handshake (h2 by ALPN).
  ASSERT_NO_FATAL_FAILURE(StartCluster("access-pp-tls", {"--proxy-protocol", "https"}, "", /*https=*/true));
  auto curl = [&](const std::string& source, bool header) {
    std::string port = std::to_string(cluster_->https_port());
    return testing::ShellOutput("timeout 20 curl -sk -o /dev/null -w '%{http_code} %{http_version}' " +
                                std::string(header ? "--haproxy-protocol " : "") + "--interface " + source +
                                " --resolve nginx-allowed.local:" + port + ":127.0.0.1 https://nginx-allowed.local:" +
                                port + "/anything");
  };
  EXPECT_EQ(curl("127.0.0.5", true), "200 2");
  EXPECT_EQ(curl("127.0.0.6", true), "403 2");
  EXPECT_EQ(curl("127.0.0.5", false).substr(0, 3), "000");  // no header: closed
  EXPECT_TRUE(Logged({R"("client":"127.0.0.5")", R"("host":"nginx-allowed.local:)", R"("status":200)"}));
}

TEST_F(AccessEndToEndTest, StrictListenerClosesConnectionsWithoutAHeader) {
  const std::string header = ProxyV1("203.0.113.7", 40000, "127.0.0.1", 80);
  ASSERT_NO_FATAL_FAILURE(StartCluster("access-strict", {"--proxy-protocol", "http"}, header));
  EXPECT_EQ(Request("", "open.local").status, 0);                         // plain HTTP
  EXPECT_EQ(Request("PROXY TCP4 nonsense\r\n", "open.local").status, 0);  // a bad header
  EXPECT_EQ(Request(header, "open.local").status, 200);
  EXPECT_GE(Metric("sluice_proxy_protocol_failures_total"), 2);
}

TEST_F(AccessEndToEndTest, ConnectionLimitsKeyOnTheClientTheHeaderNames) {
  const std::string header = ProxyV1("203.0.113.7", 40000, "127.0.0.1", 80);
  ASSERT_NO_FATAL_FAILURE(StartCluster("access-pp-limit", {"--proxy-protocol", "http", "--max-connections-per-address", "3"},
                                       ProxyV1("192.0.2.200", 1, "127.0.0.1", 80)));
  // Three keep-alive connections for 203.0.113.7, all through one peer.
  std::vector<std::unique_ptr<HttpConnection>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<HttpConnection>(cluster_->http_port()));
    held.back()->SendRaw(header + "GET /anything HTTP/1.1\r\nHost: open.local\r\n\r\n");
    ASSERT_EQ(held.back()->ReadResponse().status, 200) << i;
  }
  EXPECT_EQ(Request(header, "open.local").status, 0);  // the fourth is closed
  EXPECT_EQ(Request(ProxyV1("203.0.113.8", 1, "127.0.0.1", 80), "open.local").status, 200);  // another client
  EXPECT_EQ(Metric("sluice_connections_refused_total{limit=\"per_address\"}"), 1);
  held.pop_back();  // one closes: its place is given back
  EXPECT_TRUE(testing::WaitUntil([&] { return Request(header, "open.local").status == 200; }, std::chrono::seconds(10),
                                 std::chrono::milliseconds(20)));
}

TEST_F(AccessEndToEndTest, TrustedForwardedForAndSourceAddresses) {
  ASSERT_NO_FATAL_FAILURE(StartCluster("access-xff", {"--trusted-proxies", "127.0.0.10/32, 127.0.0.11"}));
  // A trusted hop (127.0.0.10) names the client; a spoofed left part is ignored.
  Response trusted = Request("", "allowed.local", "127.0.0.10", "X-Forwarded-For: 198.51.100.9, 203.0.113.5\r\n");
  EXPECT_EQ(trusted.status, 200);
  EXPECT_NE(trusted.body.find("203.0.113.5"), std::string::npos) << trusted.body;
  EXPECT_EQ(trusted.body.find("198.51.100.9"), std::string::npos) << trusted.body;  // not passed upstream
  // Two trusted hops skipped, the first untrusted one from the right is the client.
  EXPECT_EQ(Request("", "allowed.local", "127.0.0.10", "X-Forwarded-For: 198.51.100.9, 127.0.0.11\r\n").status, 403);
  EXPECT_EQ(Request("", "allowed.local", "127.0.0.10", "X-Forwarded-For: 203.0.113.1, 127.0.0.11\r\n").status, 200);
  // An untrusted peer cannot choose its address.
  EXPECT_EQ(Request("", "allowed.local", "127.0.0.12", "X-Forwarded-For: 203.0.113.5\r\n").status, 403);
  EXPECT_TRUE(Logged({R"("client":"203.0.113.5","peer":"127.0.0.10")", R"("status":200)"}));
  EXPECT_TRUE(Logged({R"("client":"127.0.0.12","method")", R"("status":403)"}));
}

TEST_F(AccessEndToEndTest, AllowAndDenyListsBySourceAddress) {
  ASSERT_NO_FATAL_FAILURE(StartCluster("access-lists", {}));
  EXPECT_EQ(Request("", "nginx-allowed.local", "127.0.0.5").status, 200);
  EXPECT_EQ(Request("", "nginx-allowed.local", "127.0.0.6").status, 403);
  EXPECT_EQ(Request("", "denied.local", "127.0.0.3").status, 403);
  EXPECT_EQ(Request("", "denied.local", "127.0.0.4").status, 200);
  EXPECT_EQ(Request("", "allowed.local", "127.0.0.4").status, 403);
  Response forbidden = Request("", "allowed.local", "127.0.0.4");
  EXPECT_EQ(forbidden.body, "forbidden\n");
  EXPECT_EQ(Request("", "open.local", "127.0.0.3").status, 200);
}

TEST_F(AccessEndToEndTest, ConnectionFloodFromOneAddressDoesNotStarveAnother) {
  // 40 connections in all; a flood from one address may take 36 of them.
  ASSERT_NO_FATAL_FAILURE(StartCluster("access-flood", {"--max-connections", "40", "--client-header-timeout", "60"}));
  std::vector<std::unique_ptr<HttpConnection>> flood;
  int admitted = 0;
  for (int i = 0; i < 120; ++i) {
    auto conn = std::make_unique<HttpConnection>(cluster_->http_port(), "127.0.0.1", 5000, "127.0.0.2");
    if (!conn->connected()) continue;
    conn->SendRaw("GET /anything HTTP/1.1\r\nHost: open.local\r\n\r\n");
    if (conn->ReadResponse().status == 200) ++admitted;
    flood.push_back(std::move(conn));  // held open (keep-alive), admitted or not
  }
  // 36 = 40 less the reserve; the ready checks' connections may still be
  // closing (counted) when the flood starts.
  EXPECT_LE(admitted, 36);
  EXPECT_GE(admitted, 30);
  // Another address, one connection after another: every request succeeds.
  int ok = 0;
  for (int i = 0; i < 50; ++i) ok += Request("", "open.local", "127.0.0.3").status == 200;
  EXPECT_EQ(ok, 50);
  EXPECT_GE(Metric("sluice_connections_refused_total{limit=\"reserved\"}"), 84);
}

}  // namespace
}  // namespace sluice
