// Basic authentication annotations and their Secret -> RoutePolicy.basic_auth,
// through the Store (so the Secret's trimming is part of what is tested)
// and Translate, with the Events they give.
#include "controlplane/translate/auth_annotations.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "controlplane/store/store.h"
#include "controlplane/translate/test_manifests.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

constexpr char kBcrypt[] = "$2y$05$2tZwt8ttYIQXM7y/oyzWpO3lGLDTbyjlu9LAd9fYMUX9Y5LaAn84G";
constexpr char kSha1[] = "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=";
constexpr char kApr1[] = "$apr1$ucOKVW6V$2b8Eg8F8zKFoCyQg9Cd.Q1";
constexpr char kDes[] = "XoHrPzmA7g6Ew";

json IngressWith(json annotations) {
  return ShopIngress("app", "", std::move(annotations), "shop.example", "/", "app");
}

json SecretWith(const std::string& ns, const std::string& name, json data) {
  json encoded = json::object();
  for (auto& [key, value] : data.items()) encoded[key] = EncodeBase64(value.get<std::string>());
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", "Opaque"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"data", encoded}};
}

struct Case {
  const char* name;
  json annotations;
  std::vector<json> secrets;
  // Expected: no basic_auth at all, or its users ("name=hash") / deny_all.
  bool enabled;
  bool deny_all;
  std::vector<std::string> users;
  bool satisfy_any;
  std::vector<std::string> events;  // substrings, one warning each (in order)
};

class BasicAuthTranslateTest : public ::testing::TestWithParam<Case> {};

TEST_P(BasicAuthTranslateTest, PolicyAndEvents) {
  const Case& c = GetParam();
  store::Store store;
  store.Upsert(SluiceIngressClass(), "t.yaml");
  for (const json& secret : c.secrets) store.Upsert(secret, "t.yaml");
  store.Upsert(IngressWith(c.annotations), "t.yaml");
  Result result = Translate(store, {});
  std::vector<std::string> warnings;
  for (const Diagnostic& d : result.diagnostics) {
    if (d.message.find("Service shop/app") != std::string::npos) continue;  // no Service in these tests
    warnings.push_back(d.message);
  }
  ASSERT_EQ(warnings.size(), c.events.size()) << c.name << ": " << ::testing::PrintToString(warnings);
  for (size_t i = 0; i < warnings.size(); ++i) {
    EXPECT_NE(warnings[i].find(c.events[i]), std::string::npos) << c.name << ": " << warnings[i];
  }
  ASSERT_EQ(result.snapshot.virtual_hosts_size(), 1) << c.name;
  const v1::RoutePolicy& policy = result.snapshot.virtual_hosts(0).routes(0).policy();
  EXPECT_EQ(policy.has_basic_auth(), c.enabled) << c.name;
  EXPECT_EQ(policy.satisfy_any(), c.satisfy_any) << c.name;
  EXPECT_EQ(policy.basic_auth().deny_all(), c.deny_all) << c.name;
  std::vector<std::string> users;
  for (const auto& user : policy.basic_auth().users()) users.push_back(user.name() + "=" + user.hash());
  EXPECT_EQ(users, c.users) << c.name;
}

const json kBasic = {{"nginx.ingress.kubernetes.io/auth-type", "basic"},
                     {"nginx.ingress.kubernetes.io/auth-secret", "users"},
                     {"nginx.ingress.kubernetes.io/auth-realm", "Staff only"}};

json With(json base, json more) {
  for (auto& [key, value] : more.items()) base[key] = value;
  return base;
}

std::string Line(const std::string& user, const std::string& hash) { return user + ":" + hash + "\n"; }

INSTANTIATE_TEST_SUITE_P(
    Table, BasicAuthTranslateTest,
    ::testing::Values(
        Case{"none", json::object(), {}, false, false, {}, false, {}},
        Case{"auth_file",
             kBasic,
             {SecretWith("shop", "users",
                         {{"auth", "# team\n" + Line("carol", kApr1) + Line("alice", kBcrypt) + Line("bob", kSha1)}})},
             true,
             false,
             {std::string("alice=") + kBcrypt, std::string("bob=") + kSha1, std::string("carol=") + kApr1},
             false,
             {}},
        Case{"des_and_plaintext_refused_by_line_others_apply",
             kBasic,
             {SecretWith("shop", "users",
                         {{"auth", Line("alice", kBcrypt) + Line("dave", kDes) + Line("eve", "secret")}})},
             true,
             false,
             {std::string("alice=") + kBcrypt},
             false,
             {"line 2: user \"dave\": DES crypt is refused", "line 3: user \"eve\": not a supported hash"}},
        Case{"only_refused_users_fail_closed",
             kBasic,
             {SecretWith("shop", "users", {{"auth", Line("dave", kDes)}})},
             true,
             true,
             {},
             false,
             {"user \"dave\": DES crypt", "has no usable user; every request gets 503"}},
        Case{"auth_map",
             With(kBasic, {{"nginx.ingress.kubernetes.io/auth-secret-type", "auth-map"}}),
             {SecretWith("shop", "users", {{"zed", kSha1}, {"amy", kApr1}, {"pat", "plaintext"}})},
             true,
             false,
             {std::string("amy=") + kApr1, std::string("zed=") + kSha1},
             false,
             {"user \"pat\": not a supported hash"}},
        Case{"missing_secret_fails_closed",
             kBasic,
             {},
             true,
             true,
             {},
             false,
             {"Secret shop/users not found"}},
        Case{"secret_without_hashes_is_not_kept",
             kBasic,
             {SecretWith("shop", "users", {{"password", "hunter2"}})},
             true,
             true,
             {},
             false,
             {"Secret shop/users not found"}},
        Case{"namespace_prefix_of_own_namespace",
             With(kBasic, {{"nginx.ingress.kubernetes.io/auth-secret", "shop/users"}}),
             {SecretWith("shop", "users", {{"auth", Line("bob", kSha1)}})},
             true,
             false,
             {std::string("bob=") + kSha1},
             false,
             {}},
        Case{"other_namespace_refused",
             With(kBasic, {{"nginx.ingress.kubernetes.io/auth-secret", "other/users"}}),
             {SecretWith("other", "users", {{"auth", Line("bob", kSha1)}})},
             true,
             true,
             {},
             false,
             {"of another namespace is not allowed (as ingress-nginx by default); every request gets 503"}},
        Case{"digest_refused",
             With(kBasic, {{"nginx.ingress.kubernetes.io/auth-type", "digest"}}),
             {SecretWith("shop", "users", {{"auth", Line("bob", kSha1)}})},
             true,
             true,
             {},
             false,
             {"digest authentication is not supported"}},
        Case{"bad_secret_type",
             With(kBasic, {{"nginx.ingress.kubernetes.io/auth-secret-type", "auth-list"}}),
             {SecretWith("shop", "users", {{"auth", Line("bob", kSha1)}})},
             true,
             true,
             {},
             false,
             {"expected auth-file or auth-map"}},
        Case{"secret_without_type",
             {{"nginx.ingress.kubernetes.io/auth-secret", "users"}},
             {SecretWith("shop", "users", {{"auth", Line("bob", kSha1)}})},
             true,
             true,
             {},
             false,
             {"without nginx.ingress.kubernetes.io/auth-type"}},
        Case{"no_secret_annotation",
             {{"nginx.ingress.kubernetes.io/auth-type", "basic"}},
             {},
             true,
             true,
             {},
             false,
             {"auth-secret is missing"}},
        Case{"satisfy_any",
             With(kBasic, {{"nginx.ingress.kubernetes.io/satisfy", "any"}}),
             {SecretWith("shop", "users", {{"auth", Line("bob", kSha1)}})},
             true,
             false,
             {std::string("bob=") + kSha1},
             true,
             {}},
        Case{"satisfy_invalid_is_all",
             With(kBasic, {{"nginx.ingress.kubernetes.io/satisfy", "some"}}),
             {SecretWith("shop", "users", {{"auth", Line("bob", kSha1)}})},
             true,
             false,
             {std::string("bob=") + kSha1},
             false,
             {"expected all or any"}},
        Case{"realm_not_a_string",
             With(kBasic, {{"nginx.ingress.kubernetes.io/auth-realm", 5}}),
             {SecretWith("shop", "users", {{"auth", Line("bob", kSha1)}})},
             true,
             false,
             {std::string("bob=") + kSha1},
             false,
             {"auth-realm: must be a string"}}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(BasicAuthTranslate, RealmAndStringData) {
  store::Store store;
  store.Upsert(SluiceIngressClass(), "t.yaml");
  store.Upsert({{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", "users"}, {"namespace", "shop"}}},
                {"stringData", {{"auth", Line("bob", kSha1)}}}},
               "t.yaml");
  store.Upsert(IngressWith(kBasic), "t.yaml");
  Result result = Translate(store, {});
  const v1::BasicAuthPolicy& auth = result.snapshot.virtual_hosts(0).routes(0).policy().basic_auth();
  EXPECT_EQ(auth.realm(), "Staff only");
  ASSERT_EQ(auth.users_size(), 1);
  EXPECT_EQ(auth.users(0).hash(), kSha1);
}

}  // namespace
}  // namespace sluice::translate
