// Basic authentication end to end: sluice-controller reading manifests (an
// htpasswd Secret with every accepted hash kind and two refused entries,
// an auth-map Secret, a missing Secret, satisfy: any with an allow list),
// sluice-proxy, an echo backend, and curl as the client (-u user:password).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/shell.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

// Every user's password is "secret". The hashes come from htpasswd
// (apache2-utils: -B, -s, -m, -d) and openssl passwd (-1, -5, -6), fixed
// here so the test needs neither at run time. dave (DES) and eve
// (plaintext) are refused by the controller with an Event each.
constexpr const char* kManifests = R"(SERVICE
---
apiVersion: v1
kind: Secret
metadata: {name: users, namespace: auth}
type: Opaque
stringData:
  auth: |
    # one user per hash kind
    bcrypt:$2y$05$2tZwt8ttYIQXM7y/oyzWpO3lGLDTbyjlu9LAd9fYMUX9Y5LaAn84G
    bcrypt10:$2y$10$0DZz0YqsFYk9eAYZmpKfUOrFi2Q6V7hqkGIuyjytMIigXNCdV140u
    sha1:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=
    apr1:$apr1$ucOKVW6V$2b8Eg8F8zKFoCyQg9Cd.Q1
    md5:$1$abc$iCQ2D3nhptRYi27fDYv2s1
    sha256:$5$abc$qsg6EHbUzHQzF1POlD7zUwBINSELQxypPaeDcZe6vH0
    sha512:$6$abc$IdWKNKTJEb8LxY7CGg8YBXlvtfZzFw7Mp/r6niK9YB2mdvgY..TKjv1T..8RadRt2qvUHYRLr/TsVArtr91iR1
    dave:XoHrPzmA7g6Ew
    eve:secret
---
apiVersion: v1
kind: Secret
metadata: {name: map, namespace: auth}
type: Opaque
stringData:
  amy: "$apr1$ucOKVW6V$2b8Eg8F8zKFoCyQg9Cd.Q1"
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: basic
  namespace: auth
  annotations:
    nginx.ingress.kubernetes.io/auth-type: basic
    nginx.ingress.kubernetes.io/auth-secret: users
    nginx.ingress.kubernetes.io/auth-realm: 'Staff "only"'
spec:
  rules:
    - host: basic.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: map
  namespace: auth
  annotations:
    nginx.ingress.kubernetes.io/auth-type: basic
    nginx.ingress.kubernetes.io/auth-secret: auth/map
    nginx.ingress.kubernetes.io/auth-secret-type: auth-map
spec:
  rules:
    - host: map.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: any
  namespace: auth
  annotations:
    nginx.ingress.kubernetes.io/auth-type: basic
    nginx.ingress.kubernetes.io/auth-secret: users
    nginx.ingress.kubernetes.io/whitelist-source-range: 127.0.0.5/32
    nginx.ingress.kubernetes.io/satisfy: any
spec:
  rules:
    - host: any.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: broken
  namespace: auth
  annotations:
    nginx.ingress.kubernetes.io/auth-type: basic
    nginx.ingress.kubernetes.io/auth-secret: no-such-secret
spec:
  rules:
    - host: broken.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: open, namespace: auth}
spec:
  rules:
    - host: open.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
)";

class AuthEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<testing::SluiceCluster>(
        testing::SluiceClusterOptions{.name = "auth", .workers = 2, .access_log = "access.log"});
    backend_port_ = testing::FreePort();
    backend_ = cluster_->StartEchoBackend("echo", backend_port_);
    cluster_->WriteManifest("all.yaml", testing::DefaultIngressClass() + "---\n" +
                                            testing::ReplaceAll(kManifests, "SERVICE",
                                                                testing::ServiceAndSlice("echo", "auth", backend_port_)));
    cluster_->Start();
    ASSERT_TRUE(testing::WaitForPort(backend_port_));
    ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Logs();
    ASSERT_TRUE(testing::WaitUntil([&] { return Curl("open.local", "") == "200"; }, std::chrono::seconds(15),
                                   std::chrono::milliseconds(50)))
        << cluster_->Logs();
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs() << cluster_->Read("access.log");
  }

  // curl's status code for GET /anything on `host` (-u `credentials` when
  // not empty), from `source`; `extra`: more curl arguments.
  std::string Curl(const std::string& host, const std::string& credentials, const std::string& source = "127.0.0.1",
                   const std::string& extra = "-o /dev/null -w '%{http_code}'") {
    std::string port = std::to_string(cluster_->http_port());
    return testing::ShellOutput("timeout 20 curl -s " + extra + " --interface " + source +
                                (credentials.empty() ? "" : " -u '" + credentials + "'") + " --resolve " + host + ":" +
                                port + ":127.0.0.1 http://" + host + ":" + port + "/anything");
  }

  std::unique_ptr<testing::SluiceCluster> cluster_;
  int backend_port_ = 0;
  std::unique_ptr<testing::Process> backend_;
};

TEST_F(AuthEndToEndTest, BasicAuthenticationWithEveryHashKind) {
  // No credentials: 401 with the realm, escaped.
  std::string head = Curl("basic.local", "", "127.0.0.1", "-o /dev/null -D -");
  EXPECT_NE(head.find("HTTP/1.1 401"), std::string::npos) << head;
  EXPECT_NE(head.find("www-authenticate: Basic realm=\"Staff \\\"only\\\"\""), std::string::npos) << head;

  for (const char* user : {"bcrypt", "bcrypt10", "sha1", "apr1", "md5", "sha256", "sha512"}) {
    EXPECT_EQ(Curl("basic.local", std::string(user) + ":secret"), "200") << user;
    EXPECT_EQ(Curl("basic.local", std::string(user) + ":wrong"), "401") << user;
  }
  // Refused entries never let anyone in, not even with the right password.
  EXPECT_EQ(Curl("basic.local", "dave:secret"), "401");
  EXPECT_EQ(Curl("basic.local", "eve:secret"), "401");
  EXPECT_EQ(Curl("basic.local", "nobody:secret"), "401");
  // The Authorization field reaches the backend (as with ingress-nginx).
  std::string body = Curl("basic.local", "sha1:secret", "127.0.0.1", "");
  EXPECT_NE(body.find("Basic c2hhMTpzZWNyZXQ="), std::string::npos) << body;

  // auth-map.
  EXPECT_EQ(Curl("map.local", "amy:secret"), "200");
  EXPECT_EQ(Curl("map.local", "amy:wrong"), "401");

  // A missing Secret fails closed: 503 whatever the credentials.
  EXPECT_EQ(Curl("broken.local", "sha1:secret"), "503");
  EXPECT_EQ(Curl("broken.local", ""), "503");

  // The controller said why, naming the refused lines.
  std::string logs = cluster_->Logs();
  EXPECT_NE(logs.find("user \\\"dave\\\": DES crypt is refused"), std::string::npos) << logs;
  EXPECT_NE(logs.find("user \\\"eve\\\": not a supported hash"), std::string::npos);
  EXPECT_NE(logs.find("Secret auth/no-such-secret not found"), std::string::npos);
}

TEST_F(AuthEndToEndTest, SatisfyAnyLetsTheAllowListInWithoutCredentials) {
  EXPECT_EQ(Curl("any.local", "", "127.0.0.5"), "200");
  EXPECT_EQ(Curl("any.local", "", "127.0.0.6"), "401");
  EXPECT_EQ(Curl("any.local", "sha1:wrong", "127.0.0.6"), "401");
  EXPECT_EQ(Curl("any.local", "sha1:secret", "127.0.0.6"), "200");
}

}  // namespace
}  // namespace sluice
