// The basic_auth stage alone (an ExchangeState with an Authorization field,
// the hook, its decision), and with access_control under satisfy: any.
#include "dataplane/pipeline/basic_auth_stage.h"

#include <gtest/gtest.h>

#include "dataplane/pipeline/access_control_stage.h"
#include "dataplane/pipeline/chain.h"

namespace sluice::pipeline {
namespace {

// The same password, "secret", under every accepted kind (htpasswd from
// apache2-utils and openssl passwd), and a DES crypt one the controller
// would have refused (a snapshot from elsewhere: it matches nothing).
v1::BasicAuthPolicy Policy() {
  v1::BasicAuthPolicy policy;
  policy.set_realm("Staff \"only\"");
  auto add = [&](const char* name, const char* hash) {
    v1::BasicAuthPolicy::User* user = policy.add_users();
    user->set_name(name);
    user->set_hash(hash);
  };
  add("bcrypt", "$2y$05$2tZwt8ttYIQXM7y/oyzWpO3lGLDTbyjlu9LAd9fYMUX9Y5LaAn84G");
  add("sha1", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=");
  add("apr1", "$apr1$ucOKVW6V$2b8Eg8F8zKFoCyQg9Cd.Q1");
  add("md5", "$1$abc$iCQ2D3nhptRYi27fDYv2s1");
  add("sha256", "$5$abc$qsg6EHbUzHQzF1POlD7zUwBINSELQxypPaeDcZe6vH0");
  add("sha512", "$6$abc$IdWKNKTJEb8LxY7CGg8YBXlvtfZzFw7Mp/r6niK9YB2mdvgY..TKjv1T..8RadRt2qvUHYRLr/TsVArtr91iR1");
  add("des", "XoHrPzmA7g6Ew");
  add("plain", "secret");
  return policy;
}

std::string Basic(std::string_view user, std::string_view password) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string in = std::string(user) + ":" + std::string(password), out = "Basic ";
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < in.size() ? kAlphabet[n & 63] : '=');
  }
  return out;
}

struct Outcome {
  Verdict verdict;
  int status;
  std::string challenge;
};

Outcome Check(const Stage& stage, const std::vector<std::string>& authorization, ExchangeState* given = nullptr) {
  ExchangeState local;
  ExchangeState& state = given ? *given : local;
  for (const std::string& value : authorization) state.request.headers.Add("authorization", value);
  Verdict verdict = stage.OnRequestHead(state);
  const std::string* challenge = state.reply.headers.Get("www-authenticate");
  return {verdict, state.reply.status, challenge ? *challenge : ""};
}

TEST(BasicAuthStageTest, EveryHashKind) {
  auto stage = BasicAuthStage::FromPolicy(Policy());
  for (const char* user : {"bcrypt", "sha1", "apr1", "md5", "sha256", "sha512"}) {
    EXPECT_EQ(Check(*stage, {Basic(user, "secret")}).verdict, Verdict::kContinue) << user;
    Outcome wrong = Check(*stage, {Basic(user, "wrong")});
    EXPECT_EQ(wrong.verdict, Verdict::kReply) << user;
    EXPECT_EQ(wrong.status, 401) << user;
    EXPECT_EQ(wrong.challenge, "Basic realm=\"Staff \\\"only\\\"\"") << user;
  }
  // Refused kinds match no password, not even the right one.
  EXPECT_EQ(Check(*stage, {Basic("des", "secret")}).status, 401);
  EXPECT_EQ(Check(*stage, {Basic("plain", "secret")}).status, 401);
}

TEST(BasicAuthStageTest, MissingMalformedUnknownAndRepeated) {
  auto stage = BasicAuthStage::FromPolicy(Policy());
  EXPECT_EQ(Check(*stage, {}).status, 401);
  EXPECT_EQ(Check(*stage, {}).challenge, "Basic realm=\"Staff \\\"only\\\"\"");
  EXPECT_EQ(Check(*stage, {"Bearer abc"}).status, 401);
  EXPECT_EQ(Check(*stage, {"Basic !!!!"}).status, 401);
  EXPECT_EQ(Check(*stage, {Basic("nobody", "secret")}).status, 401);
  EXPECT_EQ(Check(*stage, {Basic("sha1", "secret"), Basic("sha1", "secret")}).status, 401);
  // The field is left for the upstream, as ingress-nginx forwards it.
  ExchangeState state;
  EXPECT_EQ(Check(*stage, {Basic("sha1", "secret")}, &state).verdict, Verdict::kContinue);
  EXPECT_NE(state.request.headers.Get("authorization"), nullptr);
}

TEST(BasicAuthStageTest, SuccessesAreCachedFailuresAreNot) {
  auto stage = BasicAuthStage::FromPolicy(Policy());
  EXPECT_EQ(Check(*stage, {Basic("bcrypt", "secret")}).verdict, Verdict::kContinue);
  EXPECT_EQ(stage->verifications(), 1u);
  EXPECT_EQ(Check(*stage, {Basic("bcrypt", "secret")}).verdict, Verdict::kContinue);
  EXPECT_EQ(stage->verifications(), 1u);
  EXPECT_EQ(Check(*stage, {Basic("bcrypt", "wrong")}).status, 401);
  EXPECT_EQ(Check(*stage, {Basic("bcrypt", "wrong")}).status, 401);
  EXPECT_EQ(stage->verifications(), 3u);
}

TEST(BasicAuthStageTest, UnusableConfigurationFailsClosed) {
  v1::BasicAuthPolicy policy = Policy();
  policy.set_deny_all(true);
  auto stage = BasicAuthStage::FromPolicy(policy);
  EXPECT_EQ(Check(*stage, {Basic("sha1", "secret")}).status, 503);
  EXPECT_EQ(Check(*stage, {}).status, 503);
  // No users at all: nobody gets in (401), never an open route.
  auto empty = BasicAuthStage::FromPolicy(v1::BasicAuthPolicy());
  EXPECT_EQ(Check(*empty, {Basic("", "")}).status, 401);
}

std::vector<std::string> Names(const Chain& chain) {
  std::vector<std::string> names;
  for (std::string_view name : chain.StageNames()) names.emplace_back(name);
  return names;
}

// satisfy: any through the compiled chain: an allowed address passes
// without credentials, others authenticate, the deny list still refuses.
TEST(BasicAuthStageTest, SatisfyAnyWithTheAllowList) {
  v1::RoutePolicy policy;
  policy.mutable_access_control()->add_allow("10.0.0.0/8");
  policy.mutable_access_control()->add_deny("10.9.0.0/16");
  *policy.mutable_basic_auth() = Policy();
  ChainDefaults defaults;
  auto run = [&](const v1::RoutePolicy& p, std::string_view ip, std::vector<std::string> authorization) {
    auto chain = CompileChain(p, defaults);
    http::ClientInfo client = http::ClientInfo::At(*IpAddress::Parse(ip));
    ExchangeState state;
    state.client = &client;
    for (const std::string& value : authorization) state.request.headers.Add("authorization", value);
    size_t cursor = 0;
    Verdict verdict = chain->RunRequestHead(state, cursor);
    return verdict == Verdict::kContinue ? 0 : state.reply.status;
  };
  std::vector<std::string> names = Names(*CompileChain(policy, defaults));
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], "access_control");
  EXPECT_EQ(names[1], "basic_auth");

  // satisfy: all (the default): both must pass.
  EXPECT_EQ(run(policy, "10.1.2.3", {}), 401);
  EXPECT_EQ(run(policy, "10.1.2.3", {Basic("sha1", "secret")}), 0);
  EXPECT_EQ(run(policy, "192.0.2.1", {Basic("sha1", "secret")}), 403);

  policy.set_satisfy_any(true);
  EXPECT_EQ(run(policy, "10.1.2.3", {}), 0);
  EXPECT_EQ(run(policy, "192.0.2.1", {}), 401);
  EXPECT_EQ(run(policy, "192.0.2.1", {Basic("sha1", "wrong")}), 401);
  EXPECT_EQ(run(policy, "192.0.2.1", {Basic("sha1", "secret")}), 0);
  EXPECT_EQ(run(policy, "10.9.0.1", {Basic("sha1", "secret")}), 403);  // denied stays denied

  // Without authentication on the route, satisfy: any changes nothing.
  v1::RoutePolicy no_auth = policy;
  no_auth.clear_basic_auth();
  EXPECT_EQ(run(no_auth, "192.0.2.1", {}), 403);
  EXPECT_EQ(run(no_auth, "10.1.2.3", {}), 0);
}

}  // namespace
}  // namespace sluice::pipeline
