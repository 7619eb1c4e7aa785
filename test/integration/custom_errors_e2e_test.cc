// Custom error pages and the per-Ingress default backend end to end: an
// origin answering 404/503/418 by path, and a default backend (both
// scripted in this process) that answers with the X-Code it is given and
// shows the request it got.
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
using testing::Response;

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

FakeUpstream::Reply Origin(const FakeUpstream::Request& request) {
  auto answer = [](const std::string& status, const std::string& body) {
    return FakeUpstream::Reply{"HTTP/1.1 " + status + "\r\nContent-Type: text/plain\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body};
  };
  if (Has(request.head, "GET /missing")) return answer("404 Not Found", "origin 404");
  if (Has(request.head, "GET /broken")) return answer("503 Service Unavailable", "origin 503");
  if (Has(request.head, "GET /teapot")) return answer("418 I'm a teapot", "origin 418");
  return answer("200 OK", "origin page");
}

// The status is the X-Code it was sent (200 without one); the body is the
// request head it got.
FakeUpstream::Reply ErrorPages(const FakeUpstream::Request& request) {
  std::string code = "200";
  size_t at = request.head.find("x-code: ");
  if (at != std::string::npos) code = request.head.substr(at + 8, 3);
  std::string body = "error page\n" + request.head;
  return {"HTTP/1.1 " + code + " Page\r\nContent-Type: text/html\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n\r\n" + body};
}

class CustomErrorsEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    origin_ = std::make_unique<FakeUpstream>(Origin);
    pages_ = std::make_unique<FakeUpstream>(ErrorPages);
    cluster_ = std::make_unique<testing::SluiceCluster>(
        testing::SluiceClusterOptions{.name = "custom-errors", .workers = 2, .access_log = "access.log"});
    std::string manifests =
        testing::DefaultIngressClass() + "---\n" + testing::ServiceAndSlice("origin", "web", origin_->port()) +
        "---\n" + testing::ServiceAndSlice("pages", "web", pages_->port()) + "---\n" +
        // A Service without endpoints.
        "apiVersion: v1\nkind: Service\nmetadata: {name: empty, namespace: web}\nspec:\n  ports: [{port: 80}]\n---\n" +
        testing::PrefixIngress("site", "web", "site.local", "origin",
                               "nginx.ingress.kubernetes.io/custom-http-errors: \"404,503\"\n"
                               "nginx.ingress.kubernetes.io/default-backend: \"pages\"\n") +
        "---\n" +
        testing::PrefixIngress("gone", "web", "gone.local", "empty",
                               "nginx.ingress.kubernetes.io/default-backend: \"pages\"\n") +
        "---\n" + testing::PrefixIngress("plain", "web", "plain.local", "origin");
    cluster_->WriteManifest("all.yaml", manifests);
    cluster_->Start();
    ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Logs();
    ASSERT_TRUE(testing::WaitUntil([&] { return Get("plain.local", "/").status == 200; }, std::chrono::seconds(15),
                                   std::chrono::milliseconds(50)))
        << cluster_->Logs();
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs() << cluster_->Read("access.log");
  }

  Response Get(const std::string& host, const std::string& path, const std::string& headers = "") {
    return testing::Fetch(cluster_->http_port(), host, path, headers);
  }

  std::unique_ptr<FakeUpstream> origin_;
  std::unique_ptr<FakeUpstream> pages_;
  std::unique_ptr<testing::SluiceCluster> cluster_;
};

TEST_F(CustomErrorsEndToEndTest, ListedStatusesGetTheDefaultBackendsPage) {
  Response page = Get("site.local", "/missing?q=1", "Accept: text/html\r\nX-Request-ID: req-7\r\n");
  EXPECT_EQ(page.status, 404);  // the default backend's status (it answers with the X-Code)
  EXPECT_EQ(page.Header("content-type"), "text/html");
  EXPECT_TRUE(Has(page.body, "error page")) << page.body;
  EXPECT_FALSE(Has(page.body, "origin 404")) << page.body;
  const std::string& head = page.body;
  EXPECT_TRUE(Has(head, "GET / HTTP/1.1\r\n")) << head;
  EXPECT_TRUE(Has(head, "host: site.local\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-code: 404\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-format: text/html\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-original-uri: /missing?q=1\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-namespace: web\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-ingress-name: site\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-service-name: origin\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-service-port: 80\r\n")) << head;
  EXPECT_TRUE(Has(head, "x-request-id: req-7\r\n")) << head;

  Response unavailable = Get("site.local", "/broken");
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_TRUE(Has(unavailable.body, "x-code: 503\r\n")) << unavailable.body;
}

TEST_F(CustomErrorsEndToEndTest, OtherStatusesAndOtherIngressesPassThrough) {
  Response teapot = Get("site.local", "/teapot");
  EXPECT_EQ(teapot.status, 418);
  EXPECT_EQ(teapot.body, "origin 418");
  Response ok = Get("site.local", "/");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "origin page");
  Response plain = Get("plain.local", "/missing");
  EXPECT_EQ(plain.status, 404);
  EXPECT_EQ(plain.body, "origin 404");
  EXPECT_EQ(Get("site.local", "/teapot").status, 418);  // the connection pool still works after replaced ones
}

TEST_F(CustomErrorsEndToEndTest, AServiceWithoutEndpointsIsServedByTheDefaultBackend) {
  Response served = Get("gone.local", "/some/page");
  EXPECT_EQ(served.status, 200);
  // The whole request went there, as it was (no X-Code: not an error page).
  EXPECT_TRUE(Has(served.body, "GET /some/page HTTP/1.1\r\n")) << served.body;
  EXPECT_FALSE(Has(served.body, "x-code")) << served.body;
}

}  // namespace
}  // namespace sluice
