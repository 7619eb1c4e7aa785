#include "dataplane/pipeline/mirror_stage.h"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::pipeline {
namespace {

http::RequestHead Request(const std::string& path) {
  http::RequestHead request;
  request.method = "POST";
  request.path = path;
  return request;
}

TEST(MirrorTarget, ExpandsTheVariables) {
  MirrorTarget target;
  target.path = "/$request_uri";
  EXPECT_EQ(target.ExpandPath(Request("/a/b?x=1")), "/a/b?x=1");  // no double slash
  target.path = "/copy$request_uri";
  EXPECT_EQ(target.ExpandPath(Request("/a?x=1")), "/copy/a?x=1");
  target.path = "/m$uri?orig=$args";
  EXPECT_EQ(target.ExpandPath(Request("/a?x=1")), "/m/a?orig=x=1");
  EXPECT_EQ(target.ExpandPath(Request("/a")), "/m/a?orig=");
  target.path = "$request_uri";
  EXPECT_EQ(target.ExpandPath(Request("")), "/");
  target.path = "/fixed";
  EXPECT_EQ(target.ExpandPath(Request("/ignored")), "/fixed");
}

// A sink that records what the stage hands it.
class RecordingSink : public MirrorSink {
 public:
  struct Copy : MirrorCopy {
    explicit Copy(RecordingSink* sink) : sink(sink) {}
    ~Copy() override {
      if (!ended) ++sink->abandoned;
    }
    bool Body(std::string_view chunk) override {
      body += chunk;
      return body.size() <= sink->max_body;
    }
    void End() override {
      ended = true;
      sink->sent.push_back(body);
    }
    RecordingSink* sink;
    std::string body;
    bool ended = false;
  };
  std::unique_ptr<MirrorCopy> Begin(const MirrorTarget&, const ExchangeState&) override {
    return std::make_unique<Copy>(this);
  }
  size_t max_body = 100;
  std::vector<std::string> sent;
  int abandoned = 0;
};

TEST(MirrorStage, CopiesTheBodyAndSendsAtTheEnd) {
  v1::RoutePolicy policy;
  policy.mutable_mirror()->set_cluster("ns/m:80");
  MirrorStage stage(policy);
  RecordingSink sink;
  ExchangeState state;
  state.mirror = &sink;
  EXPECT_EQ(stage.OnRequestHead(state), Verdict::kContinue);
  EXPECT_EQ(stage.OnRequestBody(state, "hello "), Verdict::kContinue);
  EXPECT_EQ(stage.OnRequestBody(state, "world"), Verdict::kContinue);
  EXPECT_EQ(stage.OnRequestEnd(state, nullptr), Verdict::kContinue);
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0], "hello world");
  EXPECT_EQ(state.data(kMirrorData), nullptr);
}

TEST(MirrorStage, OverTheCapOrAbandonedNothingIsSent) {
  v1::RoutePolicy policy;
  policy.mutable_mirror()->set_cluster("ns/m:80");
  MirrorStage stage(policy);
  RecordingSink sink;
  sink.max_body = 4;
  {
    ExchangeState state;
    state.mirror = &sink;
    stage.OnRequestHead(state);
    stage.OnRequestBody(state, "too long");  // dropped here
    stage.OnRequestEnd(state, nullptr);
  }
  {
    ExchangeState state;
    state.mirror = &sink;
    stage.OnRequestHead(state);  // the client goes away: the state dies
  }
  EXPECT_TRUE(sink.sent.empty());
  EXPECT_EQ(sink.abandoned, 2);
}

TEST(MirrorStage, WithoutBodyCopyingTheBodyIsNotGathered) {
  v1::RoutePolicy policy;
  policy.mutable_mirror()->set_cluster("ns/m:80");
  policy.mutable_mirror()->set_drop_request_body(true);
  MirrorStage stage(policy);
  RecordingSink sink;
  ExchangeState state;
  state.mirror = &sink;
  stage.OnRequestHead(state);
  stage.OnRequestBody(state, "secret");
  stage.OnRequestEnd(state, nullptr);
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0], "");
}

}  // namespace
}  // namespace sluice::pipeline
