#include "controlplane/store/store.h"

#include <gtest/gtest.h>

#include "base/base64.h"
#include "controlplane/store/secret_filter.h"

namespace sluice::store {
namespace {

using nlohmann::json;

json Ingress(const std::string& name, const std::string& service, const std::string& secret = "") {
  json ingress = {
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "Ingress"},
      {"metadata", {{"name", name}, {"namespace", "demo"}}},
      {"spec",
       {{"rules",
         {{{"host", "demo.local"},
           {"http",
            {{"paths",
              {{{"path", "/"},
                {"pathType", "Prefix"},
                {"backend", {{"service", {{"name", service}, {"port", {{"number", 80}}}}}}}}}}}}}}}}}};
  if (!secret.empty()) ingress["spec"]["tls"] = {{{"secretName", secret}, {"hosts", {"demo.local"}}}};
  return ingress;
}

json Service(const std::string& name, int port) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "demo"}}},
          {"spec", {{"ports", {{{"port", port}}}}}}};
}

json Secret(const std::string& name, const std::string& type) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", type},
          {"metadata", {{"name", name}, {"namespace", "demo"}}},
          {"data", {{"tls.crt", "Y2VydA=="}, {"tls.key", "a2V5"}}}};
}

TEST(StoreTest, UpsertReportsChangeOnlyWhenContentChanges) {
  Store store;
  EXPECT_TRUE(store.Upsert(Ingress("web", "app"), "a.yaml"));
  EXPECT_FALSE(store.Upsert(Ingress("web", "app"), "a.yaml"));
  EXPECT_TRUE(store.Upsert(Ingress("web", "other"), "a.yaml"));
  EXPECT_EQ(store.size(), 1u);
}

TEST(StoreTest, BookkeepingFieldsDoNotCountAsChanges) {
  Store store;
  json ingress = Ingress("web", "app");
  ingress["metadata"]["resourceVersion"] = "1";
  EXPECT_TRUE(store.Upsert(ingress, "api"));
  ingress["metadata"]["resourceVersion"] = "2";
  ingress["metadata"]["managedFields"] = json::array({{{"manager", "kubectl"}}});
  ingress["status"] = {{"loadBalancer", {{"ingress", {{{"ip", "10.0.0.1"}}}}}}};
  EXPECT_FALSE(store.Upsert(ingress, "api"));
  // The newest version is what is stored.
  EXPECT_EQ(store.Find("Ingress", "demo", "web")->object["metadata"]["resourceVersion"], "2");
}

TEST(StoreTest, KeepsOnlyStoredKindsAndTlsSecrets) {
  Store store;
  EXPECT_FALSE(store.Upsert({{"kind", "ConfigMap"}, {"metadata", {{"name", "x"}}}}, "a.yaml"));
  EXPECT_FALSE(store.Upsert(Secret("opaque", "Opaque"), "a.yaml"));
  EXPECT_EQ(store.Find("Secret", "demo", "opaque"), nullptr);
  EXPECT_FALSE(store.Upsert({{"kind", "Service"}, {"metadata", json::object()}}, "no name"));
  EXPECT_EQ(store.size(), 0u);
}

TEST(StoreTest, UnreferencedObjectsAreStoredButDoNotMatter) {
  Store store;
  EXPECT_FALSE(store.Upsert(Service("app", 80), "a.yaml"));
  EXPECT_FALSE(store.Upsert(Secret("cert", "kubernetes.io/tls"), "a.yaml"));
  EXPECT_NE(store.Find("Service", "demo", "app"), nullptr);
  EXPECT_NE(store.Find("Secret", "demo", "cert"), nullptr);

  EXPECT_TRUE(store.Upsert(Ingress("web", "app", "cert"), "a.yaml"));
  EXPECT_TRUE(store.Upsert(Service("app", 8080), "a.yaml"));
  json secret = Secret("cert", "kubernetes.io/tls");
  secret["data"]["tls.crt"] = "bmV3";
  EXPECT_TRUE(store.Upsert(secret, "a.yaml"));
  // A referenced TLS Secret turning into another type disappears.
  EXPECT_TRUE(store.Upsert(Secret("cert", "Opaque"), "a.yaml"));
  EXPECT_EQ(store.Find("Secret", "demo", "cert"), nullptr);
}

json CaSecret(const std::string& ns, const std::string& name, const std::string& ca) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", "Opaque"},
          {"metadata",
           {{"name", name},
            {"namespace", ns},
            {"annotations", {{"kubectl.kubernetes.io/last-applied-configuration", "{\"data\": \"everything\"}"}}}}},
          {"data", {{"ca.crt", ca}, {"password", "aHVudGVyMg=="}}}};
}

TEST(StoreTest, OpaqueSecretsWithACaAreKeptWithOnlyTheCa) {
  Store store;
  store.Upsert(CaSecret("demo", "backend-ca", "Q0E="), "api");
  const StoredObject* stored = store.Find("Secret", "demo", "backend-ca");
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->object["data"], json({{"ca.crt", "Q0E="}}));  // not the password
  EXPECT_FALSE(stored->object["metadata"].contains("annotations"));  // nor kubectl's copy of it
  EXPECT_EQ(stored->object["type"], "Opaque");
  // A TLS Secret keeps its certificate, key and CA, nothing else.
  json tls = Secret("cert", "kubernetes.io/tls");
  tls["data"]["ca.crt"] = "Q0E=";
  tls["data"]["extra"] = "eA==";
  store.Upsert(tls, "api");
  EXPECT_EQ(store.Find("Secret", "demo", "cert")->object["data"],
            json({{"tls.crt", "Y2VydA=="}, {"tls.key", "a2V5"}, {"ca.crt", "Q0E="}}));
  // Losing its ca.crt, an Opaque Secret is gone.
  json no_ca = CaSecret("demo", "backend-ca", "Q0E=");
  no_ca["data"].erase("ca.crt");
  store.Upsert(no_ca, "api");
  EXPECT_EQ(store.Find("Secret", "demo", "backend-ca"), nullptr);
}

TEST(StoreTest, BackendCaSecretMattersThroughTheIngressAnnotations) {
  Store store;
  EXPECT_FALSE(store.Upsert(CaSecret("demo", "backend-ca", "Q0E="), "api"));  // nobody refers to it yet
  EXPECT_FALSE(store.Upsert(CaSecret("certs", "shared-ca", "Q0E="), "api"));
  json ingress = Ingress("web", "app");
  ingress["metadata"]["annotations"] = {{"sluice.io/backend-tls-ca-secret", "backend-ca"}};
  store.Upsert(ingress, "api");
  json nginx = Ingress("legacy", "app");
  nginx["metadata"]["annotations"] = {{"nginx.ingress.kubernetes.io/proxy-ssl-secret", "certs/shared-ca"}};
  store.Upsert(nginx, "api");
  // Editing a referenced CA alone matters, in the Ingress's namespace or another.
  EXPECT_TRUE(store.Upsert(CaSecret("demo", "backend-ca", "TkVX"), "api"));
  EXPECT_TRUE(store.Upsert(CaSecret("certs", "shared-ca", "TkVX"), "api"));
  // Keys translation does not read are not even compared.
  json same_ca = CaSecret("demo", "backend-ca", "TkVX");
  same_ca["data"]["password"] = "b3RoZXI=";
  EXPECT_FALSE(store.Upsert(same_ca, "api"));
  // Same name, other namespace: not the one referenced.
  EXPECT_FALSE(store.Upsert(CaSecret("other", "backend-ca", "TkVX"), "api"));
  EXPECT_TRUE(store.Remove("Secret", "certs", "shared-ca"));
}

TEST(StoreTest, EndpointSliceMattersThroughItsServiceLabel) {
  Store store;
  store.Upsert(Ingress("web", "app"), "a.yaml");
  json slice = {{"apiVersion", "discovery.k8s.io/v1"},
                {"kind", "EndpointSlice"},
                {"metadata",
                 {{"name", "app-1"}, {"namespace", "demo"}, {"labels", {{"kubernetes.io/service-name", "app"}}}}},
                {"endpoints", {{{"addresses", {"10.0.0.1"}}}}}};
  EXPECT_TRUE(store.Upsert(slice, "api"));
  json other = slice;
  other["metadata"]["name"] = "other-1";
  other["metadata"]["labels"]["kubernetes.io/service-name"] = "other";
  EXPECT_FALSE(store.Upsert(other, "api"));
  EXPECT_TRUE(store.Remove("EndpointSlice", "demo", "app-1"));
  EXPECT_FALSE(store.Remove("EndpointSlice", "demo", "other-1"));
  EXPECT_FALSE(store.Remove("EndpointSlice", "demo", "never-there"));
}

TEST(StoreTest, MissingNamespaceMeansDefaultExceptForClusterScopedKinds) {
  Store store;
  store.Upsert({{"kind", "Service"}, {"metadata", {{"name", "app"}}}}, "a.yaml");
  store.Upsert({{"kind", "IngressClass"}, {"metadata", {{"name", "sluice"}, {"namespace", "x"}}}}, "a.yaml");
  ASSERT_NE(store.Find("Service", "default", "app"), nullptr);
  EXPECT_EQ(store.Find("Service", "default", "app")->object["metadata"]["namespace"], "default");
  EXPECT_NE(store.Find("IngressClass", "", "sluice"), nullptr);
}

TEST(StoreTest, ObjectsAreSortedByNamespaceThenName) {
  Store store;
  for (const char* ns_name : {"b/x", "a/z", "a/y"}) {
    std::string s = ns_name;
    store.Upsert({{"kind", "Service"}, {"metadata", {{"namespace", s.substr(0, 1)}, {"name", s.substr(2)}}}}, "api");
  }
  std::vector<std::string> order;
  for (const auto& [key, stored] : store.Objects("Service")) order.push_back(key.first + "/" + key.second);
  EXPECT_EQ(order, (std::vector<std::string>{"a/y", "a/z", "b/x"}));
  EXPECT_TRUE(store.Objects("Nothing").empty());
}

TEST(StoreTest, ReplaceAllRemovesWhatIsGone) {
  Store store;
  store.Upsert(Ingress("old", "app"), "a.yaml");
  store.Upsert(Ingress("kept", "app"), "a.yaml");
  std::vector<StoredObject> fresh;
  fresh.push_back({Ingress("kept", "app"), "a.yaml"});
  EXPECT_TRUE(store.ReplaceAll(fresh));
  EXPECT_EQ(store.Find("Ingress", "demo", "old"), nullptr);
  EXPECT_NE(store.Find("Ingress", "demo", "kept"), nullptr);
  EXPECT_FALSE(store.ReplaceAll(fresh));
}

// Basic-auth Secrets: only password hashes are kept, by shape, whatever
// the Secret's type; plaintext values never stay in the controller.
TEST(SecretFilterTest, KeepsOnlyPasswordHashes) {
  const std::string bcrypt = "$2y$05$2tZwt8ttYIQXM7y/oyzWpO3lGLDTbyjlu9LAd9fYMUX9Y5LaAn84G";
  const std::string sha1 = "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=";
  json file = {{"apiVersion", "v1"},
               {"kind", "Secret"},
               {"type", "Opaque"},
               {"metadata", {{"name", "users"}, {"namespace", "demo"}, {"annotations", {{"a", "b"}}}}},
               {"data",
                {{"auth", EncodeBase64("# admins\nalice:" + bcrypt + "\neve:hunter2\nnotaline\nbob:" + sha1 + ":x\n")},
                 {"token", EncodeBase64("abc")}}}};
  ASSERT_TRUE(TrimSecret(file));
  ASSERT_TRUE(file["data"].contains("auth"));
  EXPECT_FALSE(file["data"].contains("token"));
  EXPECT_EQ(*DecodeBase64(file["data"]["auth"].get<std::string>()),
            "\nalice:" + bcrypt + "\neve:\n\nbob:" + sha1 + "\n");  // line numbers kept

  json map = {{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", "map"}, {"namespace", "demo"}}},
              {"stringData", {{"amy", sha1}, {"pat", "plaintext"}}}};
  ASSERT_TRUE(TrimSecret(map));
  EXPECT_EQ(map["stringData"], json({{"amy", sha1}, {"pat", ""}}));

  json plain = {{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", "db"}, {"namespace", "demo"}}},
                {"data", {{"password", EncodeBase64("hunter2")}, {"auth", EncodeBase64("user:plaintext\n")}}}};
  EXPECT_FALSE(TrimSecret(plain));
  EXPECT_FALSE(plain.contains("data"));
}

TEST(StoreTest, AuthSecretAnnotationMakesTheSecretMatter) {
  Store store;
  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "users"}, {"namespace", "demo"}}},
                 {"stringData", {{"auth", "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"}}}};
  EXPECT_FALSE(store.Upsert(secret, "a.yaml"));  // nobody refers to it yet
  json ingress = Ingress("web", "app");
  ingress["metadata"]["annotations"] = {{"nginx.ingress.kubernetes.io/auth-secret", "users"}};
  EXPECT_TRUE(store.Upsert(ingress, "a.yaml"));
  secret["stringData"]["auth"] = "bob:{SHA}2jmj7l5rSw0yVb/vlWAYkK/YBwk=\n";
  EXPECT_TRUE(store.Upsert(secret, "a.yaml"));
}

}  // namespace
}  // namespace sluice::store
