// The access control and real_client stages alone: a client address (and
// X-Forwarded-For) in an ExchangeState, the hook, its decision. No sockets.
#include <gtest/gtest.h>

#include "dataplane/pipeline/access_control_stage.h"
#include "dataplane/pipeline/chain.h"
#include "dataplane/pipeline/real_client_stage.h"

namespace sluice::pipeline {
namespace {

http::ClientInfo Client(std::string_view ip) { return http::ClientInfo::At(*IpAddress::Parse(ip)); }

std::unique_ptr<AccessControlStage> Lists(std::vector<std::string> allow, std::vector<std::string> deny,
                                          bool deny_all = false) {
  v1::AccessControlPolicy policy;
  for (auto& cidr : allow) policy.add_allow(cidr);
  for (auto& cidr : deny) policy.add_deny(cidr);
  policy.set_deny_all(deny_all);
  return AccessControlStage::FromPolicy(policy);
}

Verdict Decide(const AccessControlStage& stage, std::string_view ip) {
  http::ClientInfo client = Client(ip);
  ExchangeState state;
  state.client = &client;
  Verdict verdict = stage.OnRequestHead(state);
  if (verdict == Verdict::kReply) {
    EXPECT_EQ(state.reply.status, 403);
    EXPECT_EQ(state.error.code, ErrorCode::kRefused);
  }
  return verdict;
}

TEST(AccessControlStageTest, NoListsNoStage) { EXPECT_EQ(Lists({}, {}), nullptr); }

TEST(AccessControlStageTest, AllowListRefusesEveryoneElse) {
  auto stage = Lists({"10.0.0.0/8", "2001:db8::/32", "127.0.0.2"}, {});
  ASSERT_NE(stage, nullptr);
  EXPECT_EQ(Decide(*stage, "10.9.8.7"), Verdict::kContinue);
  EXPECT_EQ(Decide(*stage, "::ffff:10.9.8.7"), Verdict::kContinue);  // IPv4-mapped
  EXPECT_EQ(Decide(*stage, "2001:db8:5::1"), Verdict::kContinue);
  EXPECT_EQ(Decide(*stage, "127.0.0.2"), Verdict::kContinue);
  EXPECT_EQ(Decide(*stage, "127.0.0.3"), Verdict::kReply);
  EXPECT_EQ(Decide(*stage, "11.0.0.1"), Verdict::kReply);
  EXPECT_EQ(Decide(*stage, "2001:db9::1"), Verdict::kReply);
}

TEST(AccessControlStageTest, DenyWinsOverAllow) {
  auto stage = Lists({"10.0.0.0/8"}, {"10.1.0.0/16"});
  EXPECT_EQ(Decide(*stage, "10.2.0.1"), Verdict::kContinue);
  EXPECT_EQ(Decide(*stage, "10.1.0.1"), Verdict::kReply);
  auto deny_only = Lists({}, {"192.0.2.0/24", "::1"});
  EXPECT_EQ(Decide(*deny_only, "192.0.2.200"), Verdict::kReply);
  EXPECT_EQ(Decide(*deny_only, "::1"), Verdict::kReply);
  EXPECT_EQ(Decide(*deny_only, "192.0.3.1"), Verdict::kContinue);
}

TEST(AccessControlStageTest, InvalidOrDenyAllRefusesEveryone) {
  EXPECT_EQ(Decide(*Lists({}, {}, /*deny_all=*/true), "10.0.0.1"), Verdict::kReply);
  // A CIDR the data plane cannot read (never sent by this controller).
  EXPECT_EQ(Decide(*Lists({"10.0.0.0/8", "10.0.0.0/99"}, {}), "10.0.0.1"), Verdict::kReply);
  EXPECT_EQ(Decide(*Lists({}, {"bogus"}), "10.0.0.1"), Verdict::kReply);
}

struct XffCase {
  std::vector<std::string> fields;  // X-Forwarded-For lines, in order
  const char* client;               // the chosen client; nullptr: the connection's
};

TEST(RealClientStageTest, WalksFromTheRightThroughTrustedHopsOnly) {
  auto trusted = std::make_shared<const PrefixSet>(*ParsePrefixList("10.0.0.0/8, 2001:db8::/32"));
  RealClientStage stage(trusted);
  XffCase cases[] = {
      {{"203.0.113.9"}, "203.0.113.9"},
      {{"203.0.113.9, 10.0.0.2"}, "203.0.113.9"},         // a trusted hop skipped
      {{"198.51.100.1, 203.0.113.9, 10.0.0.2"}, "203.0.113.9"},  // the spoofable left part ignored
      {{"198.51.100.1", "203.0.113.9,10.0.0.3"}, "203.0.113.9"}, // two lines are one list
      {{"10.0.0.4, 10.0.0.2"}, "10.0.0.4"},               // all trusted: the leftmost
      {{"bogus, 10.0.0.2"}, "10.0.0.2"},                  // not an address: stop at the hop before
      {{"203.0.113.9, 203.0.113.9:443"}, nullptr},         // a port is not an address
      {{"2001:db9::1, 2001:db8::7"}, "2001:db9::1"},
      {{"::ffff:203.0.113.9"}, "203.0.113.9"},
      {{" , "}, nullptr},
      {{}, nullptr},
  };
  for (const XffCase& c : cases) {
    http::ClientInfo connection = Client("10.0.0.1");
    ExchangeState state;
    state.client = &connection;
    for (const std::string& value : c.fields) state.request.headers.Add("x-forwarded-for", value);
    ASSERT_EQ(stage.OnRequestHead(state), Verdict::kContinue);
    if (c.client == nullptr) {
      EXPECT_EQ(state.client, &connection) << (c.fields.empty() ? "" : c.fields[0]);
      continue;
    }
    ASSERT_EQ(state.client, &state.forwarded_client) << c.fields[0];
    EXPECT_EQ(state.client->ip, c.client) << c.fields[0];
    EXPECT_EQ(state.client->address, *IpAddress::Parse(c.client));
    EXPECT_EQ(state.client->peer_ip, "10.0.0.1");
  }
}

TEST(RealClientStageTest, UntrustedPeerKeepsItsAddress) {
  RealClientStage stage(std::make_shared<const PrefixSet>(*ParsePrefixList("10.0.0.0/8")));
  http::ClientInfo connection = Client("192.0.2.50");
  ExchangeState state;
  state.client = &connection;
  state.request.headers.Add("x-forwarded-for", "10.0.0.9");
  ASSERT_EQ(stage.OnRequestHead(state), Verdict::kContinue);
  EXPECT_EQ(state.client, &connection);
}

TEST(RealClientStageTest, RunsBeforeAccessControlInTheChain) {
  ChainDefaults defaults;
  defaults.trusted_proxies = std::make_shared<const PrefixSet>(*ParsePrefixList("127.0.0.1"));
  v1::RoutePolicy policy;
  policy.mutable_access_control()->add_allow("203.0.113.0/24");
  auto chain = CompileChain(policy, defaults);
  std::vector<std::string_view> names = chain->StageNames();
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], "real_client");
  EXPECT_EQ(names[1], "access_control");
  http::ClientInfo connection = Client("127.0.0.1");
  ExchangeState allowed;
  allowed.client = &connection;
  allowed.request.headers.Add("x-forwarded-for", "203.0.113.5");
  size_t cursor = 0;
  EXPECT_EQ(chain->RunRequestHead(allowed, cursor), Verdict::kContinue);
  ExchangeState refused;
  refused.client = &connection;
  refused.request.headers.Add("x-forwarded-for", "198.51.100.5");
  cursor = 0;
  EXPECT_EQ(chain->RunRequestHead(refused, cursor), Verdict::kReply);
  EXPECT_EQ(refused.reply.status, 403);
}

}  // namespace
}  // namespace sluice::pipeline
