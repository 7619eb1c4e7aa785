#include "dataplane/pipeline/chain.h"

#include "dataplane/metrics/series.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::pipeline {
namespace {

// Records the hooks it sees in a shared trace; answers as told.
class TraceStage final : public Stage {
 public:
  TraceStage(std::string name, StageOrder order, uint32_t hooks, std::vector<std::string>* trace,
             Verdict head_verdict = Verdict::kContinue)
      : name_(std::move(name)), order_(order), hooks_(hooks), trace_(trace), head_verdict_(head_verdict) {}
  std::string_view name() const override { return name_; }
  StageOrder order() const override { return order_; }
  uint32_t hooks() const override { return hooks_; }
  Verdict OnRequestHead(ExchangeState& state) const override {
    trace_->push_back(name_ + ".head");
    if (head_verdict_ == Verdict::kReply) state.reply.status = 403;
    return head_verdict_;
  }
  Verdict OnResponseHead(ExchangeState&, http::ResponseHead&, bool) const override {
    trace_->push_back(name_ + ".response");
    return Verdict::kContinue;
  }
  void OnComplete(const ExchangeState&) const override { trace_->push_back(name_ + ".complete"); }

 private:
  std::string name_;
  StageOrder order_;
  uint32_t hooks_;
  std::vector<std::string>* trace_;
  Verdict head_verdict_;
};

TEST(ChainTest, RunsStagesInStageOrderWhateverTheOrderGiven) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<const Stage>> stages;
  stages.push_back(std::make_unique<TraceStage>("log", StageOrder::kAccessLog, kComplete | kRequestHead, &trace));
  stages.push_back(std::make_unique<TraceStage>("acl", StageOrder::kAccessControl, kRequestHead, &trace));
  stages.push_back(std::make_unique<TraceStage>("limit", StageOrder::kBodyLimit, kRequestHead, &trace));
  Chain chain(std::move(stages));
  EXPECT_EQ(chain.StageNames(), (std::vector<std::string_view>{"acl", "limit", "log"}));
  ExchangeState state;
  size_t cursor = 0;
  EXPECT_EQ(chain.RunRequestHead(state, cursor), Verdict::kContinue);
  EXPECT_EQ(trace, (std::vector<std::string>{"acl.head", "limit.head", "log.head"}));
}

TEST(ChainTest, CallsOnlyTheHooksAStageDeclares) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<const Stage>> stages;
  stages.push_back(std::make_unique<TraceStage>("a", StageOrder::kAccessControl, kRequestHead, &trace));
  stages.push_back(std::make_unique<TraceStage>("b", StageOrder::kResponseHeaders, kResponseHead, &trace));
  Chain chain(std::move(stages));
  EXPECT_TRUE(chain.Has(kRequestHead));
  EXPECT_FALSE(chain.Has(kRequestBody));
  ExchangeState state;
  http::ResponseHead head;
  size_t cursor = 0;
  chain.RunResponseHead(state, head, false, cursor);
  chain.Complete(state);
  EXPECT_EQ(trace, (std::vector<std::string>{"b.response"}));
}

TEST(ChainTest, AReplyStopsTheChainAndLeavesTheReplyInTheState) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<const Stage>> stages;
  stages.push_back(
      std::make_unique<TraceStage>("deny", StageOrder::kAccessControl, kRequestHead, &trace, Verdict::kReply));
  stages.push_back(std::make_unique<TraceStage>("later", StageOrder::kCacheLookup, kRequestHead, &trace));
  Chain chain(std::move(stages));
  ExchangeState state;
  size_t cursor = 0;
  EXPECT_EQ(chain.RunRequestHead(state, cursor), Verdict::kReply);
  EXPECT_EQ(state.reply.status, 403);
  EXPECT_EQ(trace, (std::vector<std::string>{"deny.head"}));
}

TEST(ChainTest, APausedChainResumesWithTheNextStage) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<const Stage>> stages;
  stages.push_back(std::make_unique<TraceStage>("first", StageOrder::kAccessControl, kRequestHead, &trace));
  stages.push_back(
      std::make_unique<TraceStage>("waits", StageOrder::kRateLimit, kRequestHead, &trace, Verdict::kPause));
  stages.push_back(std::make_unique<TraceStage>("after", StageOrder::kCacheLookup, kRequestHead, &trace));
  Chain chain(std::move(stages));
  ExchangeState state;
  size_t cursor = 0;
  EXPECT_EQ(chain.RunRequestHead(state, cursor), Verdict::kPause);
  EXPECT_EQ(trace, (std::vector<std::string>{"first.head", "waits.head"}));
  EXPECT_EQ(chain.RunRequestHead(state, cursor), Verdict::kContinue);  // resumed
  EXPECT_EQ(trace, (std::vector<std::string>{"first.head", "waits.head", "after.head"}));
}

TEST(ChainTest, APausedStageMayAnswerWhenItsWaitEnds) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<const Stage>> stages;
  stages.push_back(
      std::make_unique<TraceStage>("waits", StageOrder::kCacheLookup, kRequestHead, &trace, Verdict::kPause));
  stages.push_back(std::make_unique<TraceStage>("after", StageOrder::kRequestHeaders, kRequestHead, &trace));
  Chain chain(std::move(stages));
  ExchangeState state;
  size_t cursor = 0;
  EXPECT_EQ(chain.RunRequestHead(state, cursor), Verdict::kPause);
  // The wait ended with an answer (a coalesced cache miss served from the fill).
  state.reply.status = 200;
  state.reply_when_resumed = true;
  EXPECT_EQ(chain.RunRequestHead(state, cursor), Verdict::kReply);
  EXPECT_FALSE(state.reply_when_resumed);
  EXPECT_EQ(trace, (std::vector<std::string>{"waits.head"}));  // "after" never ran
}

TEST(ChainTest, ALocalReplyCannotBeRepliedToAgain) {
  class Replier final : public Stage {
   public:
    std::string_view name() const override { return "replier"; }
    StageOrder order() const override { return StageOrder::kWafResponse; }
    uint32_t hooks() const override { return kResponseHead; }
    Verdict OnResponseHead(ExchangeState&, http::ResponseHead&, bool) const override { return Verdict::kReply; }
  };
  std::vector<std::unique_ptr<const Stage>> stages;
  stages.push_back(std::make_unique<Replier>());
  Chain chain(std::move(stages));
  ExchangeState state;
  http::ResponseHead head;
  size_t cursor = 0;
  EXPECT_EQ(chain.RunResponseHead(state, head, /*local=*/true, cursor), Verdict::kContinue);
  cursor = 0;
  EXPECT_EQ(chain.RunResponseHead(state, head, /*local=*/false, cursor), Verdict::kReply);
}

TEST(ChainTest, CompiledChainsHaveOnlyTheStagesTheirPolicyTurnsOn) {
  v1::RoutePolicy plain;
  auto chain = CompileChain(plain, ChainDefaults());
  EXPECT_EQ(chain->StageNames(), (std::vector<std::string_view>{"request_headers", "response_headers", "access_log"}));
  EXPECT_FALSE(chain->Has(kRequestBody));  // no body limit: body chunks cost nothing

  v1::RoutePolicy strict;
  strict.set_redirect_to_https(true);
  strict.set_max_request_body_bytes(10);
  chain = CompileChain(strict, ChainDefaults());
  EXPECT_EQ(chain->StageNames(), (std::vector<std::string_view>{"https_redirect", "body_limit", "request_headers",
                                                                  "response_headers", "access_log"}));
  ChainDefaults defaults;
  defaults.max_request_body_bytes = 1 << 20;  // the proxy's default limit applies where the route sets none
  chain = CompileChain(plain, defaults);
  EXPECT_TRUE(chain->Has(kRequestBody));

  v1::RoutePolicy compressed;
  compressed.mutable_compression()->set_enabled(true);
  chain = CompileChain(compressed, ChainDefaults());
  EXPECT_EQ(chain->StageNames(), (std::vector<std::string_view>{"request_headers", "response_headers", "compression",
                                                                  "access_log"}));
  EXPECT_TRUE(chain->Has(kResponseBody));
  EXPECT_TRUE(chain->Has(kResponseEnd));
  // With a metrics registry (the proxy always has one), the metrics stage
  // comes just before the access log.
  metrics::SeriesRegistry series(4, 4);
  ChainDefaults with_metrics;
  with_metrics.series = &series;
  chain = CompileChain(v1::RoutePolicy(), with_metrics, "ns/ing");
  EXPECT_EQ(chain->StageNames(),
            (std::vector<std::string_view>{"request_headers", "response_headers", "metrics", "access_log"}));
}

// A stage that emits `tail` at the end and prefixes every body chunk it
// sees with `mark` (in its own buffer in the state, as a transform does).
class TailStage final : public Stage {
 public:
  TailStage(StageOrder order, std::string tail, std::string mark, std::string* buffer)
      : order_(order), tail_(std::move(tail)), mark_(std::move(mark)), buffer_(buffer) {}
  std::string_view name() const override { return "tail"; }
  StageOrder order() const override { return order_; }
  uint32_t hooks() const override { return kResponseBody | kResponseEnd; }
  Verdict OnResponseBody(ExchangeState&, std::string_view& chunk) const override {
    if (mark_.empty()) return Verdict::kContinue;
    *buffer_ = mark_ + std::string(chunk);
    chunk = *buffer_;
    return Verdict::kContinue;
  }
  Verdict OnResponseEnd(ExchangeState&, std::string_view& tail) const override {
    tail = tail_;
    return Verdict::kContinue;
  }

 private:
  StageOrder order_;
  std::string tail_, mark_;
  std::string* buffer_;
};

TEST(ChainTest, EndTailsPassTheLaterStagesBodyHooks) {
  std::string first_buffer, second_buffer;
  std::vector<std::unique_ptr<const Stage>> stages;
  stages.push_back(std::make_unique<TailStage>(StageOrder::kCacheStore, "", "[store]", &second_buffer));
  stages.push_back(std::make_unique<TailStage>(StageOrder::kCompression, "last", "", &first_buffer));
  Chain chain(std::move(stages));
  ExchangeState state;
  std::string_view tail;
  EXPECT_EQ(chain.RunResponseEnd(state, tail), Verdict::kContinue);
  EXPECT_EQ(tail, "[store]last");  // the compressor's tail went through the later stage

  std::vector<std::unique_ptr<const Stage>> two;
  two.push_back(std::make_unique<TailStage>(StageOrder::kCompression, "a", "", &first_buffer));
  two.push_back(std::make_unique<TailStage>(StageOrder::kCacheStore, "b", "", &second_buffer));
  Chain joined(std::move(two));
  EXPECT_EQ(joined.RunResponseEnd(state, tail), Verdict::kContinue);
  EXPECT_EQ(tail, "ab");

  Chain none({});
  EXPECT_EQ(none.RunResponseEnd(state, tail), Verdict::kContinue);
  EXPECT_TRUE(tail.empty());
}

}  // namespace
}  // namespace sluice::pipeline
