// Cache purge end to end: sluice-controller reading manifests and TWO
// sluice-proxy processes (node ids a and b) caching one origin
// (FakeUpstream). Purges by URL, by host and path prefix, and by tag
// (Cache-Tag / Surrogate-Key) on a proxy's admin port and through the
// controller, which fans them out over the snapshot streams and says which
// proxies confirmed. What was purged is seen by the origin being asked
// again; what was not, by its not being asked.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "test/support/cache_cluster.h"
#include "test/support/fake_upstream.h"
#include "test/support/http_client.h"
#include "test/support/process.h"

namespace sluice {
namespace {

using testing::FakeUpstream;
using testing::Fetch;
using testing::HttpConnection;


// Every path is cacheable for a minute; /p/N carries tags product-N and
// catalog (in Cache-Tag) and the body names the origin request's number.
class Origin {
 public:
  FakeUpstream::Reply operator()(const FakeUpstream::Request& request) {
    const std::string target = request.target();
    std::string extra = "Cache-Control: max-age=60\r\n";
    if (target.rfind("/p/", 0) == 0) extra += "Cache-Tag: product-" + target.substr(3) + ", catalog\r\n";
    if (target.rfind("/s/", 0) == 0) extra += "Surrogate-Key: static " + target.substr(3) + "\r\n";
    return {FakeUpstream::OkResponse("body of " + target, extra)};
  }
};

class CachePurgeEndToEndTest : public testing::CacheClusterTest {
 protected:
  void SetUp() override {
    origin_ = std::make_unique<FakeUpstream>(Origin());
    MakeCluster(
        {.name = "cache_purge", .node_id = "a", .access_log = "off", .extra_proxy_flags = {"--cache-memory", "16M"}});
    ASSERT_NO_FATAL_FAILURE(StartCluster(
        {.origin_port = origin_->port(), .host = "shop.local", .probe_path = "/warm", .probe_status = 200}));
    // The second proxy, on its own ports, from the same controller.
    b_http_ = testing::FreePort();
    b_admin_ = testing::FreePort();
    proxy_b_ = cluster_->StartLogged(
        {testing::RunfilePath("dataplane/main/sluice-proxy"), "--controller",
         "127.0.0.1:" + std::to_string(cluster_->controller_port()), "--http-listen",
         "127.0.0.1:" + std::to_string(b_http_), "--admin-listen", "127.0.0.1:" + std::to_string(b_admin_),
         "--workers", "1", "--node-id", "b", "--access-log", "off", "--cache-memory", "16M"},
        "proxy_b.log");
    ASSERT_TRUE(testing::WaitUntil([&] { return Fetch(b_http_, "shop.local", "/warm").status == 200; },
                                   std::chrono::seconds(15), std::chrono::milliseconds(50)))
        << cluster_->Logs() << cluster_->Read("proxy_b.log");
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << "--- proxy_b.log\n" << cluster_->Read("proxy_b.log");
    proxy_b_.reset();
    CacheClusterTest::TearDown();
  }

  size_t OriginSaw(const std::string& target) const { return origin_->requests_for("GET " + target); }

  // GET through the proxy on `port` twice: the second is a hit.
  void Fill(int port, const std::string& path) {
    ASSERT_EQ(Fetch(port, "shop.local", path).status, 200);
    testing::Response hit = Fetch(port, "shop.local", path);
    ASSERT_NE(hit.Header("cache-status").find("hit"), std::string::npos) << path << ": " << hit.Header("cache-status");
  }
  bool IsHit(int port, const std::string& path) { return testing::IsCacheHit(Fetch(port, "shop.local", path)); }

  // POST `target` with `body` to an admin port.
  testing::Response Post(int port, const std::string& target, const std::string& body = "") {
    HttpConnection connection(port);
    connection.SendRaw("POST " + target + " HTTP/1.1\r\nHost: admin\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                       "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    return connection.ReadResponse();
  }

  std::unique_ptr<FakeUpstream> origin_;
  std::unique_ptr<testing::Process> proxy_b_;
  int b_http_ = 0, b_admin_ = 0;
};

TEST_F(CachePurgeEndToEndTest, ProxyAdminPurgesByUrlPrefixAndTag) {
  const int port = cluster_->http_port();
  for (const char* path : {"/a?x=1", "/a?x=2", "/img/1.png", "/img/2.png", "/p/42", "/p/43", "/s/logo"}) {
    ASSERT_NO_FATAL_FAILURE(Fill(port, path));
  }
  testing::Response purged = Post(cluster_->admin_port(), "/cache/purge?url=http%3A%2F%2Fshop.local%2Fa%3Fx%3D1");
  EXPECT_EQ(purged.status, 200) << purged.body;
  EXPECT_EQ(nlohmann::json::parse(purged.body)["purged"], 1);
  EXPECT_FALSE(IsHit(port, "/a?x=1"));
  EXPECT_TRUE(IsHit(port, "/a?x=2"));
  EXPECT_EQ(OriginSaw("/a?x=1"), 2u);

  // A form body instead of a query.
  purged = Post(cluster_->admin_port(), "/cache/purge", "host=shop.local&prefix=%2Fimg%2F");
  EXPECT_EQ(nlohmann::json::parse(purged.body)["purged"], 2) << purged.body;
  EXPECT_FALSE(IsHit(port, "/img/1.png"));
  EXPECT_FALSE(IsHit(port, "/img/2.png"));

  purged = Post(cluster_->admin_port(), "/cache/purge?tag=product-42");
  EXPECT_EQ(nlohmann::json::parse(purged.body)["purged"], 1) << purged.body;
  EXPECT_FALSE(IsHit(port, "/p/42"));
  EXPECT_TRUE(IsHit(port, "/p/43"));
  purged = Post(cluster_->admin_port(), "/cache/purge?tag=static");  // Surrogate-Key
  EXPECT_EQ(nlohmann::json::parse(purged.body)["purged"], 1) << purged.body;
  EXPECT_FALSE(IsHit(port, "/s/logo"));

  // Wrong requests: a clear 400, a GET is refused, nothing purged.
  testing::Response bad = Post(cluster_->admin_port(), "/cache/purge?colour=red");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("unknown parameter"), std::string::npos) << bad.body;
  EXPECT_EQ(Fetch(cluster_->admin_port(), "admin", "/cache/purge?tag=catalog").status, 405);
  EXPECT_TRUE(IsHit(port, "/p/43"));
}

TEST_F(CachePurgeEndToEndTest, ControllerPurgeReachesBothProxiesAndSaysWhoConfirmed) {
  for (int port : {cluster_->http_port(), b_http_}) {
    for (const char* path : {"/img/1.png", "/img/2.png", "/other"}) ASSERT_NO_FATAL_FAILURE(Fill(port, path));
  }
  testing::Response answer = Post(cluster_->controller_admin_port(), "/cache/purge?host=shop.local&prefix=/img/");
  ASSERT_EQ(answer.status, 200) << answer.body;
  nlohmann::json body = nlohmann::json::parse(answer.body);
  EXPECT_EQ(body["confirmed"], 2);
  EXPECT_EQ(body["total"], 2);
  ASSERT_EQ(body["proxies"].size(), 2u);
  EXPECT_EQ(body["proxies"][0]["node"], "a");
  EXPECT_EQ(body["proxies"][0]["purged"], 2);
  EXPECT_EQ(body["proxies"][1]["node"], "b");
  EXPECT_EQ(body["proxies"][1]["purged"], 2);
  for (int port : {cluster_->http_port(), b_http_}) {
    EXPECT_FALSE(IsHit(port, "/img/1.png"));
    EXPECT_TRUE(IsHit(port, "/other"));
  }
  EXPECT_EQ(OriginSaw("/img/1.png"), 4u);  // filled on each, then fetched again on each

  // Every proxy refuses a wrong request: 400 with their reason.
  answer = Post(cluster_->controller_admin_port(), "/cache/purge?tag=");
  EXPECT_EQ(answer.status, 400) << answer.body;
  EXPECT_NE(answer.body.find("tag must be"), std::string::npos) << answer.body;

  // A proxy that is gone is not waited for; one that is stopped (SIGSTOP)
  // is reported as not answering.
  ASSERT_TRUE(proxy_b_->Stop());
  answer = Post(cluster_->controller_admin_port(), "/cache/purge?tag=anything");
  proxy_b_->Signal(SIGCONT);
  EXPECT_EQ(answer.status, 504) << answer.body;
  body = nlohmann::json::parse(answer.body);
  EXPECT_EQ(body["confirmed"], 1);
  EXPECT_NE(body["proxies"][1]["error"].get<std::string>().find("no answer"), std::string::npos) << answer.body;
}

}  // namespace
}  // namespace sluice
