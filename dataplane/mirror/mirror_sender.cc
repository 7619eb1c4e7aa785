#include "dataplane/mirror/mirror_sender.h"

#include <string>

#include "dataplane/proxy/http1_upstream.h"

namespace sluice::mirror {

namespace {

int64_t SteadyNs(net::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

// One copy. Gathering: owned by its Handle (the exchange's StageData);
// sent: owned by the sender's list until its response ends, then freed by
// the loop (DeleteLater: its stream may still be on the stack).
class MirrorSender::Request final : public net::IoHandler, private proxy::UpstreamEvents {
 public:
  Request(MirrorSender* sender, std::shared_ptr<const snapshot::CompiledSnapshot> snapshot,
          const snapshot::CompiledCluster* cluster, const pipeline::MirrorTarget& target,
          const pipeline::ExchangeState& original)
      : sender_(sender), snapshot_(std::move(snapshot)), cluster_(cluster) {
    state_.request.method = original.request.method;
    state_.request.scheme = original.request.scheme;
    state_.request.path = target.ExpandPath(original.request);
    state_.request.target = state_.request.path;
    state_.request.authority = target.host;
    state_.request.headers = original.request.headers;
    for (size_t i = 0; i < original.added_field_count; ++i) {
      state_.AddField(state_.Own(std::string(original.added_fields[i].name)),
                      state_.Own(std::string(original.added_fields[i].value)));
    }
    request_body_ = target.request_body;
    const proxy::ProxyConfig& config = *sender->ctx_->config;
    upstream_.state = &state_;
    upstream_.connect_timeout = target.connect_timeout.count() > 0 ? target.connect_timeout : config.connect_timeout;
    upstream_.response_timeout =
        target.response_timeout.count() > 0 ? target.response_timeout : config.response_timeout;
    upstream_.idle_timeout = upstream_.response_timeout;
    upstream_.paused_grace = std::chrono::milliseconds(0);
  }
  ~Request() override {
    if (stream_ != nullptr) stream_->Cancel();
  }
  void OnIoEvents(uint32_t) override {}  // an IoHandler only to be freed by DeleteLater

  bool Body(std::string_view chunk) {
    if (!request_body_) return true;
    if (sender_->body_bytes_ + chunk.size() > sender_->limits_.max_body_bytes) return false;
    sender_->body_bytes_ += chunk.size();
    body_.append(chunk);
    return true;
  }

  // The request is complete: pick, connect, send, and forget.
  void Send() {
    sent_ = true;
    proxy::WorkerContext* ctx = sender_->ctx_;
    ctx->stats.Count(ctx->stats.mirror_requests);
    balancer::PickContext pick;
    pick.request = &state_.request;
    pick.now_ns = SteadyNs(ctx->loop->now());
    const snapshot::CompiledEndpoint* endpoint = ctx->balancer.Pick(*cluster_, pick).endpoint;
    if (endpoint == nullptr) return Fail();
    if (body_.empty()) {
      upstream_.framing = http1::BodyFraming{};
    } else {
      upstream_.framing.kind = http1::BodyFraming::kContentLength;
      upstream_.framing.length = body_.size();
    }
    stream_.reset(new proxy::Http1Upstream(ctx, this, upstream_));
    stream_->Start(*endpoint, /*allow_pooled=*/true);
    if (done_) return;  // failed at once
    if (!body_.empty()) stream_->SendBody(body_);
    if (done_) return;
    stream_->SendEnd(nullptr);
  }

  MirrorSender* sender_;
  Request* prev = nullptr;
  Request* next = nullptr;
  bool sent_ = false;
  bool done_ = false;
  uint64_t held_bytes() const { return body_.size(); }

 private:
  // The response is not wanted: read and dropped (the stream still reads
  // it to the end, so its connection goes back to the pool).
  void OnUpstreamHead(http::ResponseHead&&, bool) override {}
  void OnUpstreamBody(std::string_view) override {}
  void OnUpstreamFlush() override {}
  void OnUpstreamEnd(const http::HeaderMap*) override { Finish(true); }
  void OnUpstreamError(pipeline::ProxyError) override { Finish(false); }
  void OnUpstreamRequestWritable() override {}
  void Fail() { Finish(false); }
  void Finish(bool ok) {
    if (done_) return;
    done_ = true;
    proxy::WorkerStats& stats = sender_->ctx_->stats;
    stats.Count(ok ? stats.mirror_completed : stats.mirror_failures);
    sender_->Finished(this);
  }

  std::shared_ptr<const snapshot::CompiledSnapshot> snapshot_;  // keeps cluster_ and its endpoints
  const snapshot::CompiledCluster* cluster_;
  pipeline::ExchangeState state_;  // the copy's request, as the stream reads it
  proxy::UpstreamRequest upstream_;
  std::string body_;
  bool request_body_ = true;

 public:
  std::unique_ptr<proxy::Http1Upstream> stream_;
};

namespace {

// The exchange's handle on a copy being gathered.
class Handle final : public pipeline::MirrorCopy {
 public:
  explicit Handle(std::unique_ptr<MirrorSender::Request> request) : request_(std::move(request)) {}
  ~Handle() override {
    // Abandoned (client gone, request refused): nothing is sent.
    if (request_ != nullptr) request_->sender_->Finished(request_.release());
  }
  bool Body(std::string_view chunk) override {
    if (request_->Body(chunk)) return true;
    proxy::WorkerStats& stats = request_->sender_->ctx()->stats;
    stats.Count(stats.mirror_dropped);
    return false;  // the stage drops the handle: ~Handle releases the request
  }
  void End() override {
    MirrorSender::Request* request = request_.release();
    request->sender_->Adopt(request);
    request->Send();
  }

 private:
  std::unique_ptr<MirrorSender::Request> request_;
};

}  // namespace

MirrorSender::MirrorSender(proxy::WorkerContext* ctx, MirrorLimits limits) : ctx_(ctx), limits_(limits) {}

MirrorSender::~MirrorSender() {
  while (requests_ != nullptr) {
    Request* request = requests_;
    requests_ = request->next;
    request->done_ = true;
    delete request;  // cancels its stream
  }
}

std::unique_ptr<pipeline::MirrorCopy> MirrorSender::Begin(const pipeline::MirrorTarget& target,
                                                           const pipeline::ExchangeState& state) {
  if (in_flight_ >= limits_.max_in_flight) {
    ctx_->stats.Count(ctx_->stats.mirror_dropped);
    return nullptr;
  }
  const snapshot::CompiledCluster* cluster =
      ctx_->snapshot != nullptr ? ctx_->snapshot->FindCluster(target.cluster) : nullptr;
  if (cluster == nullptr) {
    ctx_->stats.Count(ctx_->stats.mirror_failures);
    return nullptr;
  }
  ++in_flight_;
  return std::make_unique<Handle>(std::make_unique<Request>(this, ctx_->snapshot, cluster, target, state));
}

void MirrorSender::Adopt(Request* request) {
  request->next = requests_;
  if (requests_ != nullptr) requests_->prev = request;
  requests_ = request;
}

void MirrorSender::Finished(Request* request) {
  --in_flight_;
  body_bytes_ -= request->held_bytes();
  if (!request->sent_) {
    delete request;  // never sent: no stream, nothing on the stack
    return;
  }
  if (request->prev != nullptr) request->prev->next = request->next;
  if (request->next != nullptr) request->next->prev = request->prev;
  if (requests_ == request) requests_ = request->next;
  request->prev = request->next = nullptr;
  // Called from the stream's own callbacks: both go after this batch.
  if (request->stream_ != nullptr) ctx_->loop->DeleteLater(std::move(request->stream_));
  ctx_->loop->DeleteLater(std::unique_ptr<net::IoHandler>(request));
}

}  // namespace sluice::mirror
