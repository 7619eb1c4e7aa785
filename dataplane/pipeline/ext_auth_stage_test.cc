// The ext_auth stages with a scripted subrequest client: what the auth
// subrequest carries, each answer's decision, the cache, cancellation.
#include "dataplane/pipeline/ext_auth_stage.h"

#include <gtest/gtest.h>

#include "dataplane/pipeline/auth_cache.h"
#include "dataplane/pipeline/chain.h"
#include "dataplane/subrequest/scripted_client.h"

namespace sluice::pipeline {
namespace {

using subrequest::ScriptedClient;

class CountingResumer final : public Resumer {
 public:
  void Resume() override { ++resumed; }
  int resumed = 0;
};

class ExtAuthStageTest : public ::testing::Test {
 protected:
  ExtAuthStageTest() {
    policy_.set_cluster("sec/auth:80");
    policy_.set_host("auth.sec");
    policy_.set_path("/verify");
    policy_.add_response_headers("x-user");
    client_info_.ip = "192.0.2.7";
  }
  void Build() {
    std::vector<std::unique_ptr<const Stage>> stages;
    ExtAuthStage::AddStages(policy_, stages);
    chain_ = std::make_unique<Chain>(std::move(stages));
  }
  ExchangeState NewState(std::string authorization = "") {
    ExchangeState state;
    state.request.method = "POST";
    state.request.path = "/a/b?c=d e";
    state.request.authority = "app.example";
    state.request.headers.Add("content-length", "5");
    state.request.headers.Add("x-user", "mallory");
    if (!authorization.empty()) state.request.headers.Add("authorization", authorization);
    state.client = &client_info_;
    state.subrequests = &client_;
    state.resumer = &resumer_;
    state.auth_cache = &cache_;
    return state;
  }
  // Runs the head hooks, answers with `status` (and `headers`), resumes.
  Verdict RunWithAnswer(ExchangeState& state, int status, http::HeaderMap headers = {}) {
    size_t cursor = 0;
    Verdict first = chain_->RunRequestHead(state, cursor);
    if (first != Verdict::kPause) return first;
    subrequest::Response answer;
    answer.status = status;
    answer.headers = std::move(headers);
    client_.callback(std::move(answer));
    EXPECT_EQ(resumer_.resumed, 1);
    resumer_.resumed = 0;
    return chain_->RunRequestHead(state, cursor);
  }

  v1::ExternalAuthPolicy policy_;
  std::unique_ptr<Chain> chain_;
  http::ClientInfo client_info_;
  ScriptedClient client_;
  CountingResumer resumer_;
  AuthCache cache_;
};

TEST_F(ExtAuthStageTest, TheSubrequestCarriesWhatNginxSends) {
  Build();
  ExchangeState state = NewState("Bearer t");
  size_t cursor = 0;
  ASSERT_EQ(chain_->RunRequestHead(state, cursor), Verdict::kPause);
  const subrequest::Request& sent = client_.last;
  EXPECT_EQ(sent.cluster, "sec/auth:80");
  EXPECT_EQ(sent.method, "POST");  // the request's own
  EXPECT_EQ(sent.path, "/verify");
  EXPECT_EQ(sent.authority, "auth.sec");
  EXPECT_TRUE(sent.body.empty());
  EXPECT_EQ(sent.headers.Get("content-length"), nullptr);
  EXPECT_EQ(*sent.headers.Get("authorization"), "Bearer t");
  EXPECT_EQ(*sent.headers.Get("x-original-url"), "http://app.example/a/b?c=d e");
  EXPECT_EQ(*sent.headers.Get("x-original-method"), "POST");
  EXPECT_EQ(*sent.headers.Get("x-real-ip"), "192.0.2.7");
  EXPECT_EQ(*sent.headers.Get("x-auth-request-redirect"), "/a/b?c=d e");
}

TEST_F(ExtAuthStageTest, AllowedCopiesTheFieldsAndDropsTheClients) {
  Build();
  ExchangeState state = NewState();
  http::HeaderMap fields;
  fields.Add("x-user", "ann");
  EXPECT_EQ(RunWithAnswer(state, 200, fields), Verdict::kContinue);
  EXPECT_EQ(*state.request.headers.Get("x-user"), "ann");
  EXPECT_EQ(state.request.headers.Count("x-user"), 1u);
  ExchangeState without = NewState();
  EXPECT_EQ(RunWithAnswer(without, 204), Verdict::kContinue);
  EXPECT_EQ(without.request.headers.Get("x-user"), nullptr);  // mallory's is gone
}

TEST_F(ExtAuthStageTest, DecisionsOfTheOtherAnswers) {
  Build();
  ExchangeState denied = NewState();
  http::HeaderMap challenge;
  challenge.Add("www-authenticate", "Basic realm=x");
  EXPECT_EQ(RunWithAnswer(denied, 401, challenge), Verdict::kReply);
  EXPECT_EQ(denied.reply.status, 401);
  EXPECT_EQ(*denied.reply.headers.Get("www-authenticate"), "Basic realm=x");
  ExchangeState forbidden = NewState();
  EXPECT_EQ(RunWithAnswer(forbidden, 403), Verdict::kReply);
  EXPECT_EQ(forbidden.reply.status, 403);
  for (int status : {0, 302, 404, 500, 503}) {
    ExchangeState other = NewState();
    EXPECT_EQ(RunWithAnswer(other, status), Verdict::kReply) << status;
    EXPECT_EQ(other.reply.status, 500) << status;
  }
}

TEST_F(ExtAuthStageTest, SigninRedirectWithVariables) {
  policy_.set_signin_url("https://$host/oauth2/start");
  Build();
  ExchangeState state = NewState();
  EXPECT_EQ(RunWithAnswer(state, 401), Verdict::kReply);
  EXPECT_EQ(state.reply.status, 302);
  EXPECT_EQ(state.reply.location, "https://app.example/oauth2/start?rd=http://app.example%2Fa%2Fb%3Fc%3Dd%20e");
  policy_.set_signin_url("https://login/?rd=$escaped_request_uri");
  Build();
  ExchangeState own = NewState();
  EXPECT_EQ(RunWithAnswer(own, 401), Verdict::kReply);
  EXPECT_EQ(own.reply.location, "https://login/?rd=%2Fa%2Fb%3Fc%3Dd%20e");
}

TEST_F(ExtAuthStageTest, DenyAllAndNoClientFailClosed) {
  policy_.set_deny_all(true);
  Build();
  ExchangeState state = NewState();
  size_t cursor = 0;
  EXPECT_EQ(chain_->RunRequestHead(state, cursor), Verdict::kReply);
  EXPECT_EQ(state.reply.status, 500);
  EXPECT_EQ(client_.sent, 0);
  policy_.set_deny_all(false);
  Build();
  ExchangeState lonely = NewState();
  lonely.subrequests = nullptr;
  cursor = 0;
  EXPECT_EQ(chain_->RunRequestHead(lonely, cursor), Verdict::kReply);
  EXPECT_EQ(lonely.reply.status, 500);
}

TEST_F(ExtAuthStageTest, CachedDecisionsUnderTheKey) {
  policy_.set_cache_key("$remote_user:$cookie_s");
  auto* rule = policy_.add_cache_rules();
  rule->add_statuses(200);
  rule->set_duration_ms(60000);
  Build();
  // "Basic YW5uOnB3" is ann:pw.
  ExchangeState first = NewState("Basic YW5uOnB3");
  first.request.headers.Add("cookie", "a=1; s=xyz");
  http::HeaderMap fields;
  fields.Add("x-user", "ann");
  EXPECT_EQ(RunWithAnswer(first, 200, fields), Verdict::kContinue);
  EXPECT_EQ(client_.sent, 1);
  ExchangeState second = NewState("Basic YW5uOnB3");
  second.request.headers.Add("cookie", "s=xyz");
  size_t cursor = 0;
  EXPECT_EQ(chain_->RunRequestHead(second, cursor), Verdict::kContinue);  // from the cache
  EXPECT_EQ(client_.sent, 1);
  EXPECT_EQ(*second.request.headers.Get("x-user"), "ann");
  ExchangeState other = NewState("Basic YW5uOnB3");
  other.request.headers.Add("cookie", "s=other");
  cursor = 0;
  EXPECT_EQ(chain_->RunRequestHead(other, cursor), Verdict::kPause);
  EXPECT_EQ(client_.sent, 2);
}

TEST_F(ExtAuthStageTest, TheExchangesEndCancelsTheSubrequest) {
  Build();
  {
    ExchangeState state = NewState();
    size_t cursor = 0;
    ASSERT_EQ(chain_->RunRequestHead(state, cursor), Verdict::kPause);
    EXPECT_FALSE(client_.cancelled);
  }
  EXPECT_TRUE(client_.cancelled);
}

}  // namespace
}  // namespace sluice::pipeline
