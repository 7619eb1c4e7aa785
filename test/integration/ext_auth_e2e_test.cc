// External authentication end to end: sluice-controller reading manifests
// (auth-url naming a Service whose EndpointSlice points at a scripted auth
// service in this process), sluice-proxy, an echo backend. The auth service
// decides by the request's Authorization field:
//   "Bearer good"  200 with X-Auth-User: ann (copied to the upstream request)
//   "Bearer no"    403
//   "Bearer slow"  never answers (the route's auth-timeout: 500)
//   "Bearer odd"   418 (neither 2xx nor 401/403: 500)
//   anything else  401 with WWW-Authenticate
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "test/support/fake_upstream.h"
#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using testing::FakeUpstream;
using testing::HttpConnection;
using testing::Response;

bool Has(const std::string& head, const std::string& text) { return head.find(text) != std::string::npos; }

FakeUpstream::Reply Decide(const FakeUpstream::Request& request) {
  const std::string& head = request.head;
  if (Has(head, "authorization: Bearer good\r\n")) {
    return {FakeUpstream::OkResponse("", "X-Auth-User: ann\r\nX-Other: not-copied\r\n")};
  }
  if (Has(head, "authorization: Bearer no\r\n")) {
    return {"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"};
  }
  if (Has(head, "authorization: Bearer slow\r\n")) return {""};
  if (Has(head, "authorization: Bearer odd\r\n")) {
    return {"HTTP/1.1 418 Teapot\r\nContent-Length: 0\r\n\r\n"};
  }
  return {"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"test\"\r\nContent-Length: 0\r\n\r\n"};
}

class ExtAuthEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auth_ = std::make_unique<FakeUpstream>(Decide);
    cluster_ = std::make_unique<testing::SluiceCluster>(
        testing::SluiceClusterOptions{.name = "ext-auth", .workers = 2, .access_log = "access.log"});
    backend_port_ = testing::FreePort();
    backend_ = cluster_->StartEchoBackend("echo", backend_port_);
    std::string manifests =
        testing::DefaultIngressClass() + "---\n" + testing::ServiceAndSlice("echo", "app", backend_port_) + "---\n" +
        testing::ServiceAndSlice("auth", "authns", auth_->port()) + "---\n" +
        testing::PrefixIngress("guarded", "app", "guarded.local", "echo",
                               "nginx.ingress.kubernetes.io/auth-url: \"http://auth.authns.svc.cluster.local/verify?x=1\"\n"
                               "nginx.ingress.kubernetes.io/auth-response-headers: \"X-Auth-User\"\n"
                               "sluice.io/auth-timeout: \"300ms\"\n") +
        "---\n" +
        testing::PrefixIngress("signin", "app", "signin.local", "echo",
                               "nginx.ingress.kubernetes.io/auth-url: \"http://auth.authns:80/verify\"\n"
                               "nginx.ingress.kubernetes.io/auth-signin: \"https://login.example/start\"\n") +
        "---\n" +
        testing::PrefixIngress("cached", "app", "cached.local", "echo",
                               "nginx.ingress.kubernetes.io/auth-url: \"http://auth.authns/cached\"\n"
                               "nginx.ingress.kubernetes.io/auth-cache-key: \"$http_authorization\"\n"
                               "nginx.ingress.kubernetes.io/auth-cache-duration: \"200 1m\"\n") +
        "---\n" +
        testing::PrefixIngress("external", "app", "external.local", "echo",
                               "nginx.ingress.kubernetes.io/auth-url: \"http://auth.example.com/verify\"\n") +
        "---\n" + testing::PrefixIngress("open", "app", "open.local", "echo");
    cluster_->WriteManifest("all.yaml", manifests);
    cluster_->Start();
    ASSERT_TRUE(testing::WaitForPort(backend_port_));
    ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Logs();
    ASSERT_TRUE(testing::WaitUntil([&] { return Get("open.local", "").status == 200; }, std::chrono::seconds(15),
                                   std::chrono::milliseconds(50)))
        << cluster_->Logs();
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs() << cluster_->Read("access.log");
  }

  Response Get(const std::string& host, const std::string& token, const std::string& path = "/page?a=b c") {
    std::string headers = token.empty() ? "" : "Authorization: Bearer " + token + "\r\n";
    std::string escaped = testing::ReplaceAll(path, " ", "%20");
    return testing::Fetch(cluster_->http_port(), host, escaped, headers);
  }

  std::unique_ptr<FakeUpstream> auth_;
  std::unique_ptr<testing::SluiceCluster> cluster_;
  int backend_port_ = 0;
  std::unique_ptr<testing::Process> backend_;
};

TEST_F(ExtAuthEndToEndTest, AllowsCopiesHeadersAndSendsWhatNginxSends) {
  Response ok = Get("guarded.local", "good", "/page?a=b");
  ASSERT_EQ(ok.status, 200) << ok.body;
  // The echo backend shows the upstream request: the auth's X-Auth-User,
  // not the auth's other fields.
  EXPECT_TRUE(Has(ok.body, R"("x-auth-user":"ann")")) << ok.body;
  EXPECT_FALSE(Has(ok.body, "not-copied")) << ok.body;
  std::vector<std::string> heads = auth_->request_heads();
  ASSERT_EQ(heads.size(), 1u);
  const std::string& head = heads[0];
  EXPECT_TRUE(Has(head, "GET /verify?x=1 HTTP/1.1\r\n")) << head;
  EXPECT_TRUE(Has(head, "host: auth.authns.svc.cluster.local\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-original-url: http://guarded.local/page?a=b\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-original-method: GET\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-sent-from: nginx-ingress-controller\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-real-ip: 127.0.0.1\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-forwarded-for: 127.0.0.1\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-forwarded-host: guarded.local\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-forwarded-proto: http\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-auth-request-redirect: /page?a=b\r\n")) << head;
  EXPECT_TRUE(Has(head, "authorization: Bearer good\r\n")) << head;
  EXPECT_FALSE(Has(head, "content-length")) << head;

  // A client cannot bring its own X-Auth-User: the auth answer's replaces it.
  Response spoof = testing::Fetch(cluster_->http_port(), "guarded.local", "/",
                                  "Authorization: Bearer good\r\nX-Auth-User: mallory\r\n");
  EXPECT_EQ(spoof.status, 200);
  EXPECT_FALSE(Has(spoof.body, "mallory")) << spoof.body;
}

TEST_F(ExtAuthEndToEndTest, DeniesWith401And403) {
  Response missing = Get("guarded.local", "");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.Header("www-authenticate"), "Bearer realm=\"test\"");
  EXPECT_FALSE(Has(missing.body, "\"backend\"")) << missing.body;  // never reached the backend
  Response forbidden = Get("guarded.local", "no");
  EXPECT_EQ(forbidden.status, 403);
}

TEST_F(ExtAuthEndToEndTest, OtherAnswersTimeoutsAndUnusableConfigurationFailClosed) {
  EXPECT_EQ(Get("guarded.local", "odd").status, 500);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Get("guarded.local", "slow").status, 500);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));  // the 300 ms auth-timeout
  // An auth URL outside the cluster: refused, never open.
  EXPECT_EQ(Get("external.local", "good").status, 500);
  EXPECT_EQ(Get("open.local", "").status, 200);
}

TEST_F(ExtAuthEndToEndTest, RedirectsToSignin) {
  Response redirect = Get("signin.local", "", "/deep/page?a=b");
  EXPECT_EQ(redirect.status, 302);
  EXPECT_EQ(redirect.Header("location"), "https://login.example/start?rd=http://signin.local%2Fdeep%2Fpage%3Fa%3Db");
  EXPECT_EQ(Get("signin.local", "good").status, 200);
  EXPECT_EQ(Get("signin.local", "no").status, 403);  // only a 401 redirects
}

TEST_F(ExtAuthEndToEndTest, CachesDecisionsPerWorkerUnderTheKey) {
  // One connection: one worker, so its cache.
  HttpConnection conn(cluster_->http_port());
  ASSERT_TRUE(conn.connected());
  for (int i = 0; i < 3; ++i) {
    Response response = conn.Get("cached.local", "/c" + std::to_string(i), "Authorization: Bearer good\r\n");
    EXPECT_EQ(response.status, 200) << i;
  }
  size_t cached_asks = 0;
  for (const std::string& head : auth_->request_heads()) cached_asks += Has(head, "GET /cached ");
  EXPECT_EQ(cached_asks, 1u);
  // Another key is asked again; a 401 is not cached by "200 1m".
  EXPECT_EQ(conn.Get("cached.local", "/d", "Authorization: Bearer other\r\n").status, 401);
  EXPECT_EQ(conn.Get("cached.local", "/d", "Authorization: Bearer other\r\n").status, 401);
  cached_asks = 0;
  for (const std::string& head : auth_->request_heads()) cached_asks += Has(head, "GET /cached ");
  EXPECT_EQ(cached_asks, 3u);
}

}  // namespace
}  // namespace sluice
